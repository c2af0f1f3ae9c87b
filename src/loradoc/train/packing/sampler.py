"""Batch sampler that yields micro-batches of bins, the same number on every rank.

Each item the sampler yields is one micro-batch: a list of bins, each bin a list
of dataset indices. The DataLoader hands that to ``BinDataset.__getitems__``
and then to the collator, so a bin boundary can never be lost on the way.

Per epoch (``set_epoch``): examples are shuffled with (seed, epoch), packed by
best-fit decreasing, and the bins shuffled (``packing.epoch_packing``). Every
rank computes the same packing by itself, then takes bins ``rank, rank + R, ...``.

Equal batch counts without communication: with ``drop_last=False`` (default)
the bin list is padded by repeating its first bins up to a multiple of the
number of ranks (at most R - 1 repeated bins per epoch, as torch's
DistributedSampler does), and each rank's last micro-batch may have fewer rows.
With ``drop_last=True`` only full micro-batches are yielded (every rank yields
``bins // (R x micro_batch_size)``) and the rest of the epoch's bins are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from loradoc.train.packing.bins import (
    Packing,
    batches_per_rank,
    check_lengths,
    epoch_packing,
    single_example_bins,
)

__all__ = ["BinBatchSampler", "EpochPlan"]


@dataclass(frozen=True)
class EpochPlan:
    """What one rank will see this epoch (before any prefetching)."""

    num_bins: int  # bins in the whole epoch, all ranks
    micro_batches: int  # on this rank
    real_tokens: int  # on this rank, repeats included
    slots: int  # rows x padded row length, on this rank
    packing_efficiency: float  # whole epoch: real tokens / (bins x sequence_len)

    @property
    def batch_efficiency(self) -> float:
        """Real tokens / slots actually computed on this rank (after row padding)."""
        return self.real_tokens / self.slots if self.slots else 1.0


class BinBatchSampler:
    """Yields ``list[list[int]]`` per micro-batch: up to ``micro_batch_size`` bins of dataset indices.

    ``packing=False`` gives one example per bin (the padded path), shuffled the same way.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        *,
        sequence_len: int,
        micro_batch_size: int,
        packing: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
    ) -> None:
        if micro_batch_size < 1:
            raise ValueError(f"micro_batch_size must be >= 1, got {micro_batch_size}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in 0..{num_replicas - 1}")
        self.lengths = check_lengths(lengths, sequence_len)
        self.sequence_len = sequence_len
        self.micro_batch_size = micro_batch_size
        self.packing = packing
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.epoch = 0
        self._cached: tuple[int, Packing] | None = None

    # accelerate and Trainer read these two attributes off a batch sampler.
    @property
    def batch_size(self) -> int:
        return self.micro_batch_size

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose packing the next iteration uses (repacks lazily)."""
        self.epoch = int(epoch)

    def epoch_bins(self) -> Packing:
        """All bins of the current epoch (every rank's), in their shuffled order."""
        if self._cached is None or self._cached[0] != self.epoch:
            make = epoch_packing if self.packing else single_example_bins
            packing = make(
                self.lengths, self.sequence_len, seed=self.seed, epoch=self.epoch, shuffle=self.shuffle
            )
            self._cached = (self.epoch, packing)
        return self._cached[1]

    @property
    def packing_efficiency(self) -> float:
        """Real tokens / (bins x sequence_len) for the current epoch."""
        return self.epoch_bins().efficiency

    def _rank_bin_ids(self, num_bins: int) -> np.ndarray:
        per_rank_batches = len(self)
        ids = np.arange(num_bins, dtype=np.int64)
        if self.drop_last:
            ids = ids[: per_rank_batches * self.micro_batch_size * self.num_replicas]
        elif num_bins % self.num_replicas:
            extra = self.num_replicas - num_bins % self.num_replicas
            ids = np.concatenate([ids, np.arange(extra, dtype=np.int64) % num_bins])
        return ids[self.rank :: self.num_replicas]

    def __len__(self) -> int:
        return batches_per_rank(
            self.epoch_bins().num_bins,
            micro_batch_size=self.micro_batch_size,
            num_replicas=self.num_replicas,
            drop_last=self.drop_last,
        )

    def __iter__(self) -> Iterator[list[list[int]]]:
        bins = self.epoch_bins()
        mine = self._rank_bin_ids(bins.num_bins)
        for b in range(len(self)):
            chunk = mine[b * self.micro_batch_size : (b + 1) * self.micro_batch_size]
            yield [bins.bin(int(i)) for i in chunk]

    def plan(self, *, pad_to_sequence_len: bool = False, pad_to_multiple_of: int | None = None) -> EpochPlan:
        """Token accounting for this rank's epoch, with the collator's row padding rule."""
        bins = self.epoch_bins()
        mine = self._rank_bin_ids(bins.num_bins)
        real = slots = 0
        for b in range(len(self)):
            chunk = bins.bin_tokens[mine[b * self.micro_batch_size : (b + 1) * self.micro_batch_size]]
            row = self.sequence_len if pad_to_sequence_len else int(chunk.max())
            if pad_to_multiple_of:
                row = -(-row // pad_to_multiple_of) * pad_to_multiple_of
            real += int(chunk.sum())
            slots += row * len(chunk)
        return EpochPlan(bins.num_bins, len(self), real, slots, bins.efficiency)
