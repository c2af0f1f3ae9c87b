"""Stand-ins for what this machine cannot have: nvidia-smi, nvcc, a driver's /sys and /proc.

Only the outermost boundary is faked: an executable script on PATH that prints
output captured in the layout real nvidia-smi / nvcc print (fixtures/), and a
directory tree standing in for ``/``. Everything between runs for real.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
SMI_FIXTURES = FIXTURES / "nvidia-smi"

_FAKE_SMI = """#!{python}
import os, sys, time
here = {fixture!r}
log = {log!r}
args = sys.argv[1:]
with open(log, "a") as fh:
    fh.write(" ".join(args) + "\\n")
if os.path.exists(os.path.join(here, "hang")):
    time.sleep(60)

def emit(name):
    path = os.path.join(here, name)
    if not os.path.exists(path):
        sys.stderr.write("fake nvidia-smi: no fixture " + name + "\\n")
        sys.exit(97)
    sys.stdout.write(open(path).read())
    rc = path[:-4] + ".rc"
    sys.exit(int(open(rc).read()) if os.path.exists(rc) else 0)

if not args:
    emit("banner.txt")
elif args[0].startswith("--query-gpu=") and args[1:] == ["--format=csv,noheader,nounits"]:
    fields = args[0].split("=", 1)[1]
    if fields == "index,name,compute_cap,memory.total,driver_version":
        emit("query.txt")
    elif fields == "index,name,memory.total,driver_version":
        emit("query-nocc.txt")
sys.stderr.write("fake nvidia-smi: unexpected arguments " + repr(args) + "\\n")
sys.exit(98)
"""


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_nvidia_smi(bin_dir: Path, case: str | Path) -> Path:
    """Install ``bin_dir/nvidia-smi`` answering from ``fixtures/nvidia-smi/<case>``.

    Every call's arguments are appended to ``bin_dir/nvidia-smi.calls``.
    """
    fixture = Path(case) if Path(case).is_absolute() else SMI_FIXTURES / case
    assert fixture.is_dir(), fixture
    script = _FAKE_SMI.format(
        python=sys.executable, fixture=str(fixture), log=str(bin_dir / "nvidia-smi.calls")
    )
    return _executable(bin_dir / "nvidia-smi", script)


def smi_calls(bin_dir: Path) -> list[str]:
    log = bin_dir / "nvidia-smi.calls"
    return log.read_text().splitlines() if log.exists() else []


def fake_nvcc(bin_dir: Path, release: str) -> Path:
    """``bin_dir/nvcc`` printing the captured ``nvcc --version`` of that release."""
    fixture = FIXTURES / "nvcc" / f"{release}.txt"
    script = (
        f"#!{sys.executable}\nimport sys\n"
        "if sys.argv[1:] != ['--version']:\n    sys.exit(1)\n"
        f"sys.stdout.write(open({str(fixture)!r}).read())\n"
    )
    return _executable(bin_dir / "nvcc", script)


def fake_tool(bin_dir: Path, name: str, script: str) -> Path:
    """Any other stand-in executable (a shell script body)."""
    return _executable(bin_dir / name, "#!/bin/sh\n" + script)


def fake_root(tmp: Path, files: dict[str, str]) -> Path:
    """A directory standing in for ``/``: ``{"/sys/module/nvidia/version": "535.104.05\\n"}``."""
    root = tmp / "root"
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        target = root / rel.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def env_with(bin_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """A minimal environment: PATH is only ``bin_dir`` (so the real machine's tools stay out)."""
    env = {"PATH": str(bin_dir) if bin_dir else "", "HOME": os.environ.get("HOME", "/nonexistent")}
    env.update(extra)
    return env
