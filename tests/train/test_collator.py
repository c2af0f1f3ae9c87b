"""Packed and padded collators: fields, boundaries, padding segments, varlen kwargs, counts."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from transformers.masking_utils import find_packed_sequence_indices
from transformers.modeling_flash_attention_utils import prepare_fa_kwargs_from_position_ids

from loradoc.train.packing.collator import (
    Batch,
    PackedCollator,
    PaddedCollator,
    TokenCounts,
    token_counts_of,
)

PAD = 0


def ex(ids: list[int], prompt: int = 0) -> dict[str, list[int]]:
    return {"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]}


BINS = [
    [ex([11, 12, 13], prompt=1), ex([21, 22], prompt=0), ex([31, 32, 33, 34], prompt=2)],  # 9 tokens
    [ex([41, 42, 43, 44, 45, 46], prompt=3)],  # 6 tokens
]


def test_packed_rows_fields_positions_and_labels() -> None:
    batch = PackedCollator(PAD)(BINS)
    assert set(batch) == {"input_ids", "labels", "position_ids"}
    assert "attention_mask" not in batch
    assert batch["input_ids"].tolist() == [
        [11, 12, 13, 21, 22, 31, 32, 33, 34],
        [41, 42, 43, 44, 45, 46, PAD, PAD, PAD],
    ]
    assert batch["position_ids"].tolist() == [
        [0, 1, 2, 0, 1, 0, 1, 2, 3],
        [0, 1, 2, 3, 4, 5, 0, 1, 2],
    ]
    assert batch["labels"].tolist() == [
        # -100 at each example's first token (and the prompt), so 13 never learns to predict 21.
        [-100, 12, 13, -100, 22, -100, -100, 33, 34],
        [-100, -100, -100, 44, 45, 46, -100, -100, -100],
    ]
    assert all(t.dtype == torch.long for t in batch.values())


def test_row_padding_is_its_own_segment_for_transformers_and_flash_attn() -> None:
    batch = PackedCollator(PAD)(BINS)
    segments = find_packed_sequence_indices(batch["position_ids"])
    assert segments is not None
    assert segments.tolist() == [[0, 0, 0, 1, 1, 2, 2, 2, 2], [0, 0, 0, 0, 0, 0, 1, 1, 1]]
    # A one-token example at the end of a row must not merge with the padding either.
    tail = PackedCollator(PAD, pad_to=6)([[ex([1, 2, 3]), ex([4])]])
    assert find_packed_sequence_indices(tail["position_ids"]).tolist() == [[0, 0, 0, 1, 2, 2]]


def test_varlen_kwargs_match_transformers_flattened_boundaries() -> None:
    batch = PackedCollator(PAD, varlen_kwargs=True)(BINS)
    cu = batch["cu_seq_lens_q"]
    assert cu.dtype == torch.int32
    assert cu.tolist() == [0, 3, 5, 9, 15, 18]
    assert batch["cu_seq_lens_k"] is cu
    assert batch["max_length_q"] == batch["max_length_k"] == 6
    assert isinstance(batch["max_length_q"], int)
    (ref_q, _), (ref_max, _) = prepare_fa_kwargs_from_position_ids(batch["position_ids"])
    assert ref_q.tolist() == cu.tolist()
    assert int(ref_max) == 6


def test_pad_to_and_multiple() -> None:
    batch = PackedCollator(PAD, pad_to=12)(BINS)
    assert batch["input_ids"].shape == (2, 12)
    assert batch["position_ids"][0, 9:].tolist() == [0, 1, 2]
    batch = PackedCollator(PAD, pad_to_multiple_of=8)(BINS)
    assert batch["input_ids"].shape == (2, 16)
    with pytest.raises(ValueError, match="more than pad_to=8"):
        PackedCollator(PAD, pad_to=8)(BINS)


def test_token_counts_are_exact_and_never_a_model_input() -> None:
    batch = PackedCollator(PAD)(BINS)
    assert isinstance(batch, Batch) and isinstance(batch, dict)
    counts = token_counts_of(batch)
    assert set(batch) == {"input_ids", "labels", "position_ids"}
    supervised = int((batch["labels"] != -100).sum())
    assert counts == TokenCounts(real=15, supervised=supervised, padding=3)
    assert supervised == 2 + 1 + 2 + 3
    assert counts.slots == 18 and counts.efficiency == pytest.approx(15 / 18)
    # Survives what a DataLoader does to a batch: worker pickling, pin_memory's copy.
    assert token_counts_of(pickle.loads(pickle.dumps(batch))) == counts
    assert token_counts_of(copy.copy(batch)) == counts
    assert token_counts_of({"input_ids": 1}) is None


def test_mismatched_or_empty_examples_are_refused() -> None:
    with pytest.raises(ValueError, match="input_ids has 2 tokens but labels has 1"):
        PackedCollator(PAD)([[{"input_ids": [1, 2], "labels": [2]}]])
    with pytest.raises(ValueError, match="no tokens"):
        PackedCollator(PAD)([[{"input_ids": [], "labels": []}]])
    with pytest.raises(ValueError, match="non-empty bin"):
        PackedCollator(PAD)([[]])


def test_padded_collator_masks_padding_and_first_token() -> None:
    examples = [ex([5, 6, 7], prompt=1), ex([8, 9], prompt=0)]
    batch = PaddedCollator(PAD)(examples)
    counts = token_counts_of(batch)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 9, PAD]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [-100, 9, -100]]
    assert "position_ids" not in batch
    assert counts == TokenCounts(real=5, supervised=3, padding=1)
    # One-example bins (what the sampler yields when packing is off) give the same batch.
    as_bins = PaddedCollator(PAD)([[e] for e in examples])
    assert as_bins["input_ids"].tolist() == batch["input_ids"].tolist()
    assert PaddedCollator(PAD, pad_to=8)(examples)["input_ids"].shape == (2, 8)
