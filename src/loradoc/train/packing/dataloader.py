"""``build_dataloader``: tokenized dataset + bin sampler + collator, wired so bins stay whole.

The batch sampler yields, per micro-batch, a list of bins (lists of dataset
indices); ``BinDataset.__getitems__`` fetches them (one Arrow read for a
``datasets.Dataset``) and returns a list of bins of examples; the collator turns
that into rows. Nothing in between knows about single examples, so a bin
boundary cannot be lost.

Use the returned ``LoradocDataLoader`` as is. Its sampler is already rank-aware:
do not pass it through ``accelerator.prepare`` (accelerate would shard the
micro-batches a second time); move batches to the device yourself, as
``Trainer._prepare_inputs`` does. Call ``set_epoch(epoch)`` at each epoch start
(transformers' Trainer does so for any dataloader that has it). After each batch,
``last_token_counts`` / ``total_token_counts`` hold the collator's counters, and
each yielded batch carries its own as ``batch.token_counts`` (``token_counts_of``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from loradoc.errors import UserError
from loradoc.train.model.attention import FLASH, KNOWN, VARLEN
from loradoc.train.packing.collator import Batch, PackedCollator, PaddedCollator, TokenCounts, token_counts_of
from loradoc.train.packing.sampler import BinBatchSampler

__all__ = ["BinDataset", "LoradocDataLoader", "build_dataloader", "dataset_lengths"]

_COLUMNS = ("input_ids", "labels")


def dataset_lengths(dataset: Any) -> np.ndarray:
    """The ``length`` column as an int64 array (a ``datasets.Dataset`` or a sequence of dicts)."""
    if hasattr(dataset, "column_names"):
        if "length" not in dataset.column_names:
            raise ValueError("the tokenized dataset has no 'length' column")
        return np.asarray(dataset.with_format("numpy", columns=["length"])["length"], dtype=np.int64)
    return np.fromiter((int(row["length"]) for row in dataset), dtype=np.int64, count=len(dataset))


class BinDataset(Dataset[list[dict[str, Any]]]):
    """Indexes a tokenized dataset by bins: ``ds[[3, 17, 42]]`` -> the three examples."""

    def __init__(self, dataset: Any) -> None:
        self._arrow = hasattr(dataset, "select_columns")
        self.dataset = dataset.select_columns(list(_COLUMNS)) if self._arrow else dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def _rows(self, indices: list[int]) -> list[dict[str, Any]]:
        if self._arrow:
            rows: list[dict[str, Any]] = self.dataset.__getitems__(indices)
            return rows
        return [self.dataset[i] for i in indices]

    def __getitem__(self, bin_indices: Sequence[int]) -> list[dict[str, Any]]:
        return self._rows([int(i) for i in bin_indices])

    def __getitems__(self, bins: list[Sequence[int]]) -> list[list[dict[str, Any]]]:
        flat = [int(i) for b in bins for i in b]
        rows = self._rows(flat)
        out, at = [], 0
        for b in bins:
            out.append(rows[at : at + len(b)])
            at += len(b)
        return out


class LoradocDataLoader(DataLoader[list[list[dict[str, Any]]]]):
    """A DataLoader over bins that keeps running totals of the collator's token counts."""

    batch_sampler: BinBatchSampler

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_token_counts = TokenCounts()
        self.total_token_counts = TokenCounts()

    @property
    def bin_sampler(self) -> BinBatchSampler:
        return self.batch_sampler

    def set_epoch(self, epoch: int) -> None:
        self.batch_sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Batch]:  # type: ignore[override]
        for batch in super().__iter__():
            counts = token_counts_of(batch)
            if counts is not None:
                self.last_token_counts = counts
                self.total_token_counts = self.total_token_counts + counts
            yield batch


def build_dataloader(
    dataset: Any,
    *,
    packing: bool,
    sequence_len: int,
    micro_batch_size: int,
    pad_token_id: int,
    seed: int,
    attention: str,
    num_replicas: int = 1,
    rank: int = 0,
    shuffle: bool = True,
    num_workers: int = 0,
    pad_to_sequence_len: bool = False,
    pad_to_multiple_of: int | None = None,
    drop_last: bool = False,
    lengths: Sequence[int] | np.ndarray | None = None,
    pin_memory: bool = False,
) -> LoradocDataLoader:
    """A DataLoader yielding packed (or padded) micro-batches for this rank.

    ``dataset`` rows have ``input_ids``, ``labels`` (same length) and ``length``
    (<= sequence_len). ``attention`` is the chosen ``attn_implementation``
    (``choose_attention(...).impl``): flash_attention_* makes the packed collator
    send varlen boundaries. Packing with an attention that cannot keep examples
    apart raises ``UserError``.
    """
    if packing and attention not in KNOWN:
        raise UserError(
            f"attn_implementation: {attention!r} cannot keep packed examples apart; "
            f"use {VARLEN} (see choose_attention) or set sample_packing: false"
        )
    if packing and attention == "xformers":
        raise UserError(f"attn_implementation: xformers is not a model attention here; use {VARLEN}")
    lengths_arr = dataset_lengths(dataset) if lengths is None else np.asarray(lengths, dtype=np.int64)
    if len(lengths_arr) != len(dataset):
        raise ValueError(f"{len(lengths_arr)} lengths for {len(dataset)} rows")
    sampler = BinBatchSampler(
        lengths_arr,
        sequence_len=sequence_len,
        micro_batch_size=micro_batch_size,
        packing=packing,
        seed=seed,
        num_replicas=num_replicas,
        rank=rank,
        shuffle=shuffle,
        drop_last=drop_last,
    )
    pad_to = sequence_len if pad_to_sequence_len else None
    collator: PackedCollator | PaddedCollator
    if packing:
        collator = PackedCollator(
            pad_token_id,
            pad_to=pad_to,
            pad_to_multiple_of=pad_to_multiple_of,
            varlen_kwargs=attention in FLASH,
        )
    else:
        collator = PaddedCollator(pad_token_id, pad_to=pad_to, pad_to_multiple_of=pad_to_multiple_of)
    generator = torch.Generator().manual_seed(seed)
    return LoradocDataLoader(
        BinDataset(dataset),
        batch_sampler=sampler,
        collate_fn=collator,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=generator,
    )
