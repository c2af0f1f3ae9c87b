"""bf16 on the CPU: used by ``bf16: auto`` only where it is measured to be faster.

A CPU with bf16 matmul instructions (Intel AMX, AVX-512 BF16 on Intel and AMD: the
snapshot's ``cpu_bf16``) runs bf16 matmuls about twice as fast as fp32, but autocast
adds casts around every op, so small models gain little or lose. So the answer is
measured, not assumed: two decoder-shaped blocks of the model's hidden size with LoRA on
every linear, run forward and backward (frozen base) on short packed examples at the
run's sequence length, in fp32 and under bf16 autocast, in interleaved pairs; the median
of five ratios must reach :data:`MIN_SPEEDUP`. The answer is cached per CPU, torch,
thread count and shape (measuring takes about a second). The loss stays within the
tolerance tests/train/test_cpu_bf16.py states.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from loradoc.fsutil import write_atomic

# The blocks flatter bf16 a little: hidden size 128 (the tiny example) measures 1.11-1.30 here and
# a real peft model of that size 1.18, while 256 measures 1.41-1.50 (AMD EPYC, 2 threads); the bar
# sits between them.
MIN_SPEEDUP = 1.25
_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "loradoc" / "cpu_bf16.json"


def _seq_bucket(seq: int) -> int:
    """Sequence lengths rounded up to a power of two from 128 (one measurement per bucket)."""
    n = 128
    while n < seq:
        n *= 2
    return min(n, 8192)


def measure_speedup(
    hidden: int, seq: int, *, rank: int = 16, threads: int | None = None, rounds: int = 5
) -> float:
    """fp32 time / bf16-autocast time of two decoder-shaped blocks with LoRA on every linear,
    forward and backward (frozen base, trainable adapters), four packed examples per row."""
    import torch
    import torch.nn.functional as F

    if threads:
        torch.set_num_threads(threads)
    heads = max(1, hidden // 64)
    gen = torch.Generator().manual_seed(0)

    def weight(rows: int, cols: int, grad: bool = False) -> torch.Tensor:
        return (torch.randn(rows, cols, generator=gen) / cols**0.5).requires_grad_(grad)

    def lora(rows: int, cols: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return weight(rows, cols), weight(rank, cols, True), weight(rows, rank, True)

    def linear(x: torch.Tensor, w: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        base, a, b = w
        return F.linear(x, base) + F.linear(F.linear(x, a), b)

    layers = [
        (lora(3 * hidden, hidden), lora(hidden, hidden), lora(6 * hidden, hidden), lora(hidden, 3 * hidden))
        for _ in range(2)
    ]
    x0 = torch.randn(1, seq, hidden, generator=gen)
    doc = min(seq, 96)  # packed examples are short: many small attention calls, as in a real packed row

    def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        parts = [
            F.scaled_dot_product_attention(
                q[:, :, i : i + doc], k[:, :, i : i + doc], v[:, :, i : i + doc], is_causal=True
            )
            for i in range(0, seq, doc)
        ]
        return torch.cat(parts, dim=2)

    def step() -> None:
        h = x0
        for qkv_w, o_w, up_w, down_w in layers:
            q, k, v = linear(F.rms_norm(h, (hidden,)), qkv_w).chunk(3, dim=-1)
            q, k, v = (t.reshape(1, seq, heads, -1).transpose(1, 2) for t in (q, k, v))
            a = attention(q, k, v).transpose(1, 2).reshape(1, seq, hidden)
            h = h + linear(a, o_w)
            gate, up = linear(F.rms_norm(h, (hidden,)), up_w).chunk(2, dim=-1)
            h = h + linear(F.silu(gate) * up, down_w)
        h.float().pow(2).mean().backward()

    def timed(bf16: bool) -> float:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            step()  # warm-up
            t0 = time.perf_counter()
            for _ in range(2):
                step()
        return time.perf_counter() - t0

    ratios = sorted(timed(False) / timed(True) for _ in range(rounds))  # interleaved pairs
    return ratios[len(ratios) // 2]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def cpu_bf16_speedup(
    hidden: int, seq: int, *, threads: int | None = None, cache: Path | None = None, measure: bool = True
) -> float | None:
    """The measured bf16 speedup for this shape (cached); None when not cached and ``measure`` is off."""
    import torch

    path = cache or _CACHE
    bucket = _seq_bucket(seq)
    key = f"{_cpu_name()} | torch {torch.__version__} | {threads or torch.get_num_threads()} threads | h{hidden} s{bucket}"
    data: dict[str, Any] = {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
        data = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        data = {}
    if isinstance(data.get(key), (int, float)):
        return float(data[key])
    if not measure:
        return None
    speedup = measure_speedup(hidden, bucket, threads=threads)
    data[key] = round(speedup, 3)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, indent=1))  # the workers of a launched run read it
    except OSError:
        pass
    return speedup


def cpu_bf16_choice(
    cpu_bf16: bool | None, hidden: int | None, seq: int, *, measure: bool
) -> tuple[bool, str]:
    """(bf16?, why) for ``bf16: auto`` on a CPU."""
    if not cpu_bf16:
        why = "training in fp32" + (" (no bf16 matmul instructions on this CPU)" if cpu_bf16 is False else "")
        return False, f"bf16: auto on no CUDA GPU: {why}"
    lead = "bf16: auto on a CPU with bf16 instructions"
    if not hidden:
        return False, f"{lead}: fp32 (the model's hidden size is unknown, so bf16's speed was not measured)"
    speedup = cpu_bf16_speedup(hidden, seq, measure=measure)
    if speedup is None:
        return (
            False,
            f"{lead}: fp32 (bf16's speed is measured on the machine that trains; set bf16: true to use it)",
        )
    if speedup >= MIN_SPEEDUP:
        return (
            True,
            f"{lead}: bf16 autocast, measured {speedup:.2f}x faster than fp32 at hidden size {hidden}",
        )
    return False, (
        f"{lead}: fp32, bf16 autocast measured only {speedup:.2f}x at hidden size {hidden} (bf16 needs >= {MIN_SPEEDUP}x)"
    )
