"""Attention policy, and loradoc_varlen against stock sdpa with the packed mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from loradoc.errors import UserError
from loradoc.train.model.attention import (
    VARLEN,
    AttentionChoice,
    choose_attention,
    packed_mask_supported,
    register_attention,
)
from loradoc.train.model.varlen import segment_layout, varlen_attention_forward, varlen_mask

CPU = {VARLEN, "sdpa", "eager"}
GPU_FA = CPU | {"flash_attention_2"}
GPU_FA3 = CPU | {"flash_attention_3"}  # Hopper where loradoc planned FlashAttention-3


# ---------------------------------------------------------------- policy


@pytest.mark.parametrize(
    ("requested", "device", "available", "impl"),
    [
        (None, "cpu", CPU, VARLEN),
        ("auto", "cuda", CPU, VARLEN),
        (None, "cuda", GPU_FA, "flash_attention_2"),
        ("flash_attention_2", "cuda", GPU_FA, "flash_attention_2"),
        ("flash_attention_2", "cpu", CPU, VARLEN),
        ("flash_attention", "cuda", CPU, VARLEN),  # legacy key, flash-attn not installed
        ("xformers", "cuda", CPU | {"xformers"}, VARLEN),
        ("sdpa", "cpu", CPU, "sdpa"),
        ("eager", "cpu", CPU, "eager"),
        (VARLEN, "cpu", CPU, VARLEN),
        (None, "cuda", GPU_FA3, "flash_attention_3"),
        (None, "cuda", GPU_FA | GPU_FA3, "flash_attention_3"),  # both installed: the Hopper kernels
        ("flash_attention_3", "cuda", GPU_FA3, "flash_attention_3"),
        ("flash_attention_2", "cuda", GPU_FA3, "flash_attention_3"),  # only FA3 installed: same boundaries
        ("flash_attention", "cuda", GPU_FA3, "flash_attention_3"),  # Axolotl's legacy key
        ("flash_attention_3", "cuda", GPU_FA, "flash_attention_2"),
        ("flash_attention_3", "cpu", CPU, VARLEN),
    ],
)
def test_choose_attention_with_packing(
    requested: str | None, device: str, available: set[str], impl: str
) -> None:
    choice = choose_attention(
        requested, packing=True, device=device, available=available, mask_supported=True
    )
    assert choice.impl == impl
    assert choice.reason and "\n" not in choice.reason
    assert choice.varlen_kwargs == impl.startswith("flash_attention")


def test_unknown_attention_refuses_to_pack() -> None:
    with pytest.raises(UserError, match="will not pack with it"):
        choose_attention("my_custom_kernel", packing=True, device="cpu", available=CPU)
    with pytest.raises(UserError, match="unknown value"):
        choose_attention("my_custom_kernel", packing=False, device="cpu", available=CPU)


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_masked_attention_without_packed_mask_support_refuses_to_pack(impl: str) -> None:
    with pytest.raises(UserError, match=f"{impl} cannot keep packed examples apart"):
        choose_attention(impl, packing=True, device="cpu", available=CPU, mask_supported=False)
    # Unpacked it is fine.
    assert (
        choose_attention(impl, packing=False, device="cpu", available=CPU, mask_supported=False).impl == impl
    )


def test_choose_attention_without_packing() -> None:
    assert choose_attention(None, packing=False, device="cpu", available=CPU) == AttentionChoice(
        "sdpa", "torch sdpa (no packing, padded batches)"
    )
    assert choose_attention(None, packing=False, device="cuda", available=GPU_FA).impl == "flash_attention_2"
    assert choose_attention("flash_attention_2", packing=False, device="cpu", available=CPU).impl == "sdpa"


def test_environment_detection() -> None:
    from loradoc.compat.load import load_matrix
    from loradoc.doctor.facts import machine_facts
    from loradoc.doctor.probe.machine import probe

    facts = machine_facts(probe(), load_matrix())
    assert {VARLEN, "sdpa", "eager", "flex_attention"} <= facts.attention
    assert facts.attention_missing["flash_attention_2"] in ("needs a CUDA GPU", "flash-attn is not installed")
    assert packed_mask_supported() is True  # the installed transformers has it
    assert facts.packed_masks is True  # and the matrix agrees for its version


# ---------------------------------------------------------------- kernel


class _Attn(torch.nn.Module):
    is_causal = True

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.num_key_value_groups = groups


def _packed_positions(rows: list[list[int]], width: int) -> torch.Tensor:
    pos = torch.zeros(len(rows), width, dtype=torch.long)
    for r, lens in enumerate(rows):
        p = [i for n in lens for i in range(n)]
        p += list(range(width - len(p)))
        pos[r] = torch.tensor(p)
    return pos


def _segment_ids(pos: torch.Tensor) -> torch.Tensor:
    from transformers.masking_utils import find_packed_sequence_indices

    seg = find_packed_sequence_indices(pos)
    return torch.zeros_like(pos) if seg is None else seg


def _reference(q, k, v, pos, scale, window=None):  # type: ignore[no-untyped-def]
    """Dense block-diagonal causal attention (what sdpa does with transformers' packed mask)."""
    seg = _segment_ids(pos)
    n = pos.shape[1]
    i = torch.arange(n)
    allowed = (i[:, None] >= i[None, :]) & (seg[:, :, None] == seg[:, None, :])
    if window is not None:
        allowed &= (i[:, None] - i[None, :]) < window
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None], scale=scale)
    return out.transpose(1, 2)


@pytest.mark.parametrize(
    ("rows", "heads", "kv_heads", "window"),
    [
        ([[5, 9, 3, 1], [7, 11]], 4, 2, None),  # GQA, pad segments at the end of rows
        ([[18], [4, 4, 4, 4, 2]], 4, 4, None),  # one full row, many equal lengths
        ([[1] * 18, [17, 1]], 2, 1, None),  # many length-1 examples
        ([[12, 6], [3, 15]], 4, 2, 4),  # sliding window shorter than the examples
    ],
)
def test_varlen_equals_block_diagonal_sdpa_forward_and_backward(
    rows: list[list[int]], heads: int, kv_heads: int, window: int | None
) -> None:
    torch.manual_seed(0)
    width, dim, scale = 18, 16, 0.3
    pos = _packed_positions(rows, width)
    q = torch.randn(len(rows), heads, width, dim, dtype=torch.float64, requires_grad=True)
    k = torch.randn(len(rows), kv_heads, width, dim, dtype=torch.float64, requires_grad=True)
    v = torch.randn(len(rows), kv_heads, width, dim, dtype=torch.float64, requires_grad=True)
    module = _Attn(heads // kv_heads)
    out, weights = varlen_attention_forward(
        module, q, k, v, None, scaling=scale, sliding_window=window, position_ids=pos
    )
    assert weights is None
    ref = _reference(q, k, v, pos, scale, window)
    assert out.shape == (len(rows), width, heads, dim)
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, (q, k, v), grad)
    want = torch.autograd.grad(ref, (q, k, v), grad)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-10, rtol=1e-10)


def test_varlen_reads_boundaries_from_cu_seq_lens() -> None:
    torch.manual_seed(1)
    pos = _packed_positions([[3, 5], [8]], 8)
    q, k, v = (torch.randn(2, 2, 8, 8) for _ in range(3))
    cu = torch.tensor([0, 3, 8, 16], dtype=torch.int32)
    a, _ = varlen_attention_forward(_Attn(1), q, k, v, None, position_ids=pos)
    b, _ = varlen_attention_forward(_Attn(1), q, k, v, None, cu_seq_lens_q=cu)
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="spans two rows"):
        segment_layout(
            batch=2, row_len=8, heads=2, device=torch.device("cpu"), cu_seq_lens=torch.tensor([0, 3, 10, 16])
        )


def test_layout_cost_is_per_example_not_per_row() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(4):
        lens: list[int] = []
        while sum(lens) < 900:
            lens.append(int(min(rng.lognormal(np.log(100), 0.8), 1024 - sum(lens))))
        rows.append(lens)
    pos = _packed_positions(rows, 1024)
    layout = segment_layout(batch=4, row_len=1024, heads=4, device=torch.device("cpu"), position_ids=pos)
    exact = float((layout.seg_lengths.astype(float) ** 2).sum())
    computed = float(sum(b.count * b.length**2 for b in layout.buckets))
    dense = 4 * 1024**2
    assert computed <= 1.5 * exact
    assert computed <= 0.5 * dense
    assert sorted(layout.seg_lengths.tolist()) == sorted(
        [n for lens in rows for n in lens] + [1024 - sum(lens) for lens in rows if sum(lens) < 1024]
    )


def test_mask_interface_builds_no_mask_for_training_inputs() -> None:
    assert varlen_mask(batch_size=2, q_length=16, kv_length=16) is None
    padding = torch.ones(2, 16, dtype=torch.bool)
    padding[1, 10:] = False
    mask = varlen_mask(batch_size=2, q_length=16, kv_length=16, attention_mask=padding)
    assert mask is not None and mask.shape == (2, 1, 16, 16)


# ---------------------------------------------------------------- through a model


def _tiny_llama(impl: str):  # type: ignore[no-untyped-def]
    from transformers import LlamaConfig, LlamaForCausalLM

    register_attention()
    cfg = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
        max_position_embeddings=256,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg).eval().to(torch.float32), cfg


def test_registered_name_loads_from_pretrained(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from transformers import AttentionInterface, LlamaForCausalLM
    from transformers.masking_utils import AttentionMaskInterface

    model, _ = _tiny_llama("sdpa")
    model.save_pretrained(tmp_path)
    assert register_attention() == register_attention() == VARLEN
    assert VARLEN in AttentionInterface() and VARLEN in AttentionMaskInterface()
    loaded = LlamaForCausalLM.from_pretrained(tmp_path, attn_implementation=VARLEN)
    assert loaded.config._attn_implementation == VARLEN


def test_padded_batches_and_generation_fall_back_to_sdpa_exactly() -> None:
    model, _ = _tiny_llama("sdpa")
    ids = torch.randint(1, 128, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    outputs = {}
    for impl in ("sdpa", VARLEN):
        model.set_attn_implementation(impl)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            gen = model.generate(ids[:1, :5], max_new_tokens=6, do_sample=False, pad_token_id=0)
        outputs[impl] = (logits, gen)
    torch.testing.assert_close(outputs[VARLEN][0], outputs["sdpa"][0])
    assert outputs[VARLEN][1].tolist() == outputs["sdpa"][1].tolist()


def test_varlen_with_gradient_checkpointing_gives_the_same_gradients() -> None:
    from loradoc.train.packing.collator import PackedCollator

    rng = np.random.default_rng(0)
    bins = [
        [
            {"input_ids": rng.integers(1, 128, n).tolist(), "labels": rng.integers(1, 128, n).tolist()}
            for n in lens
        ]
        for lens in ([7, 3, 9], [12, 5])
    ]
    batch = PackedCollator(0)(bins)
    grads = []
    for checkpointing in (False, True):
        model, _ = _tiny_llama(VARLEN)
        model.set_attn_implementation(VARLEN)
        model.train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        loss = model(**batch, use_cache=False).loss
        grads.append(torch.autograd.grad(loss, [p for p in model.parameters()]))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_sliding_window_model_packed_equals_unpacked() -> None:
    from transformers import MistralConfig, MistralForCausalLM

    from loradoc.train.packing.collator import PackedCollator

    register_attention()
    rng = np.random.default_rng(0)
    bins = [
        [{"input_ids": rng.integers(1, 128, n).tolist(), "labels": [-100] * n} for n in lens]
        for lens in ([7, 3, 9], [12, 5])
    ]
    cfg = MistralConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
        sliding_window=4,  # shorter than most examples: the window must apply inside each one
    )
    torch.manual_seed(0)
    model = MistralForCausalLM(cfg).eval()
    model.set_attn_implementation(VARLEN)
    with torch.no_grad():
        packed = model(**PackedCollator(0)(bins), use_cache=False).logits
        for r, row in enumerate(bins):
            ref = torch.cat([model(input_ids=torch.tensor([e["input_ids"]])).logits[0] for e in row])
            torch.testing.assert_close(packed[r, : len(ref)], ref, atol=1e-5, rtol=1e-5)


def test_softcap_and_non_causal_packed_attention_are_refused() -> None:
    pos = _packed_positions([[3, 5]], 8)
    q, k, v = (torch.randn(1, 2, 8, 8) for _ in range(3))
    with pytest.raises(UserError, match="softcap"):
        varlen_attention_forward(_Attn(1), q, k, v, None, softcap=30.0, position_ids=pos)
    with pytest.raises(UserError, match="causal attention only"):
        varlen_attention_forward(_Attn(1), q, k, v, None, is_causal=False, position_ids=pos)


def test_layout_cache_follows_the_tensor_and_its_version() -> None:
    pos = _packed_positions([[3, 5]], 8)
    q, k, v = (torch.randn(1, 2, 8, 8) for _ in range(3))
    first, _ = varlen_attention_forward(_Attn(1), q, k, v, None, position_ids=pos)
    pos[0, 3:] = torch.arange(5) + 3  # in place: now one example of 8, the cache must notice
    second, _ = varlen_attention_forward(_Attn(1), q, k, v, None, position_ids=pos)
    whole = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2)
    torch.testing.assert_close(second, whole)
    assert not torch.allclose(first, second)
    with torch.inference_mode():
        frozen = _packed_positions([[3, 5]], 8)
        third, _ = varlen_attention_forward(_Attn(1), q, k, v, None, position_ids=frozen)
    torch.testing.assert_close(third, first)
