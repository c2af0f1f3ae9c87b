"""loradoc's optimizer and scheduler names against the installed transformers' own lists.

A config is validated against ``loradoc.config.vocab`` before transformers is imported, so a
name loradoc accepts must be one transformers' Trainer knows (``OptimizerNames`` in
``transformers.training_args``, ``SchedulerType`` in ``transformers.trainer_utils``), and a
name transformers adds must either be taken into the vocabulary or be left out on purpose,
for a reason written down here.
"""

from __future__ import annotations

from typing import Any

import pytest

from loradoc.config import vocab as V

training_args = pytest.importorskip("transformers.training_args")
trainer_utils = pytest.importorskip("transformers.trainer_utils")

# transformers' optimizers loradoc leaves out, and why. loradoc's list is the ones the Trainer
# builds from the name alone on the CUDA, ROCm and CPU machines loradoc targets, with at most a
# package to install (bitsandbytes, torchao, schedulefree, torch-optimi, grokadamw); needing a
# package is no reason to leave one out.
LEFT_OUT_OPTIMIZERS = {
    "adamw_torch_xla": "Google TPUs (torch_xla), which loradoc does not target",
    "adamw_torch_npu_fused": "Ascend NPUs (torch_npu), which loradoc does not target",
    "adamw_anyprecision": "torchdistx, unmaintained and without wheels for a current torch",
    **{
        name: "GaLore (galore-torch) needs optim_target_modules besides the name"
        for name in (
            "galore_adamw",
            "galore_adamw_8bit",
            "galore_adafactor",
            "galore_adamw_layerwise",
            "galore_adamw_8bit_layerwise",
            "galore_adafactor_layerwise",
        )
    },
    "apollo_adamw": "APOLLO (apollo-torch) needs optim_target_modules besides the name",
    "apollo_adamw_layerwise": "APOLLO (apollo-torch) needs optim_target_modules besides the name",
    "lomo": "LOMO (lomo-optim) is a full-parameter fused-backward optimizer, not an adapter one",
    "adalomo": "AdaLomo (lomo-optim) is a full-parameter fused-backward optimizer, not an adapter one",
}

# Every transformers scheduler is built from torch alone, so loradoc leaves none out on purpose.
# Names it lacks today, reported and waiting for vocab.py to take them; the test fails when an
# entry here is no longer missing, so the list cannot go stale.
PENDING_SCHEDULERS = {
    "greedy": "GreedyLR, in transformers 5.25's SchedulerType; vocab.LR_SCHEDULERS lists 5.24's",
}


def _values(enum: Any) -> list[str]:
    return [member.value for member in enum]


def test_every_loradoc_optimizer_is_a_transformers_optimizer() -> None:
    known = set(_values(training_args.OptimizerNames))
    unknown = [name for name in V.OPTIMIZERS if name not in known]
    assert not unknown, f"not in transformers' OptimizerNames: {unknown}"


def test_loradoc_has_every_transformers_optimizer_it_does_not_leave_out() -> None:
    theirs = _values(training_args.OptimizerNames)
    missing = [name for name in theirs if name not in V.OPTIMIZERS and name not in LEFT_OUT_OPTIMIZERS]
    assert not missing, (
        f"transformers' OptimizerNames has {missing}, which loradoc.config.vocab.OPTIMIZERS lacks: "
        "add them there, or to LEFT_OUT_OPTIMIZERS here with the reason"
    )
    contradicted = sorted(set(V.OPTIMIZERS) & set(LEFT_OUT_OPTIMIZERS))
    assert not contradicted, f"in OPTIMIZERS and in LEFT_OUT_OPTIMIZERS: {contradicted}"


def test_bnb_optimizers_are_the_ones_transformers_builds_with_bitsandbytes() -> None:
    """The doctor asks for bitsandbytes when a config names one of these (vocab.BNB_OPTIMIZERS)."""
    trainer_optimizer = pytest.importorskip("transformers.trainer_optimizer")  # transformers >= 5
    theirs = getattr(trainer_optimizer, "_BITSANDBYTES_OPTIMIZERS", None)
    if theirs is None:
        pytest.skip("this transformers has no _BITSANDBYTES_OPTIMIZERS list")
    assert set(V.BNB_OPTIMIZERS) == {name.value for name in theirs}


def test_every_loradoc_scheduler_is_a_transformers_scheduler() -> None:
    known = set(_values(trainer_utils.SchedulerType))
    unknown = [name for name in V.LR_SCHEDULERS if name not in known]
    assert not unknown, f"not in transformers' SchedulerType: {unknown}"


def test_loradoc_has_every_transformers_scheduler() -> None:
    theirs = _values(trainer_utils.SchedulerType)
    lacking = [name for name in theirs if name not in V.LR_SCHEDULERS]
    unreported = [name for name in lacking if name not in PENDING_SCHEDULERS]
    assert not unreported, (
        f"transformers' SchedulerType has {unreported}, which loradoc.config.vocab.LR_SCHEDULERS lacks"
    )
    taken = [name for name in PENDING_SCHEDULERS if name in theirs and name not in lacking]
    assert not taken, f"LR_SCHEDULERS has {taken} now: remove them from PENDING_SCHEDULERS"
