"""Collators: packed bins -> model inputs, and padded examples -> model inputs.

Packed (``PackedCollator``), one row per bin, rows right-padded to the longest
bin in the batch (or to ``pad_to``):

- ``input_ids`` [B, L]; pad tokens are ``pad_token_id``.
- ``labels`` [B, L]: the example's labels, with -100 at every example's first
  token (so the last token of one example is never trained to predict the first
  of the next; nothing predicts a first token unpacked either) and on padding.
- ``position_ids`` [B, L]: 0, 1, ... restarting at each example. The padding at
  the end of a row restarts at 0 as well, so it is a segment of its own: a new
  segment begins wherever a position is not the previous one plus one
  (transformers' ``find_packed_sequence_indices``; flash-attn's
  ``prepare_fa_kwargs_from_position_ids`` splits at position 0), and the previous
  example ends at a position >= 0, so the pad can never extend it.
- no ``attention_mask``: any mask, even all ones, turns off transformers'
  packed-sequence detection. The model must run with ``use_cache=False``.
- with ``varlen_kwargs=True`` (flash_attention_2/3): ``cu_seq_lens_q/k`` (int32,
  boundaries over the flattened B*L tokens, each row's padding its own segment)
  and ``max_length_q/k`` (python int). transformers infers them from position_ids
  only for a single row, so for B > 1 they are required.

Padded (``PaddedCollator``), one example per row: ``input_ids``, ``labels``
(-100 on padding and on the first token), ``attention_mask``.

Token counts: both collators return a ``Batch``, a plain dict of model inputs
that also carries ``.token_counts`` (real, supervised, padding tokens) as an
attribute, so the counts can never reach the model as an input, whatever wraps
the DataLoader (the attribute survives worker pickling and pin_memory; a
consumer that rebuilds the dict, like ``Trainer._prepare_inputs``, drops it, so
read it from the batch the DataLoader yields). Supervised = labels != -100, the
same tokens the loss (and Trainer's num_items_in_batch) counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["Batch", "TokenCounts", "PackedCollator", "PaddedCollator", "pop_token_counts", "token_counts_of"]

IGNORE_INDEX = -100

Example = Mapping[str, Any]


@dataclass(frozen=True)
class TokenCounts:
    """Honest per-batch counters: real (non-pad) tokens, supervised tokens, padding tokens."""

    real: int = 0
    supervised: int = 0
    padding: int = 0

    @property
    def slots(self) -> int:
        return self.real + self.padding

    @property
    def efficiency(self) -> float:
        return self.real / self.slots if self.slots else 1.0

    def __add__(self, other: TokenCounts) -> TokenCounts:
        return TokenCounts(
            self.real + other.real, self.supervised + other.supervised, self.padding + other.padding
        )


class Batch(dict[str, Any]):
    """Model inputs; ``token_counts`` rides along as an attribute, never as an input."""

    token_counts: TokenCounts | None = None


def token_counts_of(batch: Any) -> TokenCounts | None:
    """The counts a loradoc collator attached to ``batch`` (None if it has none)."""
    return getattr(batch, "token_counts", None)


# Earlier name, kept for callers: the counts are an attribute, so there is no input key to remove.
pop_token_counts = token_counts_of


def _row_len(longest: int, pad_to: int | None, multiple: int | None) -> int:
    row = longest
    if pad_to is not None:
        if longest > pad_to:
            raise ValueError(f"a row holds {longest} tokens, more than pad_to={pad_to}")
        row = pad_to
    if multiple:
        row = -(-row // multiple) * multiple
    return max(row, 1)


def _example(ex: Example) -> tuple[Sequence[int], Sequence[int]]:
    ids, labels = ex["input_ids"], ex["labels"]
    if len(ids) != len(labels):
        raise ValueError(f"input_ids has {len(ids)} tokens but labels has {len(labels)}")
    if len(ids) == 0:
        raise ValueError("an example has no tokens")
    return ids, labels


def _batch(tensors: dict[str, Any], real: int, labels: np.ndarray) -> Batch:
    batch = Batch(tensors)
    supervised = int((labels != IGNORE_INDEX).sum())
    batch.token_counts = TokenCounts(real, supervised, int(labels.size) - real)
    return batch


@dataclass
class PackedCollator:
    """Bins (lists of examples with ``input_ids`` and ``labels``) -> packed rows."""

    pad_token_id: int
    pad_to: int | None = None
    pad_to_multiple_of: int | None = None
    varlen_kwargs: bool = False

    def __call__(self, bins: Sequence[Sequence[Example]]) -> Batch:
        rows = [[_example(ex) for ex in b] for b in bins]
        if not rows or any(not r for r in rows):
            raise ValueError("the packed collator needs at least one non-empty bin")
        used = [sum(len(ids) for ids, _ in r) for r in rows]
        width = _row_len(max(used), self.pad_to, self.pad_to_multiple_of)
        n_rows = len(rows)
        input_ids = np.full((n_rows, width), self.pad_token_id, dtype=np.int64)
        labels = np.full((n_rows, width), IGNORE_INDEX, dtype=np.int64)
        positions = np.empty((n_rows, width), dtype=np.int64)
        steps = np.arange(width, dtype=np.int64)
        starts: list[int] = []
        for r, row in enumerate(rows):
            at = 0
            for ids, lab in row:
                n = len(ids)
                input_ids[r, at : at + n] = ids
                labels[r, at : at + n] = lab
                labels[r, at] = IGNORE_INDEX
                positions[r, at : at + n] = steps[:n]
                starts.append(r * width + at)
                at += n
            if at < width:  # the row's padding: a segment of its own, starting at position 0
                positions[r, at:] = steps[: width - at]
                starts.append(r * width + at)
        tensors: dict[str, Any] = {
            "input_ids": torch.from_numpy(input_ids),
            "labels": torch.from_numpy(labels),
            "position_ids": torch.from_numpy(positions),
        }
        if self.varlen_kwargs:
            cu = np.append(np.asarray(starts, dtype=np.int64), n_rows * width)
            longest = int(np.diff(cu).max())
            cu_t = torch.from_numpy(cu.astype(np.int32))
            tensors.update(cu_seq_lens_q=cu_t, cu_seq_lens_k=cu_t, max_length_q=longest, max_length_k=longest)
        return _batch(tensors, sum(used), labels)


@dataclass
class PaddedCollator:
    """Examples (or one-example bins) -> right-padded rows with an attention_mask."""

    pad_token_id: int
    pad_to: int | None = None
    pad_to_multiple_of: int | None = None

    def __call__(self, examples: Sequence[Example] | Sequence[Sequence[Example]]) -> Batch:
        flat: list[Example] = []
        for item in examples:
            if isinstance(item, Mapping):
                flat.append(item)
            else:
                flat.extend(item)
        if not flat:
            raise ValueError("the padded collator got an empty batch")
        pairs = [_example(ex) for ex in flat]
        used = [len(ids) for ids, _ in pairs]
        width = _row_len(max(used), self.pad_to, self.pad_to_multiple_of)
        input_ids = np.full((len(pairs), width), self.pad_token_id, dtype=np.int64)
        labels = np.full((len(pairs), width), IGNORE_INDEX, dtype=np.int64)
        mask = np.zeros((len(pairs), width), dtype=np.int64)
        for r, (ids, lab) in enumerate(pairs):
            n = len(ids)
            input_ids[r, :n] = ids
            labels[r, :n] = lab
            mask[r, :n] = 1
        labels[:, 0] = IGNORE_INDEX  # never a target; keeps the counts equal to the loss's
        tensors = {
            "input_ids": torch.from_numpy(input_ids),
            "labels": torch.from_numpy(labels),
            "attention_mask": torch.from_numpy(mask),
        }
        return _batch(tensors, sum(used), labels)
