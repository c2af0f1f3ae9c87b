"""flex_attention keeps packed examples apart: its packed logits equal those of sdpa's packed path,
which test_packed_equivalence.py proves equal to unpacked (so flex packed == unpacked).

On the CPU flex attention runs forward only (torch: "FlexAttention does not support backward on
CPU"), so loradoc trains with loradoc_varlen there (test_attention.py); its gradients are compared
on a GPU by bench/gpu_check.py. The comparison is packed-to-packed so that flex attention compiles
once (one batch shape; on the CPU each new shape is another inductor compile).
"""

from __future__ import annotations

import pytest
import torch
from test_packed_equivalence import BINS, TOL, tiny_llama

from loradoc.train.model.attention import VARLEN, choose_attention
from loradoc.train.packing.collator import PackedCollator

pytestmark = pytest.mark.slow


def test_flex_packed_logits_equal_sdpa_packed() -> None:
    pytest.importorskip("torch.nn.attention.flex_attention")
    batch = PackedCollator(pad_token_id=0)(BINS)
    with torch.no_grad():
        flex = tiny_llama("flex_attention")(**batch, use_cache=False).logits
        sdpa = tiny_llama("sdpa")(**batch, use_cache=False).logits
    real = torch.zeros(flex.shape[:2], dtype=torch.bool)
    for r, row in enumerate(BINS):
        real[r, : sum(e["length"] for e in row)] = True
    assert float((flex - sdpa)[real].abs().max()) <= TOL


def test_flex_is_not_chosen_to_train_on_the_cpu() -> None:
    available = {"sdpa", "eager", "flex_attention", VARLEN}
    packed = choose_attention("flex_attention", packing=True, device="cpu", available=available)
    assert packed.impl == VARLEN and "no backward pass on the CPU" in packed.reason
    plain = choose_attention("flex_attention", packing=False, device="cpu", available=available)
    assert plain.impl == "sdpa"
    gpu = choose_attention(
        "flex_attention", packing=True, device="cuda", available=available, mask_supported=True
    )
    assert gpu.impl == "flex_attention"
