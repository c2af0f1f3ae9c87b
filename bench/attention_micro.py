"""Micro-benchmark: per-example varlen attention vs stock sdpa with the packed mask.

Data: a long-tailed alpaca-like length mix (median ~105, tail to ~1000 tokens),
seeded. Model: the peers' tiny Llama (hidden 256, 4 layers, 4 heads, 2 KV heads,
vocab 8192; cpu-peer-baselines.md), random init, fp32, LoRA r16 on all linear layers.

1. One attention call on ``--rows`` packed rows of ``--seq-len`` tokens, forward
   and forward+backward: ``sdpa`` with the block-diagonal mask transformers builds
   from the packed position_ids (cost row_len^2) vs ``loradoc_varlen`` (sum len^2).
2. One LoRA forward+backward of the whole model on that packed batch, per attention.
3. (``--examples N``, 0 to skip) LoRA forward+backward over the same N examples in
   four layouts, micro-batch ``--mbs``: padded in random order (the naive Trainer),
   padded grouped by length (Trainer ``group_by_length``: mega-batches of 50
   micro-batches sorted by length), packed + sdpa mask, packed + loradoc_varlen,
   the same packed bins one row per forward, and that plus the LM head applied only
   at supervised positions. No optimizer, no Trainer: this isolates what layout,
   attention and per-forward working set cost.

Timings are medians over interleaved repeats (each variant takes turns, so load
drift on a shared machine hits all of them alike). Run:

    /work/venv/bin/python bench/attention_micro.py [--threads 2] [--rows 4] [--seq-len 1024] [--examples 160]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def long_tailed_lengths(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(np.log(105), 0.75, size=n), 12, 1000).astype(np.int64)


def packed_rows(rows: int, seq_len: int, seed: int) -> tuple[torch.Tensor, list[list[int]]]:
    from loradoc.train.packing.bins import epoch_packing

    lengths = long_tailed_lengths(4000, seed)
    packing = epoch_packing(lengths, seq_len, seed=seed, epoch=0)
    bins = [lengths[packing.bin(b)].tolist() for b in range(rows)]
    pos = torch.zeros(rows, seq_len, dtype=torch.long)
    for r, lens in enumerate(bins):
        p = np.concatenate([np.arange(n) for n in lens] + [np.arange(seq_len - sum(lens))])
        pos[r] = torch.from_numpy(p)
    return pos, bins


def interleaved(fns: dict[str, Callable[[], object]], repeat: int, warmup: int = 1) -> dict[str, float]:
    """Median ms per function; the functions take turns so that load drift hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}


def tiny_lora_model(impl: str) -> Any:
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=8192,
        use_cache=False,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    model.set_attn_implementation(impl)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    return get_peft_model(
        model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=targets)
    ).train()


def attention_call(args: argparse.Namespace, impls: list[str]) -> None:
    from transformers import LlamaConfig
    from transformers.masking_utils import create_causal_mask
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    from loradoc.train.model.attention import VARLEN

    pos, bins = packed_rows(args.rows, args.seq_len, args.seed)
    lens = [x for b in bins for x in b]
    share = sum(x * x for x in lens) / (args.rows * args.seq_len**2)
    print(
        f"[1] attention call: rows={args.rows} row_len={args.seq_len} examples={len(lens)} "
        f"real_tokens={sum(lens)} sum(len^2)/sum(row_len^2)={share:.3f}"
    )
    heads, kv_heads, dim = 4, 2, 64
    cfg = LlamaConfig(num_attention_heads=heads, num_key_value_heads=kv_heads)

    class _Module(torch.nn.Module):
        is_causal = True
        num_key_value_groups = heads // kv_heads

    module = _Module()
    g = torch.Generator().manual_seed(0)
    # [B, L, H, d] storage seen as [B, H, L, d], as the model's projections produce it.
    q = torch.randn(args.rows, args.seq_len, heads, dim, generator=g).transpose(1, 2).requires_grad_()
    k = torch.randn(args.rows, args.seq_len, kv_heads, dim, generator=g).transpose(1, 2).requires_grad_()
    v = torch.randn(args.rows, args.seq_len, kv_heads, dim, generator=g).transpose(1, 2).requires_grad_()
    embeds = torch.zeros(args.rows, args.seq_len, 8)
    fwd_fns: dict[str, Callable[[], object]] = {}
    both_fns: dict[str, Callable[[], object]] = {}
    for impl in impls:
        fn = ALL_ATTENTION_FUNCTIONS.get_interface(impl, None)

        def call(fn: Any = fn, impl: str = impl) -> torch.Tensor:
            cfg._attn_implementation = impl
            # Built every call, as the model builds it every forward.
            mask = create_causal_mask(
                config=cfg, inputs_embeds=embeds, attention_mask=None, cache=None, position_ids=pos
            )
            out, _ = fn(module, q, k, v, mask, scaling=dim**-0.5, position_ids=pos)
            return out  # type: ignore[no-any-return]

        def fwd_bwd(call: Callable[[], torch.Tensor] = call) -> None:
            call().sum().backward()
            q.grad = k.grad = v.grad = None

        fwd_fns[impl] = call
        both_fns[impl] = fwd_bwd
    with torch.no_grad():
        fwd = interleaved(fwd_fns, args.repeat)
    both = interleaved(both_fns, args.repeat)
    for impl in impls:
        print(f"    {impl:15s} fwd {fwd[impl]:8.2f} ms   fwd+bwd {both[impl]:8.2f} ms")
    print(
        f"    ratio sdpa+mask / loradoc_varlen: fwd {fwd['sdpa'] / fwd[VARLEN]:.2f}x  "
        f"fwd+bwd {both['sdpa'] / both[VARLEN]:.2f}x"
    )

    print("[2] whole tiny model, LoRA forward+backward on the same packed batch")
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 8192, (args.rows, args.seq_len), generator=g)
    steps: dict[str, Callable[[], object]] = {}
    for impl in impls:
        model = tiny_lora_model(impl)

        def step(model: Any = model) -> None:
            model(input_ids=ids, position_ids=pos, labels=ids, use_cache=False).loss.backward()
            model.zero_grad(set_to_none=True)

        steps[impl] = step
    ms = interleaved(steps, max(3, args.repeat // 2))
    for impl in impls:
        print(f"    {impl:15s} fwd+bwd {ms[impl]:8.1f} ms")
    print(f"    ratio sdpa+mask / loradoc_varlen: {ms['sdpa'] / ms[VARLEN]:.2f}x")


def _examples(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for length in long_tailed_lengths(n, seed + 1).tolist():
        ids = rng.integers(1, 8192, length).tolist()
        prompt = int(length * rng.uniform(0.3, 0.7))
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:], "length": length})
    return out


def _grouped_order(lengths: np.ndarray, mbs: int, seed: int) -> list[list[int]]:
    """Trainer group_by_length, approximately: random mega-batches of 50 micro-batches, sorted inside."""
    perm = np.random.default_rng(seed).permutation(len(lengths))
    mega = 50 * mbs
    batches = []
    for start in range(0, len(perm), mega):
        chunk = sorted(perm[start : start + mega].tolist(), key=lambda i: -lengths[i])
        batches += [chunk[i : i + mbs] for i in range(0, len(chunk), mbs)]
    return batches


def epoch_layouts(args: argparse.Namespace) -> None:
    from loradoc.train.model.attention import VARLEN
    from loradoc.train.packing.collator import PackedCollator, PaddedCollator
    from loradoc.train.packing.sampler import BinBatchSampler

    examples = _examples(args.examples, args.seed)
    lengths = np.array([e["length"] for e in examples])
    supervised = sum(sum(1 for x in e["labels"][1:] if x != -100) for e in examples)
    print(
        f"[3] one pass over {len(examples)} examples ({lengths.sum()} tokens, {supervised} supervised), "
        f"micro-batch {args.mbs}, LoRA fwd+bwd, no optimizer"
    )
    padded = PaddedCollator(0)
    packed = PackedCollator(0)
    random_order = np.random.default_rng(args.seed).permutation(len(examples)).tolist()
    layouts: dict[str, tuple[str, list[dict[str, Any]]]] = {
        "padded random": (
            "sdpa",
            [
                padded([examples[i] for i in random_order[s : s + args.mbs]])
                for s in range(0, len(examples), args.mbs)
            ],
        ),
        "padded grouped": (
            "sdpa",
            [padded([examples[i] for i in b]) for b in _grouped_order(lengths, args.mbs, args.seed)],
        ),
    }
    sampler = BinBatchSampler(lengths, sequence_len=args.seq_len, micro_batch_size=args.mbs, seed=args.seed)
    packed_batches = [packed([[examples[i] for i in b] for b in batch]) for batch in sampler]
    layouts["packed sdpa+mask"] = ("sdpa", packed_batches)
    layouts["packed varlen"] = (VARLEN, packed_batches)
    # The same bins, one row per forward (micro_batch_size 1, accumulation x mbs: same math).
    single = BinBatchSampler(lengths, sequence_len=args.seq_len, micro_batch_size=1, seed=args.seed)
    layouts["packed varlen 1row"] = (
        VARLEN,
        [packed([[examples[i] for i in b] for b in batch]) for batch in single],
    )
    models = {impl: tiny_lora_model(impl) for impl in ("sdpa", VARLEN)}

    def run(impl: str, batches: list[dict[str, Any]], supervised_logits: bool = False) -> None:
        model = models[impl]
        for batch in batches:
            if supervised_logits:
                _supervised_logits_loss(model, batch).backward()
            else:
                model(**batch, use_cache=False).loss.backward()
        model.zero_grad(set_to_none=True)

    fns: dict[str, Callable[[], object]] = {
        name: (lambda impl=impl, b=batches: run(impl, b)) for name, (impl, batches) in layouts.items()
    }
    name = "  + logits only where supervised"
    fns[name] = lambda: run(VARLEN, layouts["packed varlen 1row"][1], supervised_logits=True)
    layouts[name] = layouts["packed varlen 1row"]
    ms = interleaved(fns, args.epoch_repeat, warmup=0)
    base = ms["padded random"]
    for name, (_, batches) in layouts.items():
        slots = sum(int(b["input_ids"].numel()) for b in batches)
        print(
            f"    {name:33s} {ms[name] / 1e3:7.2f} s {len(batches):4d} fwd  "
            f"token eff {lengths.sum() / slots:6.1%}  supervised tok/s {supervised / ms[name] * 1e3:6.0f}  "
            f"vs naive {base / ms[name]:.2f}x  vs grouped {ms['padded grouped'] / ms[name]:.2f}x"
        )


def _supervised_logits_loss(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    """Loss with the LM head applied only where a label is supervised (same value and gradients)."""
    base = model.get_base_model()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    hidden = base.model(**inputs, use_cache=False).last_hidden_state
    labels = batch["labels"]
    targets = torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], -100)], dim=1)
    keep = targets != -100
    logits = base.lm_head(hidden[keep])
    return torch.nn.functional.cross_entropy(logits, targets[keep], reduction="sum") / keep.sum()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--examples", type=int, default=160)
    ap.add_argument("--mbs", type=int, default=4)
    ap.add_argument("--epoch-repeat", type=int, default=3)
    ap.add_argument("--eager", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from loradoc.train.model.attention import VARLEN, register_attention

    register_attention()
    print(f"torch threads={args.threads}")
    impls = ["sdpa", VARLEN] + (["eager"] if args.eager else [])
    attention_call(args, impls)
    if args.examples:
        epoch_layouts(args)


if __name__ == "__main__":
    main()
