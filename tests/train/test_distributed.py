"""Two CPU processes (gloo, launched by `loradoc train --num-processes 2` through accelerate)
train the tiny model like one process with the same global batch.

Tolerance: per-step train loss, eval loss and the final adapter within 1e-5 of the
single-process run. The two runs see the same bins in the same optimizer steps
(1 process x micro 2 = 2 processes x micro 1) and normalise by the same supervised
token count; what differs is float32 summation order (DDP adds two partial
gradients instead of one sum; eval adds per-rank sums). That is ~1e-7 relative
per step; measured max |delta| here is under 1e-6, so 1e-5 leaves a 10x margin
while any real mistake (a bin counted twice, a rank's share dropped, per-rank
normalisation) moves the loss by 1e-3 or more.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml


def facts_of(snapshot: Any) -> Any:
    from loradoc.compat.load import load_matrix
    from loradoc.doctor.facts import machine_facts

    return machine_facts(snapshot, load_matrix())


pytestmark = pytest.mark.slow

TOL = 1e-5


def _metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_match_one_with_the_same_global_batch(
    tiny_config_doc: dict[str, Any],
    tmp_path: Path,
    one_torch_thread: None,
    cli_env: Callable[..., dict[str, str]],
) -> None:
    import torch
    from safetensors.torch import load_file

    from loradoc.config.load import load_config
    from loradoc.train.run.start import run_training

    # 5 eval examples (~70 tokens each) pack into 2 bins of 256: enough for 1 process x eval
    # batch 2, too few for 2 x 2, so the two-process run turns eval packing off (from the real
    # world size) and splits 3 unpacked batches as 2 + 1 (+ one weightless stand-in)
    doc = {
        **tiny_config_doc,
        "sequence_len": 256,
        "val_set_size": 5,
        "eval_batch_size": 2,
        "eval_steps": 2,
        "max_steps": 4,
        "micro_batch_size": 2,
        "lr_scheduler": "cosine",
    }
    cfg_path = tmp_path / "lora.yml"
    cfg_path.write_text(yaml.safe_dump(doc, sort_keys=False))

    one = load_config(cfg_path, {"output_dir": str(tmp_path / "one")}, echo=False)
    from loradoc.doctor.snapshot import Snapshot
    from loradoc.train.preflight import resolve

    resolve(one, facts_of(Snapshot.load(Path(__file__).parent / "snapshots" / "cpu.json")))
    assert run_training(one) == 0

    env = cli_env(OMP_NUM_THREADS="1", WANDB_SILENT="true")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "loradoc",
            "train",
            str(cfg_path),
            "--num-processes",
            "2",
            "--micro-batch-size",
            "1",
            "--wandb_project",
            "dist",
            "--wandb_mode",
            "offline",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    two = Path(doc["output_dir"])

    # one process speaks: the plan, the eval-packing note and the summary appear once
    assert proc.stdout.count("plan for") == 1 and proc.stdout.count("done.") == 1
    assert proc.stdout.count("eval_sample_packing turned off") == 1
    assert "micro_batch_size x processes = 2 x 2 = 4" in proc.stdout
    summary = json.loads((two / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 4
    resolved = yaml.safe_load((two / "resolved_config.yml").read_text())
    assert resolved["num_processes"] == 2 and resolved["eval_sample_packing"] is False
    assert "eval_sample_packing" not in yaml.safe_load((tmp_path / "one" / "resolved_config.yml").read_text())
    # checkpoint-4 holds both ranks' RNG state and one marker; the adapter is written once
    ck = two / "checkpoint-4"
    assert {"rng_state_0.pth", "rng_state_1.pth", "loradoc_complete.json"} <= {p.name for p in ck.iterdir()}
    assert sorted(p.name for p in two.rglob("adapter_model.safetensors")) == ["adapter_model.safetensors"] * 2
    assert len(list((two / "wandb").glob("offline-run-*"))) == 1  # W&B on the main process only

    m1, m2 = _metrics(tmp_path / "one"), _metrics(two)
    train1 = [r for r in m1 if "loss" in r]
    train2 = [r for r in m2 if "loss" in r]
    assert [r["step"] for r in train2] == [1, 2, 3, 4]  # each step logged once
    assert [r["supervised_tokens"] for r in train2] == [r["supervised_tokens"] for r in train1]
    assert [r["tokens"] for r in train2] == [r["tokens"] for r in train1]
    loss_delta = max(abs(a["loss"] - b["loss"]) for a, b in zip(train1, train2, strict=True))
    assert loss_delta <= TOL, loss_delta

    eval1 = [r for r in m1 if "eval_loss" in r]
    eval2 = [r for r in m2 if "eval_loss" in r]
    assert [r["step"] for r in eval2] == [2, 4]
    # every eval token counted exactly once across the two ranks
    assert [r["eval_supervised_tokens"] for r in eval2] == [r["eval_supervised_tokens"] for r in eval1]
    eval_delta = max(abs(a["eval_loss"] - b["eval_loss"]) for a, b in zip(eval1, eval2, strict=True))
    assert eval_delta <= TOL, eval_delta

    a = load_file(str(tmp_path / "one" / "adapter_model.safetensors"))
    b = load_file(str(two / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    adapter_delta = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert adapter_delta <= TOL, adapter_delta
    print(
        f"2 vs 1 process: max |d loss| {loss_delta:.2e}, |d eval| {eval_delta:.2e}, |d adapter| {adapter_delta:.2e}"
    )
    assert torch.isfinite(torch.tensor(loss_delta))
