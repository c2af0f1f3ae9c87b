"""Logits only at trained positions give the same loss and LoRA gradients as full logits."""

from __future__ import annotations

import pytest
import torch
from test_packed_equivalence import BINS, tiny_llama

from loradoc.train.model.attention import VARLEN
from loradoc.train.model.supervised_logits import keep_supervised_positions, supports_supervised_logits
from loradoc.train.packing.collator import PackedCollator


def _loss_and_grads(model: torch.nn.Module, batch: dict, n_items: int) -> tuple[float, list[torch.Tensor]]:
    model.zero_grad()
    out = model(**batch, num_items_in_batch=torch.tensor(n_items))
    out.loss.backward()
    grads = [p.grad.detach().clone() for p in model.parameters() if p.requires_grad]
    return float(out.loss), grads


@pytest.mark.parametrize("impl", ["sdpa", VARLEN])
def test_same_loss_and_gradients_with_fewer_logits(impl: str) -> None:
    model = tiny_llama(impl, lora=True)
    assert supports_supervised_logits(model)
    batch = PackedCollator(pad_token_id=0, pad_to=20)(BINS)
    n_items = int(batch["labels"][..., 1:].ne(-100).sum())

    full_loss, full_grads = _loss_and_grads(model, dict(batch), n_items)
    lean = dict(batch)
    keep_supervised_positions(lean)
    assert lean["shift_labels"].numel() == n_items  # the Trainer's count, by construction
    lean_loss, lean_grads = _loss_and_grads(model, lean, n_items)

    assert lean_loss == pytest.approx(full_loss, abs=1e-6)
    for a, b in zip(full_grads, lean_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_wrong_alignment_would_be_caught() -> None:
    """Negative control: keeping the label positions instead of the predicting ones changes the loss."""
    model = tiny_llama("sdpa", lora=True)
    batch = PackedCollator(pad_token_id=0, pad_to=20)(BINS)
    n_items = int(batch["labels"][..., 1:].ne(-100).sum())
    full_loss, _ = _loss_and_grads(model, dict(batch), n_items)
    wrong = dict(batch)
    keep = batch["labels"].ne(-100)
    wrong["logits_to_keep"] = keep
    wrong["shift_labels"] = batch["labels"][keep]
    wrong_loss, _ = _loss_and_grads(model, wrong, n_items)
    assert (
        abs(wrong_loss - full_loss) > 1e-3
    )  # random init: losses sit near ln(vocab), so 1e-3 is far above the 1e-6 match
