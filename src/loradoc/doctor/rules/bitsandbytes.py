"""bitsandbytes: a CUDA GPU to run on, the package itself, a native library for torch's CUDA,
and a GPU new enough for the quantisation asked.

What needs bitsandbytes comes from the training config: ``load_in_8bit``/``load_in_4bit``
(``adapter: qlora``) and the 8-bit/paged optimizers. Without a GPU to train on, that is the one
finding (``config-*-needs-cuda``): installing bitsandbytes cannot help there.
"""

from __future__ import annotations

from loradoc.compat.versions import cc_at_least, cuda_tuple, parse_version
from loradoc.doctor.findings import Finding, Severity
from loradoc.doctor.rules.common import gpu_labels, join
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.fixes import bnb_fix
from loradoc.doctor.rules.registry import error, rule, warning


def _quantised(ctx: Context) -> str | None:
    """'8bit' / '4bit' when the config loads the model through bitsandbytes."""
    if ctx.cfg_flag("load_in_8bit") is True:
        return "8bit"
    if ctx.cfg_flag("load_in_4bit") is True or str(ctx.cfg("adapter") or "").lower() == "qlora":
        return "4bit"
    return None


def _bnb_optimizer(ctx: Context) -> str | None:
    """The config's optimizer when bitsandbytes implements it (adamw_bnb_8bit, paged_adamw_8bit, ...)."""
    name = ctx.cfg("optimizer")
    if not isinstance(name, str) or ctx.config is None:
        return None
    from loradoc.config.vocab import BNB_OPTIMIZERS  # the training config's own list

    return name if name in BNB_OPTIMIZERS else None


def _needs(ctx: Context) -> str | None:
    """What in the config needs bitsandbytes, in words: '4bit', 'optimizer paged_adamw_8bit'."""
    quant = _quantised(ctx)
    if quant:
        return quant
    optimizer = _bnb_optimizer(ctx)
    return f"optimizer {optimizer}" if optimizer else None


@rule("config-quantization-needs-cuda", "config-optimizer-needs-cuda")
def bnb_needs_gpu(ctx: Context) -> list[Finding]:
    """bitsandbytes runs on a CUDA GPU: an error on a machine without one (a CPU build of torch
    counts as none), a warning when the snapshot does not say."""
    if ctx.gpu_training is True:
        return []
    severity = Severity.ERROR if ctx.gpu_training is False else Severity.WARNING
    out: list[Finding] = []
    quant = _quantised(ctx)
    if quant:
        key = f"load_in_{quant}"
        out.append(
            Finding(
                "config-quantization-needs-cuda",
                severity,
                f"{key} needs a CUDA GPU with bitsandbytes; run on a GPU machine or remove {key}",
                f"remove {key}{' and set adapter: lora' if quant == '4bit' else ''}, or run on a GPU machine",
            )
        )
    optimizer = _bnb_optimizer(ctx)
    if optimizer:
        out.append(
            Finding(
                "config-optimizer-needs-cuda",
                severity,
                f"optimizer {optimizer} needs bitsandbytes on a CUDA GPU",
                "set optimizer: adamw_torch, or run on a GPU machine",
            )
        )
    return out


def _upgrade(ctx: Context) -> str:
    return bnb_fix(ctx) or "pip install -U bitsandbytes"


@rule("bitsandbytes-cuda-setup", "bitsandbytes-missing")
def bnb_library(ctx: Context) -> list[Finding]:
    m, t, p = ctx.matrix, ctx.torch, ctx.pkg("bitsandbytes")
    if p is None or not p.version:
        needs = _needs(ctx)
        # without a GPU to train on, bnb_needs_gpu says so; installing cannot help there
        if needs and ctx.gpu_training is True and ctx.installed("bitsandbytes") is False:
            what = f"loads the model in {needs}" if _quantised(ctx) else f"uses the {needs}"
            return [
                error(
                    "bitsandbytes-missing",
                    f"the training config {what} but bitsandbytes is not installed",
                    _upgrade(ctx),
                )
            ]
        return []
    first = m.bitsandbytes.windows_since
    have, native = parse_version(p.version), parse_version(first)
    if ctx.os == "windows" and have is not None and native is not None and have < native:
        return [
            error(
                "bitsandbytes-cuda-setup",
                f"bitsandbytes {p.version} has no Windows build: its wheel carries only Linux libraries "
                f"(libbitsandbytes_cuda*.so), so its CUDA setup looks for libcudart.so and fails; native "
                f"Windows wheels start at {first}",
                bnb_fix(ctx) or f'pip install -U "bitsandbytes>={first}"',
            )
        ]
    if t is None or not t.cuda or ctx.has_nvidia_gpu is False:
        return []
    if m.bnb_selects_by_torch(p.version) is False:
        return [
            warning(
                "bitsandbytes-cuda-setup",
                f"bitsandbytes {p.version} picks its CUDA library from the system's CUDA, not torch's (CUDA {t.cuda}); "
                "when they differ it fails with 'CUDA Setup failed despite GPU being available'",
                _upgrade(ctx),
            )
        ]
    rel = m.bnb_release(p.version)
    libs = tuple(p.cuda_libs) or (rel.cuda_libs if rel and rel.cuda_libs else ())
    cuda_libs = [lib for lib in libs if lib.startswith("cuda")]
    if not cuda_libs or m.bnb_library_for(t.cuda, cuda_libs, p.version) is not None:
        return []
    return [
        error(
            "bitsandbytes-cuda-setup",
            f"bitsandbytes {p.version} ships no library for torch's CUDA {t.cuda} (it has {join(cuda_libs)}): "
            "it fails with 'CUDA VERSION MISMATCH' / native library not available",
            _upgrade(ctx),
        )
    ]


@rule("bitsandbytes-gpu-too-old")
def bnb_gpu(ctx: Context) -> list[Finding]:
    m, t, quant = ctx.matrix, ctx.torch, _quantised(ctx)
    if quant is None or not ctx.gpus:
        return []
    bnb = m.bitsandbytes
    floor = bnb.min_cc_int8 if quant == "8bit" else bnb.min_cc
    p = ctx.pkg("bitsandbytes")
    lib_cuda = None
    if p is not None and t is not None and t.cuda:
        rel = m.bnb_release(p.version)
        libs = tuple(p.cuda_libs) or (rel.cuda_libs if rel and rel.cuda_libs else ())
        lib = m.bnb_library_for(t.cuda, [x for x in libs if x.startswith("cuda")], p.version)
        if lib:
            d = lib.removeprefix("cuda")
            lib_cuda = f"{int(d[:-1])}.{d[-1]}"
    elif t is not None and t.cuda and cuda_tuple(t.cuda):
        lib_cuda = t.cuda
    target = m.bnb_target(lib_cuda)
    if target is not None and cc_at_least(target.min_cc, floor):
        floor = target.min_cc
    old = ctx.facts.gpus_below(floor)
    if not old:
        return []
    what = "LLM.int8() (load_in_8bit)" if quant == "8bit" else "4-bit quantisation (load_in_4bit)"
    built = (
        f" as built for CUDA {lib_cuda}" if target is not None and target.min_cc == floor and lib_cuda else ""
    )
    return [
        error(
            "bitsandbytes-gpu-too-old",
            f"bitsandbytes {what} needs compute capability >= {floor}{built}; this machine has {gpu_labels(old)}",
            "set load_in_8bit: false and load_in_4bit: true (4-bit needs less)"
            if quant == "8bit" and cc_at_least(old[0].cc, bnb.min_cc)
            else "train a plain LoRA (adapter: lora, no load_in_4bit / load_in_8bit)",
        )
    ]
