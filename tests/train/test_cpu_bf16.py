"""bf16 on the CPU: ``bf16: auto`` follows a measured speedup (cached), and a bf16 run's loss stays
within 1% of the fp32 run's on the tiny model.

Tolerance: bf16 autocast keeps the weights, the optimizer and the loss in fp32 and rounds matmul
inputs to 8 bits of mantissa; over 30 steps of the tiny model the final train and eval losses
differ by about 0.1% here (the tiny example: 1.8448 vs 1.8426 after 60 steps), so 1% leaves a 10x
margin, while a wrong cast (fp16 overflow, bf16 master weights) moves them by far more.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loradoc.train import cpu_bf16
from loradoc.train.cpu_bf16 import MIN_SPEEDUP, cpu_bf16_choice, cpu_bf16_speedup


def test_no_bf16_instructions_means_fp32() -> None:
    use, why = cpu_bf16_choice(False, 2048, 512, measure=True)
    assert (
        not use
        and why == "bf16: auto on no CUDA GPU: training in fp32 (no bf16 matmul instructions on this CPU)"
    )
    use, why = cpu_bf16_choice(None, 2048, 512, measure=True)
    assert not use and why == "bf16: auto on no CUDA GPU: training in fp32"


def test_the_choice_follows_the_measured_speedup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    measured: list[tuple[int, int]] = []

    def fake(hidden: int, seq: int, **_: Any) -> float:
        measured.append((hidden, seq))
        return {128: 1.1, 2048: 1.9}[hidden]

    monkeypatch.setattr(cpu_bf16, "measure_speedup", fake)
    monkeypatch.setattr(cpu_bf16, "_CACHE", tmp_path / "cpu_bf16.json")
    use, why = cpu_bf16_choice(True, 2048, 1000, measure=True)
    assert use and why.endswith("bf16 autocast, measured 1.90x faster than fp32 at hidden size 2048")
    use, why = cpu_bf16_choice(True, 128, 512, measure=True)
    assert not use and f"measured only 1.10x at hidden size 128 (bf16 needs >= {MIN_SPEEDUP}x)" in why
    assert measured == [(2048, 1024), (128, 512)]  # sequence lengths measured in power-of-two buckets
    # cached: asked again, nothing is measured
    assert cpu_bf16_speedup(2048, 900) == 1.9 and len(measured) == 2
    assert len(json.loads((tmp_path / "cpu_bf16.json").read_text())) == 2
    # another machine's plan (--from) does not measure here
    use, why = cpu_bf16_choice(True, 4096, 512, measure=False)
    assert not use and "measured on the machine that trains" in why and len(measured) == 2
    use, why = cpu_bf16_choice(True, None, 512, measure=True)
    assert not use and "hidden size is unknown" in why


def test_a_real_measurement_is_a_ratio(tmp_path: Path) -> None:
    speedup = cpu_bf16.measure_speedup(64, 128, rounds=1)
    assert 0.05 < speedup < 20


@pytest.mark.slow
def test_bf16_training_stays_within_one_percent_of_fp32(
    make_train_config: Callable[..., Any], tmp_path: Path, one_torch_thread: None
) -> None:
    from loradoc.train.run.start import run_training

    losses = {}
    for bf16 in (False, True):
        out = tmp_path / f"bf16-{bf16}"
        cfg = make_train_config(output_dir=str(out), max_steps=30, bf16=bf16, val_set_size=0.1, eval_steps=30)
        assert run_training(cfg) == 0
        summary = json.loads((out / "summary.json").read_text())
        losses[bf16] = (summary["train_loss_last"], summary["eval_loss"])
        if bf16:
            resolved = (out / "resolved_config.yml").read_text()
            assert "bf16: true" in resolved
    (t32, e32), (t16, e16) = losses[False], losses[True]
    assert t16 != t32  # bf16 really ran: the numbers differ in the last digits
    assert abs(t16 - t32) <= 0.01 * abs(t32), losses
    assert abs(e16 - e32) <= 0.01 * abs(e32), losses


def test_the_time_estimate_counts_bf16s_measured_speedup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, train_config: Callable[..., Any]
) -> None:
    from loradoc.train import estimate_time as et

    monkeypatch.setattr(et, "cpu_flops", lambda threads=None, measure=True: 100e9)
    monkeypatch.setattr(cpu_bf16, "_CACHE", tmp_path / "cpu_bf16.json")
    monkeypatch.setattr(cpu_bf16, "measure_speedup", lambda hidden, seq, **_: 1.6)
    shape = {
        "hidden_size": 512,
        "intermediate_size": 1536,
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "vocab_size": 8000,
        "model_type": "llama",
    }
    fp32 = et.estimate_time(shape, train_config(bf16=False), device="cpu", tokens=100_000)
    bf16 = et.estimate_time(shape, train_config(bf16=True), device="cpu", tokens=100_000)
    assert bf16.seconds_high == pytest.approx(fp32.seconds_high / 1.6)
    assert "x1.60 for bf16 autocast (measured at hidden size 512)" in bf16.basis
