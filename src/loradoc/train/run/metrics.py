"""Honest, separate counters for a run: input tokens, supervised tokens, time, memory.

Supervised tokens are label positions that carry a loss after the causal shift
(``labels[..., 1:] != -100``), the count the loss is normalised by. Input tokens
are the real (non-padding) tokens fed to the model. Rates are over training
time only (evaluation time is excluded).
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

IGNORE = -100


def batch_token_counts(batch: dict[str, Any], pad_token_id: int | None = None) -> tuple[int, int]:
    """(input tokens, supervised tokens) in one collated batch of tensors.

    Uses the collator's own counts when the batch still carries them (they are
    removed from the batch, so the model never sees them); otherwise counts from
    the tensors: ``attention_mask`` for padded rows, and for packed rows the
    trailing padding segment (it restarts at position 0 and is all pad tokens
    with no labels, see ``collator.PackedCollator``).
    """
    from loradoc.train.packing.collator import pop_token_counts

    counts = pop_token_counts(batch)
    if counts is not None:
        return counts.real, counts.supervised
    labels = batch["labels"]
    supervised = int(labels[..., 1:].ne(IGNORE).sum())
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum()), supervised
    input_ids = batch["input_ids"]
    total = int(input_ids.numel())
    positions = batch.get("position_ids")
    if positions is None or pad_token_id is None or input_ids.dim() != 2:
        return total, supervised
    import torch

    width = input_ids.shape[-1]
    last_start = width - 1 - torch.argmax(positions.eq(0).flip(-1).int(), dim=-1)  # last segment's start
    cols = torch.arange(width, device=input_ids.device).unsqueeze(0)
    tail = cols >= last_start.unsqueeze(-1)
    is_pad = (input_ids.eq(pad_token_id) & labels.eq(IGNORE)) | ~tail
    pad_rows = is_pad.all(dim=-1)
    padding = int(((width - last_start) * pad_rows).sum())
    return total - padding, supervised


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@dataclass
class TokenMeter:
    """Counts tokens per process; the trainer sums them over processes when it logs."""

    input_tokens: int = 0
    supervised_tokens: int = 0
    train_seconds: float = 0.0
    _started: float | None = field(default=None, repr=False)
    _last: tuple[int, int, float] = (0, 0, 0.0)

    def start(self) -> None:
        if self._started is None:
            self._started = time.perf_counter()

    def pause(self) -> None:
        if self._started is not None:
            self.train_seconds += time.perf_counter() - self._started
            self._started = None

    def seconds(self) -> float:
        running = time.perf_counter() - self._started if self._started is not None else 0.0
        return self.train_seconds + running

    def add(self, inputs: int, supervised: int) -> None:
        self.input_tokens += inputs
        self.supervised_tokens += supervised

    def restore(self, inputs: int, supervised: int, seconds: float, *, own: bool) -> None:
        """Continue the counts of a resumed run: ``inputs``/``supervised``/``seconds`` are its totals
        over all processes. ``own``: this process carries them (one process only, so sums stay right)."""
        if own:
            self.input_tokens += inputs
            self.supervised_tokens += supervised
            self.train_seconds += seconds
        self._last = (inputs, supervised, self.seconds())

    def window(self, total_inputs: int, total_supervised: int) -> dict[str, float]:
        """Rates since the previous call, from totals over all processes."""
        now = self.seconds()
        last_in, last_sup, last_t = self._last
        dt = max(now - last_t, 1e-9)
        self._last = (total_inputs, total_supervised, now)
        return {
            "tokens_per_s": round((total_inputs - last_in) / dt, 2),
            "supervised_tokens_per_s": round((total_supervised - last_sup) / dt, 2),
        }
