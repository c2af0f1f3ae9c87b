"""Does the NVIDIA driver run the CUDA of the installed torch build?"""

from __future__ import annotations

from loradoc.compat.versions import variant_cuda
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import choice_details, driver_label, torch_fix
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.fixes import driver_upgrade_fix, old_driver_torch
from loradoc.doctor.rules.registry import error, info, rule, warning


@rule("driver-too-old-for-torch-cuda", "driver-minor-version-compat")
def driver_vs_torch(ctx: Context) -> list[Finding]:
    t, m, torch_cuda = ctx.torch, ctx.matrix, ctx.torch_cuda
    if torch_cuda is None or ctx.has_nvidia_gpu is False:
        return []
    label = t.label if t is not None else "(version unknown)"
    version = t.public if t is not None else None
    cov = m.coverage(torch_cuda, ctx.os_or_linux, driver=ctx.driver_version, cuda_max=ctx.cuda_max)
    if cov.ok is None:
        return []
    full = m.min_driver(torch_cuda, ctx.os_or_linux)
    floor = m.minor_compat_floor(torch_cuda, ctx.os_or_linux)
    need = f"driver >= {full}" if full else f"driver >= {floor}"
    if full and floor and floor != full and cov.ok is False:
        need += f", or >= {floor} with limited features"
    if cov.ok is False:
        fix, details = torch_fix(ctx, version)
        upgrade = driver_upgrade_fix(ctx, full or floor)
        old_torch = None if fix else old_driver_torch(ctx)
        return [
            error(
                "driver-too-old-for-torch-cuda",
                f"torch {label} needs CUDA {torch_cuda} ({need}) but this machine has {driver_label(ctx)}"
                + (
                    "; no torch release loradoc installs runs on it, the alternative is torch 1.x"
                    if old_torch
                    else ""
                ),
                fix or upgrade,
                alternative=upgrade if fix else old_torch,
                **details,
            )
        ]
    if cov.via_minor_compat:
        better = [c for c in ctx.torch_choices(version) if not c.via_minor_compat] if version else []
        upgrade = driver_upgrade_fix(ctx, full)
        return [
            warning(
                "driver-minor-version-compat",
                f"torch {label} (CUDA {torch_cuda}) runs on {driver_label(ctx)} only through CUDA minor-version "
                f"compatibility: newer-driver APIs fail and PTX from CUDA {torch_cuda} cannot be JIT-compiled",
                better[0].command if better else upgrade,
                alternative=upgrade if better else None,
                **choice_details(better[0] if better else None),
            )
        ]
    return []


@rule("driver-reboot-needed")
def driver_reboot(ctx: Context) -> list[Finding]:
    d = ctx.snapshot.driver
    if not d or not d.kernel_module_version or not d.userspace_version:
        return []
    if d.kernel_module_version == d.userspace_version:
        return []
    return [
        error(
            "driver-reboot-needed",
            f"the loaded NVIDIA kernel module is {d.kernel_module_version} but the userspace driver is "
            f"{d.userspace_version} (upgraded without a reboot): CUDA fails with 'Driver/library version mismatch'",
            "sudo reboot",
            alternative="sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia && sudo modprobe nvidia",
        )
    ]


@rule("pypi-torch-needs-newer-driver")
def pypi_default_trap(ctx: Context) -> list[Finding]:
    """A bare `pip install torch` (or an unpinned dependent) pulls PyPI's default CUDA build of the
    newest torch; warn when this driver cannot run it."""
    m = ctx.matrix
    if ctx.os_or_linux != "linux" or not ctx.has_nvidia_gpu or ctx.machine != "x86_64":
        return []
    if not ctx.driver_version and not ctx.cuda_max:
        return []
    latest = m.latest_torch()
    variant = m.default_variant(latest, "linux")
    cov = m.coverage(variant_cuda(variant), "linux", driver=ctx.driver_version, cuda_max=ctx.cuda_max)
    if cov.ok is not False:
        return []
    t = ctx.torch
    keep = ctx.best_torch(t.public if t is not None else None)
    fix: str | None = None
    if t is not None and keep is not None:
        # pip reads PIP_CONSTRAINT on every later install: nothing can replace the pinned torch
        fix = (
            f'echo "torch=={keep.version}" > constraints.txt && export PIP_CONSTRAINT="$PWD/constraints.txt"'
        )
    elif keep is not None:
        fix = keep.command
    return [
        info(
            "pypi-torch-needs-newer-driver",
            f"a bare `pip install torch` (or an unpinned dependent) installs torch {latest}+{variant} from PyPI, "
            f"which {driver_label(ctx)} cannot run: pin torch and install it from its CUDA index",
            fix,
        )
    ]
