"""rsLoRA and DoRA train end to end on the tiny model, and the saved adapter says which it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.parametrize(("key", "field"), [("peft_use_rslora", "use_rslora"), ("peft_use_dora", "use_dora")])
def test_variant_trains_and_is_recorded(
    make_train_config: Any, one_torch_thread: Any, key: str, field: str
) -> None:
    from loradoc.train.run.start import run_training

    cfg = make_train_config(**{key: True, "max_steps": 2})
    assert run_training(cfg) == 0
    out = Path(cfg.output_dir)
    assert json.loads((out / "adapter_config.json").read_text())[field] is True
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["train_loss_mean"] > 0
    losses = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in row for row in losses)
