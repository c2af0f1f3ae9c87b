"""Bin packing: exact best-fit decreasing, efficiency, determinism, batch counts, eval decision."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loradoc.train.packing.bins import (
    batches_per_rank,
    check_lengths,
    epoch_packing,
    estimate_num_batches,
    eval_packing_decision,
    pack_lengths,
)
from loradoc.train.packing.sampler import BinBatchSampler


def reference_bfd_free_space(lengths: list[int], capacity: int) -> list[int]:
    """Item-by-item best-fit decreasing; returns the sorted free space of the bins."""
    free: list[int] = []
    for length in sorted(lengths, reverse=True):
        fits = [b for b, space in enumerate(free) if space >= length]
        if fits:
            best = min(fits, key=lambda b: free[b])
            free[best] -= length
        else:
            free.append(capacity - length)
    return sorted(free)


def alpaca_like_lengths(n: int, seed: int) -> np.ndarray:
    """Long-tailed mix like cpu-peer-baselines.md: median ~105, tail to ~1000."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(np.log(105), 0.75, size=n), 12, 1000).astype(np.int64)


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 64),
    data=st.data(),
)
def test_grouped_bfd_is_exactly_item_by_item_bfd(capacity: int, data: st.DataObject) -> None:
    lengths = data.draw(st.lists(st.integers(1, capacity), max_size=60))
    packing = pack_lengths(lengths, capacity)
    free = sorted((capacity - packing.bin_tokens).tolist())
    assert free == reference_bfd_free_space(lengths, capacity)
    # Every example exactly once, every bin within capacity, bin_tokens right.
    assert sorted(packing.items.tolist()) == list(range(len(lengths)))
    arr = np.asarray(lengths, dtype=np.int64)
    for b in range(packing.num_bins):
        members = packing.bin(b)
        assert members
        assert arr[members].sum() == packing.bin_tokens[b] <= capacity


def test_efficiency_on_long_tailed_mix_at_2048_is_at_least_99_5_percent() -> None:
    lengths = alpaca_like_lengths(20_000, seed=0)
    assert 95 <= np.median(lengths) <= 115 and lengths.max() == 1000
    packing = epoch_packing(lengths, 2048, seed=0, epoch=0)
    assert packing.efficiency >= 0.995
    assert packing.total_tokens == lengths.sum()
    # Sanity: the padded alternative is far worse, so the figure is not trivially high.
    assert lengths.sum() / (len(lengths) * 2048) < 0.1


def test_one_million_lengths_pack_in_seconds() -> None:
    lengths = alpaca_like_lengths(1_000_000, seed=1)
    start = time.perf_counter()
    packing = epoch_packing(lengths, 2048, seed=0, epoch=0)
    elapsed = time.perf_counter() - start
    assert packing.efficiency >= 0.995
    assert elapsed < 5.0, f"packing 1M lengths took {elapsed:.2f}s"


def test_epoch_packing_is_deterministic_and_reshuffles_per_epoch() -> None:
    lengths = alpaca_like_lengths(3000, seed=2)
    a = epoch_packing(lengths, 1024, seed=7, epoch=0)
    b = epoch_packing(lengths, 1024, seed=7, epoch=0)
    c = epoch_packing(lengths, 1024, seed=7, epoch=1)
    d = epoch_packing(lengths, 1024, seed=8, epoch=0)
    assert a.bins() == b.bins()
    assert a.bins() != c.bins() and a.bins() != d.bins()
    # The shape of the packing depends only on the lengths: same bin count every epoch.
    assert a.num_bins == c.num_bins == d.num_bins
    assert sorted(a.bin_tokens.tolist()) == sorted(c.bin_tokens.tolist())
    # Reshuffling moves examples between bins, not just bins around.
    pairs_a = {frozenset(x) for x in a.bins()}
    pairs_c = {frozenset(x) for x in c.bins()}
    assert len(pairs_a & pairs_c) < a.num_bins // 2


def test_unshuffled_packing_keeps_bfd_order() -> None:
    packing = epoch_packing([5, 3, 8, 2], 10, seed=0, epoch=3, shuffle=False)
    # 8 | 5+3 | then 2 ties between two bins with 2 free: the latest-filled one wins.
    assert packing.bins() == pack_lengths([5, 3, 8, 2], 10).bins() == [[2], [0, 1, 3]]


def test_reorder_keeps_bin_contents() -> None:
    packing = pack_lengths([4, 4, 3, 2, 2, 1], 6)
    order = np.array([2, 0, 1])[: packing.num_bins]
    moved = packing.reorder(order)
    assert moved.bins() == [packing.bin(int(i)) for i in order]
    assert moved.bin_tokens.tolist() == packing.bin_tokens[order].tolist()


@pytest.mark.parametrize("bad", [[3, 0, 2], [3, 11], [-1]])
def test_lengths_outside_capacity_are_refused_naming_the_example(bad: list[int]) -> None:
    with pytest.raises(ValueError, match=r"example \d+ has -?\d+ tokens"):
        check_lengths(bad, 10)


def test_empty_dataset_packs_to_nothing() -> None:
    packing = pack_lengths([], 16)
    assert packing.num_bins == 0 and packing.efficiency == 1.0
    assert estimate_num_batches([], sequence_len=16, micro_batch_size=2) == 0


@pytest.mark.parametrize("replicas", [1, 2, 3])
@pytest.mark.parametrize("drop_last", [False, True])
def test_estimate_matches_the_sampler_every_epoch(replicas: int, drop_last: bool) -> None:
    lengths = alpaca_like_lengths(700, seed=3)
    expected = estimate_num_batches(
        lengths, sequence_len=1024, micro_batch_size=3, num_replicas=replicas, drop_last=drop_last
    )
    for epoch in range(3):
        for rank in range(replicas):
            sampler = BinBatchSampler(
                lengths,
                sequence_len=1024,
                micro_batch_size=3,
                seed=5,
                num_replicas=replicas,
                rank=rank,
                drop_last=drop_last,
            )
            sampler.set_epoch(epoch)
            assert len(list(sampler)) == len(sampler) == expected


def test_batches_per_rank_rules() -> None:
    assert (
        batches_per_rank(10, micro_batch_size=2, num_replicas=3, drop_last=False) == 2
    )  # 12 bins / 3 = 4 each
    assert batches_per_rank(10, micro_batch_size=2, num_replicas=3, drop_last=True) == 1
    assert batches_per_rank(1, micro_batch_size=4, num_replicas=2, drop_last=False) == 1
    assert batches_per_rank(1, micro_batch_size=4, num_replicas=2, drop_last=True) == 0


def test_eval_packing_turns_off_when_too_few_bins_for_one_batch_per_process() -> None:
    small = [300, 200, 250, 100]  # packs into a single 1024 bin
    use, reason = eval_packing_decision(small, sequence_len=1024, micro_batch_size=2, world_size=2)
    assert use is False
    assert "eval_sample_packing turned off" in reason and "1 bin(s)" in reason and "= 4" in reason
    assert "\n" not in reason

    large = alpaca_like_lengths(400, seed=4)
    use, reason = eval_packing_decision(large, sequence_len=1024, micro_batch_size=2, world_size=2)
    assert use is True and "eval packing on" in reason


def test_eval_packing_boundary_is_exactly_one_full_batch_per_process() -> None:
    four_bins = [1024, 1024, 1024, 1024]
    assert eval_packing_decision(four_bins, sequence_len=1024, micro_batch_size=2, world_size=2)[0]
    assert not eval_packing_decision(four_bins[:3], sequence_len=1024, micro_batch_size=2, world_size=2)[0]
