"""LoRA+ (loraplus_lr_ratio, loraplus_lr_embedding): the optimizer's parameter groups on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loradoc.config.problems import ConfigError
from loradoc.config.schema import TrainConfig
from loradoc.train.model.load import load_model
from loradoc.train.run.train_args import training_arguments
from loradoc.train.run.trainer import LoradocTrainer


def _cfg(train_config: Any, tiny_model_dir: Path, tmp_path: Path, **keys: Any) -> TrainConfig:
    doc: dict[str, Any] = {
        "base_model": str(tiny_model_dir),
        "lora_r": 4,
        "lora_alpha": 8,
        "lora_target_linear": True,
        "learning_rate": 1e-3,
        "output_dir": str(tmp_path / "out"),
    }
    cfg: TrainConfig = train_config(**{**doc, **keys})
    return cfg


def _trainer(cfg: TrainConfig, tokenizer: Any) -> Any:
    model = load_model(cfg, tokenizer, attention="sdpa", precision="fp32", packing=False, say=lambda s: None)
    args = training_arguments(
        cfg, precision="fp32", steps_per_epoch=10, has_eval=False, report_to=[], world_size=1, use_cpu=True
    )
    return LoradocTrainer(
        model=model,
        args=args,
        train_dataset=[{"input_ids": [1]}],
        processing_class=tokenizer,
        loader_factory=lambda *a, **k: None,
        train_packing=False,
        eval_packing=False,
    )


def _groups(trainer: Any) -> list[tuple[float, float, set[str]]]:
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    return [
        (g["lr"], g["weight_decay"], {names[id(p)] for p in g["params"]})
        for g in trainer.optimizer.param_groups
    ]


def test_lora_b_gets_its_own_learning_rate(
    train_config: Any, tiny_model_dir: Path, tiny_tokenizer: Any, tmp_path: Path
) -> None:
    cfg = _cfg(train_config, tiny_model_dir, tmp_path, loraplus_lr_ratio=16, weight_decay=0.01)
    trainer = _trainer(cfg, tiny_tokenizer)
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    groups = [g for g in _groups(trainer) if g[2]]
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert set().union(*(g[2] for g in groups)) == trainable  # every trained weight, once
    assert sorted(lr for lr, _, _ in groups) == pytest.approx([1e-3, 16e-3])
    a_group = next(names for lr, _, names in groups if lr == pytest.approx(1e-3))
    b_group = next(names for lr, _, names in groups if lr == pytest.approx(16e-3))
    assert a_group and all(".lora_A." in n for n in a_group)
    assert b_group and all(".lora_B." in n for n in b_group)
    assert {wd for _, wd, _ in groups} == {0.01}  # weight_decay applies as in the plain optimizer
    # the scheduler scales both groups alike: the ratio holds through the schedule
    for _ in range(3):
        trainer.optimizer.step()  # no gradients yet: changes nothing but the step count
        trainer.lr_scheduler.step()
    after = {frozenset(names): lr for lr, _, names in _groups(trainer) if names}
    assert after[frozenset(b_group)] / after[frozenset(a_group)] == pytest.approx(16)
    # the setting reaches the arguments saved with checkpoints (training_args.bin pickles)
    import pickle

    again = pickle.loads(pickle.dumps(trainer.args))
    assert again.loraplus_lr_ratio == 16 and again.loraplus_lr_embedding == 1e-6


def test_without_the_ratio_the_optimizer_is_transformers_own(
    train_config: Any, tiny_model_dir: Path, tiny_tokenizer: Any, tmp_path: Path
) -> None:
    trainer = _trainer(_cfg(train_config, tiny_model_dir, tmp_path), tiny_tokenizer)
    trainer.create_optimizer()
    assert {lr for lr, _, names in _groups(trainer) if names} == {1e-3}
    assert trainer.args.loraplus_lr_ratio is None


def test_lora_on_embeddings_uses_loraplus_lr_embedding(
    train_config: Any, tiny_model_dir: Path, tiny_tokenizer: Any, tmp_path: Path
) -> None:
    cfg = _cfg(
        train_config,
        tiny_model_dir,
        tmp_path,
        lora_target_linear=None,
        lora_target_modules=["q_proj", "embed_tokens"],
        loraplus_lr_ratio=4,
        loraplus_lr_embedding=2e-5,
    )
    trainer = _trainer(cfg, tiny_tokenizer)
    trainer.create_optimizer()
    groups = _groups(trainer)
    embedding = next(names for lr, _, names in groups if lr == pytest.approx(2e-5))
    assert embedding and all("embed_tokens.lora_embedding_" in n for n in embedding)
    b_group = next(names for lr, _, names in groups if lr == pytest.approx(4e-3))
    assert b_group and all("q_proj.lora_B." in n for n in b_group)


def test_loraplus_trains_end_to_end(make_train_config: Any, one_torch_thread: Any) -> None:
    from loradoc.train.run.start import run_training

    cfg = make_train_config(loraplus_lr_ratio=16, max_steps=2, save_steps=1)
    assert run_training(cfg) == 0
    out = Path(cfg.output_dir)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["train_loss_mean"] > 0
    assert (out / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"loraplus_lr_ratio": 0}, "loraplus_lr_ratio: 0 is out of range"),
        ({"loraplus_lr_ratio": "big"}, "loraplus_lr_ratio: expected a number"),
        ({"loraplus_lr_embedding": -1}, "loraplus_lr_embedding: -1 is out of range"),
    ],
)
def test_bad_values_name_the_key(train_config: Any, keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        train_config(**keys)
    assert any(message in p for p in exc.value.problems), exc.value.problems


def test_a_deepspeed_optimizer_would_hide_loraplus(train_config: Any, tmp_path: Path) -> None:
    from loradoc.errors import UserError

    ds = {"optimizer": {"type": "AdamW", "params": {"lr": "auto"}}, "zero_optimization": {"stage": 2}}
    cfg = train_config(loraplus_lr_ratio=16, deepspeed=ds, output_dir=str(tmp_path))
    with pytest.raises(UserError, match=r"^loraplus_lr_ratio: the deepspeed config builds its own optimizer"):
        training_arguments(
            cfg, precision="fp32", steps_per_epoch=1, has_eval=False, report_to=[], world_size=1, use_cpu=True
        )
