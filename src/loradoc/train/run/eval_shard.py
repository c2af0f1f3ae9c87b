"""Evaluation split between processes so that every eval example counts exactly once.

The training sampler evens out the ranks by repeating a few bins (as torch's
``DistributedSampler`` does); for training that is harmless, but an eval loss
averaged over repeated bins is not the loss of the eval split. So for eval every
rank builds the same single-process loader (all micro-batches, in order) and
takes whole micro-batches ``rank, rank + R, ...``. Ranks left with one batch fewer
get a stand-in: a copy of the first batch with every label set to -100. It has
no supervised tokens, so it adds nothing to the token-weighted eval loss
(``LoradocTrainer.prediction_step`` skips it), but every rank runs the same
number of eval steps, which the Trainer's per-step gather needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader

from loradoc.train.packing.collator import IGNORE_INDEX, TokenCounts

__all__ = ["RankBatches", "ShardedEvalLoader"]


class RankBatches:
    """A batch sampler: this rank's share of another batch sampler's micro-batches, padded by stand-ins."""

    def __init__(self, inner: Any, *, rank: int, world: int) -> None:
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not in 0..{world - 1}")
        self.inner = inner
        self.rank = rank
        self.world = world

    @property
    def batch_size(self) -> int:
        return int(self.inner.batch_size)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        """The same on every rank: ceil(all batches / ranks)."""
        return -(-len(self.inner) // self.world)

    @property
    def real_batches(self) -> int:
        """Batches of this rank that are not stand-ins."""
        return len(range(self.rank, len(self.inner), self.world))

    def __iter__(self) -> Iterator[Any]:
        batches = list(self.inner)
        mine = batches[self.rank :: self.world]
        yield from mine
        for _ in range(len(self) - len(mine)):
            yield batches[0]


class ShardedEvalLoader(DataLoader[Any]):
    """``loader``'s micro-batches for this rank (see module doc); stand-ins carry no labels."""

    def __init__(self, loader: DataLoader[Any], *, rank: int, world: int) -> None:
        self.shard = RankBatches(loader.batch_sampler, rank=rank, world=world)
        super().__init__(
            loader.dataset,
            batch_sampler=self.shard,
            collate_fn=loader.collate_fn,
            num_workers=loader.num_workers,
            pin_memory=loader.pin_memory,
        )

    def set_epoch(self, epoch: int) -> None:
        self.shard.set_epoch(epoch)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        real = self.shard.real_batches
        for k, batch in enumerate(super().__iter__()):
            if k >= real:
                batch["labels"] = torch.full_like(batch["labels"], IGNORE_INDEX)
                if hasattr(batch, "token_counts"):
                    batch.token_counts = TokenCounts()
            yield batch
