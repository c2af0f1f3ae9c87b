"""Training steps of each mode, interleaved step by step, and where their time goes.

A companion to ``train_throughput.py`` for a shared machine. It uses the same workload
(built on first use under ``--workdir``) and runs one whole epoch of every mode, taking
turns one optimizer step at a time (fwd + bwd + AdamW, no Trainer around it). A burst of
load from another job then hits every mode alike, and the per-mode totals give paired ratios.
``--breakdown`` adds one torch.profiler fwd+bwd per mode, split by operator class (self
CPU time): base linears, LoRA matmuls, lm_head, cross-entropy, attention, the varlen
gather/scatter, and the rest.

Modes:
- ``padded``: the naive baseline's batches (random order, 8 examples, attention_mask, sdpa);
- ``grouped``: the same, in transformers' ``LengthGroupedSampler`` order (group_by_length);
- ``packed``: loradoc's rows (``build_dataloader``) through ``load_model`` with
  ``loradoc_varlen`` attention;
- ``packed-sup``: the same rows, with lm_head and cross-entropy only where a label is
  supervised (transformers' boolean ``logits_to_keep`` plus ``shift_labels``). This is an
  experiment, not loradoc's code path; its first loss is checked against ``packed``'s.

    /work/venv/bin/python bench/profile_train_step.py --workdir DIR [--modes ...] [--breakdown]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput_modes import IGNORE, padded_dataset, padded_model  # noqa: E402
from throughput_workload import BenchSpec, build_workload, load_bench_config  # noqa: E402

MODES = ("padded", "grouped", "packed", "packed-sup")


def supervised_only(batch: dict[str, Any]) -> dict[str, Any]:
    """Add ``logits_to_keep`` (positions whose next label is supervised) and ``shift_labels``."""
    import torch

    labels = batch["labels"]
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:].ne(IGNORE)
    out = dict(batch)
    out["logits_to_keep"] = keep
    out["shift_labels"] = labels[:, 1:][keep[:, :-1]]
    return out


def epoch_batches(mode: str, cfg: Any, spec: BenchSpec, tokenizer: Any, data: Any) -> list[dict[str, Any]]:
    """Every batch of one epoch, in the order the mode's trainer would see them."""
    import torch
    from transformers import DataCollatorForSeq2Seq
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from loradoc.train.packing.dataloader import build_dataloader

    if mode in ("padded", "grouped"):
        rows = padded_dataset(data.train)
        gen = torch.Generator().manual_seed(spec.seed)
        if mode == "grouped":
            lengths = [int(x) for x in data.train["length"]]
            order = list(LengthGroupedSampler(spec.padded_mbs, lengths=lengths, generator=gen))
        else:
            order = torch.randperm(len(rows), generator=gen).tolist()
        collate = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE)
        mbs = spec.padded_mbs
        return [dict(collate([rows[j] for j in order[i : i + mbs]])) for i in range(0, len(order), mbs)]
    loader = build_dataloader(
        data.train,
        packing=True,
        sequence_len=int(cfg.sequence_len),
        micro_batch_size=spec.packed_mbs,
        pad_token_id=int(tokenizer.pad_token_id),
        seed=spec.seed,
        attention="loradoc_varlen",
        pad_to_sequence_len=True,
    )
    return [supervised_only(dict(b)) if mode == "packed-sup" else dict(b) for b in loader]


def category(name: str, shapes: list[Any], vocab: int, rank: int) -> str:
    low = name.lower()
    if "scaled_dot_product" in low or "attention" in low:
        return "attention (sdpa)"
    if any(k in low for k in ("log_softmax", "nll_loss", "cross_entropy")):
        return "cross-entropy"
    if any(k in low for k in ("index_select", "index_copy", "index_add")):
        return "varlen gather/scatter"
    if low in ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear"):
        dims = {d for s in shapes if isinstance(s, (list, tuple)) for d in s}
        if vocab in dims:
            return "lm_head"
        if rank in dims:
            return "LoRA matmuls"
        return "base linears"
    return "other (elementwise, norms, rope, copies)"


class Runner:
    """One mode: its model, optimizer and epoch of batches; steps on demand."""

    def __init__(self, mode: str, workdir: Path) -> None:
        import torch
        from transformers import set_seed

        from loradoc.train.data.prepare import prepare_data
        from loradoc.train.model.load import load_model, load_tokenizer

        self.mode = mode
        self.spec = BenchSpec(**json.loads((workdir / "spec.json").read_text())["spec"])
        cfg = load_bench_config(workdir / "config.yml")
        tokenizer = load_tokenizer(cfg, say=lambda s: None)
        data = prepare_data(cfg, tokenizer, say=lambda s: None)
        self.pad_id = int(tokenizer.pad_token_id)
        if mode in ("padded", "grouped"):
            self.model = padded_model(cfg, self.spec.seed)
        else:
            set_seed(self.spec.seed)
            self.model = load_model(
                cfg, tokenizer, attention="loradoc_varlen", precision="fp32", packing=True, say=lambda s: None
            )
        self.model.train()
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=self.spec.learning_rate)
        self.batches = epoch_batches(mode, cfg, self.spec, tokenizer, data)
        self.seconds = 0.0
        self.real = self.supervised = 0
        self.first_loss: float | None = None

    def items(self, batch: dict[str, Any]) -> int:
        return int(batch["labels"][:, 1:].ne(IGNORE).sum())

    def warmup(self) -> None:
        """fwd+bwd of the first batch, no optimizer step (so the timed epoch starts from the same weights)."""
        batch = self.batches[0]
        loss = self.model(**batch, num_items_in_batch=self.items(batch)).loss
        self.first_loss = float(loss.detach())
        loss.backward()
        self.opt.zero_grad(set_to_none=True)

    def step(self, i: int) -> None:
        batch = self.batches[i]
        n = self.items(batch)
        t0 = time.perf_counter()
        self.model(**batch, num_items_in_batch=n).loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.seconds += time.perf_counter() - t0
        self.real += int(batch["input_ids"].ne(self.pad_id).sum())
        self.supervised += n

    def breakdown(self) -> dict[str, float]:
        from torch.profiler import ProfilerActivity, profile

        batch = self.batches[len(self.batches) // 2]
        cats: dict[str, float] = defaultdict(float)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            self.model(**batch, num_items_in_batch=self.items(batch)).loss.backward()
        self.opt.zero_grad(set_to_none=True)
        for evt in prof.key_averages(group_by_input_shape=True):
            cats[category(evt.key, evt.input_shapes, self.spec.vocab, self.spec.lora_r)] += (
                evt.self_cpu_time_total / 1e3
            )
        return dict(sorted(cats.items(), key=lambda kv: -kv[1]))


def main() -> int:
    import os

    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--steps", type=int, default=None, help="per mode, spread over the epoch (default: all)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the spec's, 2)")
    p.add_argument(
        "--packed-mbs", type=int, default=None, help="packed rows per step (default: the spec's, 1)"
    )
    p.add_argument("--breakdown", action="store_true", help="add a torch.profiler split of one step per mode")
    args = p.parse_args()
    workdir = args.workdir.resolve()
    spec = BenchSpec()
    build_workload(workdir, replace(spec, packed_mbs=args.packed_mbs or spec.packed_mbs))
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"load average at start: {[round(x, 2) for x in os.getloadavg()]}")
    runners = [Runner(m, workdir) for m in args.modes.split(",")]
    torch.set_num_threads(args.threads or runners[0].spec.threads)
    if args.steps:
        for r in runners:
            n = min(args.steps, len(r.batches))
            r.batches = [r.batches[round(i * (len(r.batches) - 1) / max(n - 1, 1))] for i in range(n)]
    for r in runners:
        r.warmup()
    longest = max(len(r.batches) for r in runners)
    for i in range(longest):
        order = runners if i % 2 == 0 else runners[::-1]
        for r in order:
            if i < len(r.batches):
                r.step(i)
    print(f"load average at end: {[round(x, 2) for x in os.getloadavg()]}")
    base = {r.mode: r for r in runners}
    for r in runners:
        line = (
            f"{r.mode:<11} {len(r.batches):>3} steps {r.seconds:7.1f} s  {r.real / r.seconds:8,.0f} in tok/s "
            f"{r.supervised / r.seconds:8,.0f} sup tok/s  first loss {r.first_loss:.6f}"
        )
        for other in ("padded", "grouped"):
            if other in base and other != r.mode:
                line += f"  x{(r.supervised / r.seconds) / (base[other].supervised / base[other].seconds):.2f} vs {other}"
        print(line)
    if args.breakdown:
        for r in runners:
            cats = r.breakdown()
            whole = sum(cats.values())
            print(
                f"{r.mode}: one fwd+bwd, self CPU ms: "
                + "; ".join(f"{k} {v:.0f} ({v / whole:.0%})" for k, v in cats.items())
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
