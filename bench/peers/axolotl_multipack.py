"""Axolotl's LoRA with ``sample_packing`` on the bench's workload: the ``axolotl_multipack`` peer.

Axolotl as its users run it: its own config loader, dataset loading, multipack sampler and
trainer builder (``axolotl.train.setup_model_and_trainer``, what ``axolotl train`` calls), with
``sample_packing: true`` and the ``pad_to_sequence_len`` it recommends (and sets) with packing.
The examples are the ones loradoc tokenized, given as a pre-tokenized dataset (``input_ids``,
``attention_mask``, ``labels``: Axolotl takes such a dataset as is), so Axolotl trains on the
same tokens with the same supervised positions. fp32, sdpa (position ids restart per example),
and Axolotl's Triton LoRA kernels off: they allocate on CUDA and cannot run on a CPU-only torch.
Axolotl creates the adapter itself, so its initial LoRA weights differ from the other modes'
(no checksum). Timing and token counts come from ``step_recorder`` like every other mode.

    <axolotl venv>/bin/python bench/peers/axolotl_multipack.py --workdir W --tag r0 --result R.json
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from peer_run import lora_kwargs, main, peer_result, token_rows
from step_recorder import train_measured


def config(workdir: Path, run: Path, spec: dict[str, Any]) -> dict[str, Any]:
    lora = lora_kwargs(spec)
    return {
        "base_model": str(workdir / "model"),
        "tokenizer_type": "AutoTokenizer",
        "datasets": [{"path": str(run / "train.jsonl"), "ds_type": "json", "split": "train"}],
        "dataset_prepared_path": str(run / "prepared"),
        "val_set_size": 0,
        "output_dir": str(run / "out"),
        "adapter": "lora",
        "lora_r": lora["r"],
        "lora_alpha": lora["lora_alpha"],
        "lora_dropout": lora["lora_dropout"],
        "lora_target_modules": lora["target_modules"],
        "lora_mlp_kernel": False,
        "lora_qkv_kernel": False,
        "lora_o_kernel": False,
        "lora_embedding_kernel": False,
        "sequence_len": int(spec["sequence_len"]),
        "sample_packing": True,
        "pad_to_sequence_len": True,
        "train_on_inputs": False,
        "attn_implementation": "sdpa",
        "micro_batch_size": int(spec["packed_mbs"]),
        "gradient_accumulation_steps": 1,
        "num_epochs": 1,
        "optimizer": "adamw_torch",
        "lr_scheduler": "cosine",
        "learning_rate": float(spec["learning_rate"]),
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "bf16": False,
        "fp16": False,
        "tf32": False,
        "gradient_checkpointing": False,
        "logging_steps": int(spec["logging_steps"]),
        "save_strategy": "no",
        "seed": int(spec["seed"]),
        "dataloader_num_workers": 0,
    }


def run(workdir: Path, tag: str, spec: dict[str, Any]) -> dict[str, Any]:
    import yaml

    os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import axolotl
    from axolotl.cli.args import TrainerCliArgs
    from axolotl.cli.config import load_cfg
    from axolotl.common.datasets import load_datasets
    from axolotl.train import setup_model_and_trainer

    run_dir = workdir / "runs" / f"axolotl_multipack-{tag}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    rows = token_rows(workdir)
    with (run_dir / "train.jsonl").open("w") as fh:
        for r in rows:
            fh.write(json.dumps({**r, "attention_mask": [1] * len(r["input_ids"])}) + "\n")
    (run_dir / "cfg.yml").write_text(yaml.safe_dump(config(workdir, run_dir, spec), sort_keys=False))

    cfg = load_cfg(str(run_dir / "cfg.yml"))
    meta = load_datasets(cfg=cfg, cli_args=TrainerCliArgs())
    trainer, _model, tokenizer, _peft, _processor = setup_model_and_trainer(cfg, meta)
    out = train_measured(trainer, int(tokenizer.pad_token_id), int(spec["warmup_steps"]))
    trainer_name = f"axolotl {axolotl.__version__} (sample_packing, multipack sampler)"
    return peer_result(out, "axolotl_multipack", trainer_name, spec, rows)


if __name__ == "__main__":
    raise SystemExit(main(run, __doc__ or ""))
