"""`tokens` and `special_tokens`: added to the tokenizer as Axolotl adds them, the embeddings resized,
and, when a token is new, the input embeddings and the output head trained (lora_modules_to_save)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loradoc.config.problems import ConfigError
from loradoc.config.schema import TrainConfig
from loradoc.errors import UserError
from loradoc.train.model.load import load_model, load_tokenizer, new_tokens

NEW = ["<tool_call>", "</tool_call>"]


@pytest.fixture
def cfg_for(train_config: Callable[..., TrainConfig], tiny_model_dir: Path) -> Callable[..., TrainConfig]:
    def make(**kw: Any) -> TrainConfig:
        keys: dict[str, Any] = {
            "base_model": str(tiny_model_dir),
            "lora_r": 4,
            "lora_alpha": 8,
            "lora_target_linear": True,
        }
        return train_config(**{**keys, **kw})

    return make


def _load(cfg: TrainConfig, said: list[str] | None = None) -> tuple[Any, Any]:
    say = said.append if said is not None else (lambda s: None)
    tok = load_tokenizer(cfg, say=say)
    model = load_model(cfg, tok, attention="sdpa", precision="fp32", packing=False, say=say)
    return tok, model


def test_new_tokens_are_single_tokens_and_their_embeddings_train(
    cfg_for: Callable[..., TrainConfig], tiny_tokenizer: Any
) -> None:
    import torch

    base = len(tiny_tokenizer)
    said: list[str] = []
    cfg = cfg_for(tokens=NEW, special_tokens={"eos_token": "<|eot|>"})
    tok, model = _load(cfg, said)
    # the tokenizer: each new token is one token, never split or normalized; EOS is the new one
    assert len(tok) == base + 3 and set(new_tokens(tok)) == {*NEW, "<|eot|>"}
    ids = tok.encode("a <tool_call>x</tool_call><|eot|>", add_special_tokens=False)
    assert tok.convert_ids_to_tokens(ids)[-4:] == ["<tool_call>", "x", "</tool_call>", "<|eot|>"]
    assert tok.eos_token == "<|eot|>" and model.config.eos_token_id == tok.eos_token_id
    # the embeddings grew to the tokenizer, and the input embeddings and the head are trained in full
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    assert model.get_output_embeddings().weight.shape[0] == len(tok)
    assert cfg.lora_modules_to_save == ["embed_tokens", "lm_head"]
    change = cfg.auto_changes[-1]
    assert change.key == "lora_modules_to_save" and change.cause == "tokens" and change.old is None
    assert "3 new token(s) need trained embeddings" in change.reason
    assert any(
        line.startswith("changed: lora_modules_to_save: unset -> ['embed_tokens', 'lm_head']")
        for line in said
    )
    assert any("3 new token(s) added to the vocabulary" in line for line in said)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("embed_tokens.modules_to_save" in n for n in trainable), sorted(trainable)[:5]
    assert any("lm_head.modules_to_save" in n for n in trainable)
    assert any("lora_A" in n for n in trainable)
    # a step on text with the new tokens reaches their rows of both trained copies
    batch = torch.tensor([tok.encode("red <tool_call> blue </tool_call><|eot|>", add_special_tokens=False)])
    model(input_ids=batch, labels=batch).loss.backward()
    new_id = tok.convert_tokens_to_ids("<tool_call>")
    emb = model.base_model.model.model.embed_tokens.modules_to_save["default"].weight
    head = model.base_model.model.lm_head.modules_to_save["default"].weight
    assert emb.grad is not None and emb.grad[new_id].abs().sum() > 0
    assert head.grad is not None and head.grad[tok.eos_token_id].abs().sum() > 0


def test_listed_modules_are_kept_and_not_repeated(cfg_for: Callable[..., TrainConfig]) -> None:
    cfg = cfg_for(tokens=NEW[:1], lora_modules_to_save=["lm_head"])
    _load(cfg)
    assert cfg.lora_modules_to_save == ["lm_head", "embed_tokens"]
    done = cfg_for(tokens=NEW[:1], lora_modules_to_save=["embed_tokens", "lm_head"])
    _load(done)
    assert done.lora_modules_to_save == ["embed_tokens", "lm_head"] and not done.auto_changes


def test_known_tokens_and_a_new_pad_token_train_no_embeddings(
    cfg_for: Callable[..., TrainConfig], tiny_tokenizer: Any
) -> None:
    # tokens the vocabulary has already: nothing is added, nothing more is trained
    known = cfg_for(tokens=["<|im_start|>", "red"], special_tokens={"eos_token": "</s>"})
    tok, model = _load(known)
    assert len(tok) == len(tiny_tokenizer) and not new_tokens(tok)
    assert known.lora_modules_to_save is None and not known.auto_changes
    # a new pad token is never trained (Axolotl leaves pad_token out of its rule too)
    said: list[str] = []
    pad = cfg_for(special_tokens={"pad_token": "<|pad|>"})
    tok, model = _load(pad, said)
    assert len(tok) == len(tiny_tokenizer) + 1 and not new_tokens(tok)
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    assert pad.lora_modules_to_save is None and model.config.pad_token_id == tok.pad_token_id
    assert any("the pad token, never trained" in line for line in said)


def test_additional_special_tokens_come_after_tokens(cfg_for: Callable[..., TrainConfig]) -> None:
    # Axolotl's order: special tokens, then tokens, then additional_special_tokens
    cfg = cfg_for(tokens=["<a>"], special_tokens={"additional_special_tokens": ["<b>"]})
    tok = load_tokenizer(cfg, say=lambda s: None)
    assert tok.convert_tokens_to_ids("<b>") == tok.convert_tokens_to_ids("<a>") + 1
    assert new_tokens(tok) == ("<a>", "<b>")
    assert tok.decode(tok.encode("x<b>y", add_special_tokens=False), skip_special_tokens=True) == "xy"


def test_a_resumed_adapter_must_train_the_embeddings(
    cfg_for: Callable[..., TrainConfig], tiny_tokenizer: Any, tmp_path: Path
) -> None:
    plain = cfg_for()
    model = load_model(
        plain, tiny_tokenizer, attention="sdpa", precision="fp32", packing=False, say=lambda s: None
    )
    model.save_pretrained(str(tmp_path / "adapter"))
    cfg = cfg_for(tokens=NEW, lora_model_dir=str(tmp_path / "adapter"))
    with pytest.raises(
        UserError, match=r"^tokens: 2 new token\(s\) need trained embeddings, but the adapter"
    ):
        _load(cfg)


def test_token_values_are_checked(
    cfg_for: Callable[..., TrainConfig], train_config: Callable[..., Any]
) -> None:
    with pytest.raises(ConfigError) as exc:
        train_config(tokens="<a>")
    assert any(p.startswith("tokens: expected a list of strings") for p in exc.value.problems)
    with pytest.raises(ConfigError) as exc:
        train_config(eot_tokens={"a": 1})
    assert any(p.startswith("eot_tokens: expected a list of strings") for p in exc.value.problems)
    with pytest.raises(UserError, match=r"^tokens: '' is not a token"):
        load_tokenizer(cfg_for(tokens=["<a>", ""]), say=lambda s: None)
