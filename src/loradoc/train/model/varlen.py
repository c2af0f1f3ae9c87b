"""Per-example causal attention for packed rows, on any torch device (CPU included).

A packed row holds several examples; ``position_ids`` restart at 0 at each one.
Stock sdpa keeps them apart with a dense row_len x row_len block-diagonal mask,
so it pays for every pair the mask throws away. Here each example is attended
on its own, so the cost is the sum of len_i^2:

1. The segment layout (where each example starts, how long it is) is read once
   per forward from ``position_ids`` (or from ``cu_seq_lens_q`` when the collator
   sent them) and cached across the layers of that forward.
2. Examples are grouped into a few buckets of similar length (a small dynamic
   program over a measured cost model). Each bucket is gathered into a
   ``[n, heads, bucket_len, head_dim]`` batch, the shorter examples right-padded
   with whatever tokens follow them. With ``is_causal=True`` a real query only
   sees keys at or before itself, i.e. its own example, so the padding never
   reaches a real token (and its gradients are exactly zero).
3. One ``scaled_dot_product_attention(is_causal=True)`` call per bucket, then one
   gather puts every token's output back in place.

Gradients flow through all of it; the two gathers have backward passes that
are gathers too (no index_add, which is slow on CPU; see ``_ToSlots``). GQA goes
through sdpa's ``enable_gqa``, sliding windows become a band mask per bucket. Anything this path does not cover (a padding mask, a KV
cache during generation, unpacked rows) is handed to transformers' own sdpa.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from loradoc.errors import UserError

__all__ = ["SegmentLayout", "segment_layout", "varlen_attention_forward", "varlen_mask"]

# Cost model for one bucket of n segments padded to length L, per head, in microseconds:
#   CALL_US + n * heads * (QUAD_US * L^2 + LIN_US * L)
# fitted on a 2-core CPU (torch 2.13, sdpa is_causal, fwd); only the ratios matter.
_CALL_US = 60.0
_QUAD_US = 0.001
_LIN_US = 0.08


@dataclass(frozen=True)
class _Bucket:
    length: int  # every segment in the bucket is padded to this length
    count: int  # number of segments


@dataclass(frozen=True)
class SegmentLayout:
    """Where the examples of a ``[batch, row_len]`` input are, grouped for attention."""

    batch: int
    row_len: int
    seg_starts: np.ndarray  # flat start index of each segment
    seg_lengths: np.ndarray
    buckets: tuple[_Bucket, ...]
    gather: torch.Tensor  # [slots]: the token each bucket slot reads (pad slots read a neighbour)
    scatter: torch.Tensor  # [batch*row_len]: the slot holding each token

    @property
    def one_per_row(self) -> bool:
        """True when every row is a single example (nothing to separate)."""
        return bool(len(self.seg_lengths) == self.batch and np.all(self.seg_lengths == self.row_len))

    @property
    def max_length(self) -> int:
        return int(self.seg_lengths.max()) if len(self.seg_lengths) else 0


def _plan_buckets(lengths: np.ndarray, heads: int) -> list[tuple[int, np.ndarray]]:
    """Partition segments into buckets minimising the cost model. Returns (length, segment ids)."""
    order = np.argsort(-lengths, kind="stable")
    sorted_lengths = lengths[order]
    distinct, first = np.unique(-sorted_lengths, return_index=True)
    distinct = -distinct  # descending
    counts = np.diff(np.append(first, len(sorted_lengths)))
    m = len(distinct)
    unit = heads * (
        _QUAD_US * distinct.astype(np.float64) ** 2 + _LIN_US * distinct
    )  # per segment at that length
    cum = np.concatenate(([0], np.cumsum(counts)))
    best = np.zeros(m + 1)
    cut = np.zeros(m + 1, dtype=np.int64)
    for j in range(1, m + 1):
        # Bucket of distinct lengths i..j-1 costs a call plus (its segments) x unit[i].
        cost = best[:j] + _CALL_US + (cum[j] - cum[:j]) * unit[:j]
        k = int(np.argmin(cost))
        best[j], cut[j] = cost[k], k
    groups: list[tuple[int, np.ndarray]] = []
    end = m
    while end > 0:
        begin = int(cut[end])
        groups.append((int(distinct[begin]), order[cum[begin] : cum[end]]))
        end = begin
    return groups[::-1]


def _layout_from_bounds(
    starts: np.ndarray, lengths: np.ndarray, batch: int, row_len: int, heads: int, device: torch.device
) -> SegmentLayout:
    total = batch * row_len
    buckets: list[_Bucket] = []
    gathers: list[np.ndarray] = []
    scatter = np.empty(total, dtype=np.int64)
    offset = 0
    for length, seg_ids in _plan_buckets(lengths, heads):
        steps = np.arange(length, dtype=np.int64)
        tokens = starts[seg_ids, None] + steps[None, :]  # [n, length], may run past the segment
        valid = steps[None, :] < lengths[seg_ids, None]
        slots = offset + np.arange(tokens.size, dtype=np.int64).reshape(tokens.shape)
        scatter[tokens[valid]] = slots[valid]
        gathers.append(np.minimum(tokens, total - 1).reshape(-1))
        buckets.append(_Bucket(length, len(seg_ids)))
        offset += tokens.size
    gather = np.concatenate(gathers)
    return SegmentLayout(
        batch,
        row_len,
        starts,
        lengths,
        tuple(buckets),
        torch.from_numpy(gather).to(device),
        torch.from_numpy(scatter).to(device),
    )


def segment_layout(
    *,
    batch: int,
    row_len: int,
    heads: int,
    device: torch.device,
    position_ids: torch.Tensor | None = None,
    cu_seq_lens: torch.Tensor | None = None,
) -> SegmentLayout:
    """Segments of a packed input, from ``cu_seq_lens`` (flat, preferred) or ``position_ids``.

    From ``position_ids``, a new segment starts wherever a position is not the
    previous one plus one (the rule transformers' ``find_packed_sequence_indices``
    uses), and at the start of every row.
    """
    total = batch * row_len
    if cu_seq_lens is not None:
        cu = cu_seq_lens.detach().to("cpu").numpy().astype(np.int64)
        if cu[0] != 0 or cu[-1] != total or np.any(np.diff(cu) <= 0):
            raise ValueError(
                f"cu_seq_lens must rise from 0 to batch*row_len={total}, got {cu.tolist()[:8]}..."
            )
        starts, lengths = cu[:-1], np.diff(cu)
        row_starts = np.arange(0, total, row_len)
        if not np.isin(row_starts, starts).all():
            raise ValueError("cu_seq_lens has a segment that spans two rows")
    elif position_ids is not None:
        if position_ids.ndim != 2:
            raise ValueError(f"loradoc_varlen needs 2-D position_ids, got shape {tuple(position_ids.shape)}")
        pos = position_ids.detach().to("cpu").numpy()
        if pos.shape[0] != batch:
            pos = np.broadcast_to(pos, (batch, row_len))
        is_start = np.ones((batch, row_len), dtype=bool)
        is_start[:, 1:] = pos[:, 1:] != pos[:, :-1] + 1
        starts = np.flatnonzero(is_start.reshape(-1)).astype(np.int64)
        lengths = np.diff(np.append(starts, total))
    else:
        starts = np.arange(0, total, row_len, dtype=np.int64)
        lengths = np.full(batch, row_len, dtype=np.int64)
    return _layout_from_bounds(starts, lengths, batch, row_len, heads, device)


class _LayoutCache(threading.local):
    key: Any = None
    version: int = -1
    shape: tuple[int, ...] = ()
    layout: SegmentLayout | None = None


_cache = _LayoutCache()


def _version(t: torch.Tensor) -> int:
    # Inference-mode tensors have no version counter (and cannot change outside that mode).
    return -2 if t.is_inference() else int(t._version)


def _cached_layout(
    source: torch.Tensor | None, *, batch: int, row_len: int, heads: int, device: torch.device, from_cu: bool
) -> SegmentLayout:
    """The layout for this forward: computed at the first layer, reused by the others.

    Keyed by the identity and version of the tensor it was read from; every layer
    of one forward receives the same ``position_ids`` / ``cu_seq_lens_q`` object.
    """
    shape = (batch, row_len, heads)
    if source is not None and _cache.layout is not None:
        cached = _cache.key() if _cache.key is not None else None
        if _cache.version == _version(source) and _cache.shape == shape and cached is source:
            return _cache.layout
    if from_cu:
        layout = segment_layout(batch=batch, row_len=row_len, heads=heads, device=device, cu_seq_lens=source)
    else:
        layout = segment_layout(batch=batch, row_len=row_len, heads=heads, device=device, position_ids=source)
    if source is not None:
        _cache.key = weakref.ref(source)
        _cache.version = _version(source)
        _cache.shape = shape
        _cache.layout = layout
    return layout


def _sdpa(module: torch.nn.Module, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, None]:
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    fn = ALL_ATTENTION_FUNCTIONS["sdpa"]
    out: tuple[torch.Tensor, None] = fn(module, *args, **kwargs)
    return out


class _ToSlots(torch.autograd.Function):
    """tokens [N, ...] -> bucket slots [S, ...] (``x[gather]``).

    Backward reads each token's gradient from its own slot (``grad[scatter]``)
    instead of accumulating over every slot that read it: the extra readers are
    padding slots past the end of a segment, and under causal attention their
    gradient is exactly zero (no real query attends them, and their own outputs
    are discarded). This avoids index_add, which is slow on CPU.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, gather: torch.Tensor, scatter: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(scatter)
        return x.index_select(0, gather)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (scatter,) = ctx.saved_tensors
        return grad.index_select(0, scatter), None, None


class _FromSlots(torch.autograd.Function):
    """bucket slots [S, ...] -> tokens [N, ...] (``y[scatter]``); padding slots get zero gradient."""

    @staticmethod
    def forward(ctx: Any, y: torch.Tensor, scatter: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(scatter)
        ctx.slots = y.shape[0]
        return y.index_select(0, scatter)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (scatter,) = ctx.saved_tensors
        out = grad.new_zeros((ctx.slots, *grad.shape[1:]))
        return out.index_copy_(0, scatter, grad), None


def _band_mask(length: int, window: int, device: torch.device) -> torch.Tensor:
    i = torch.arange(length, device=device)
    diff = i[:, None] - i[None, :]
    return (diff >= 0) & (diff < window)


def varlen_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    sliding_window: int | None = None,
    softcap: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention function (``AttentionInterface``): q/k/v are [B, heads, L, dim]."""
    if softcap is not None or kwargs.get("s_aux") is not None:
        raise UserError(
            "attn_implementation: loradoc_varlen does not support attention softcap or sinks "
            "(Gemma 2, gpt-oss); set attn_implementation: eager for this model"
        )
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    batch, heads, q_len, _ = query.shape
    position_ids = kwargs.get("position_ids")
    cu_seq_lens = kwargs.get("cu_seq_lens_q")
    source = cu_seq_lens if cu_seq_lens is not None else position_ids
    layout = None
    if attention_mask is None and q_len == key.shape[2]:  # training-style input (no padding, no cache)
        layout = _cached_layout(
            source,
            batch=batch,
            row_len=q_len,
            heads=heads,
            device=query.device,
            from_cu=cu_seq_lens is not None,
        )
        window_active = sliding_window is not None and sliding_window < layout.max_length
        if not causal:
            if not layout.one_per_row:
                raise UserError(
                    "attn_implementation: loradoc_varlen keeps packed examples apart for causal attention "
                    "only; set sample_packing: false for this model"
                )
            layout = None
        elif layout.one_per_row and not window_active:
            layout = None  # nothing to separate: stock sdpa with is_causal is as good
    if layout is None:
        return _sdpa(
            module,
            query,
            key,
            value,
            attention_mask,
            dropout=dropout,
            scaling=scaling,
            sliding_window=sliding_window,
            is_causal=is_causal,
            **kwargs,
        )

    kv_heads, head_dim, v_dim = key.shape[1], query.shape[-1], value.shape[-1]
    total = batch * q_len
    gqa = kv_heads != heads
    # [B, H, L, d] -> [B*L, H, d]: a view when the projections' layout allows it.
    q = query.transpose(1, 2).reshape(total, heads, head_dim)
    k = key.transpose(1, 2).reshape(total, kv_heads, head_dim)
    v = value.transpose(1, 2).reshape(total, kv_heads, v_dim)
    sizes = [b.count * b.length for b in layout.buckets]
    q_slots = _ToSlots.apply(q, layout.gather, layout.scatter).split(sizes)
    k_slots = _ToSlots.apply(k, layout.gather, layout.scatter).split(sizes)
    v_slots = _ToSlots.apply(v, layout.gather, layout.scatter).split(sizes)
    outs = []
    for bucket, qs, ks, vs in zip(layout.buckets, q_slots, k_slots, v_slots, strict=True):
        n, length = bucket.count, bucket.length
        qb = qs.view(n, length, heads, head_dim).transpose(1, 2)
        kb = ks.view(n, length, kv_heads, head_dim).transpose(1, 2)
        vb = vs.view(n, length, kv_heads, v_dim).transpose(1, 2)
        if sliding_window is not None and sliding_window < length:
            ob = F.scaled_dot_product_attention(
                qb,
                kb,
                vb,
                attn_mask=_band_mask(length, sliding_window, query.device),
                dropout_p=dropout,
                scale=scaling,
                enable_gqa=gqa,
            )
        else:
            ob = F.scaled_dot_product_attention(
                qb, kb, vb, dropout_p=dropout, scale=scaling, is_causal=True, enable_gqa=gqa
            )
        outs.append(ob.transpose(1, 2).reshape(n * length, heads, v_dim))
    flat = torch.cat(outs) if len(outs) > 1 else outs[0]
    out = _FromSlots.apply(flat, layout.scatter).view(batch, q_len, heads, v_dim)
    return out, None


def varlen_mask(
    batch_size: int,
    q_length: int,
    kv_length: int,
    q_offset: int = 0,
    kv_offset: int = 0,
    attention_mask: torch.Tensor | None = None,
    **kwargs: Any,
) -> torch.Tensor | None:
    """``AttentionMaskInterface`` entry: no dense mask for training inputs.

    Without a padding mask and without a KV cache the attention function reads the
    example boundaries from ``position_ids``, so no L x L mask is built. Anything
    else (padding, generation) gets the sdpa mask and is run by stock sdpa.
    """
    no_offset = isinstance(q_offset, int) and isinstance(kv_offset, int) and q_offset == 0 and kv_offset == 0
    if attention_mask is None and q_length == kv_length and no_offset:
        return None
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    sdpa_mask = ALL_MASK_ATTENTION_FUNCTIONS["sdpa"]
    mask: torch.Tensor | None = sdpa_mask(
        batch_size=batch_size,
        q_length=q_length,
        kv_length=kv_length,
        q_offset=q_offset,
        kv_offset=kv_offset,
        attention_mask=attention_mask,
        **kwargs,
    )
    return mask
