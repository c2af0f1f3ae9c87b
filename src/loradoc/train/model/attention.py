"""Which attention implementation a run uses, and why; registration of ``loradoc_varlen``.

Light module: torch and transformers are imported only inside the functions that
need them, so planning (``--dry-run``) can call :func:`choose_attention`.

Packing is only correct when attention keeps the examples of a row apart:

- ``loradoc_varlen`` (ours, every device): attention per example, cost sum of len^2;
  boundaries read from ``position_ids`` (``varlen.py``).
- ``flash_attention_2``/``_3`` (CUDA): varlen kernels; the collator sends
  ``cu_seq_lens_q/k`` and ``max_length_q/k`` (transformers only infers them from
  position_ids when the batch has one row).
- ``sdpa``/``eager``/``flex_attention``: transformers builds a block-diagonal mask
  from the restarting position_ids (when there is no attention_mask and no cache);
  correct but dense, cost row_len^2. Refused where transformers lacks that code.
- anything else: refused, loudly.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from loradoc.config.vocab import ATTN_IMPLEMENTATIONS, FLASH_ATTENTION, MASKED_ATTENTION, VARLEN
from loradoc.errors import UserError

__all__ = [
    "VARLEN",
    "AttentionChoice",
    "choose_attention",
    "packed_mask_supported",
    "register_attention",
]

FLASH = FLASH_ATTENTION
MASKED = MASKED_ATTENTION
KNOWN = ATTN_IMPLEMENTATIONS
_ALIASES = {
    "auto": None,
    "": None,
    "flash_attention": "flash_attention_2",
    "flash_attn": "flash_attention_2",
    "xformers_attention": "xformers",
    "sdp_attention": "sdpa",
    "varlen": VARLEN,
}
# the package behind each flash attn_implementation, for the reasons printed
_FLASH_PACKAGE = {"flash_attention_3": "flash-attn-3 (FlashAttention-3)", "flash_attention_2": "flash-attn"}


@dataclass(frozen=True)
class AttentionChoice:
    """``impl`` is the ``attn_implementation`` to load the model with; ``reason`` is one line for the log."""

    impl: str
    reason: str

    @property
    def varlen_kwargs(self) -> bool:
        """Whether the packed collator must send ``cu_seq_lens_q/k`` and ``max_length_q/k``."""
        return self.impl in FLASH


def packed_mask_supported() -> bool:
    """Whether the installed transformers masks packed rows per example for sdpa/eager/flex.

    Feature check rather than a version pin: the code that derives the segments
    from position_ids is ``masking_utils.find_packed_sequence_indices``.
    """
    try:
        masking_utils = importlib.import_module("transformers.masking_utils")
    except ImportError:
        return False
    return hasattr(masking_utils, "find_packed_sequence_indices")


def _normalise(requested: str | None) -> str | None:
    if requested is None:
        return None
    name = requested.strip()
    return _ALIASES.get(name.lower(), name)


def choose_attention(
    requested: str | None,
    *,
    packing: bool,
    device: str,
    available: set[str],
    mask_supported: bool | None = None,
) -> AttentionChoice:
    """Pick the attention implementation for a run and say why in one line.

    ``requested`` is the config's ``attn_implementation`` (None/"auto" = choose).
    ``available`` is the machine's ``MachineFacts.attention``. ``mask_supported``
    defaults to :func:`packed_mask_supported`. Raises ``UserError`` when packing
    is on and the requested attention cannot keep the examples apart.
    """
    name = _normalise(requested)
    # the flash kernels installed on this CUDA machine, FlashAttention-3 (Hopper) first
    flash_here = [
        f for f in ("flash_attention_3", "flash_attention_2") if device == "cuda" and f in available
    ]
    has_flash = flash_here[0] if flash_here else None
    if name is not None and name not in KNOWN:
        if packing:
            raise UserError(
                f"attn_implementation: {name!r} is not known to keep packed examples apart, so loradoc "
                f"will not pack with it; use one of {', '.join(KNOWN[:-1])}, or set sample_packing: false"
            )
        raise UserError(f"attn_implementation: unknown value {name!r}; use one of {', '.join(KNOWN[:-1])}")

    if name == "flex_attention" and device == "cpu":
        # torch's flex attention runs forward on the CPU but raises in backward ("FlexAttention does
        # not support backward on CPU"): a training run would stop at its first step
        instead = VARLEN if packing else "sdpa"
        return AttentionChoice(
            instead, f"flex_attention has no backward pass on the CPU (torch): using {instead} instead"
        )
    if not packing:
        if name is None:
            if has_flash:
                return AttentionChoice(
                    has_flash, f"{_FLASH_PACKAGE[has_flash]} is installed on this CUDA machine"
                )
            return AttentionChoice("sdpa", "torch sdpa (no packing, padded batches)")
        if name in FLASH and not (device == "cuda" and name in available):
            if has_flash:
                return AttentionChoice(
                    has_flash, f"{name} is not available here; {_FLASH_PACKAGE[has_flash]} is: using it"
                )
            return AttentionChoice("sdpa", f"{name} is not available on {device}: using torch sdpa instead")
        if name == "xformers":
            return AttentionChoice(
                "sdpa", "xformers requested: torch sdpa runs the same memory-efficient kernel"
            )
        if name not in available:
            return AttentionChoice("sdpa", f"{name} is not available here: using torch sdpa instead")
        return AttentionChoice(name, f"{name} as configured (no packing)")

    varlen_reason = "attention per packed example (cost sum of len^2, no dense mask)"
    if name is None:
        if has_flash:
            return AttentionChoice(
                has_flash,
                f"{_FLASH_PACKAGE[has_flash]} varlen kernels; example boundaries sent as cu_seq_lens",
            )
        return AttentionChoice(VARLEN, f"{VARLEN}: {varlen_reason}; flash-attn is not available on {device}")
    if name == VARLEN:
        return AttentionChoice(VARLEN, f"{VARLEN} as configured: {varlen_reason}")
    if name in FLASH:
        if device == "cuda" and name in available:
            return AttentionChoice(name, f"{name} varlen kernels; example boundaries sent as cu_seq_lens")
        if has_flash:
            return AttentionChoice(
                has_flash,
                f"{name} is not available here; {_FLASH_PACKAGE[has_flash]} is: its varlen kernels, same boundaries",
            )
        return AttentionChoice(
            VARLEN, f"{name} is not available on {device}: using {VARLEN} instead ({varlen_reason})"
        )
    if name == "xformers":
        return AttentionChoice(
            VARLEN,
            f"xformers requested: using {VARLEN}, which runs torch sdpa (whose memory-efficient "
            f"kernel comes from xformers) per example",
        )
    # sdpa / eager / flex_attention: transformers' packed-sequence mask.
    supported = packed_mask_supported() if mask_supported is None else mask_supported
    if not supported:
        raise UserError(
            f"attn_implementation: {name} cannot keep packed examples apart with the installed transformers "
            f"(it has no packed-sequence masking); upgrade transformers, use attn_implementation: {VARLEN}, "
            f"or set sample_packing: false"
        )
    if name not in available:
        raise UserError(f"attn_implementation: {name} is not available in this environment; use {VARLEN}")
    return AttentionChoice(
        name,
        f"{name} as configured: examples kept apart by transformers' block-diagonal mask "
        f"(dense, cost row_len^2; {VARLEN} is faster)",
    )


def register_attention() -> str:
    """Register ``loradoc_varlen`` with transformers' public attention interfaces (idempotent).

    Call before loading a model with ``attn_implementation="loradoc_varlen"``.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    from loradoc.train.model.varlen import varlen_attention_forward, varlen_mask

    AttentionInterface.register(VARLEN, varlen_attention_forward)
    AttentionMaskInterface.register(VARLEN, varlen_mask)
    return VARLEN
