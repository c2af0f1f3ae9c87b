"""Memory and step-time estimate (``loradoc.train.estimate``) against real CPU training steps.

For each shape, a tiny random-weight Llama (fp32, 20-60M parameters, built from a
``LlamaConfig`` and saved to a temporary folder) is trained for a few optimizer steps in a
fresh process, through loradoc's own model path: ``load_model`` with a ``TrainConfig`` from
``config_from_dict`` (LoRA on every linear, the attention loradoc would choose), rows from
loradoc's collators (``PackedCollator`` with 8 examples per row when packing,
``PaddedCollator`` otherwise), ``keep_supervised_positions`` (the LM head only where a label
is trained: the second half of every example, i.e. 50% of the positions), and a plain
torch AdamW step, which is what ``LoradocTrainer.training_step`` does without the Trainer
around it.

As in the Trainer (``training_step`` returns ``loss.detach()``), no step's autograd graph
outlives its backward: holding the previous loss across the next forward keeps its graph's small
allocations scattered through glibc's heap and raised the eager shape's peak by ~430 MiB.

Measured: the peak RSS of that process (``VmHWM``, reset with ``/proc/self/clear_refs`` after
the imports) minus its RSS after the imports and before the model is built; and the median
wall time of the steps after the first. With ``--repeats N`` every shape is trained in N fresh
processes and the median peak is compared. Printed next to ``estimate_memory`` (CPU, minus the
process baseline it adds) and ``estimate_time`` for the same shape, with glibc's heap after
each step (``mallinfo2``: bytes in the heap, bytes of it in use, bytes mmapped), so the heap
retention the estimate counts can be read off.

``--no-heap-retention`` runs the children with ``MALLOC_MMAP_THRESHOLD_=131072`` (every block
of 128 KiB or more is mmapped and returned when freed): a diagnostic that removes glibc's
retention, compared with the estimate less its ``heap retention`` part, i.e. the counted
tensors alone.

    python bench/memory_estimate.py [--shapes a,b,...] [--steps 3] [--threads 2] [--repeats 1]
                                    [--no-heap-retention] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MIB = 1 << 20

# name: (model config, train config keys)
SHAPES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "h512-l8-s512-mb2": (
        {
            "hidden_size": 512,
            "num_hidden_layers": 8,
            "num_attention_heads": 8,
            "num_key_value_heads": 4,
            "intermediate_size": 1408,
            "vocab_size": 32000,
        },
        {
            "sequence_len": 512,
            "micro_batch_size": 2,
            "gradient_checkpointing": False,
            "sample_packing": False,
        },
    ),
    "h512-l8-s512-mb2-gc": (
        {
            "hidden_size": 512,
            "num_hidden_layers": 8,
            "num_attention_heads": 8,
            "num_key_value_heads": 4,
            "intermediate_size": 1408,
            "vocab_size": 32000,
        },
        {
            "sequence_len": 512,
            "micro_batch_size": 2,
            "gradient_checkpointing": True,
            "sample_packing": False,
        },
    ),
    "h768-l6-s1024-packed": (
        {
            "hidden_size": 768,
            "num_hidden_layers": 6,
            "num_attention_heads": 12,
            "num_key_value_heads": 4,
            "intermediate_size": 2048,
            "vocab_size": 16000,
        },
        {
            "sequence_len": 1024,
            "micro_batch_size": 1,
            "gradient_checkpointing": False,
            "sample_packing": True,
        },
    ),
    "h768-l6-s1024-packed-gc": (
        {
            "hidden_size": 768,
            "num_hidden_layers": 6,
            "num_attention_heads": 12,
            "num_key_value_heads": 4,
            "intermediate_size": 2048,
            "vocab_size": 16000,
        },
        {"sequence_len": 1024, "micro_batch_size": 1, "gradient_checkpointing": True, "sample_packing": True},
    ),
    "h384-l12-s256-mb4-eager": (
        {
            "hidden_size": 384,
            "num_hidden_layers": 12,
            "num_attention_heads": 6,
            "num_key_value_heads": 2,
            "intermediate_size": 1024,
            "vocab_size": 32000,
        },
        {
            "sequence_len": 256,
            "micro_batch_size": 4,
            "gradient_checkpointing": False,
            "sample_packing": False,
            "attn_implementation": "eager",
        },
    ),
    # held out: added after CPU_HEAP_RETAINED / CPU_RUNTIME_BYTES were measured on the shapes above.
    # MLP tensors of 1024 x 8448 x 4 = 33 MiB, above glibc's 32 MiB mmap ceiling (not kept).
    "h512-l3-i8448-s1024-gc": (
        {
            "hidden_size": 512,
            "num_hidden_layers": 3,
            "num_attention_heads": 8,
            "num_key_value_heads": 4,
            "intermediate_size": 8448,
            "vocab_size": 8000,
        },
        {
            "sequence_len": 1024,
            "micro_batch_size": 1,
            "gradient_checkpointing": True,
            "sample_packing": False,
        },
    ),
    # long rows, narrow layers: 2048 tokens, logits of 1024 x 32000 x 4 = 125 MiB (mmapped)
    "h256-l8-s2048": (
        {
            "hidden_size": 256,
            "num_hidden_layers": 8,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "intermediate_size": 704,
            "vocab_size": 32000,
        },
        {
            "sequence_len": 2048,
            "micro_batch_size": 1,
            "gradient_checkpointing": False,
            "sample_packing": False,
        },
    ),
    # eager scores under checkpointing: 2 x 6 x 512^2 x 4 = 12 MiB per layer, recomputed in backward
    "h384-l6-s512-mb2-eager-gc": (
        {
            "hidden_size": 384,
            "num_hidden_layers": 6,
            "num_attention_heads": 6,
            "num_key_value_heads": 2,
            "intermediate_size": 1024,
            "vocab_size": 16000,
        },
        {
            "sequence_len": 512,
            "micro_batch_size": 2,
            "gradient_checkpointing": True,
            "sample_packing": False,
            "attn_implementation": "eager",
        },
    ),
    # small and quick, for tests/train/test_estimate.py (not in the default list)
    "small-gc": (
        {
            "hidden_size": 384,
            "num_hidden_layers": 4,
            "num_attention_heads": 6,
            "num_key_value_heads": 2,
            "intermediate_size": 1024,
            "vocab_size": 32000,
        },
        {"sequence_len": 512, "micro_batch_size": 1, "gradient_checkpointing": True, "sample_packing": True},
    ),
}
DEFAULT_SHAPES = [name for name in SHAPES if name != "small-gc"]
EXAMPLES_PER_PACKED_ROW = 8


def train_keys(model_dir: str, keys: dict[str, Any]) -> dict[str, Any]:
    return {
        "base_model": model_dir,
        "adapter": "lora",
        "datasets": [{"path": "data.jsonl", "type": "alpaca"}],
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_target_linear": True,
        "bf16": False,
        "optimizer": "adamw_torch",
        **keys,
    }


def _heap() -> dict[str, int]:
    """glibc's ``mallinfo2`` (every arena): heap bytes, in use, mmapped; {} off glibc."""
    import ctypes

    class _Info(ctypes.Structure):
        _fields_ = [
            (n, ctypes.c_size_t)
            for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks")
            + ("fordblks", "keepcost")
        ]

    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = _Info
    info = fn()
    return {"heap": int(info.arena), "in_use": int(info.uordblks), "mmapped": int(info.hblkhd)}


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


# -- child: build ------------------------------------------------------------------------
def build(model_cfg: dict[str, Any], out: str) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(max_position_embeddings=4096, tie_word_embeddings=False, **model_cfg)
    LlamaForCausalLM(config).save_pretrained(out)


# -- child: measure ----------------------------------------------------------------------
class _Tok:
    """What load_model reads from a tokenizer: its length and pad id."""

    def __init__(self, n: int) -> None:
        self.n, self.pad_token_id = n, 0

    def __len__(self) -> int:
        return self.n


def measure(model_dir: str, keys: dict[str, Any], steps: int, threads: int) -> dict[str, Any]:
    import torch

    from loradoc.config.load import config_from_dict
    from loradoc.train.model.load import load_model
    from loradoc.train.model.supervised_logits import keep_supervised_positions, supports_supervised_logits
    from loradoc.train.packing.collator import PackedCollator, PaddedCollator

    torch.set_num_threads(threads)
    import peft  # noqa: F401  (imported before the baseline, as in a run)
    import transformers  # noqa: F401

    # warm the compute libraries (oneDNN/BLAS buffers, OpenMP threads) before the baseline: a
    # process that has run any step has them, and they do not grow with the model.
    w = torch.randn(256, 256, requires_grad=True)
    (w @ w).sum().backward()
    baseline = _status("VmRSS")
    heap0 = _heap()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS

    cfg = config_from_dict(train_keys(model_dir, keys), echo=False)
    attention = cfg.attn_implementation or ("loradoc_varlen" if cfg.sample_packing else "sdpa")
    vocab = json.loads((Path(model_dir) / "config.json").read_text())["vocab_size"]
    model = load_model(
        cfg,
        _Tok(vocab),
        attention=attention,
        precision="fp32",
        packing=cfg.sample_packing,
        say=lambda _: None,
    )
    model.train()
    after_load = _status("VmRSS") - baseline
    load_peak = _status("VmHWM") - baseline
    Path("/proc/self/clear_refs").write_text("5")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    supervised = supports_supervised_logits(model)
    gen = torch.Generator().manual_seed(1)
    seq, mbs = int(cfg.sequence_len), int(cfg.micro_batch_size)

    def example(n: int) -> dict[str, Any]:
        ids = torch.randint(1, vocab, (n,), generator=gen).tolist()
        half = n // 2  # prompt: the first half is not trained (50% of positions supervised)
        return {"input_ids": ids, "labels": [-100] * half + ids[half:]}

    def batch() -> dict[str, Any]:
        if cfg.sample_packing:
            each = seq // EXAMPLES_PER_PACKED_ROW
            bins = [[example(each) for _ in range(EXAMPLES_PER_PACKED_ROW)] for _ in range(mbs)]
            out = PackedCollator(pad_token_id=0, pad_to=seq)(bins)
        else:
            out = PaddedCollator(pad_token_id=0)([example(seq) for _ in range(mbs)])
        out = dict(out)
        if supervised:
            keep_supervised_positions(out)
        return out

    times, phases = [], []
    for _ in range(steps):
        inputs = batch()
        t0 = time.perf_counter()
        loss = model(**inputs).loss
        fwd = _status("VmRSS") - baseline
        loss.backward()
        loss = loss.detach()  # what Trainer.training_step returns: the graph goes with the backward
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
        heap = _heap()
        phases.append(
            {
                "after_forward": fwd,
                "step_peak": _status("VmHWM") - baseline,
                # glibc's heap at the end of the step, over the baseline: grown, in use, free (kept)
                **{f"{k}_delta": v - heap0.get(k, 0) for k, v in heap.items()},
            }
        )
        del loss, inputs
    return {
        "baseline_bytes": baseline,
        "peak_delta_bytes": max(load_peak, max(p["step_peak"] for p in phases)),
        "after_load_bytes": after_load,
        "load_peak_bytes": load_peak,
        "phases": phases,
        "step_seconds": times,
        "attention": attention,
        "supervised_logits": supervised,
        "params": sum(p.numel() for p in model.parameters()),
    }


# -- child: glibc check ------------------------------------------------------------------
def memalign_reuse() -> dict[str, Any]:
    """Does a freed 5.5 MiB heap block get reused by the next request of its size?

    torch's CPU tensors come from posix_memalign(64) (c10/core/alignment.h). glibc 2.36's
    _int_memalign asks for size + alignment + MINSIZE, so the hole of a freed aligned block is too
    small for the next block of the same size: the heap retention ``estimate.py`` counts. A small
    block allocated after the first one keeps the hole from merging with the top of the heap, as
    the step's small objects do. Run in its own process (it sets M_MMAP_THRESHOLD).
    """
    import ctypes
    import platform

    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.posix_memalign.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_size_t]
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt(-3, 32 * MIB)  # M_MMAP_THRESHOLD: keep 5.5 MiB in the heap, as after a first step
    size = 5767168  # 5.5 MiB: 1024 tokens x 1408 x fp32, an MLP tensor of h512-l8-s512-mb2

    def reused(aligned: bool) -> bool:
        def get() -> int | None:
            if aligned:
                ptr = ctypes.c_void_p()
                libc.posix_memalign(ctypes.byref(ptr), 64, size)
                return ptr.value
            return libc.malloc(size)

        first = get()
        pin = libc.malloc(100)
        libc.free(first)
        second = get()
        libc.free(second)
        libc.free(pin)
        return first == second

    return {"libc": " ".join(platform.libc_ver()), "malloc": reused(False), "posix_memalign": reused(True)}


# -- parent ------------------------------------------------------------------------------
def _child(args: list[str], env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if args[0] == "--child-measure":
        env["OMP_NUM_THREADS"] = args[-1]
    env.update(env_extra or {})
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"child {args[:2]} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("--child-build", "--child-measure", "--child-memalign"):
        if sys.argv[1] == "--child-memalign":
            print(json.dumps(memalign_reuse()))
        elif sys.argv[1] == "--child-build":
            build(json.loads(sys.argv[2]), sys.argv[3])
            print("{}")
        else:
            res = measure(sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
            print(json.dumps(res))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default=",".join(DEFAULT_SHAPES))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="fresh processes per shape; the median peak")
    ap.add_argument(
        "--no-heap-retention",
        action="store_true",
        help="diagnostic: MALLOC_MMAP_THRESHOLD_=131072 in the children, compared without the heap retention",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    child_env = {"MALLOC_MMAP_THRESHOLD_": "131072"} if args.no_heap_retention else {}

    from loradoc.config.load import config_from_dict
    from loradoc.train.estimate import estimate_memory
    from loradoc.train.estimate_time import cpu_flops, estimate_time

    print("$ python " + " ".join(sys.argv))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.threads} torch threads")
    if args.no_heap_retention:
        print(
            "children run with MALLOC_MMAP_THRESHOLD_=131072: compared without the estimate's heap retention"
        )
    check = _child(["--child-memalign"])
    print(
        f"{check['libc']}: a freed 5.5 MiB heap block is reused by the next one of its size: "
        f"malloc {'yes' if check['malloc'] else 'no'}, posix_memalign(64) (torch's CPU tensors) "
        f"{'yes' if check['posix_memalign'] else 'no'}"
    )
    flops = cpu_flops(threads=args.threads)
    print(f"CPU fp32 matmul rate {flops / 1e9:.1f} GFLOP/s ({args.threads} threads)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.shapes.split(","):
            model_cfg, keys = SHAPES[name]
            folder = str(Path(tmp) / name)
            _child(["--child-build", json.dumps(model_cfg), folder])
            runs = [
                _child(
                    ["--child-measure", folder, json.dumps(keys), str(args.steps), str(args.threads)],
                    child_env,
                )
                for _ in range(max(1, args.repeats))
            ]
            peaks = sorted(r["peak_delta_bytes"] for r in runs)
            got = min(runs, key=lambda r: abs(r["peak_delta_bytes"] - statistics.median(peaks)))
            full_cfg = json.loads((Path(folder) / "config.json").read_text())
            cfg = config_from_dict(train_keys(folder, keys), echo=False)
            if not cfg.attn_implementation:
                cfg.attn_implementation = got["attention"]
            est = estimate_memory(full_cfg, cfg, device="cpu", gpu_memory_mib=None)
            est_delta = est.total_bytes - est.part("process baseline")
            if args.no_heap_retention:
                est_delta -= est.part("heap retention")
            measured = statistics.median(peaks)
            last = got["phases"][-1]
            tokens = int(cfg.sequence_len) * int(cfg.micro_batch_size)
            t = estimate_time(full_cfg, cfg, device="cpu", tokens=tokens, threads=args.threads)
            measured_t = statistics.median(got["step_seconds"][1:] or got["step_seconds"])
            row = {
                "shape": name,
                "params_m": got["params"] / 1e6,
                "attention": got["attention"],
                "measured_mib": measured / MIB,
                "measured_runs_mib": [round(p / MIB, 1) for p in peaks],
                "estimated_mib": est_delta / MIB,
                "error": est_delta / measured - 1,
                # glibc's heap after the last step, over the baseline: how far it grew, and how much of
                # it is free memory kept (the step's tensors are gone by then: the heap's footprint)
                "heap_grown_mib": last.get("heap_delta", 0) / MIB,
                "heap_free_kept_mib": (last.get("heap_delta", 0) - last.get("in_use_delta", 0)) / MIB,
                "baseline_mib": got["baseline_bytes"] / MIB,
                "measured_step_s": measured_t,
                "estimated_step_s": t.seconds,
                "load": os.getloadavg()[0],
                "parts_mib": {p.name: round(p.bytes / MIB, 1) for p in est.parts},
            }
            rows.append(row)
            spread = f" ({peaks[0] / MIB:.0f}-{peaks[-1] / MIB:.0f})" if len(peaks) > 1 else ""
            print(
                f"{name:26s} {row['params_m']:5.1f}M {row['attention']:15s} "
                f"measured {row['measured_mib']:7.0f} MiB{spread}  "
                f"estimated {row['estimated_mib']:7.0f} MiB  error {row['error']:+6.1%}  "
                f"| malloc heap +{row['heap_grown_mib']:4.0f} MiB, {row['heap_free_kept_mib']:4.0f} free after "
                f"the step  | step {measured_t:6.2f} s est {t.seconds:6.2f} s "
                f"(x{measured_t / t.seconds:.2f})  baseline {row['baseline_mib']:.0f} MiB  load {row['load']:.2f}",
                flush=True,
            )
    worst = max(abs(r["error"]) for r in rows)
    print(f"worst memory error {worst:.1%} (target 15%); load average {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
