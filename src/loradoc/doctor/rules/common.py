"""Small helpers the rules share: labels for messages, and the torch fix."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loradoc.compat.choose import TorchChoice
from loradoc.doctor.facts import GpuFact
from loradoc.doctor.rules.context import Context


def join(items: Iterable[str]) -> str:
    items = list(dict.fromkeys(items))
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def count(n: int, noun: str) -> str:
    """``count(1, "GPU")`` -> ``"1 GPU"``; ``count(2, "GPU")`` -> ``"2 GPUs"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def gpu_labels(gpus: Iterable[GpuFact]) -> str:
    return join(g.label for g in gpus)


def driver_label(ctx: Context) -> str:
    """``driver 535.104.05 (max CUDA 12.2)``, or what part of it is known."""
    if ctx.driver_version and ctx.cuda_max:
        return f"driver {ctx.driver_version} (max CUDA {ctx.cuda_max})"
    if ctx.driver_version:
        return f"driver {ctx.driver_version}"
    if ctx.cuda_max:
        return f"a driver with max CUDA {ctx.cuda_max}"
    return "the driver"


def choice_details(choice: TorchChoice | None) -> dict[str, Any]:
    if choice is None:
        return {}
    notes = []
    if choice.via_minor_compat:
        notes.append(
            f"the driver runs CUDA {choice.cuda} through minor-version compatibility (limited features)"
        )
    if choice.via_ptx:
        notes.append("a GPU runs this build through PTX JIT (slow first start)")
    if choice.experimental:
        notes.append(f"{choice.variant} is an experimental build of torch {choice.version}")
    if not choice.arch_verified:
        notes.append("the arch list of this build is UNVERIFIED in the matrix")
    if choice.driver_runs:
        notes.append(
            f"the driver's version is unknown, but CUDA started for a CUDA {choice.driver_runs} build "
            f"(the error comes later), so {choice.variant} runs on it; with a newer driver a newer variant also works"
        )
    elif not choice.driver_known and choice.cuda and choice.index_url is None:
        notes.append(
            f"nothing is known about a GPU: this is PyPI's default build of torch {choice.version} "
            f"({choice.variant}); with an NVIDIA GPU check its driver runs CUDA {choice.cuda}"
        )
    elif not choice.driver_known and choice.cuda:
        notes.append(
            f"the driver is unknown: torch {choice.version}+{choice.variant} is the build that covers the GPUs "
            f"on the widest range of drivers{_driver_floor(choice)}"
            + (
                "; the 'or:' lines are newer builds for a newer driver: "
                + ", ".join(f"{c.version}+{c.variant}{_driver_floor(c)}" for c in choice.newer)
                + " (nvidia-smi prints the driver's version)"
                if choice.newer
                else "; with a newer driver a newer variant also works"
            )
        )
    out: dict[str, Any] = {"suggested_torch": choice.version, "suggested_variant": choice.variant}
    if choice.newer:
        out["newer_driver_builds"] = [c.command for c in choice.newer]
    if notes:
        out["notes"] = notes
    return out


def _driver_floor(choice: TorchChoice) -> str:
    return f" (driver >= {choice.min_driver})" if choice.min_driver else ""


def torch_fix(ctx: Context, version: str | None = None) -> tuple[str | None, dict[str, Any]]:
    """The install command of the best-fitting torch (keeping ``version`` when it can)."""
    choice = ctx.best_torch(version)
    return (choice.command if choice else None), choice_details(choice)


def torch_source_build(version: str, arch_env: str) -> str:
    """Build the installed torch release from its tag for the GPUs no wheel carries code for
    (``arch_env``: ``TORCH_CUDA_ARCH_LIST="6.0"`` or ``PYTORCH_ROCM_ARCH="gfx1010"``), the way
    PyTorch's README builds it (needs the CUDA or ROCm toolkit and a C++ compiler)."""
    return (
        f"git clone --recursive --depth 1 --branch v{version} https://github.com/pytorch/pytorch && cd pytorch "
        f"&& pip install -r requirements.txt && {arch_env} pip install --no-build-isolation -v ."
    )


# What `loradoc train` does when the attention a config asks for cannot run here
# (loradoc.train.model.attention.choose_attention): the doctor says the same, as a warning.
FALLBACK = "; loradoc train falls back to loradoc_varlen (per-example attention, same results)"
