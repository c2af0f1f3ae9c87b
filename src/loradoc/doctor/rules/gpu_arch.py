"""Does the installed torch build carry code for every GPU? What do we know about the GPUs?"""

from __future__ import annotations

from loradoc.compat.versions import cuda_tuple, cuda_variant
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import gpu_labels, join, torch_fix, torch_source_build
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.fixes import gfx_override, python_fix
from loradoc.doctor.rules.registry import error, info, rule, warning


@rule("gpu-arch-unsupported-by-torch-build", "gpu-arch-ptx-jit")
def torch_archs(ctx: Context) -> list[Finding]:
    t, m = ctx.torch, ctx.matrix
    if t is None and ctx.gpus and ctx.installed("torch") is None:
        return _no_build_for_gpus(ctx)
    if t is None and ctx.gpus and (p := ctx.pkg("torch")) is not None and p.cuda:
        return _variant_lacks_gpus(ctx, cuda_variant(p.cuda))
    if t is None or t.cuda is None or not ctx.gpus:
        return []
    entry = m.archs_for(t.public, t.variant, ctx.machine)
    if entry is None:
        return _cuda_older_than_gpus(ctx)
    missing, jit = [], []
    for gpu in ctx.gpus:
        support = m.arch_support(entry, gpu.cc, ctx.os_or_linux) if gpu.cc else "unknown"
        if support is None:
            missing.append(gpu)
        elif support == "ptx":
            jit.append(gpu)
    built = "sm " + ", ".join(entry.sass) + (f" (+PTX {', '.join(entry.ptx)})" if entry.ptx else "")
    details = {
        "torch_archs": list(entry.sass),
        "torch_ptx": list(entry.ptx),
        "archs_verified": entry.verified,
    }
    out: list[Finding] = []
    if missing:
        fix, more = torch_fix(ctx, t.public)
        ccs = sorted({g.cc for g in missing if g.cc})
        source = torch_source_build(t.public, f'TORCH_CUDA_ARCH_LIST="{";".join(ccs)}"')
        unverified = "" if entry.verified else " (arch list UNVERIFIED in the matrix)"
        out.append(
            error(
                "gpu-arch-unsupported-by-torch-build",
                f"torch {t.label} carries code for {built}{unverified}, not for {gpu_labels(missing)}: "
                "CUDA fails with 'no kernel image is available for execution on the device'",
                fix or source,
                alternative=source if fix else None,
                **details,
                **more,
            )
        )
    if jit:
        fix, more = torch_fix(ctx, t.public)
        out.append(
            warning(
                "gpu-arch-ptx-jit",
                f"torch {t.label} has no native code for {gpu_labels(jit)}, only PTX ({', '.join(entry.ptx)}): "
                "kernels are JIT-compiled at first use (slow start) and fail under minor-version compatibility",
                fix
                if more.get("suggested_variant") != t.variant or more.get("suggested_torch") != t.public
                else None,
                **details,
            )
        )
    return out


def _no_build_for_gpus(ctx: Context) -> list[Finding]:
    """The torch in use is unknown and no torch build in the matrix carries code for the GPUs
    (Kepler and older): whatever torch is installed runs on the CPU only, or fails on the GPU."""
    m, os_name = ctx.matrix, ctx.os_or_linux
    if any(g.cc is None for g in ctx.gpus):
        return []
    for version in m.torch_versions():  # code for the GPUs in any build, whatever the driver runs
        for variant in m.variants_for(version, machine=ctx.machine):
            entry = m.archs_for(version, variant, ctx.machine)
            if entry is not None and all(m.arch_support(entry, g.cc, os_name) for g in ctx.gpus):
                return []
    cpu = ctx.best_torch(gpu=False)
    first, last = m.torch_versions()[0], m.latest_torch()
    return [
        warning(
            "gpu-arch-unsupported-by-torch-build",
            f"no torch build from {first} to {last} carries code for {gpu_labels(ctx.gpus)}: CUDA fails on it "
            "('no kernel image is available', cuDNN NOT_INITIALIZED); run on the CPU",
            cpu.command if cpu else None,
        )
    ]


def _variant_lacks_gpus(ctx: Context, variant: str | None) -> list[Finding]:
    """torch's release is unknown but its CUDA build is stated (torch.version.cuda 12.8): when no
    release's build of that variant in the matrix carries code for a GPU, whichever is installed
    fails on it."""
    m = ctx.matrix
    entries = [e for v in m.torch_versions() if variant and (e := m.archs_for(v, variant, ctx.machine))]
    missing = [
        g
        for g in ctx.gpus
        if g.cc and entries and all(m.arch_support(e, g.cc, ctx.os_or_linux) is None for e in entries)
    ]
    if not missing:
        return []
    fix, more = torch_fix(ctx, None)
    return [
        error(
            "gpu-arch-unsupported-by-torch-build",
            f"torch's {variant} builds (every release the matrix lists) carry no code for {gpu_labels(missing)}: "
            "CUDA fails with 'no kernel image is available for execution on the device'",
            fix,
            **more,
        )
    ]


def _cuda_older_than_gpus(ctx: Context) -> list[Finding]:
    """A torch the matrix has no arch list for (older than it, or a custom build), built with a
    CUDA older than the first toolkit that compiles for a GPU: neither its kernels nor the
    cuDNN/cuBLAS of that CUDA carry code for the GPU (cuDNN's EXECUTION_FAILED / NOT_INITIALIZED,
    'no kernel image')."""
    t = ctx.torch
    built = cuda_tuple(t.cuda) if t is not None else None
    if t is None or built is None:
        return []
    old, first = ctx.gpus_newer_than(built)
    if not old:
        return []
    fix, more = torch_fix(ctx, None)
    if fix is None:  # no torch the matrix installs has wheels for this Python: a venv of one that has
        fix = python_fix(ctx)
    same = _same_release_build(ctx, first)
    return [
        error(
            "gpu-arch-unsupported-by-torch-build",
            f"torch {t.label} was built with CUDA {t.cuda}, older than CUDA {first}, the first that "
            f"compiles for {gpu_labels(old)}: neither its kernels nor that CUDA's cuDNN and cuBLAS carry "
            "code for it ('no kernel image is available', cuDNN EXECUTION_FAILED or NOT_INITIALIZED)"
            + (f"; torch {t.public} also has a CUDA {first}+ build, the smallest change" if same else ""),
            same or fix,
            **({"alternative": fix} if same and fix else more),
        )
    ]


def _same_release_build(ctx: Context, first: str | None) -> str | None:
    """A torch 1.x release that also shipped a build with a CUDA new enough for the GPUs (1.8.1:
    cu102 on PyPI, cu111 on PyTorch's page): that build, when nothing installed beside torch has
    to move with it (the matrix pairs torchvision and torchaudio with torch 2.x only)."""
    t = ctx.torch
    if t is None or first is None or ctx.companions or ctx.matrix.legacy_torch(t.public) is None:
        return None
    return ctx.matrix.legacy_build_for_cuda(
        t.public, first, os=ctx.os_or_linux, driver=ctx.driver_version, cuda_max=ctx.cuda_max
    )


@rule("gpu-cc-unknown", "no-nvidia-gpu")
def gpu_facts(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    unknown = [g for g in ctx.gpus if not g.cc]
    if unknown:
        names = join(g.name or f"GPU {g.index}" for g in unknown)
        out.append(
            info(
                "gpu-cc-unknown",
                f"the compute capability of {names} is unknown (not reported, and not in the matrix's GPU table): "
                "architecture checks skip it",
                "loradoc doctor check\nor: add the GPU to [[gpu_table]] in compat/matrix.toml",
            )
        )
    if ctx.snapshot.gpus is not None and ctx.has_nvidia_gpu is False and not ctx.facts.amd_gpus:
        out.append(
            info(
                "no-nvidia-gpu",
                "no NVIDIA GPU found: training runs on the CPU (slowly); GPU checks were skipped",
                None,
            )
        )
    return out


@rule("rocm-gfx-unsupported-by-torch-build")
def torch_rocm_gfx(ctx: Context) -> list[Finding]:
    """An AMD GPU whose LLVM target the installed ROCm build of torch carries no kernels for."""
    t, m = ctx.torch, ctx.matrix
    amd = [g for g in ctx.facts.amd_gpus if g.gfx]
    if t is None or not t.variant or not t.variant.startswith("rocm") or not amd:
        return []
    rocm = t.variant.removeprefix("rocm")
    entry = m.rocm_archs_for(rocm)
    if entry is None:
        return []
    missing = [g for g in amd if g.gfx not in entry.gfx]
    if not missing:
        return []
    targets = sorted({str(g.gfx) for g in missing})
    unverified = "" if entry.verified else " (gfx list UNVERIFIED in the matrix)"
    override = m.rocm_override_for(targets, entry.gfx)
    return [
        error(
            "rocm-gfx-unsupported-by-torch-build",
            f"torch {t.label} carries kernels for {', '.join(entry.gfx)}{unverified}, not for "
            f"{join([g.label for g in missing])}: GPU code fails with 'HIP error: invalid device function'"
            + (
                f"; {override.family}x cards run {override.runs}'s kernels with an override (not supported by AMD)"
                if override
                else ""
            ),
            gfx_override(ctx, targets, list(entry.gfx))
            or torch_source_build(t.public, f'PYTORCH_ROCM_ARCH="{";".join(targets)}"'),
            torch_gfx=list(entry.gfx),
            gfx_verified=entry.verified,
        )
    ]
