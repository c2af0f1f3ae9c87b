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


# -- peft_init_lora_weights and unfrozen_parameters ------------------------------------------


def _model_cfg(train_config: Any, tiny_model_dir: Path, **keys: Any) -> Any:
    doc: dict[str, Any] = {"base_model": str(tiny_model_dir), "lora_r": 4, "lora_alpha": 8}
    doc["lora_target_linear"] = True
    return train_config(**{**doc, **keys})


def _load(cfg: Any, tokenizer: Any, say: Any = None) -> Any:
    from loradoc.train.model.load import load_model

    return load_model(
        cfg, tokenizer, attention="sdpa", precision="fp32", packing=False, say=say or (lambda s: None)
    )


def _q(model: Any) -> Any:
    return model.get_base_model().model.layers[0].self_attn.q_proj


def _base_q_weight(tiny_model_dir: Path) -> Any:
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype="float32")
    return base.model.layers[0].self_attn.q_proj.weight.detach().clone()


@pytest.mark.parametrize("value", [None, True, False, "gaussian", "orthogonal", "mica", "pissa", "olora"])
def test_init_lora_weights_reach_the_adapter(
    train_config: Any, tiny_model_dir: Path, tiny_tokenizer: Any, tmp_path: Path, value: Any
) -> None:
    import torch

    model = _load(_model_cfg(train_config, tiny_model_dir, peft_init_lora_weights=value), tiny_tokenizer)
    q = _q(model)
    a, b = q.lora_A["default"].weight.detach(), q.lora_B["default"].weight.detach()
    base = q.base_layer.weight.detach()
    original = _base_q_weight(tiny_model_dir)
    # false is peft's default, as Axolotl reads it (it passes only a true value on)
    expected = True if value in (None, True, False) else value
    assert model.peft_config["default"].init_lora_weights == expected
    model.save_pretrained(str(tmp_path))
    assert json.loads((tmp_path / "adapter_config.json").read_text())["init_lora_weights"] == expected
    if expected is True:  # B zero, A kaiming-uniform: |A| <= 1/sqrt(fan_in) = 1/8
        assert not b.any() and a.any() and float(a.abs().max()) <= 1 / 8
    elif value == "gaussian":  # B zero, A normal with std 1/r: wider than kaiming's bound
        assert not b.any() and float(a.abs().max()) > 1 / 8
    elif value == "orthogonal":  # both random, their product zero
        assert a.any() and b.any() and float((b @ a).abs().max()) < 1e-6
    elif value == "mica":  # B fixed from the base's minor singular vectors, A zero and trained
        assert not a.any() and b.any()
        assert not q.lora_B["default"].weight.requires_grad and q.lora_A["default"].weight.requires_grad
    else:  # pissa/olora: the base holds W - scale * B A, so the model starts unchanged
        scale = q.scaling["default"]
        assert not torch.equal(base, original)
        assert torch.allclose(base + scale * (b @ a), original, atol=1e-5)
    if value in (None, True, False, "gaussian", "orthogonal", "mica"):
        assert torch.equal(base, original)


def test_bad_init_values_are_refused(train_config: Any, tiny_model_dir: Path, tiny_tokenizer: Any) -> None:
    from loradoc.config.problems import ConfigError
    from loradoc.errors import UserError

    for value, why in (("loftq", "expected true or false or 'gaussian'"), ("pisa", "expected true or false")):
        with pytest.raises(ConfigError) as exc:
            train_config(peft_init_lora_weights=value)
        assert any(p.startswith(f"peft_init_lora_weights: {why}") for p in exc.value.problems)
    with pytest.raises(
        UserError, match=r"^peft_init_lora_weights: orthogonal needs an even lora_r \(got 3\)"
    ):
        _load(
            _model_cfg(train_config, tiny_model_dir, peft_init_lora_weights="orthogonal", lora_r=3),
            tiny_tokenizer,
        )
    with pytest.raises(
        UserError, match=r"^peft_init_lora_weights: pissa is not supported with peft_use_dora"
    ):
        _load(
            _model_cfg(train_config, tiny_model_dir, peft_init_lora_weights="pissa", peft_use_dora=True),
            tiny_tokenizer,
        )


def test_pissa_adapter_is_saved_for_the_unchanged_base(
    train_config: Any, tiny_model_dir: Path, tiny_tokenizer: Any, tmp_path: Path
) -> None:
    """A PiSSA run's final adapter, on the published base, computes what the trained model computes."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from loradoc.train.run.train_args import training_arguments
    from loradoc.train.run.trainer import LoradocTrainer

    cfg = _model_cfg(
        train_config, tiny_model_dir, peft_init_lora_weights="pissa", output_dir=str(tmp_path / "o")
    )
    model = _load(cfg, tiny_tokenizer)
    torch.manual_seed(0)
    with torch.no_grad():  # stands in for training: move every A and B
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.add_(torch.randn_like(p) * 0.05)
    ids = torch.tensor([[1, 5, 9, 30, 7, 2]])
    model.eval()
    with torch.no_grad():
        trained = model(input_ids=ids).logits
    args = training_arguments(
        cfg, precision="fp32", steps_per_epoch=1, has_eval=False, report_to=[], world_size=1, use_cpu=True
    )
    trainer = LoradocTrainer(
        model=model,
        args=args,
        train_dataset=[{"input_ids": [1]}],
        processing_class=tiny_tokenizer,
        loader_factory=lambda *a, **k: None,
        train_packing=False,
        eval_packing=False,
    )
    trainer.save_model(str(tmp_path / "final"))
    with torch.no_grad():  # the model in memory is as trained (samples are drawn from it after the save)
        assert torch.equal(model(input_ids=ids).logits, trained)
    saved = json.loads((tmp_path / "final" / "adapter_config.json").read_text())
    assert saved["r"] == 8 and saved["lora_alpha"] == 16 and saved["init_lora_weights"] is True
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype="float32")
    reloaded = PeftModel.from_pretrained(base, str(tmp_path / "final")).eval()
    with torch.no_grad():
        again = reloaded(input_ids=ids).logits
    assert torch.allclose(again, trained, atol=1e-4)
    # a checkpoint keeps the adapter as trained (resume re-runs the same initialisation)
    trainer.save_model(str(tmp_path / "ckpt"), _internal_call=True)
    assert json.loads((tmp_path / "ckpt" / "adapter_config.json").read_text())["init_lora_weights"] == "pissa"


def test_pissa_run_trains_and_saves_a_plain_lora(make_train_config: Any, one_torch_thread: Any) -> None:
    from loradoc.train.run.start import run_training

    cfg = make_train_config(peft_init_lora_weights="pissa", max_steps=2)
    assert run_training(cfg) == 0
    saved = json.loads((Path(cfg.output_dir) / "adapter_config.json").read_text())
    assert saved["r"] == 2 * cfg.lora_r and saved["init_lora_weights"] is True


def test_unfrozen_parameters_train_beside_the_adapter_and_are_saved_with_it(
    train_config: Any, tiny_model_dir: Path, tiny_tokenizer: Any, tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    said: list[str] = []
    cfg = _model_cfg(train_config, tiny_model_dir, unfrozen_parameters=["model.norm.weight", "^lm_head.*"])
    model = _load(cfg, tiny_tokenizer, said.append)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    full = {n.removeprefix("base_model.model.") for n in trainable if ".lora_" not in n}
    assert full == {"model.norm.modules_to_save.default.weight", "lm_head.modules_to_save.default.weight"}
    assert any(".lora_A." in n for n in trainable)  # the adapter still trains
    assert any(s.startswith("unfrozen: 2 base parameter(s) in 2 module(s)") for s in said)
    assert set(model.peft_config["default"].modules_to_save) >= {"model.norm", "lm_head"}
    with torch.no_grad():  # stands in for training
        model.get_base_model().model.norm.modules_to_save["default"].weight.fill_(0.5)
    model.save_pretrained(str(tmp_path))
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype="float32")
    reloaded = PeftModel.from_pretrained(base, str(tmp_path))
    norm = reloaded.get_base_model().model.norm
    assert torch.equal(
        norm.modules_to_save["default"].weight, torch.full_like(norm.original_module.weight, 0.5)
    )


def test_unfrozen_rows_keep_the_others_unchanged(
    train_config: Any, tiny_model_dir: Path, tiny_tokenizer: Any
) -> None:
    import torch

    cfg = _model_cfg(train_config, tiny_model_dir, unfrozen_parameters=["model.embed_tokens.weight$[:10]"])
    model = _load(cfg, tiny_tokenizer)
    emb = model.get_base_model().model.embed_tokens.modules_to_save["default"].weight
    assert emb.requires_grad
    ids = torch.tensor([[1, 5, 9, 30, 70, 2]])
    model(input_ids=ids, labels=ids).loss.backward()
    assert emb.grad is not None
    assert emb.grad[:10].abs().sum() > 0 and not emb.grad[10:].any()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"unfrozen_parameters": ["^nothing"]},
            r"^unfrozen_parameters: '\^nothing' matches no parameter of ",
        ),
        (
            {"unfrozen_parameters": ["model.norm(["]},
            r"^unfrozen_parameters: 'model.norm\(\[' is not a regular",
        ),
        (
            {"unfrozen_parameters": ["model.layers.0.self_attn.q_proj.weight"]},
            r"^unfrozen_parameters: model.layers.0.self_attn.q_proj is also adapted by LoRA",
        ),
        (
            {"unfrozen_parameters": ["model.embed_tokens.weight$[:10]"], "weight_decay": 0.01},
            r"^unfrozen_parameters: a row range .* set weight_decay: 0",
        ),
        (
            {"unfrozen_parameters": ["model.embed_tokens.weight$[10:5]"]},
            r"^unfrozen_parameters: .*the row range is empty",
        ),
    ],
)
def test_unfrozen_parameters_refusals_name_the_key(
    train_config: Any, tiny_model_dir: Path, tiny_tokenizer: Any, keys: dict[str, Any], message: str
) -> None:
    from loradoc.errors import UserError

    with pytest.raises(UserError, match=message):
        _load(_model_cfg(train_config, tiny_model_dir, **keys), tiny_tokenizer)


def test_unfrozen_parameters_is_a_list_of_strings(train_config: Any) -> None:
    from loradoc.config.problems import ConfigError

    with pytest.raises(ConfigError) as exc:
        train_config(unfrozen_parameters="model.norm")
    assert any(p.startswith("unfrozen_parameters: expected a list of strings") for p in exc.value.problems)
