"""``loradoc matrix lock`` killed (SIGKILL / SIGTERM, seeded moments over a calibrated run) while
it resolves and writes a lock: the lock is never half-written (absent, the previous one, or the
complete new one), no temporary file stays in the locks folder, and the next run writes the
lock an uninterrupted run writes. pip-compile runs for real against a local index."""

from __future__ import annotations

import random
import signal
import sys
from pathlib import Path
from typing import Any

import harness
import pytest
import tomlkit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "matrix"))
from fakeindex import make_index, make_wheel  # noqa: E402
from matrixdata import small_matrix_data  # noqa: E402

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
ROW = f"py{PY}-torch2.9.1-cpu"
RUNNERS = {"cpu": ["ubuntu-latest"], "gpu": ["self-hosted", "gpu"], "cuda_label": "cuda-{major}"}
STACK = {
    "click": "8.1.8",
    "packaging": "24.2",
    "pyyaml": "6.0.2",
    "tomli": "2.2.1",
    "transformers": "5.24.0",
    "peft": "0.21.2",
    "accelerate": "1.15.0",
    "datasets": "5.2.0",
    "matplotlib": "3.11.2",
    "tqdm": "4.70.1",
    "wandb": "0.31.0",
}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def lock_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("lock-faults")
    pypi = make_index(root / "pypi", [make_wheel(root / "pypi-files", n, v) for n, v in STACK.items()])
    tag = "cp" + PY.replace(".", "")
    torch_whl = make_wheel(
        root / "torch-files",
        "torch",
        "2.9.1+cpu",
        requires=["filelock"],
        tags=f"{tag}-{tag}-manylinux_2_28_x86_64",
    )
    make_index(root / "whl" / "cpu", [torch_whl, make_wheel(root / "torch-files", "filelock", "3.20.0")])
    data = small_matrix_data()
    data["torch_index"]["url"] = (root / "whl").resolve().as_uri() + "/{variant}/simple"
    matrix = root / "matrix.toml"
    matrix.write_text(tomlkit.dumps(_plain(data)), encoding="utf-8")
    rows = root / "rows.toml"
    rows.write_text(
        tomlkit.dumps(
            {
                "schema_version": 1,
                "runners": RUNNERS,
                "row": [{"python": PY, "torch": "2.9.1", "variant": "cpu"}],
            }
        ),
        encoding="utf-8",
    )
    words = ["matrix", "lock", ROW, "--matrix", str(matrix), "--rows", str(rows), "--index-url", pypi]
    words += ["--python-exe", sys.executable]
    ref = root / "ref"
    ref.mkdir()
    ran = harness.loradoc([*words, "--out", str(ref / "constraints")], ref, timeout=600)
    assert ran.rc == 0, ran.tail()
    return {"words": words, "lock": (ref / "constraints" / f"{ROW}.txt").read_text(), "seconds": ran.seconds}


def _lock_point(lock_world: dict[str, Any], where: Path, sig: int, seed: int, old: bool) -> harness.Outcome:
    when = random.Random(f"{seed}-{sig}-{old}").uniform(0.2, lock_world["seconds"] * 0.95)
    out = where / "constraints"
    out.mkdir(parents=True)
    previous = "# an older lock\ntorch==2.9.0+cpu\n" if old else None
    if previous is not None:
        (out / f"{ROW}.txt").write_text(previous)
    words = [*lock_world["words"], "--out", str(out)]
    fault = harness.loradoc(words, where, trigger=lambda now: now >= when, sig=sig, timeout=600)
    problems: list[str] = []
    lock = out / f"{ROW}.txt"
    now = lock.read_text() if lock.is_file() else None
    if now not in (previous, lock_world["lock"]):
        problems.append(f"the lock is half-written or foreign after the fault: {now!r:.200}")
    left = harness.temp_files(out) + [p.name for p in out.iterdir() if p.name.startswith(".")]
    if left:
        problems.append(f"temporary files left in the locks folder: {sorted(set(left))}")
    again = harness.loradoc(words, where, timeout=600)
    if again.rc != 0:
        problems.append("the next lock run failed: " + again.tail(600))
    elif lock.read_text() != lock_world["lock"]:
        problems.append("the next lock run wrote another lock than an uninterrupted run")
    kind = "over an old lock" if old else "no lock before"
    return harness.Outcome(
        f"matrix lock/{signal.Signals(sig).name}/{seed} ({kind}, {when:.2f}s)",
        fault,
        [again],
        "rerun",
        problems,
    )


QUICK = [(signal.SIGKILL, 11, True)]
FULL = [
    (sig, seed, old)
    for sig in (signal.SIGKILL, signal.SIGTERM)
    for seed in (1, 2, 3)
    for old in (True, False)
]


def _run(lock_world: dict[str, Any], tmp_path: Path, points: list[tuple[int, int, bool]], title: str) -> None:
    outcomes = [_lock_point(lock_world, harness.fresh(tmp_path / f"l{i}"), *p) for i, p in enumerate(points)]
    print("\n" + harness.figure(outcomes, title))
    assert all(o.equal for o in outcomes), harness.figure(outcomes, title)


def test_a_killed_lock_run_leaves_the_previous_lock_or_the_new_one(
    lock_world: dict[str, Any], tmp_path: Path
) -> None:
    _run(lock_world, tmp_path, QUICK, "matrix lock quick")


@pytest.mark.slow
def test_matrix_lock_interrupted_at_seeded_moments(lock_world: dict[str, Any], tmp_path: Path) -> None:
    _run(lock_world, tmp_path, FULL, "matrix lock faults")
