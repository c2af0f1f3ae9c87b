"""Bin packing of example lengths into rows of ``sequence_len`` tokens.

Pure functions over token lengths (numpy only, no torch): the packing itself
(best-fit decreasing), its efficiency, the per-epoch shuffled packing the sampler
uses, the batch count the scheduler needs, and the eval-packing decision.

Best-fit decreasing (BFD) puts each example, longest first, into the open bin
whose free space is the smallest that still fits it. It is run here in groups:
all examples of one length are placed together, and bins with the same free
space are moved as numpy arrays, so the Python work grows with the number of
distinct (length, free space) pairs rather than with the number of examples.
The result is exactly item-by-item BFD (see ``tests/train/test_packing.py``),
and one million lengths pack in about a second.

Because BFD only looks at lengths, the *shape* of the packing (number of bins,
tokens per bin) does not depend on the order of the examples: shuffling changes
which examples share a bin, never how many bins there are. So the batch count
of every epoch is known in advance, with no communication between ranks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Packing",
    "check_lengths",
    "pack_lengths",
    "epoch_packing",
    "single_example_bins",
    "batches_per_rank",
    "estimate_num_batches",
    "eval_packing_decision",
]


@dataclass(frozen=True)
class Packing:
    """Bins in compressed form: bin ``b`` holds ``items[offsets[b]:offsets[b + 1]]``.

    ``items`` are indices into the dataset; ``bin_tokens[b]`` is the number of real
    tokens in bin ``b``; ``capacity`` is the row length (``sequence_len``).
    """

    items: np.ndarray
    offsets: np.ndarray
    bin_tokens: np.ndarray
    capacity: int

    @property
    def num_bins(self) -> int:
        return int(len(self.offsets) - 1)

    @property
    def total_tokens(self) -> int:
        return int(self.bin_tokens.sum())

    @property
    def efficiency(self) -> float:
        """Real tokens / (bins x capacity); 1.0 for an empty packing."""
        if self.num_bins == 0:
            return 1.0
        return self.total_tokens / (self.num_bins * self.capacity)

    def bin(self, b: int) -> list[int]:
        return [int(i) for i in self.items[self.offsets[b] : self.offsets[b + 1]]]

    def bins(self) -> list[list[int]]:
        return [self.bin(b) for b in range(self.num_bins)]

    def reorder(self, order: np.ndarray) -> Packing:
        """The same bins, in the order ``order`` (a permutation or a selection of bin ids)."""
        order = np.asarray(order, dtype=np.int64)
        counts = np.diff(self.offsets)[order]
        new_offsets = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(counts, out=new_offsets[1:])
        # Gather index: for each output slot, its position in the old `items`.
        shift = np.repeat(self.offsets[:-1][order] - new_offsets[:-1], counts)
        gather = np.arange(int(new_offsets[-1]), dtype=np.int64) + shift
        return Packing(self.items[gather], new_offsets, self.bin_tokens[order], self.capacity)


def check_lengths(lengths: Sequence[int] | np.ndarray, capacity: int) -> np.ndarray:
    """Lengths as an int64 array; ``ValueError`` naming the first one outside 1..capacity."""
    arr = np.asarray(lengths, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"lengths must be one-dimensional, got shape {arr.shape}")
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    if arr.size:
        bad = np.flatnonzero((arr < 1) | (arr > capacity))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"example {i} has {int(arr[i])} tokens; packing needs 1..{capacity} "
                f"(longer examples must be dropped or truncated before packing)"
            )
    return arr


def _pop(chunks: list[np.ndarray], k: int) -> np.ndarray:
    """Remove ``k`` bin ids from the end of a free-space level."""
    out: list[np.ndarray] = []
    while k > 0:
        arr = chunks[-1]
        if len(arr) <= k:
            chunks.pop()
            out.append(arr)
            k -= len(arr)
        else:
            out.append(arr[len(arr) - k :])
            chunks[-1] = arr[: len(arr) - k]
            k = 0
    return out[0] if len(out) == 1 else np.concatenate(out)


def _bfd_bin_ids(sorted_lengths: np.ndarray, capacity: int) -> tuple[np.ndarray, int]:
    """Bin id of each item of ``sorted_lengths`` (descending), by best-fit decreasing."""
    n = len(sorted_lengths)
    bin_of = np.empty(n, dtype=np.int64)
    free_count = np.zeros(capacity + 1, dtype=np.int64)  # bins per amount of free space
    levels: dict[int, list[np.ndarray]] = {}
    next_bin = 0

    def push(space: int, ids: np.ndarray) -> None:
        if len(ids):
            levels.setdefault(space, []).append(ids)
            free_count[space] += len(ids)

    def place(space: int, ids: np.ndarray, length: int, remaining: int, pieces: list[np.ndarray]) -> int:
        # Each bin with `space` free takes space // length items in a row: after the first,
        # its free space is still the smallest that fits, until it drops below `length`.
        per_bin = space // length
        if len(ids) * per_bin <= remaining:
            pieces.append(np.repeat(ids, per_bin))
            push(space - per_bin * length, ids)
            return remaining - len(ids) * per_bin
        last = remaining - (len(ids) - 1) * per_bin
        pieces.append(np.repeat(ids[:-1], per_bin))
        pieces.append(np.repeat(ids[-1:], last))
        push(space - per_bin * length, ids[:-1])
        push(space - last * length, ids[-1:])
        return 0

    bounds = np.flatnonzero(np.diff(sorted_lengths)) + 1
    starts = np.concatenate(([0], bounds)).astype(np.int64)
    ends = np.concatenate((bounds, [n])).astype(np.int64)
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        length = int(sorted_lengths[start])
        remaining = end - start
        pieces: list[np.ndarray] = []
        # Free-space levels that fit this length, smallest first. Placing items only
        # creates levels below `length`, so this list stays valid for the whole group.
        for space in (np.flatnonzero(free_count[length:]) + length).tolist():
            per_bin = space // length
            take = min(int(free_count[space]), -(-remaining // per_bin))
            ids = _pop(levels[space], take)
            free_count[space] -= take
            remaining = place(space, ids, length, remaining, pieces)
            if remaining == 0:
                break
        if remaining:
            per_bin = capacity // length
            new = -(-remaining // per_bin)
            ids = np.arange(next_bin, next_bin + new, dtype=np.int64)
            next_bin += new
            remaining = place(capacity, ids, length, remaining, pieces)
        bin_of[start:end] = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
    return bin_of, next_bin


def pack_lengths(
    lengths: Sequence[int] | np.ndarray,
    capacity: int,
    *,
    order: np.ndarray | None = None,
) -> Packing:
    """Pack examples into bins of ``capacity`` tokens by best-fit decreasing.

    ``order`` (a permutation of the example indices) breaks ties between examples of
    equal length: earlier in ``order`` is placed first. Deterministic for given inputs.
    Raises ``ValueError`` for a length outside 1..capacity.
    """
    arr = check_lengths(lengths, capacity)
    n = len(arr)
    if order is None:
        order = np.arange(n, dtype=np.int64)
    else:
        order = np.asarray(order, dtype=np.int64)
        if len(order) != n:
            raise ValueError(f"order has {len(order)} entries for {n} lengths")
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Packing(empty, np.zeros(1, dtype=np.int64), empty, capacity)
    ordered = arr[order]
    by_length = np.argsort(-ordered, kind="stable")
    sorted_lengths = ordered[by_length]
    bin_of, num_bins = _bfd_bin_ids(sorted_lengths, capacity)
    # Group the items by bin (stable, so each bin keeps its placement order).
    by_bin = np.argsort(bin_of, kind="stable")
    items = order[by_length][by_bin]
    counts = np.bincount(bin_of, minlength=num_bins)
    offsets = np.zeros(num_bins + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    bin_tokens = np.bincount(bin_of, weights=sorted_lengths, minlength=num_bins).astype(np.int64)
    return Packing(items, offsets, bin_tokens, capacity)


def _epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch)])


def epoch_packing(
    lengths: Sequence[int] | np.ndarray,
    capacity: int,
    *,
    seed: int,
    epoch: int,
    shuffle: bool = True,
) -> Packing:
    """The packing for one epoch: examples shuffled with (seed, epoch), packed, bins shuffled.

    With ``shuffle=False`` examples keep dataset order for ties and bins keep BFD order.
    """
    arr = check_lengths(lengths, capacity)
    if not shuffle:
        return pack_lengths(arr, capacity)
    rng = _epoch_rng(seed, epoch)
    packing = pack_lengths(arr, capacity, order=rng.permutation(len(arr)))
    return packing.reorder(rng.permutation(packing.num_bins))


def single_example_bins(
    lengths: Sequence[int] | np.ndarray,
    capacity: int,
    *,
    seed: int,
    epoch: int,
    shuffle: bool = True,
) -> Packing:
    """One example per bin (the unpacked, padded path), shuffled with (seed, epoch)."""
    arr = check_lengths(lengths, capacity)
    n = len(arr)
    order = _epoch_rng(seed, epoch).permutation(n) if shuffle else np.arange(n, dtype=np.int64)
    return Packing(order.astype(np.int64), np.arange(n + 1, dtype=np.int64), arr[order], capacity)


def batches_per_rank(num_bins: int, *, micro_batch_size: int, num_replicas: int, drop_last: bool) -> int:
    """Micro-batches each rank gets from ``num_bins`` bins (the same on every rank).

    ``drop_last=False``: the bin list is padded by repeating its first bins up to a
    multiple of ``num_replicas``, and each rank's last micro-batch may be short.
    ``drop_last=True``: only full micro-batches, the same number on every rank.
    """
    if micro_batch_size < 1 or num_replicas < 1:
        raise ValueError("micro_batch_size and num_replicas must be >= 1")
    if drop_last:
        return num_bins // (num_replicas * micro_batch_size)
    if num_bins == 0:
        return 0
    per_rank = -(-num_bins // num_replicas)
    return -(-per_rank // micro_batch_size)


def estimate_num_batches(
    lengths: Sequence[int] | np.ndarray,
    *,
    sequence_len: int,
    micro_batch_size: int,
    num_replicas: int = 1,
    packing: bool = True,
    drop_last: bool = False,
) -> int:
    """Micro-batches per rank per epoch, exactly as the sampler will yield them.

    With packing the bin count does not depend on the shuffle (see the module
    docstring), so this is exact for every epoch and seed.
    """
    if packing:
        num_bins = pack_lengths(lengths, sequence_len).num_bins
    else:
        num_bins = len(check_lengths(lengths, sequence_len))
    return batches_per_rank(
        num_bins, micro_batch_size=micro_batch_size, num_replicas=num_replicas, drop_last=drop_last
    )


def eval_packing_decision(
    eval_lengths: Sequence[int] | np.ndarray,
    *,
    sequence_len: int,
    micro_batch_size: int,
    world_size: int,
) -> tuple[bool, str]:
    """Whether to pack the eval split, and a one-line reason.

    Packing is turned off when the split packs into fewer bins than one full
    micro-batch on every process (``micro_batch_size x world_size``): those batches
    would be mostly repeats or empty. Unpacked eval gives the same loss.
    """
    packed = pack_lengths(eval_lengths, sequence_len)
    needed = micro_batch_size * world_size
    examples = len(packed.items)
    if packed.num_bins < needed:
        return False, (
            f"eval_sample_packing turned off: the eval split ({examples} examples) packs into "
            f"{packed.num_bins} bin(s) of {sequence_len} tokens, fewer than micro_batch_size x processes "
            f"= {micro_batch_size} x {world_size} = {needed}; evaluating unpacked instead"
        )
    return True, (
        f"eval packing on: {examples} examples in {packed.num_bins} bins of {sequence_len} tokens "
        f"(efficiency {packed.efficiency:.1%})"
    )
