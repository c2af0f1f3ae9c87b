"""run_training end to end on the tiny model (CPU, packing on, a few steps)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow


def test_packed_run_writes_every_output(
    make_train_config: Callable[..., Any], tmp_path: Path, capsys: Any
) -> None:
    from loradoc.train.run.start import run_training

    cfg = make_train_config(val_set_size=8, evals_per_epoch=2)
    assert run_training(cfg) == 0
    out = Path(cfg.output_dir)
    for name in (
        "adapter_model.safetensors",
        "adapter_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "resolved_config.yml",
        "metrics.jsonl",
        "loss.png",
        "summary.json",
    ):
        assert (out / name).is_file(), name
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "loss" in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    assert all(math.isfinite(r["loss"]) and r["lr"] > 0 for r in train)
    assert all(
        r["supervised_tokens"] > 0 and r["tokens"] >= r["supervised_tokens"] and r["tokens_per_s"] > 0
        for r in train
    )
    assert [r["supervised_tokens"] for r in train] == sorted(r["supervised_tokens"] for r in train)
    evals = [r for r in records if "eval_loss" in r]
    assert evals and all(math.isfinite(r["eval_loss"]) for r in evals)

    summary = json.loads((out / "summary.json").read_text())
    assert (
        summary["steps"] == 4 and summary["attention"] == "loradoc_varlen" and summary["precision"] == "fp32"
    )
    assert summary["supervised_tokens"] == train[-1]["supervised_tokens"]
    assert 0 < summary["packing_efficiency"] <= 1 and summary["peak_rss_mb"] > 0
    assert summary["data"]["train"]["kept"] == 40 and summary["data"]["eval"]["kept"] == 8

    resolved = yaml.safe_load((out / "resolved_config.yml").read_text())
    changes = {c["key"]: c for c in resolved["_loradoc"]["auto_changes"]}
    assert changes["bf16"]["to"] is False
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "done." in printed and "supervised" in printed and str(out) in printed

    # the adapter loads back with peft and changes the model's output
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(cfg.base_model)
    ids = torch.tensor([[1, 50, 60, 70]])
    with torch.no_grad():
        before = base(input_ids=ids).logits
        tuned = PeftModel.from_pretrained(base, str(out))
        after = tuned(input_ids=ids).logits
    assert not torch.allclose(before, after)


def test_eval_packing_turns_itself_off_for_a_tiny_eval_split(
    make_train_config: Callable[..., Any], capsys: Any
) -> None:
    from loradoc.train.run.start import run_training

    # also exercises gradient checkpointing (non-reentrant) with the packed attention
    cfg = make_train_config(
        val_set_size=2, micro_batch_size=4, max_steps=1, eval_sample_packing=True, gradient_checkpointing=True
    )
    assert run_training(cfg) == 0
    assert cfg.eval_sample_packing is False
    change = [c for c in cfg.auto_changes if c.key == "eval_sample_packing"]
    assert len(change) == 1 and "fewer than micro_batch_size x processes" in change[0].reason
    assert "eval_sample_packing turned off" in capsys.readouterr().out
    records = [json.loads(x) for x in (Path(cfg.output_dir) / "metrics.jsonl").read_text().splitlines()]
    assert any(math.isfinite(r.get("eval_loss", math.nan)) for r in records)
    resolved = yaml.safe_load((Path(cfg.output_dir) / "resolved_config.yml").read_text())
    assert resolved["eval_sample_packing"] is False


def test_resume_from_a_checkpoint_ends_where_an_unbroken_run_ends(
    make_train_config: Callable[..., Any], tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file

    from loradoc.train.run.start import run_training

    whole = make_train_config(max_steps=4, save_steps=2, output_dir=str(tmp_path / "whole"))
    assert run_training(whole) == 0
    checkpoint = tmp_path / "whole" / "checkpoint-2"
    assert (checkpoint / "trainer_state.json").is_file()

    resumed = make_train_config(
        max_steps=4,
        save_steps=2,
        output_dir=str(tmp_path / "resumed"),
        resume_from_checkpoint=str(checkpoint),
    )
    assert run_training(resumed) == 0
    a = load_file(str(tmp_path / "whole" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    steps = [json.loads(x)["step"] for x in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert steps[0] == 3 and max(steps) == 4
