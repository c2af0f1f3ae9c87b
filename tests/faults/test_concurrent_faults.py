"""Two ``loradoc train`` runs on one ``output_dir`` at once: the second must be refused."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import harness
import pytest

pytestmark = pytest.mark.slow


def _start(words: list[str], where: Path, tag: str, pace: float | None = None) -> subprocess.Popen[str]:
    home = where / "home"
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "loradoc", *words],
        cwd=where,
        env=harness.cli_env(home, pace=pace),
        stdin=subprocess.DEVNULL,
        stdout=open(where / f"{tag}.out", "w"),  # noqa: SIM115
        stderr=open(where / f"{tag}.err", "w"),  # noqa: SIM115
        text=True,
        start_new_session=True,
    )


def test_a_second_run_while_the_first_trains_is_refused(fault_world: harness.World, where: Path) -> None:
    cfg = fault_world.config(where)
    first = _start(["train", str(cfg)], where, "first", pace=harness.PACE)
    end = time.monotonic() + 240
    while not harness.markers(where).get("loss2") and first.poll() is None and time.monotonic() < end:
        time.sleep(0.01)
    second = harness.loradoc(["train", str(cfg)], where)
    assert first.wait(timeout=300) == 0, (where / "first.err").read_text()[-2000:]
    assert second.rc not in (0, None) and "is in use by another loradoc run" in second.stderr, second.tail()
    assert harness.differences(where / "run", fault_world.reference or where) == []


def test_two_runs_started_together_on_one_output_dir_one_is_refused(
    fault_world: harness.World, where: Path
) -> None:
    cfg = fault_world.config(where)
    a = _start(["train", str(cfg)], where, "a")
    time.sleep(0.3)
    b = _start(["train", str(cfg)], where, "b")
    codes = sorted([a.wait(timeout=300), b.wait(timeout=300)])
    errs = (where / "a.err").read_text() + (where / "b.err").read_text()
    print(
        f"\nexit codes {codes}; output equal to the uninterrupted run: "
        f"{harness.differences(where / 'run', fault_world.reference or where) or 'yes'}"
    )
    assert codes[0] == 0 and codes[1] != 0, f"exit codes {codes}: both ran\n{errs[-1500:]}"
    assert harness.differences(where / "run", fault_world.reference or where) == []
