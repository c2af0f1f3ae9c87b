"""Packed training is exactly unpacked training: logits, loss and LoRA gradients, per attention.

A tiny random Llama (hidden 64, 2 layers, 4 heads, 2 KV heads, vocab 128, fp32) is
run on examples packed into rows by our collator and on each example alone. The
negative controls show each safeguard matters: without it the difference is large.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from loradoc.train.model.attention import VARLEN, register_attention
from loradoc.train.packing.collator import PackedCollator
from loradoc.train.packing.dataloader import build_dataloader

IMPLS = ["sdpa", "eager", VARLEN]
VOCAB = 128
TOL = 1e-5
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def make_examples(lengths: list[int], seed: int = 0) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        ids = torch.randint(1, VOCAB, (n,), generator=g).tolist()
        prompt = int(torch.randint(0, max(1, n // 2), (1,), generator=g))
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:], "length": n})
    return out


EXAMPLES = make_examples([5, 9, 3, 12, 1, 7, 6, 4])
BINS = [[EXAMPLES[i] for i in b] for b in ([0, 1, 2, 4], [3, 5], [6, 7])]  # rows of 17, 19, 10 tokens


def tiny_llama(impl: str, *, lora: bool = False) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    register_attention()
    cfg = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=VOCAB,
        max_position_embeddings=128,
        use_cache=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(torch.float32)
    model.set_attn_implementation(impl)
    if lora:
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(1)
        # init_lora_weights=False: B is random too, so every LoRA parameter has a gradient.
        model = get_peft_model(
            model,
            LoraConfig(
                r=4, lora_alpha=8, lora_dropout=0.0, target_modules=LORA_TARGETS, init_lora_weights=False
            ),
        )
    return model.eval()


def supervised(labels: torch.Tensor) -> int:
    return int((labels[..., 1:] != -100).sum())


def unpacked_logits(model: torch.nn.Module, examples: list[dict[str, Any]]) -> list[torch.Tensor]:
    return [model(input_ids=torch.tensor([e["input_ids"]]), use_cache=False).logits[0] for e in examples]


def unpacked_loss_sum(model: torch.nn.Module, examples: list[dict[str, Any]]) -> tuple[torch.Tensor, int]:
    """Sum of per-token losses over all examples, and the supervised token count."""
    total, count = torch.zeros(()), 0
    for e in examples:
        labels = torch.tensor([e["labels"]])
        n = supervised(labels)
        if n == 0:
            continue
        out = model(input_ids=torch.tensor([e["input_ids"]]), labels=labels, use_cache=False)
        total = total + out.loss * n
        count += n
    return total, count


def packed_logits_per_example(logits: torch.Tensor, bins: list[list[dict[str, Any]]]) -> list[torch.Tensor]:
    out = []
    for r, row in enumerate(bins):
        at = 0
        for e in row:
            out.append(logits[r, at : at + e["length"]])
            at += e["length"]
    return out


def max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


def in_bin_order(bins: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [e for row in bins for e in row]


@pytest.mark.parametrize("impl", IMPLS)
def test_packed_logits_equal_unpacked(impl: str) -> None:
    model = tiny_llama(impl)
    batch = PackedCollator(pad_token_id=0)(BINS)
    with torch.no_grad():
        logits = model(**batch, use_cache=False).logits
        ref = unpacked_logits(model, in_bin_order(BINS))
    assert max_diff(packed_logits_per_example(logits, BINS), ref) <= TOL


@pytest.mark.parametrize("impl", IMPLS)
def test_packed_loss_is_the_token_weighted_mean_of_unpacked_losses(impl: str) -> None:
    model = tiny_llama(impl)
    batch = PackedCollator(pad_token_id=0)(BINS)
    with torch.no_grad():
        packed = model(**batch, use_cache=False).loss
        total, count = unpacked_loss_sum(model, EXAMPLES)
    assert supervised(batch["labels"]) == count
    assert abs(float(packed) - float(total / count)) <= TOL


@pytest.mark.parametrize("impl", IMPLS)
def test_lora_gradients_equal_packed_and_unpacked(impl: str) -> None:
    model = tiny_llama(impl, lora=True)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert params and all("lora_" in n for n in params)
    batch = PackedCollator(pad_token_id=0)(BINS)
    packed_grads = torch.autograd.grad(model(**batch, use_cache=False).loss, list(params.values()))
    total, count = unpacked_loss_sum(model, EXAMPLES)
    unpacked_grads = torch.autograd.grad(total / count, list(params.values()))
    for name, gp, gu in zip(params, packed_grads, unpacked_grads, strict=True):
        scale = float(gu.abs().max())
        assert scale > 0, f"{name} has no gradient: the test would be vacuous"
        assert float((gp - gu).abs().max()) <= TOL * scale, name


# ---------------------------------------------------------------- negative controls


def _logit_error(impl: str, tamper: Callable[[dict[str, Any]], dict[str, Any]]) -> float:
    model = tiny_llama(impl)
    batch = tamper(PackedCollator(pad_token_id=0)(BINS))
    with torch.no_grad():
        logits = model(**batch).logits
        ref = unpacked_logits(model, in_bin_order(BINS))
    return max_diff(packed_logits_per_example(logits, BINS), ref)


def _no_position_reset(batch: dict[str, Any]) -> dict[str, Any]:
    width = batch["input_ids"].shape[1]
    batch["position_ids"] = torch.arange(width).expand_as(batch["input_ids"]).clone()
    return dict(batch, use_cache=False)


def _all_ones_mask(batch: dict[str, Any]) -> dict[str, Any]:
    return dict(batch, attention_mask=torch.ones_like(batch["input_ids"]), use_cache=False)


def _with_cache(batch: dict[str, Any]) -> dict[str, Any]:
    return dict(batch, use_cache=True)


@pytest.mark.parametrize("impl", IMPLS)
def test_without_position_reset_examples_contaminate(impl: str) -> None:
    assert _logit_error(impl, _no_position_reset) > 1e-2


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_mask_or_cache_silently_breaks_transformers_packing(impl: str) -> None:
    assert _logit_error(impl, _all_ones_mask) > 1e-2
    assert _logit_error(impl, _with_cache) > 1e-2


def test_varlen_keeps_examples_apart_even_with_a_mask_of_ones_or_a_cache() -> None:
    assert _logit_error(VARLEN, _all_ones_mask) <= TOL
    assert _logit_error(VARLEN, _with_cache) <= TOL


@pytest.mark.parametrize("impl", IMPLS)
def test_without_first_token_masking_the_loss_differs(impl: str) -> None:
    model = tiny_llama(impl)
    batch = PackedCollator(pad_token_id=0)(BINS)
    # Undo the boundary masking: supervise each example's first token again.
    labels = batch["labels"].clone()
    starts = batch["position_ids"] == 0
    labels[starts] = batch["input_ids"][starts]
    labels[:, 0] = -100
    real = torch.zeros_like(starts)
    for r, row in enumerate(BINS):
        real[r, : sum(e["length"] for e in row)] = True
    labels[~real] = -100
    with torch.no_grad():
        leaky = model(**dict(batch, labels=labels), use_cache=False).loss
        total, count = unpacked_loss_sum(model, EXAMPLES)
    assert abs(float(leaky) - float(total / count)) > 1e-3


# ---------------------------------------------------------------- through the real DataLoader


@pytest.mark.parametrize(
    ("impl", "packing"), [(VARLEN, True), ("sdpa", True), ("eager", True), ("sdpa", False)]
)
def test_dataloader_batches_give_unpacked_loss_and_gradients(impl: str, packing: bool) -> None:
    import datasets

    examples = make_examples([3 + (7 * i) % 29 for i in range(30)], seed=3)
    ds = datasets.Dataset.from_list(examples)
    model = tiny_llama(impl, lora=True)
    params = [p for p in model.parameters() if p.requires_grad]
    loader = build_dataloader(
        ds,
        packing=packing,
        sequence_len=64,
        micro_batch_size=2,
        pad_token_id=0,
        seed=0,
        attention=impl,
    )
    assert len(loader) == len(list(loader.batch_sampler))
    total, count = torch.zeros(()), 0
    for batch in loader:
        assert ("attention_mask" in batch) is (not packing)
        n = supervised(batch["labels"])
        total = total + model(**batch, use_cache=False).loss * n
        count += n
    assert loader.total_token_counts.real == sum(e["length"] for e in examples)
    assert loader.total_token_counts.supervised == count
    got = torch.autograd.grad(total / count, params)
    ref_total, ref_count = unpacked_loss_sum(model, examples)
    want = torch.autograd.grad(ref_total / ref_count, params)
    assert count == ref_count
    assert abs(float(total.detach() / count) - float(ref_total.detach() / ref_count)) <= TOL
    for gp, gu in zip(got, want, strict=True):
        assert float((gp - gu).abs().max()) <= TOL * float(gu.abs().max())
