"""Project hidden states onto the vocabulary only where a label is trained.

With ``train_on_inputs: false`` about half of a packed row is prompt, and the LM head
(hidden x vocab, the largest matmul of a small model) plus the float32 logits tensor
are pure waste there. transformers' causal-LM heads take a boolean ``logits_to_keep``
mask (``modeling_utils.slice_logits_to_keep``) and a pre-shifted ``shift_labels``
for the loss (``loss_utils.ForCausalLMLoss``): passing both gives exactly the same
summed token loss, divided by the same ``num_items_in_batch``, from far fewer logits.
Public model arguments only; a model whose head does not use ``slice_logits_to_keep``
keeps the full logits.
"""

from __future__ import annotations

import inspect
from typing import Any

IGNORE = -100


def supports_supervised_logits(model: Any) -> bool:
    """True when the (peft-wrapped) causal LM accepts a boolean ``logits_to_keep`` mask."""
    try:
        from transformers import modeling_utils
    except ImportError:  # pragma: no cover - transformers is a train dependency
        return False
    if not hasattr(modeling_utils, "slice_logits_to_keep"):
        return False
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    forward = getattr(type(base), "forward", None)
    if forward is None or "logits_to_keep" not in inspect.signature(forward).parameters:
        return False
    try:
        return "slice_logits_to_keep(" in inspect.getsource(forward)
    except (OSError, TypeError):
        return False


def keep_supervised_positions(inputs: dict[str, Any]) -> None:
    """Add ``logits_to_keep`` (positions whose next token is trained) and ``shift_labels``.

    ``labels`` stay in ``inputs``: the Trainer counts ``num_items_in_batch`` from them,
    and that count equals ``shift_labels.numel()`` here by construction.
    """
    import torch.nn.functional as F

    labels = inputs.get("labels")
    if labels is None or "logits_to_keep" in inputs:
        return
    shifted = F.pad(labels[..., 1:], (0, 1), value=IGNORE)
    keep = shifted.ne(IGNORE)
    inputs["logits_to_keep"] = keep
    inputs["shift_labels"] = shifted[keep]
