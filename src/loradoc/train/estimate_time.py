"""How long a LoRA/QLoRA run takes, before any weight loads.

Tokens to train (after packing, times epochs; or ``max_steps`` worth of them) times the training
FLOPs per token for LoRA on a frozen base (:func:`flops_per_token`), divided by the device's rate:
a measured fp32 matmul rate on the CPU (:func:`cpu_flops`, measured once and cached in
``~/.cache/loradoc/cpu_flops.json``), a peak table times a utilisation on known GPUs. The answer
is a range, printed before training and recorded next to the actual time in ``summary.json``.

Light module: only :func:`measure_cpu_flops` imports torch, when called.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loradoc.config.schema import TrainConfig
from loradoc.train.estimate import (
    TRAINED_FRACTION,
    lora_params,
    model_shape,
    modules_to_save_params,
    run_facts,
)

# Utilisation of peak FLOPs reached by LoRA training on a GPU: Hugging Face + FA2 runs of 7-8B
# models report 30-50% MFU; not yet measured with loradoc (no GPU here). The CPU figure is
# measured with bench/memory_estimate.py (estimated / measured step time on the bench shapes).
GPU_UTILISATION = (0.3, 0.5)
CPU_UTILISATION = (0.2, 0.8)  # bench/memory_estimate.py: 0.17 (eager) to 0.78 (sdpa), load 4-8

# Dense bf16 tensor-core TFLOPS (fp16 where the GPU has no bf16), without 2:4 sparsity. Matched
# in order against the torch/NVML device name (most specific first). Sources: NVIDIA datasheets
# (H100/H200/A100/L40S/L4/A10/A6000/T4/V100) and the Ampere/Ada GeForce whitepapers (fp16 with
# fp32 accumulate) for the RTX cards.
GPU_PEAK_TFLOPS: tuple[tuple[str, float, str], ...] = (
    ("H200", 989.0, "NVIDIA H200 datasheet: 1,979 TFLOPS bf16 with sparsity"),
    ("H100 PCIe", 756.0, "NVIDIA H100 datasheet, PCIe: 1,513 with sparsity"),
    ("H100 NVL", 835.0, "NVIDIA H100 datasheet, NVL: 1,671 with sparsity"),
    ("H100", 989.0, "NVIDIA H100 datasheet, SXM: 1,979 with sparsity"),
    ("GH200", 989.0, "NVIDIA GH200 datasheet (H100 SXM compute)"),
    ("A100", 312.0, "NVIDIA A100 datasheet: 312 bf16 dense"),
    ("L40S", 362.0, "NVIDIA L40S datasheet: 733 with sparsity"),
    ("L40", 181.0, "NVIDIA L40 datasheet: 362 with sparsity"),
    ("L4", 121.0, "NVIDIA L4 datasheet: 242 with sparsity"),
    ("A10G", 70.0, "AWS G5 (A10G): 70 bf16 dense per GPU, Ampere GA102 at lower clocks"),
    ("A10", 125.0, "NVIDIA A10 datasheet: 250 with sparsity"),
    ("RTX 6000 Ada", 364.0, "NVIDIA RTX 6000 Ada datasheet: 728 with sparsity"),
    ("A6000", 155.0, "NVIDIA RTX A6000 datasheet: 309.7 with sparsity"),
    ("RTX 4090", 165.0, "Ada GeForce whitepaper: 165.2 fp16 (fp32 accumulate) dense"),
    ("RTX 3090", 71.0, "Ampere GA102 whitepaper: 71 fp16 (fp32 accumulate) dense"),
    ("T4", 65.0, "NVIDIA T4 datasheet: 65 fp16 mixed precision (no bf16)"),
    ("V100", 125.0, "NVIDIA V100 SXM2 datasheet: 125 fp16 tensor (no bf16)"),
)

_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "loradoc" / "cpu_flops.json"


@dataclass(frozen=True)
class TimeEstimate:
    tokens: int
    flops_per_token: float
    total_flops: float
    device_flops: float  # the device's rate before utilisation (FLOP/s, all processes)
    utilisation: tuple[float, float]
    seconds_low: float
    seconds_high: float
    basis: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def seconds(self) -> float:
        """The middle of the range (geometric mean)."""
        return math.sqrt(self.seconds_low * self.seconds_high)

    def line(self) -> str:
        return f"time    ~{_duration(self.seconds_low)} to {_duration(self.seconds_high)} ({self.basis})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "flops_per_token": round(self.flops_per_token),
            "total_flops": self.total_flops,
            "device_flops": self.device_flops,
            "utilisation": list(self.utilisation),
            "seconds_low": round(self.seconds_low, 1),
            "seconds_high": round(self.seconds_high, 1),
            "basis": self.basis,
            "notes": list(self.notes),
        }


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def flops_per_token(
    model_config: dict[str, Any], cfg: TrainConfig, *, attention_len: float | None = None
) -> float:
    """Training FLOPs per token for LoRA on a frozen base.

    Forward: 2 FLOPs per weight (a multiply-add) for every decoder linear, and for the LM head at
    trained positions only. Backward: 2 per frozen weight (the activations' gradient only; a frozen
    weight gets no gradient), 4 per trained weight (both). Attention: 2·layers·q_dim·len forward
    per token (QK^T and PV over a causal context of average len/2 each), twice that backward (no
    weights, only gradients of q, k, v): 6·layers·q_dim·len in all. Gradient checkpointing adds one
    more forward of the decoder layers.
    """
    shape = model_shape(model_config)
    run = run_facts(cfg, shape, "cuda", 1)
    linear = shape.layers * (
        shape.layer_linear_params - (shape.experts - 1) * 3 * shape.hidden * shape.intermediate
    )  # MoE: one expert's MLP runs per token (top-1; top-k scales it)
    lora = lora_params(shape, run)
    head = shape.vocab * shape.hidden * TRAINED_FRACTION
    mts, _ = modules_to_save_params(shape, run)
    length = attention_len if attention_len is not None else float(cfg.sequence_len)
    attn_fwd = 2 * shape.layers * shape.q_dim * length
    forward = 2 * linear + 2 * lora + 2 * head + attn_fwd
    backward = 2 * linear + 4 * lora + 2 * head + 2 * attn_fwd + 2 * min(mts, head)
    recompute = (2 * linear + 2 * lora + attn_fwd) if cfg.gradient_checkpointing else 0
    return float(forward + backward + recompute)


def gpu_peak_tflops(name: str) -> tuple[float, str] | None:
    """Dense bf16 (or fp16) peak TFLOPS of a GPU from its name, and the source; None if unknown."""
    upper = name.upper()
    for key, tflops, source in GPU_PEAK_TFLOPS:
        if key.upper() in upper:
            return tflops, source
    return None


def measure_cpu_flops(threads: int | None = None, *, size: int = 1024, seconds: float = 1.0) -> float:
    """fp32 matmul FLOP/s of this CPU with torch (imports torch; runs about ``seconds``)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)  # warm-up
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        best = max(best, 4 * 2 * size**3 / (time.perf_counter() - t0))
    return best


def cpu_flops(threads: int | None = None, *, cache: Path | None = None, measure: bool = True) -> float:
    """This CPU's fp32 matmul rate, measured once per thread count and cached."""
    path = cache or _CACHE
    key = f"{os.cpu_count()}cpu-{threads or 'default'}threads"
    data: dict[str, Any] = {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data.get(key), (int, float)) and data[key] > 0:
            return float(data[key])
    except (OSError, ValueError, AttributeError):
        data = {}
    if not measure:
        raise LookupError(f"no cached CPU rate in {path}")
    rate = measure_cpu_flops(threads)
    data = data if isinstance(data, dict) else {}
    data[key] = rate
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    except OSError:
        pass
    return rate


def estimate_time(
    model_config: dict[str, Any],
    cfg: TrainConfig,
    *,
    device: str,
    tokens: int | None = None,
    rows: int | None = None,
    gpu_name: str | None = None,
    world_size: int = 1,
    threads: int | None = None,
    attention_len: float | None = None,
    device_flops: float | None = None,
    epochs: float | None = None,
    measure: bool = True,
) -> TimeEstimate:
    """How long training ``tokens`` tokens takes (per epoch, times ``num_epochs``).

    ``tokens``: the real token count after packing when known; else ``sequence_len x rows``.
    ``device``: ``"cpu"`` (rate measured once and cached) or a GPU (``gpu_name`` picks the peak from
    :data:`GPU_PEAK_TFLOPS`); ``device_flops`` overrides the rate. ``attention_len``: the mean
    attended length per token (the mean example length with packing and varlen/flash attention);
    default ``sequence_len``, an upper bound. ``epochs``: how many passes over ``tokens``
    (default ``num_epochs``; a ``max_steps`` run passes max_steps / steps per epoch). ``measure``:
    whether the CPU's rate may be measured now (about 1 s, imports torch) when none is cached.
    """
    notes: list[str] = []
    if tokens is None:
        if rows is None:
            raise ValueError("estimate_time needs tokens (after packing) or rows")
        tokens = int(cfg.sequence_len) * rows
        notes.append(f"tokens = sequence_len x {rows} rows (an upper bound: rows are not all full)")
    epochs = float(cfg.num_epochs) if epochs is None else epochs
    per_token = flops_per_token(model_config, cfg, attention_len=attention_len)
    total = per_token * tokens * epochs
    world = max(1, world_size)
    if device_flops:
        rate, util, basis = (
            device_flops,
            CPU_UTILISATION if device == "cpu" else GPU_UTILISATION,
            "given rate",
        )
    elif device == "cpu":
        rate = cpu_flops(threads, measure=measure)
        util = CPU_UTILISATION
        basis = f"CPU fp32 matmul {rate / 1e9:.0f} GFLOP/s measured here, x{util[0]}-{util[1]} utilisation"
        hidden = model_config.get("hidden_size")
        if cfg.bf16 is True and isinstance(hidden, int):
            from loradoc.train.cpu_bf16 import cpu_bf16_speedup

            speedup = cpu_bf16_speedup(hidden, int(cfg.sequence_len), threads=threads, measure=measure)
            if speedup:
                rate *= speedup
                basis += f", x{speedup:.2f} for bf16 autocast (measured at hidden size {hidden})"
    else:
        peak = gpu_peak_tflops(gpu_name or device)
        if peak is None:
            raise LookupError(f"no peak TFLOPS known for {gpu_name or device!r}; pass device_flops")
        tflops, source = peak
        rate, util = tflops * 1e12 * world, GPU_UTILISATION
        basis = f"{world} x {tflops:.0f} TFLOPS peak ({source}) x{util[0]}-{util[1]} utilisation, not yet measured"
    seconds_low = total / (rate * util[1])
    seconds_high = total / (rate * util[0])
    return TimeEstimate(
        tokens=int(tokens * epochs),
        flops_per_token=per_token,
        total_flops=total,
        device_flops=rate,
        utilisation=util,
        seconds_low=seconds_low,
        seconds_high=seconds_high,
        basis=basis,
        notes=tuple(notes),
    )


def plan_time(
    model_config: dict[str, Any] | None,
    cfg: TrainConfig,
    *,
    device: str,
    gpu_name: str | None = None,
    tokens: int | None = None,
    attention_len: float | None = None,
    epochs: float | None = None,
    world_size: int = 1,
    threads: int | None = None,
    measure: bool = True,
) -> TimeEstimate | str:
    """:func:`estimate_time`, or one line saying why there is no estimate (the model's shape or
    the GPU's peak unknown, no cached CPU rate where measuring is not allowed)."""
    if model_config is None:
        return "not estimated (the model's config.json was not read)"
    if tokens is None:
        return "not estimated before the data is read (set max_steps, or training prints it before its first step)"
    try:
        return estimate_time(
            model_config,
            cfg,
            device=device,
            gpu_name=gpu_name,
            tokens=tokens,
            attention_len=attention_len,
            epochs=epochs,
            world_size=world_size,
            threads=threads,
            measure=measure,
        )
    except LookupError as exc:
        return f"not estimated ({str(exc).strip(chr(39))})"
    except ValueError as exc:  # a config.json without the decoder's shape
        return f"not estimated ({exc})"
