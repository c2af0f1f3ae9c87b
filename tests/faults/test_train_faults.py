"""SIGKILL and SIGTERM at seeded moments of every phase of ``loradoc train``; each recovered
run must equal the uninterrupted one (``harness`` says what "equal" means).

The quick subset (a few points) runs in the default suite; the full harness is ``slow``.
"""

from __future__ import annotations

import signal

import harness
import pytest

SEED = 20240611


def _run(world: harness.World, points: list[harness.Point], root, title: str) -> list[harness.Outcome]:
    outcomes = []
    for i, point in enumerate(points):
        outcomes.append(harness.run_point(world, point, harness.fresh(root / f"p{i:03d}")))
    print("\n" + harness.figure(outcomes, title))
    return outcomes


QUICK = [
    harness.Point("train", signal.SIGKILL, 3),
    harness.Point("final", signal.SIGKILL, 7),
]


def test_quick_fault_points_recover_to_the_uninterrupted_run(fault_world: harness.World, tmp_path) -> None:
    outcomes = _run(fault_world, QUICK, tmp_path, "quick fault subset")
    assert all(o.equal for o in outcomes), harness.figure(outcomes)


@pytest.mark.slow
def test_every_phase_under_sigkill_and_sigterm_recovers_to_the_uninterrupted_run(
    fault_world: harness.World, tmp_path
) -> None:
    points = harness.training_points(2, SEED)  # 7 phases x 2 signals x 2 moments = 28 points
    outcomes = _run(fault_world, points, tmp_path, "training fault points")
    assert all(o.equal for o in outcomes), harness.figure(outcomes)


def test_stopped_after_the_last_checkpoint_before_the_end_record(
    fault_world: harness.World, tmp_path
) -> None:
    """The moment a loaded box once hit: the last checkpoint complete, then SIGKILL before
    transformers logged its end-of-training record and before any final output. The resume writes
    the outputs from the checkpoint, and metrics.jsonl must end like an unbroken run's."""
    where = harness.fresh(tmp_path / "end")
    cfg = fault_world.config(where)
    done = harness.loradoc(["train", str(cfg)], where)
    assert done.rc == 0, done.tail()
    out = where / "run"
    rows = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert "train_runtime" in rows[-1]
    (out / "metrics.jsonl").write_text("".join(r + "\n" for r in rows[:-1]), encoding="utf-8")
    for name in ("summary.json", "adapter_model.safetensors", "adapter_config.json", "loss.png"):
        (out / name).unlink(missing_ok=True)
    outcome = harness.check_recovered(
        fault_world, where, "after the last checkpoint, before the end record", None
    )
    print("\n" + outcome.line())
    assert outcome.equal and outcome.how == "resume", outcome.line()
