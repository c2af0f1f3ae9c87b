"""Is torch installed, and is it a build that can use this machine's GPU?"""

from __future__ import annotations

from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import driver_label, gpu_labels, torch_fix
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import error, info, rule


@rule("torch-missing", "torch-cpu-build-on-gpu-machine", "torch-not-in-matrix")
def torch_build(ctx: Context) -> list[Finding]:
    t = ctx.torch
    if t is None:
        if ctx.installed("torch") is not False:
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
    if not t.known_release:
        first, last = m.torch_versions()[0], m.latest_torch()
        out.append(
            info(
                "torch-not-in-matrix",
                f"torch {t.version} is not in the compat matrix (it lists {first} to {last}); "
                "checks that need its build facts were skipped",
                "update loradoc, or add the release to compat/matrix.toml (see compat/README.md)",
            )
        )
    if t.variant == "cpu" and ctx.has_nvidia_gpu:
        fix, details = torch_fix(ctx, t.public)
        why = ""
        if t.inferred and ctx.os == "windows":
            why = " (PyPI's Windows wheels are CPU-only; CUDA builds come from download.pytorch.org)"
        gpus = gpu_labels(ctx.gpus) or "an NVIDIA driver"
        out.append(
            error(
                "torch-cpu-build-on-gpu-machine",
                f"torch {t.version} is a CPU-only build but this machine has {gpus}{why}",
                fix,
                installed_torch=t.version,
                **details,
            )
        )
    return out
