"""BinBatchSampler: distinct bins per rank, equal batch counts, exact len, reshuffle per epoch."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from loradoc.train.packing.bins import pack_lengths
from loradoc.train.packing.sampler import BinBatchSampler


def lengths_mix(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(np.log(60), 0.8, size=n), 4, 500).astype(np.int64)


def rank_samplers(lengths: np.ndarray, replicas: int, **kw: object) -> list[BinBatchSampler]:
    return [
        BinBatchSampler(
            lengths, sequence_len=512, micro_batch_size=2, seed=3, num_replicas=replicas, rank=r, **kw
        )  # type: ignore[arg-type]
        for r in range(replicas)
    ]


@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
def test_ranks_get_distinct_bins_same_batch_count_and_cover_everything(replicas: int) -> None:
    lengths = lengths_mix(301)
    samplers = rank_samplers(lengths, replicas)
    per_rank = [list(s) for s in samplers]
    counts = {len(batches) for batches in per_rank}
    assert counts == {len(samplers[0])}, "every rank must yield the same number of micro-batches"
    bins_by_rank = [[tuple(b) for batch in batches for b in batch] for batches in per_rank]
    all_bins = [b for bins in bins_by_rank for b in bins]
    num_bins = pack_lengths(lengths, 512).num_bins
    # Padding repeats at most replicas - 1 bins; everything else is distinct.
    assert len(all_bins) - len(set(all_bins)) == (-num_bins) % replicas
    for a, b in itertools.combinations(range(replicas), 2):
        overlap = set(bins_by_rank[a]) & set(bins_by_rank[b])
        assert len(overlap) <= (-num_bins) % replicas
    examples = sorted({i for b in all_bins for i in b})
    assert examples == list(range(len(lengths)))
    for batches in per_rank:
        for batch in batches:
            assert 1 <= len(batch) <= 2
            for b in batch:
                assert lengths[b].sum() <= 512


def test_drop_last_gives_only_full_batches_on_every_rank() -> None:
    lengths = lengths_mix(301)
    samplers = rank_samplers(lengths, 3, drop_last=True)
    seen = []
    for s in samplers:
        batches = list(s)
        assert len(batches) == len(s) == pack_lengths(lengths, 512).num_bins // 6
        assert all(len(batch) == 2 for batch in batches)
        seen += [tuple(b) for batch in batches for b in batch]
    assert len(seen) == len(set(seen))


def test_set_epoch_repacks_deterministically() -> None:
    lengths = lengths_mix(200)
    s1 = BinBatchSampler(lengths, sequence_len=512, micro_batch_size=2, seed=11)
    s2 = BinBatchSampler(lengths, sequence_len=512, micro_batch_size=2, seed=11)
    epoch0 = list(s1)
    assert epoch0 == list(s2) == list(s1)  # same seed and epoch: same batches, every time
    s1.set_epoch(1)
    epoch1 = list(s1)
    assert epoch1 != epoch0
    assert len(epoch1) == len(epoch0)
    s2.set_epoch(1)
    assert list(s2) == epoch1
    s1.set_epoch(0)
    assert list(s1) == epoch0


def test_no_shuffle_keeps_order_across_epochs() -> None:
    lengths = lengths_mix(50)
    s = BinBatchSampler(lengths, sequence_len=512, micro_batch_size=3, shuffle=False)
    first = list(s)
    s.set_epoch(4)
    assert list(s) == first


def test_unpacked_mode_yields_one_example_per_bin() -> None:
    lengths = lengths_mix(23)
    s = BinBatchSampler(lengths, sequence_len=512, micro_batch_size=4, packing=False, seed=1)
    batches = list(s)
    assert len(batches) == len(s) == 6
    flat = [b for batch in batches for b in batch]
    assert all(len(b) == 1 for b in flat)
    assert sorted(b[0] for b in flat) == list(range(23))
    assert [b[0] for b in flat] != list(range(23))  # shuffled


def test_plan_accounts_tokens_and_padding() -> None:
    lengths = lengths_mix(120)
    s = BinBatchSampler(lengths, sequence_len=512, micro_batch_size=2, seed=0)
    plan = s.plan()
    assert plan.real_tokens == lengths.sum()
    assert plan.micro_batches == len(s)
    assert plan.packing_efficiency == pytest.approx(s.packing_efficiency)
    assert plan.slots >= plan.real_tokens
    full = s.plan(pad_to_sequence_len=True)
    assert full.slots == sum(len(batch) for batch in s) * 512
    assert plan.batch_efficiency >= full.batch_efficiency


def test_batch_size_attribute_and_bad_rank() -> None:
    s = BinBatchSampler([3, 4], sequence_len=8, micro_batch_size=5)
    assert s.batch_size == 5
    with pytest.raises(ValueError, match="rank 2"):
        BinBatchSampler([3], sequence_len=8, micro_batch_size=1, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="example 1 has 9 tokens"):
        BinBatchSampler([3, 9], sequence_len=8, micro_batch_size=1)


def test_more_ranks_than_bins_still_gives_every_rank_one_batch() -> None:
    samplers = rank_samplers(np.array([10, 20]), 4)
    assert [len(list(s)) for s in samplers] == [1, 1, 1, 1]


# ---------------------------------------------------------------- build_dataloader wiring


def _rows(n: int, seed: int = 0) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = int(rng.integers(2, 40))
        ids = [1000 * i + t for t in range(length)]  # token ids name their example
        out.append({"input_ids": ids, "labels": ids, "length": length})
    return out


@pytest.mark.parametrize("arrow", [True, False])
def test_dataloader_rows_are_exactly_the_samplers_bins(arrow: bool) -> None:
    import datasets

    from loradoc.train.packing.dataloader import build_dataloader

    rows = _rows(60)
    dataset = datasets.Dataset.from_list(rows) if arrow else rows
    loader = build_dataloader(
        dataset, packing=True, sequence_len=64, micro_batch_size=3, pad_token_id=0, seed=4, attention="sdpa"
    )
    loader.set_epoch(2)
    expected = list(loader.bin_sampler)
    batches = list(loader)
    assert len(batches) == len(expected) == len(loader)
    for batch, bins in zip(batches, expected, strict=True):
        assert batch["input_ids"].shape[0] == len(bins)
        for row, members in zip(batch["input_ids"].tolist(), bins, strict=True):
            want = [tok for i in members for tok in rows[i]["input_ids"]]
            assert row[: len(want)] == want
            assert set(row[len(want) :]) <= {0}
    assert loader.total_token_counts.real == sum(r["length"] for r in rows)


def test_dataloader_with_a_worker_process_and_flash_kwargs() -> None:
    from loradoc.train.packing.dataloader import build_dataloader

    rows = _rows(20, seed=1)
    loader = build_dataloader(
        rows,
        packing=True,
        sequence_len=64,
        micro_batch_size=2,
        pad_token_id=0,
        seed=0,
        attention="flash_attention_2",
        num_workers=1,
    )
    batches = list(loader)
    assert all({"cu_seq_lens_q", "max_length_q"} <= set(b) for b in batches)
    assert loader.total_token_counts.real == sum(r["length"] for r in rows)
    assert loader.last_token_counts.real > 0


def test_dataloader_refuses_to_pack_with_an_unknown_attention() -> None:
    from loradoc.errors import UserError
    from loradoc.train.packing.dataloader import build_dataloader

    with pytest.raises(UserError, match="cannot keep packed examples apart"):
        build_dataloader(
            _rows(4),
            packing=True,
            sequence_len=64,
            micro_batch_size=1,
            pad_token_id=0,
            seed=0,
            attention="paged",
        )
