"""The peers in ``train_throughput.py``: TRL's packed SFTTrainer and Axolotl's multipack, each run by
its runner under ``bench/peers/`` with the Python of its own virtual environment.

The environments are made by ``bench/peers/setup.sh`` (Axolotl pins an older transformers, so it
cannot share one with TRL or loradoc) under ``$LORADOC_PEERS`` (default ``<tempdir>/loradoc-peers``):
``trl/`` and ``axolotl/``. ``--trl-python`` / ``--axolotl-python`` name another interpreter; the
quick smoke test runs the TRL runner with the bench's own Python, where trl is a dev dependency.

Every peer trains on ``peers/tokens.jsonl`` (loradoc's tokenization of the workload, written by
the ``export`` mode before the first peer runs), so the token counts of all modes must agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Peer:
    script: str  # under bench/peers/
    venv: str  # under $LORADOC_PEERS
    target: float  # packed must reach this many times the peer's supervised tok/s (issue 16)
    packages: tuple[str, ...]  # versions printed with the figures


PEERS: dict[str, Peer] = {
    "trl_packed": Peer("trl_packed.py", "trl", 2.5, ("trl", "transformers", "peft", "torch")),
    "axolotl_multipack": Peer(
        "axolotl_multipack.py", "axolotl", 1.8, ("axolotl", "transformers", "peft", "torch")
    ),
}


def peers_home() -> Path:
    return Path(os.environ.get("LORADOC_PEERS") or Path(tempfile.gettempdir()) / "loradoc-peers")


def peer_python(mode: str, given: Path | None) -> Path:
    """The interpreter that runs ``mode``'s runner; a SystemExit naming the setup script when missing."""
    python = given or peers_home() / PEERS[mode].venv / "bin" / "python"
    if not Path(python).exists():
        raise SystemExit(
            f"error: {mode}: no Python at {python}; make the peers' environments with "
            f"`bash bench/peers/setup.sh` (LORADOC_PEERS={peers_home()}), or name one with "
            f"--{PEERS[mode].venv}-python"
        )
    return Path(python)


def peer_versions(mode: str, python: Path) -> dict[str, str | None]:
    """The versions of the packages that make the peer, read in its own environment."""
    code = (
        "import json, importlib.metadata as m\n"
        "def v(n):\n"
        "    try: return m.version(n)\n"
        "    except m.PackageNotFoundError: return None\n"
        f"print(json.dumps({{n: v(n) for n in {list(PEERS[mode].packages)!r}}}))"
    )
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"error: {mode}: {python} cannot report its packages:\n{proc.stderr[-1500:]}")
    found: dict[str, str | None] = json.loads(proc.stdout)
    missing = [n for n in PEERS[mode].packages if not found.get(n)]
    if missing:
        raise SystemExit(
            f"error: {mode}: {python} has no {', '.join(missing)}; run `bash bench/peers/setup.sh {PEERS[mode].venv}`"
        )
    return found


def peer_command(mode: str, python: Path, workdir: Path, tag: str, result: Path) -> list[str]:
    script = HERE / "peers" / PEERS[mode].script
    return [str(python), str(script), "--workdir", str(workdir), "--tag", tag, "--result", str(result)]


def check_tokens(export: dict[str, Any], work: dict[str, Any]) -> list[str]:
    """The exported examples are the workload's (a stale export from another build would not be)."""
    problems = []
    for key in ("examples", "real_tokens"):
        if export[key] != work[key]:
            problems.append(f"peers/tokens.jsonl: {key} {export[key]} != {work[key]} in the dataset")
    return problems
