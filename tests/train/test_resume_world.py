"""Resuming with another process count says the data order is not kept (never silently differs)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from loradoc.train.run.checkpoint import checkpoint_world_size


def test_a_resume_with_another_process_count_says_so(
    make_train_config: Any, one_torch_thread: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from loradoc.train.run.start import run_training

    first = make_train_config(max_steps=2, save_steps=2)
    assert run_training(first) == 0
    out = Path(first.output_dir)
    ck = out / "checkpoint-2"
    assert checkpoint_world_size(ck) == 1
    # as if two processes had written it: one metric-state file per process
    shutil.copy(ck / "loradoc_state_0.json", ck / "loradoc_state_1.json")
    assert checkpoint_world_size(ck) == 2
    capsys.readouterr()
    again = make_train_config(max_steps=3, save_steps=2, resume_from_checkpoint=True)
    assert run_training(again) == 0
    said = capsys.readouterr()
    text = said.out + said.err
    assert "was written by 2 process(es) and this run has 1" in text and "data order is not kept" in text
