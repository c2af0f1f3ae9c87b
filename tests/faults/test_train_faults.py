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
