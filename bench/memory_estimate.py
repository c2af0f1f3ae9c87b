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

Measured: the peak RSS of that process (``VmHWM``, reset with ``/proc/self/clear_refs`` after
the imports) minus its RSS after the imports and before the model is built; and the median
wall time of the steps after the first. Printed next to ``estimate_memory`` (CPU, minus the
process baseline it adds) and ``estimate_time`` for the same shape.

    python bench/memory_estimate.py [--shapes a,b,...] [--steps 3] [--threads 2] [--json OUT]
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
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
        phases.append({"after_forward": fwd, "step_peak": _status("VmHWM") - baseline})
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


# -- parent ------------------------------------------------------------------------------
def _child(args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": args[-1]} if args else dict(os.environ)
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"child {args[:2]} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("--child-build", "--child-measure"):
        if sys.argv[1] == "--child-build":
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
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from loradoc.config.load import config_from_dict
    from loradoc.train.estimate import estimate_memory
    from loradoc.train.estimate_time import cpu_flops, estimate_time

    print("$ python " + " ".join(sys.argv))
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.threads} torch threads")
    flops = cpu_flops(threads=args.threads)
    print(f"CPU fp32 matmul rate {flops / 1e9:.1f} GFLOP/s ({args.threads} threads)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.shapes.split(","):
            model_cfg, keys = SHAPES[name]
            folder = str(Path(tmp) / name)
            _child(["--child-build", json.dumps(model_cfg), folder])
            got = _child(["--child-measure", folder, json.dumps(keys), str(args.steps), str(args.threads)])
            full_cfg = json.loads((Path(folder) / "config.json").read_text())
            cfg = config_from_dict(train_keys(folder, keys), echo=False)
            if not cfg.attn_implementation:
                cfg.attn_implementation = got["attention"]
            est = estimate_memory(full_cfg, cfg, device="cpu", gpu_memory_mib=None)
            est_delta = est.total_bytes - est.part("process baseline")
            tokens = int(cfg.sequence_len) * int(cfg.micro_batch_size)
            t = estimate_time(full_cfg, cfg, device="cpu", tokens=tokens, threads=args.threads)
            measured_t = statistics.median(got["step_seconds"][1:] or got["step_seconds"])
            row = {
                "shape": name,
                "params_m": got["params"] / 1e6,
                "attention": got["attention"],
                "measured_mib": got["peak_delta_bytes"] / MIB,
                "estimated_mib": est_delta / MIB,
                "error": est_delta / got["peak_delta_bytes"] - 1,
                "baseline_mib": got["baseline_bytes"] / MIB,
                "measured_step_s": measured_t,
                "estimated_step_s": t.seconds,
                "load": os.getloadavg()[0],
                "parts_mib": {p.name: round(p.bytes / MIB, 1) for p in est.parts},
            }
            rows.append(row)
            print(
                f"{name:26s} {row['params_m']:5.1f}M {row['attention']:15s} "
                f"measured {row['measured_mib']:7.0f} MiB  estimated {row['estimated_mib']:7.0f} MiB  "
                f"error {row['error']:+6.1%}  | step {measured_t:6.2f} s est {t.seconds:6.2f} s "
                f"(x{measured_t / t.seconds:.2f})  baseline {row['baseline_mib']:.0f} MiB  load {row['load']:.2f}",
                flush=True,
            )
    worst = max(abs(r["error"]) for r in rows)
    print(f"worst memory error {worst:.1%} (target 15%); load average {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
