"""Gradient accumulation is normalised over the supervised tokens of the whole window.

Two examples with very different numbers of trained tokens: the gradient after
2 accumulated micro-batches of 1 must equal the gradient of 1 batch holding both,
and both must equal the gradient of (sum of token losses) / (all trained tokens).
The mean of per-micro-batch means is different, which this test also checks, so
it fails if the normalisation regresses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from loradoc.config.schema import TrainConfig

Make = Callable[..., TrainConfig]

pytestmark = pytest.mark.slow


def _dataset() -> Any:
    import datasets

    rng = torch.Generator().manual_seed(5)
    a = torch.randint(10, 300, (14,), generator=rng).tolist()
    b = torch.randint(10, 300, (20,), generator=rng).tolist()
    lab_a = [-100] * 11 + a[11:]  # 3 trained tokens
    lab_b = [-100] * 2 + b[2:]  # 18 trained tokens
    return datasets.Dataset.from_dict(
        {"input_ids": [a, b], "labels": [lab_a, lab_b], "length": [len(a), len(b)]}
    )


def _model_cfg(make: Make, model_dir: Path, **kw: Any) -> TrainConfig:
    """The tiny model with a LoRA adapter on every linear layer."""
    return make(
        base_model=str(model_dir), lora_r=4, lora_alpha=8, lora_dropout=0.0, lora_target_linear=True, **kw
    )


def _cfg(make: Make, model_dir: Path, out: Path, micro: int, accum: int) -> TrainConfig:
    return _model_cfg(
        make,
        model_dir,
        output_dir=str(out),
        micro_batch_size=micro,
        gradient_accumulation_steps=accum,
        num_epochs=1,
        max_steps=1,
        learning_rate=1e-3,
        lr_scheduler="constant",
        weight_decay=0.0,
        max_grad_norm=0.0,
        optimizer="sgd",
        logging_steps=1,
        seed=1,
    )


def _grads_after_one_window(
    make: Make, model_dir: Path, tok: Any, out: Path, *, micro: int, accum: int, packing: bool, attention: str
) -> dict[str, torch.Tensor]:
    from transformers import TrainerCallback, set_seed

    from loradoc.train.model.load import load_model
    from loradoc.train.packing.dataloader import build_dataloader
    from loradoc.train.run.train_args import training_arguments
    from loradoc.train.run.trainer import LoradocTrainer

    set_seed(0)
    cfg = _cfg(make, model_dir, out, micro, accum)
    model = load_model(cfg, tok, attention=attention, precision="fp32", packing=packing, say=lambda s: None)
    with torch.no_grad():  # lora_B starts at zero: give it values so every LoRA weight gets a gradient
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(len(name))) * 0.05)
    args = training_arguments(
        cfg, precision="fp32", steps_per_epoch=1, has_eval=False, report_to=[], world_size=1
    )
    ds = _dataset()

    def factory(dataset: Any, *, packing: bool, shuffle: bool) -> Any:
        return build_dataloader(
            dataset,
            packing=packing,
            sequence_len=24,  # no two examples fit one bin: same micro-batches packed or not
            micro_batch_size=micro,
            pad_token_id=int(tok.pad_token_id),
            seed=1,
            attention=attention,
            shuffle=shuffle,
        )

    grads: dict[str, torch.Tensor] = {}

    class Grab(TrainerCallback):  # type: ignore[misc]
        def on_pre_optimizer_step(
            self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any
        ) -> None:
            for name, p in model.named_parameters():
                if p.grad is not None:
                    grads[name] = p.grad.detach().clone()

    trainer = LoradocTrainer(
        model=model,
        args=args,
        train_dataset=ds,
        processing_class=tok,
        loader_factory=factory,
        train_packing=packing,
        eval_packing=False,
        callbacks=[Grab()],
    )
    trainer.train()
    assert grads
    return grads


def _reference(
    make: Make, model_dir: Path, tok: Any, attention: str, *, per_batch_mean: bool
) -> dict[str, torch.Tensor]:
    """Token-weighted (or mean-of-means) gradient computed directly, one example at a time."""
    from transformers import set_seed

    from loradoc.train.model.load import load_model

    set_seed(0)
    mcfg = _model_cfg(make, model_dir)
    model = load_model(mcfg, tok, attention=attention, precision="fp32", packing=False, say=lambda s: None)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(len(name))) * 0.05)
    ds = _dataset()
    total = sum(sum(1 for x in lab[1:] if x != -100) for lab in ds["labels"])
    model.train()
    for row in ds:
        ids = torch.tensor([row["input_ids"]])
        labels = torch.tensor([row["labels"]])
        n = int(labels[:, 1:].ne(-100).sum())
        loss = model(input_ids=ids, labels=labels).loss  # mean over this example's trained tokens
        (loss / 2 if per_batch_mean else loss * n / total).backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(("packing", "attention"), [(False, "sdpa"), (True, "loradoc_varlen")])
def test_accumulation_equals_one_big_batch(
    tiny_model_dir: Path,
    tiny_tokenizer: Any,
    tmp_path: Path,
    packing: bool,
    attention: str,
    train_config: Make,
) -> None:
    accumulated = _grads_after_one_window(
        train_config,
        tiny_model_dir,
        tiny_tokenizer,
        tmp_path / "ga",
        micro=1,
        accum=2,
        packing=packing,
        attention=attention,
    )
    one_batch = _grads_after_one_window(
        train_config,
        tiny_model_dir,
        tiny_tokenizer,
        tmp_path / "big",
        micro=2,
        accum=1,
        packing=packing,
        attention=attention,
    )
    reference = _reference(train_config, tiny_model_dir, tiny_tokenizer, "sdpa", per_batch_mean=False)
    mean_of_means = _reference(train_config, tiny_model_dir, tiny_tokenizer, "sdpa", per_batch_mean=True)
    assert accumulated.keys() == one_batch.keys() == reference.keys()
    for name in reference:
        torch.testing.assert_close(accumulated[name], one_batch[name], rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(accumulated[name], reference[name], rtol=1e-4, atol=1e-7)
    # the biased normalisation gives a clearly different gradient (so this test can fail)
    diff = max(float((mean_of_means[n] - reference[n]).abs().max()) for n in reference)
    scale = max(float(reference[n].abs().max()) for n in reference)
    assert diff > 0.1 * scale
