"""flash-attn: its wheel must match torch's major.minor, C++ ABI and CUDA major, and the GPU
must be Ampere or newer."""

from __future__ import annotations

import re

from loradoc.compat.versions import cuda_tuple, python_mm, series
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import FALLBACK, gpu_labels
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.fixes import flash_attn_fix
from loradoc.doctor.rules.registry import error, info, rule, warning

_WHEEL = re.compile(
    r"flash_attn-(?P<version>[^+\-]+)\+cu(?P<cuda>\d+)torch(?P<torch>\d+\.\d+)"
    r"cxx11abi(?P<abi>TRUE|FALSE)-cp(?P<py>\d+)"
)


def parse_wheel_name(name: str | None) -> dict[str, str] | None:
    """``flash_attn-2.8.3+cu12torch2.6cxx11abiFALSE-cp311-...`` -> its parts, or None."""
    m = _WHEEL.search(name or "")
    return m.groupdict() if m else None


def requested(ctx: Context) -> bool:
    return (ctx.attention or "").startswith("flash_attention")


@rule("flash-attn-gpu-too-old", "flash-attn-missing")
def flash_attn_gpu(ctx: Context) -> list[Finding]:
    m, p = ctx.matrix, ctx.pkg("flash-attn")
    wanted = requested(ctx)
    floor = m.flash_attn.min_cc
    old = [g for g in ctx.gpus if g.cc and m.flash_attn_supports_cc(g.cc) is False]
    if not wanted and p is None:
        if not old or ctx.config is not None or ctx.installed("flash-attn") is False:
            return []
        # no training config and flash-attn not known to be absent: say what the GPU cannot run
        return [
            info(
                "flash-attn-gpu-too-old",
                f"FlashAttention-2 needs compute capability >= {floor} (Ampere or newer), so {gpu_labels(old)} "
                "cannot run it: a config or model asking for flash_attention_2 fails there ('FlashAttention "
                "only supports Ampere GPUs or newer.'); sdpa or xformers attention run on it",
                "set attn_implementation: sdpa in the training config",
            )
        ]
    out: list[Finding] = []
    if old:
        make = warning  # loradoc train falls back to per-example attention; the doctor says so
        fix = ctx.attention_fix("sdpa") if wanted else "set attn_implementation: sdpa in the training config"
        out.append(
            make(
                "flash-attn-gpu-too-old",
                f"flash-attn needs compute capability >= {floor} (Ampere or newer) but this machine has "
                f"{gpu_labels(old)}: 'FlashAttention only supports Ampere GPUs or newer.'"
                + (FALLBACK if wanted else ""),
                fix,
            )
        )
    elif wanted and ctx.has_nvidia_gpu is False:
        out.append(
            warning(
                "flash-attn-gpu-too-old",
                "the training config asks for flash attention but this machine has no NVIDIA GPU" + FALLBACK,
                ctx.attention_fix("sdpa") + " (sdpa works on the CPU)",
            )
        )
    # flash_attention_3 comes from another package (flash-attn-3): flash_attn_3() below
    if (
        ctx.attention == "flash_attention_2"
        and p is None
        and ctx.installed("flash-attn") is False
        and not out
    ):
        out.append(
            warning(
                "flash-attn-missing",
                "the training config asks for flash attention but flash-attn is not installed" + FALLBACK,
                flash_attn_fix(ctx),
            )
        )
    return out


@rule("flash-attn-abi-or-torch-mismatch")
def flash_attn_build(ctx: Context) -> list[Finding]:
    p, t = ctx.pkg("flash-attn"), ctx.torch
    if p is None or t is None or t.variant in (None, "cpu"):
        return []
    parts = parse_wheel_name(p.wheel) or {}
    built_torch = parts.get("torch") or series(p.built_for_torch)
    abi = {"TRUE": True, "FALSE": False}.get(parts.get("abi", ""), p.cxx11_abi)
    cuda_major = None
    if parts.get("cuda"):
        cuda_major = int(parts["cuda"][:2])
    elif cuda_tuple(p.cuda):
        cuda_major = cuda_tuple(p.cuda)[0]  # type: ignore[index]
    py = parts.get("py") or (python_mm(p.built_for_python) or "").replace(".", "")
    problems: list[str] = []
    if built_torch and built_torch != series(t.public):
        problems.append(f"it was built for torch {built_torch}")
    if abi is not None and t.cxx11_abi is not None and abi != t.cxx11_abi:
        problems.append(
            f"it was built with cxx11abi{'TRUE' if abi else 'FALSE'} but torch uses "
            f"cxx11abi{'TRUE' if t.cxx11_abi else 'FALSE'} (undefined symbol _ZN3c105Error...)"
        )
    torch_major = (cuda_tuple(t.cuda) or (None,))[0]
    if cuda_major is not None and torch_major is not None and cuda_major != torch_major:
        problems.append(f"it was built for CUDA {cuda_major} but torch uses CUDA {t.cuda}")
    if py and ctx.python_mm and py != ctx.python_mm.replace(".", ""):
        problems.append(f"it was built for cp{py}, not Python {ctx.python_mm}")
    if not problems:
        return []
    return [
        error(
            "flash-attn-abi-or-torch-mismatch",
            f"flash-attn {p.version or '(version unknown)'} does not fit torch {t.label}: {'; '.join(problems)}",
            flash_attn_fix(ctx),
            wheel=p.wheel,
        )
    ]


_FA3_FALLBACK = "; loradoc train uses flash-attn 2 where it is installed, else loradoc_varlen (same results)"


@rule("flash-attn-3-unsupported", "flash-attn-3-missing")
def flash_attn_3(ctx: Context) -> list[Finding]:
    """FlashAttention-3 (the flash-attn-3 package) asked for or installed: it runs on Hopper only,
    from torch's stable ABI on; when asked for and missing, the command that installs it."""
    m, p, t = ctx.matrix, ctx.pkg("flash-attn-3"), ctx.torch
    wanted = ctx.attention == "flash_attention_3"
    if m.flash_attn_3 is None or not (wanted or p is not None) or ctx.has_nvidia_gpu is False:
        return []
    off = [g for g in ctx.gpus if m.flash_attn_3_runs_on(g.cc) is False]
    if off:
        archs = ", ".join("sm_" + cc.replace(".", "") for cc in m.flash_attn_3.ccs)
        fa2 = all(m.flash_attn_supports_cc(g.cc) for g in ctx.gpus)
        fix = (
            ctx.attention_fix("flash_attention_2" if fa2 else "sdpa")
            if wanted
            else "pip uninstall -y flash-attn-3"
        )
        return [
            warning(
                "flash-attn-3-unsupported",
                f"FlashAttention-3's kernels are built for Hopper ({archs}) and this machine has "
                f"{gpu_labels(off)}: they fail at the first launch ('no kernel image is available')"
                + (_FA3_FALLBACK if wanted else ""),
                fix,
            )
        ]
    misfit = m.flash_attn_3_misfit(
        t.public if t else None,
        t.variant if t else None,
        ctx.snapshot.python,
        ctx.machine,
        [(g.name, g.cc) for g in ctx.gpus],
    )
    if wanted and p is None and ctx.installed("flash-attn-3") is False:
        fix = (
            m.flash_attn_3_command(t.variant)
            if misfit is None and t and t.variant
            else ctx.attention_fix("flash_attention_2")
        )
        why = "" if misfit is None else f" ({misfit})"
        return [
            warning(
                "flash-attn-3-missing",
                "the training config asks for flash_attention_3 but flash-attn-3 is not installed"
                + why
                + _FA3_FALLBACK,
                fix,
            )
        ]
    return []
