"""Ctrl-C (SIGINT) and SIGTERM to the process group of a two-process run (``--num-processes 2``,
gloo on the CPU): both ranks stop after the same step with one complete checkpoint, and the
resumed two-process run equals an uninterrupted two-process run."""

from __future__ import annotations

import signal
from pathlib import Path

import harness
import pytest

pytestmark = pytest.mark.slow

TWO = ["--num-processes", "2", "--micro-batch-size", "1"]


@pytest.fixture(scope="module")
def two_process_reference(fault_world: harness.World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("two-ref")
    cfg = fault_world.config(where)
    ran = harness.loradoc(["train", str(cfg), *TWO], where, timeout=600)
    assert ran.rc == 0, ran.tail()
    return where / "run"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_a_two_process_run(
    fault_world: harness.World, two_process_reference: Path, where: Path, sig: signal.Signals
) -> None:
    cfg = fault_world.config(where)
    fault = harness.loradoc(
        ["train", str(cfg), *TWO],
        where,
        pace=harness.PACE,
        timeout=600,
        trigger=lambda now: harness.markers(where).get("loss3", False),
        sig=sig,
    )
    assert fault.rc == 128 + sig, fault.tail(3000)
    assert "Traceback" not in fault.stderr, fault.tail(3000)
    out = where / "run"
    checkpoints = sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint-"))
    assert checkpoints and not harness.half_written(out), (checkpoints, harness.half_written(out))
    resumed = harness.loradoc(
        ["train", str(cfg), *TWO, "--resume_from_checkpoint", "true"], where, timeout=600
    )
    assert resumed.rc == 0, resumed.tail(3000)
    problems = harness.differences(out, two_process_reference)
    print(f"\n2 processes, {sig.name} at {fault.at:.2f}s: checkpoints {checkpoints}, {problems or 'equal'}")
    assert problems == []
