"""Tokenizer, precision and LoRA loading on the tiny model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loradoc.config.schema import TrainConfig
from loradoc.errors import UserError
from loradoc.train.model.load import (
    apply_special_tokens,
    linear_module_names,
    load_model,
    load_tokenizer,
)
from loradoc.train.preflight import resolve_precision

LLAMA_LINEAR = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


ModelCfg = Callable[..., TrainConfig]


@pytest.fixture
def model_cfg(train_config: ModelCfg) -> ModelCfg:
    """``model_cfg(model_dir, **keys)``: the model at ``model_dir`` with LoRA r=4 on every linear layer."""

    def make(model_dir: Path, **kw: Any) -> TrainConfig:
        keys: dict[str, Any] = {
            "base_model": str(model_dir),
            "lora_r": 4,
            "lora_alpha": 8,
            "lora_dropout": 0.0,
            "lora_target_linear": True,
        }
        return train_config(**{**keys, **kw})

    return make


def test_pad_token_falls_back_to_eos(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    tok.pad_token = None
    assert tok.pad_token is None
    said: list[str] = []
    assert apply_special_tokens(tok, {}, say=said.append) == 0
    assert tok.pad_token == "</s>" and "using its EOS token '</s>'" in said[0]
    # an explicit pad token wins, and a new token is reported
    tok2 = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    said.clear()
    added = apply_special_tokens(tok2, {"pad_token": "<|pad|>"}, say=said.append)
    assert added == 1 and tok2.pad_token == "<|pad|>" and "1 new token" in said[0]


def test_load_tokenizer_errors_name_the_key(tmp_path: Path, model_cfg: ModelCfg) -> None:
    with pytest.raises(UserError, match=r"^base_model: .*nowhere: cannot load a tokenizer"):
        load_tokenizer(model_cfg(tmp_path / "nowhere"), say=print)


def _facts(cc: str | None, *, gpu: bool = True) -> Any:
    """The facts of a one-GPU machine with compute capability ``cc`` (``gpu=False``: a CPU laptop)."""
    from loradoc.compat.load import load_matrix
    from loradoc.doctor.facts import machine_facts
    from loradoc.doctor.snapshot import Snapshot

    gpus = [{"index": 0, "name": "Some GPU", "vendor": "nvidia", "compute_capability": cc}] if gpu else []
    return machine_facts(Snapshot.from_dict({"os": "Linux", "gpus": gpus}), load_matrix())


@pytest.mark.parametrize(
    ("cc", "expected", "bf16", "fp16"),
    [
        (None, "fp32", False, False),
        ("7.5", "fp16", False, True),
        ("8.0", "bf16", True, False),
        ("9.0", "bf16", True, False),
    ],
)
def test_bf16_auto(make_train_config: Any, cc: str | None, expected: str, bf16: bool, fp16: bool) -> None:
    cfg = make_train_config(bf16="auto")
    said: list[str] = []
    assert resolve_precision(cfg, _facts(cc, gpu=cc is not None), say=said.append) == expected
    assert (cfg.bf16, cfg.fp16) == (bf16, fp16)
    assert any(c.key == "bf16" and c.new is bf16 for c in cfg.auto_changes)
    assert said[-1].startswith(f"precision: {expected}")


def test_bf16_auto_on_a_gpu_of_unknown_capability(make_train_config: Any) -> None:
    cfg = make_train_config(bf16="auto")
    assert resolve_precision(cfg, _facts(None), say=print) == "fp16"  # runs on every CUDA GPU


def test_precision_refusals(make_train_config: Any) -> None:
    with pytest.raises(UserError, match="fp16: true needs a CUDA GPU"):
        resolve_precision(make_train_config(bf16=False, fp16=True), _facts(None, gpu=False), say=print)
    with pytest.raises(UserError, match="compute capability 8.0"):
        resolve_precision(make_train_config(bf16=True), _facts("7.0"), say=print)
    # tf32: auto is resolved and recorded
    cfg = make_train_config(tf32="auto")
    resolve_precision(cfg, _facts("8.6"), say=print)
    assert cfg.tf32 is True


def test_linear_modules_exclude_the_output_head(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    assert linear_module_names(model) == LLAMA_LINEAR


def test_lora_on_all_linear_layers(tiny_model_dir: Path, tiny_tokenizer: Any, model_cfg: ModelCfg) -> None:
    cfg = model_cfg(tiny_model_dir)
    said: list[str] = []
    model = load_model(cfg, tiny_tokenizer, attention="sdpa", precision="fp32", packing=True, say=said.append)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    adapted = {n.split(".")[-4] for n in trainable}
    assert adapted == set(LLAMA_LINEAR)
    assert model.config.use_cache is False
    assert model.peft_config["default"].r == 4
    assert any("LoRA r=4" in s for s in said) and any("trainable" in s for s in said)


def test_explicit_targets_modules_to_save_and_checkpointing(
    tiny_model_dir: Path, tiny_tokenizer: Any, model_cfg: ModelCfg
) -> None:
    cfg = model_cfg(
        tiny_model_dir,
        lora_target_linear=None,
        lora_target_modules=["q_proj", "v_proj"],
        lora_modules_to_save=["lm_head"],
        gradient_checkpointing=True,
    )
    model = load_model(cfg, tiny_tokenizer, attention="eager", precision="fp32", packing=False, say=print)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert {n.split(".")[-4] for n in trainable if "lora_" in n} == {"q_proj", "v_proj"}
    assert any("lm_head.modules_to_save" in n for n in trainable)
    assert model.base_model.model.is_activation_checkpointing
    assert model.config.use_cache is False
    with pytest.raises(UserError, match="lora_target_modules"):
        load_model(
            model_cfg(tiny_model_dir, lora_target_linear=None, lora_target_modules=["nope"]),
            tiny_tokenizer,
            attention="sdpa",
            precision="fp32",
            packing=False,
            say=print,
        )


def test_resume_adapter_from_lora_model_dir(
    tiny_model_dir: Path, tiny_tokenizer: Any, tmp_path: Path, model_cfg: ModelCfg
) -> None:
    import torch

    first = load_model(
        model_cfg(tiny_model_dir),
        tiny_tokenizer,
        attention="sdpa",
        precision="fp32",
        packing=False,
        say=print,
    )
    with torch.no_grad():
        for name, p in first.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)
    first.save_pretrained(str(tmp_path / "adapter"))
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == 4
    said: list[str] = []
    again = load_model(
        model_cfg(tiny_model_dir, lora_model_dir=str(tmp_path / "adapter")),
        tiny_tokenizer,
        attention="sdpa",
        precision="fp32",
        packing=False,
        say=said.append,
    )
    b = {n: p for n, p in again.named_parameters() if "lora_B" in n}
    assert b and all(torch.allclose(p, torch.full_like(p, 0.01)) for p in b.values())
    assert all(p.requires_grad for p in b.values())
    assert "resumed from" in said[0]
    with pytest.raises(UserError, match="no adapter_config.json"):
        load_model(
            model_cfg(tiny_model_dir, lora_model_dir=str(tmp_path)),
            tiny_tokenizer,
            attention="sdpa",
            precision="fp32",
            packing=False,
            say=print,
        )


def test_missing_weights_is_a_user_error(
    tiny_model_dir: Path, tiny_tokenizer: Any, tmp_path: Path, model_cfg: ModelCfg
) -> None:
    import shutil

    bare = tmp_path / "bare"
    bare.mkdir()
    for f in tiny_model_dir.iterdir():
        if not f.name.endswith(".safetensors"):
            shutil.copy(f, bare / f.name)
    with pytest.raises(UserError, match=r"^base_model: .*bare: cannot load the model"):
        load_model(
            model_cfg(bare), tiny_tokenizer, attention="sdpa", precision="fp32", packing=False, say=print
        )


def test_new_special_tokens_resize_the_embeddings(tiny_model_dir: Path, model_cfg: ModelCfg) -> None:
    cfg = model_cfg(tiny_model_dir, special_tokens={"additional_special_tokens": ["<|tool|>"]})
    tok = load_tokenizer(cfg, say=lambda s: None)
    model = load_model(cfg, tok, attention="sdpa", precision="fp32", packing=False, say=lambda s: None)
    assert model.get_input_embeddings().weight.shape[0] == len(tok) == 421
    assert model.config.pad_token_id == tok.pad_token_id


@pytest.mark.parametrize(("key", "field"), [("peft_use_rslora", "use_rslora"), ("peft_use_dora", "use_dora")])
def test_rslora_and_dora_reach_the_adapter(
    tiny_model_dir: Path, tiny_tokenizer: Any, model_cfg: ModelCfg, tmp_path: Path, key: str, field: str
) -> None:
    import math

    cfg = model_cfg(tiny_model_dir, lora_r=4, lora_alpha=8, **{key: True})
    model = load_model(cfg, tiny_tokenizer, attention="sdpa", precision="fp32", packing=False, say=print)
    adapter = model.peft_config["default"]
    assert getattr(adapter, field) is True
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    if key == "peft_use_rslora":  # scale alpha / sqrt(r) instead of alpha / r
        assert layer.scaling["default"] == pytest.approx(8 / math.sqrt(4))
    else:  # DoRA's magnitude vector is trained beside A and B
        trained = {n for n, p in model.named_parameters() if p.requires_grad}
        assert any("lora_magnitude_vector" in n for n in trained)
    model.save_pretrained(str(tmp_path))
    saved = json.loads((tmp_path / "adapter_config.json").read_text())
    assert saved[field] is True


def test_layer_selection_and_fan_in_fan_out_reach_the_adapter(
    tiny_model_dir: Path, tiny_tokenizer: Any, model_cfg: ModelCfg
) -> None:
    cfg = model_cfg(tiny_model_dir, peft_layers_to_transform=[0], peft_layers_pattern=["layers"])
    model = load_model(cfg, tiny_tokenizer, attention="sdpa", precision="fp32", packing=False, say=print)
    adapted_layers = {
        n.split(".layers.")[1].split(".")[0] for n, p in model.named_parameters() if p.requires_grad
    }
    assert adapted_layers == {"0"}
    adapter = model.peft_config["default"]
    assert adapter.layers_to_transform == [0] and adapter.fan_in_fan_out is False


def test_lora_on_parameters_directly(tiny_model_dir: Path, tiny_tokenizer: Any, model_cfg: ModelCfg) -> None:
    # peft target_parameters: how LoRA reaches fused MoE expert weights; on the tiny Llama, a plain weight
    cfg = model_cfg(
        tiny_model_dir,
        lora_target_linear=False,
        lora_target_modules=[],
        lora_target_parameters=["mlp.down_proj.weight"],
    )
    model = load_model(cfg, tiny_tokenizer, attention="sdpa", precision="fp32", packing=False, say=print)
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trained and all("down_proj" in n and "lora_" in n for n in trained)
    assert model.peft_config["default"].target_parameters == ["mlp.down_proj.weight"]


def test_gradient_checkpointing_kwargs_are_passed_on(
    tiny_model_dir: Path, tiny_tokenizer: Any, model_cfg: ModelCfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loradoc.train.model import load as model_load

    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(model_load, "enable_checkpointing", lambda _m, kwargs: seen.append(kwargs))
    cfg = model_cfg(
        tiny_model_dir, gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": True}
    )
    load_model(cfg, tiny_tokenizer, attention="sdpa", precision="fp32", packing=False, say=print)
    assert seen == [{"use_reentrant": True}]
