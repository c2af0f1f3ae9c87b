"""The real thing: a fresh venv on this CPU machine, `loradoc doctor install --yes`, verified.

torch comes from pip's configured sources when download.pytorch.org cannot be reached
(here: a CPU wheel on local disk; in CI: the CPU index). The torch version is pinned to
the one this interpreter runs, so the resolve never reaches for another (multi-GB) build.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from install_helpers import make_venv

from loradoc.doctor.install.env import index_unreachable


def _torch_here() -> str:
    try:
        return metadata.version("torch").split("+")[0]
    except metadata.PackageNotFoundError:
        pytest.skip("this interpreter has no torch, so no known CPU wheel to install")


@pytest.mark.slow
def test_fresh_venv_gets_a_verified_cpu_stack(tmp_path: Path) -> None:
    version = _torch_here()
    py = make_venv(tmp_path / "env")
    cmd = [sys.executable, "-m", "loradoc", "doctor", "install", "--yes", "--python", str(py)]
    cmd += ["--torch", version, "--minimal", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["plan"]["variant"] == "cpu"
    assert result["applied"]["torch"] == f"{version}+cpu"
    assert result["check"]["exit_code"] == 0 and result["check"]["report"]["ok"] is True
    assert all(row.get("ok") for row in result["smoke"]), result["smoke"]
    if index_unreachable("https://download.pytorch.org/whl/cpu", "torch") is not None:
        notices = [ln for ln in proc.stderr.splitlines() if "cannot be reached" in ln]
        assert len(notices) == 1 and "using pip's configured sources" in notices[0]
        assert result["applied"]["fell_back"] == ["torch"]
    # the check ran from a throwaway copy: nothing of loradoc was installed into the target
    probe = subprocess.run([str(py), "-c", "import loradoc"], capture_output=True)
    assert probe.returncode != 0
    # torch is the CPU build pip reports
    freeze = subprocess.run([str(py), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    assert f"torch=={version}+cpu" in freeze
