"""Is torch installed, and is it a build that can use this machine's GPU?"""

from __future__ import annotations

from loradoc.compat.versions import cuda_tuple
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import choice_details, driver_label, gpu_labels, join, torch_fix
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.fixes import rocm_build_of_installed
from loradoc.doctor.rules.registry import error, info, rule, warning


@rule(
    "torch-missing",
    "torch-cpu-build-on-gpu-machine",
    "torch-rocm-build-on-nvidia-gpu",
    "torch-build-without-rocm-on-amd-gpu",
    "torch-not-in-matrix",
)
def torch_build(ctx: Context) -> list[Finding]:
    t = ctx.torch
    if t is None:
        installed = ctx.installed("torch")
        if installed is None:
            return _windows_pypi_torch(ctx)
        if installed:  # listed, but with nothing to judge its build by
            return []
        fix, details = torch_fix(ctx)
        target = f" for {gpu_labels(ctx.gpus)} with {driver_label(ctx)}" if ctx.gpus else ""
        best = (
            f"; the best fit{target} is torch {details['suggested_torch']}+{details['suggested_variant']}"
            if fix
            else ""
        )
        return [error("torch-missing", f"torch is not installed{best}", fix, **details)]
    out: list[Finding] = []
    m = ctx.matrix
    if not t.known_release and m.legacy_torch(t.public) is not None:
        first, last = m.torch_versions()[0], m.latest_torch()
        out.append(
            info(
                "torch-not-in-matrix",
                f"torch {t.version} is older than the releases loradoc installs ({first} to {last}): the "
                "matrix knows its CUDA builds and Pythons ([torch_legacy]), not its GPU architectures "
                "or the extension releases built for it, so the checks that need those were skipped",
                None,
            )
        )
    elif not t.known_release:
        first, last = m.torch_versions()[0], m.latest_torch()
        out.append(
            info(
                "torch-not-in-matrix",
                f"torch {t.version} is not in the compat matrix (it lists {first} to {last}); "
                "checks that need its build facts were skipped",
                'pip install -U "loradoc"\nor: add the release to [[torch]] in compat/matrix.toml (compat/README.md)',
            )
        )
    cuda_packages = _built_for_cuda(ctx)
    gpu_seen = bool(ctx.has_nvidia_gpu or cuda_packages)
    # a CPU build where a GPU is seen, or where the facts say nothing about GPUs (a thread, a log);
    # never on macOS, where no torch has CUDA and no Mac has an NVIDIA GPU
    if t.variant == "cpu" and ctx.os != "darwin" and (gpu_seen or ctx.has_nvidia_gpu is None):
        choice = ctx.best_torch(t.public, gpu=True)
        # the CUDA the installed extensions were built for, so that they load again (xformers
        # built for 2.1.0+cu121 beside 2.1.0+cpu: 2.1.0+cu121, not the widest-driver cu118)
        built = _extension_cuda(ctx)
        if built and choice is not None:  # the same release's build of that CUDA, where it fits
            same = [c for c in ctx.torch_choices(choice.version, gpu=True) if cuda_tuple(c.cuda) == built]
            choice = same[0] if same else choice
        pypi = _pypi_cpu_wheels(ctx) if t.inferred else None
        if gpu_seen:
            why = f" ({pypi}; CUDA builds come from download.pytorch.org)" if pypi else ""
            gpus = gpu_labels(ctx.gpus) or (
                "an NVIDIA driver"
                if ctx.has_nvidia_gpu
                else f"packages built for CUDA ({join(cuda_packages)})"
            )
            make, message = error, f"torch {t.version} is a CPU-only build but this machine has {gpus}{why}"
        else:
            why = pypi or "its build has no CUDA"
            make, message = (
                warning,
                f"torch {t.version} is a CPU-only build ({why}): if this machine has an NVIDIA GPU, "
                "torch cannot use it (the snapshot does not say whether it has one)",
            )
        out.append(
            make(
                "torch-cpu-build-on-gpu-machine",
                message,
                choice.command if choice else None,
                installed_torch=t.version,
                **choice_details(choice),
            )
        )
    if (t.variant or "").startswith("rocm") and ctx.has_nvidia_gpu and not ctx.facts.amd_gpus:
        out.append(_rocm_on_nvidia(ctx))
    if ctx.rocm_machine and not (t.variant or "").startswith("rocm"):
        out.append(_no_rocm_on_amd(ctx))
    return out


def _no_rocm_on_amd(ctx: Context) -> Finding:
    """A CUDA (or CPU) build where the GPUs are AMD's: the ROCm build of the same release, which
    PyTorch publishes for Linux (download.pytorch.org/whl/rocmX.Y)."""
    t = ctx.torch
    assert t is not None
    kind = "a CPU-only build" if t.variant == "cpu" else "a CUDA build (for NVIDIA GPUs)"
    return error(
        "torch-build-without-rocm-on-amd-gpu",
        f"torch {t.version} is {kind} but this machine's GPUs are AMD's ({gpu_labels(ctx.facts.amd_gpus)}): "
        "torch cannot use them ('Torch is not able to use GPU'); ROCm builds come from download.pytorch.org/whl/rocm...",
        rocm_build_of_installed(ctx),
        installed_torch=t.version,
    )


def _rocm_on_nvidia(ctx: Context) -> Finding:
    """A ROCm build (HIP, for AMD GPUs) where the GPUs are NVIDIA's: torch sees no device."""
    t = ctx.torch
    assert t is not None
    choice = ctx.best_torch(t.public, gpu=True)
    gpus = gpu_labels(ctx.gpus) or "an NVIDIA driver"
    return error(
        "torch-rocm-build-on-nvidia-gpu",
        f"torch {t.version} is a ROCm build (for AMD GPUs) but this machine has {gpus} and no AMD GPU: "
        "torch sees no device ('No HIP GPUs are available'); CUDA builds come from download.pytorch.org",
        choice.command if choice else None,
        installed_torch=t.version,
        **choice_details(choice),
    )


def _pypi_cpu_wheels(ctx: Context) -> str | None:
    """Why PyPI gave this machine a CPU build, when its platform is the reason: Windows wheels
    always, Linux aarch64 wheels of the releases the matrix records as CPU-only there."""
    if ctx.os == "windows":
        return "PyPI's Windows wheels are CPU-only"
    if ctx.machine == "aarch64":
        return f"PyPI's Linux aarch64 wheel of torch {ctx.torch.public} is CPU-only" if ctx.torch else None
    return None


def _windows_pypi_torch(ctx: Context) -> list[Finding]:
    """A Windows machine with an NVIDIA GPU whose torch build the facts do not name (a thread, a
    partial snapshot): PyPI's Windows torch wheels are CPU-only, so a plain ``pip install torch``,
    or installing any package that depends on torch, leaves the GPU unused. An installed CUDA
    toolkit (nvcc) counts as a GPU when the facts name none. When the facts say nothing about
    GPUs either (a report that names only Windows), the same is a note: it is the commonest
    reason a Windows machine's GPU goes unused."""
    if ctx.os != "windows":
        return []
    nvcc = ctx.snapshot.nvcc.version if ctx.snapshot.nvcc else None
    make = warning
    if ctx.has_nvidia_gpu:
        gpu = gpu_labels(ctx.gpus) or "the NVIDIA GPU"
    elif ctx.has_nvidia_gpu is None and nvcc:
        gpu = f"the NVIDIA GPU this CUDA toolkit (nvcc {nvcc}) was installed for"
    elif ctx.has_nvidia_gpu is None:
        make, gpu = info, "an NVIDIA GPU, if this machine has one (the facts do not say)"
    else:
        return []
    choice = ctx.best_torch(gpu=True)
    return [
        make(
            "torch-cpu-build-on-gpu-machine",
            f"the facts do not say which torch build is installed; on Windows, PyPI's torch wheels are "
            f"CPU-only, so torch from a plain `pip install` (or pulled in by a package that depends on it) "
            f"cannot use {gpu}: CUDA builds come from download.pytorch.org",
            choice.command if choice else None,
            **choice_details(choice),
        )
    ]


def _extension_cuda(ctx: Context) -> tuple[int, int] | None:
    """The highest CUDA ((12, 1)) that an installed xformers or flash-attn was built for, if known."""
    built = [
        t
        for name in ("xformers", "flash-attn")
        if (pkg := (ctx.snapshot.packages or {}).get(name)) is not None and (t := cuda_tuple(pkg.cuda))
    ]
    return max(built, default=None)


def _built_for_cuda(ctx: Context) -> list[str]:
    """Installed packages that show the environment was set up for a CUDA GPU: extensions built
    against a CUDA torch, and NVIDIA's CUDA libraries from pip (nvidia-cublas-cu12, ...)."""
    out = []
    for name, pkg in (ctx.snapshot.packages or {}).items():
        if name.startswith("nvidia-") and name.endswith(("-cu11", "-cu12", "-cu13")):
            out.append(f"{name} {pkg.version or ''}".strip())
        elif name in ("xformers", "flash-attn") and (pkg.cuda or "+cu" in (pkg.built_for_torch or "")):
            out.append(f"{name} built for {pkg.built_for_torch or 'CUDA ' + str(pkg.cuda)}")
        elif name in ("xformers", "flash-attn"):  # their wheels are CUDA builds: installed for a GPU
            out.append(f"{name} {pkg.version or ''} (a CUDA extension)".replace("  ", " "))
    return out
