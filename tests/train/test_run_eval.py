"""Eval loss is token-weighted over the whole split: packed and unpacked eval agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("micro", [1, 3])
def test_packed_and_unpacked_eval_give_the_same_loss(
    tiny_model_dir: Path,
    tiny_tokenizer: Any,
    tiny_data_dir: Path,
    tmp_path: Path,
    data_config: Any,
    train_config: Any,
    micro: int,
) -> None:
    import torch

    from loradoc.train.data.prepare import prepare_data
    from loradoc.train.model.load import load_model
    from loradoc.train.packing.dataloader import build_dataloader
    from loradoc.train.run.train_args import training_arguments
    from loradoc.train.run.trainer import LoradocTrainer

    data = prepare_data(
        data_config(
            tmp_path, [{"path": str(tiny_data_dir / "alpaca.jsonl"), "type": "alpaca"}], val_set_size=12
        ),
        tiny_tokenizer,
        say=lambda s: None,
    )
    cfg = train_config(
        base_model=str(tiny_model_dir),
        lora_r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        lora_target_linear=True,
        output_dir=str(tmp_path / "out"),
        micro_batch_size=micro,
        gradient_accumulation_steps=1,
        num_epochs=1,
        learning_rate=1e-3,
        lr_scheduler="constant",
        weight_decay=0.0,
        max_grad_norm=1.0,
        optimizer="adamw_torch",
        logging_steps=1,
        seed=1,
    )
    model = load_model(
        cfg, tiny_tokenizer, attention="loradoc_varlen", precision="fp32", packing=True, say=lambda s: None
    )
    args = training_arguments(
        cfg, precision="fp32", steps_per_epoch=1, has_eval=True, report_to=[], world_size=1
    )

    def factory(dataset: Any, *, packing: bool, shuffle: bool) -> Any:
        return build_dataloader(
            dataset,
            packing=packing,
            sequence_len=128,
            micro_batch_size=micro,
            pad_token_id=int(tiny_tokenizer.pad_token_id),
            seed=1,
            attention="loradoc_varlen",
            shuffle=shuffle,
        )

    trainer = LoradocTrainer(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.eval,
        processing_class=tiny_tokenizer,
        loader_factory=factory,
        train_packing=True,
        eval_packing=True,
    )
    packed = trainer.evaluate()
    trainer.eval_packing = False
    unpacked = trainer.evaluate()
    assert (
        packed["eval_supervised_tokens"]
        == unpacked["eval_supervised_tokens"]
        == data.eval_stats.supervised_tokens
    )
    assert abs(packed["eval_loss"] - unpacked["eval_loss"]) < 1e-5

    # and it is the token-weighted mean of per-example losses
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for row in data.eval:
            labels = torch.tensor([row["labels"]])
            n = int(labels[:, 1:].ne(-100).sum())
            total += float(model(input_ids=torch.tensor([row["input_ids"]]), labels=labels).loss) * n
            count += n
    assert abs(packed["eval_loss"] - total / count) < 1e-5
