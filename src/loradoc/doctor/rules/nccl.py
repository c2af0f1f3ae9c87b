"""NCCL against the GPUs: a release older than the first one that runs on their generation
(the matrix's ``[[nccl_floor]]``), and GPUs whose missing peer-to-peer access older drivers
hid from NCCL (``[[p2p_hang]]``)."""

from __future__ import annotations

import re

from packaging.version import Version

from loradoc.compat.versions import cuda_tuple, local_tag, parse_version, public
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import count, gpu_labels
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.fixes import driver_upgrade_fix
from loradoc.doctor.rules.registry import error, info, rule, warning

_PIP_NCCL = re.compile(r"nvidia-nccl-cu(\d+)")
_LOG_CUDA = re.compile(r"cuda(\d+)(?:\.\d+)*")


def nccl_in_use(ctx: Context) -> tuple[str | None, str | None]:
    """(version, pip distribution): the NCCL a log showed loading, else the ``nvidia-nccl-cuXX``
    wheel torch loads (the one of torch's CUDA major when several are installed)."""
    packages = ctx.snapshot.packages or {}
    wheels = {int(m.group(1)): name for name in packages if (m := _PIP_NCCL.fullmatch(name))}
    torch_major = (cuda_tuple(ctx.torch.cuda) or (None,))[0] if ctx.torch else None
    if torch_major in wheels:
        pip: str | None = wheels[torch_major]
    else:
        pip = next(iter(wheels.values())) if len(wheels) == 1 else None
    if ctx.snapshot.nccl:
        built = _LOG_CUDA.fullmatch(local_tag(ctx.snapshot.nccl) or "")
        major = int(built.group(1)) if built else torch_major
        return public(ctx.snapshot.nccl), pip or (f"nvidia-nccl-cu{major}" if major else None)
    if pip is None:
        return None, None
    return public(packages[pip].version), pip


@rule("nccl-too-old-for-gpu")
def nccl_for_gpus(ctx: Context) -> list[Finding]:
    version, dist = nccl_in_use(ctx)
    have = parse_version(version)
    if have is None:
        return _nccl_unknown(ctx)
    old = []
    for gpu in ctx.gpus:
        floor = ctx.matrix.nccl_floor(gpu.cc)
        need = parse_version(floor.min_version) if floor else None
        if floor is not None and need is not None and have < need:
            old.append((gpu, floor, need))
    if not old:
        return []
    _, floor, need = max(old, key=lambda item: item[2])
    return [
        error(
            "nccl-too-old-for-gpu",
            f"NCCL {version} predates {gpu_labels(g for g, _, _ in old)}: {floor.min_version} is the first "
            f"release that runs on them" + (f" ({floor.note})" if floor.note else ""),
            f'pip install -U "{dist}>={floor.min_version}"' if dist else None,
            nccl=version,
            nccl_floor=floor.min_version,
        )
    ]


def _nccl_unknown(ctx: Context) -> list[Finding]:
    """Several GPUs of a generation with an NCCL floor, and neither NCCL nor torch known (a
    thread, a partial snapshot): a note naming the floor, fixed by the torch that fits the GPUs
    (its NCCL comes with it). With torch known, the GPU-architecture rules judge that build."""
    floors = [(gpu, f) for gpu in ctx.gpus if (f := ctx.matrix.nccl_floor(gpu.cc))]
    if len(floors) < 2 or ctx.torch is not None:
        return []
    gpu_floor = max(floors, key=lambda item: Version(item[1].min_version))[1]  # the loader parsed it
    choice = ctx.best_torch(gpu=True)
    return [
        info(
            "nccl-too-old-for-gpu",
            f"{count(len(floors), 'GPU')} ({gpu_labels(g for g, _ in floors)}) need NCCL "
            f"{gpu_floor.min_version} or newer for multi-GPU runs ({gpu_floor.note}); the facts name "
            "neither the NCCL nor the torch in use",
            choice.command if choice else None,
            nccl_floor=gpu_floor.min_version,
            source=gpu_floor.source,
        )
    ]


@rule("nccl-p2p-unsupported")
def p2p_between_gpus(ctx: Context) -> list[Finding]:
    """Several GPUs without peer-to-peer access, on a driver that may still report it (older than
    the matrix's fixed release, or unknown): multi-GPU runs hang unless NCCL is told not to use P2P."""
    hits = [(gpu, h) for gpu in ctx.gpus if (h := ctx.matrix.p2p_hang(gpu.name))]
    if len(hits) < 2:
        return []
    entry = hits[0][1]
    driver, fixed = parse_version(ctx.driver_version), parse_version(entry.fixed_in_driver)
    if driver is not None and fixed is not None and driver >= fixed:
        return []  # the driver reports no P2P, and NCCL routes around it by itself
    gpus = f"{count(len(hits), 'GPU')} ({gpu_labels(g for g, _ in hits)})"
    if driver is not None:
        make, when = warning, f"driver {ctx.driver_version} predates {entry.fixed_in_driver}"
    else:
        make, when = info, f"the driver's version is unknown (fixed in {entry.fixed_in_driver})"
    return [
        make(
            "nccl-p2p-unsupported",
            f"{gpus}: {entry.note}; {when}. With NCCL_P2P_DISABLE=1 NCCL uses shared memory instead "
            "(speed, not correctness)",
            "export NCCL_P2P_DISABLE=1 NCCL_IB_DISABLE=1",
            alternative=driver_upgrade_fix(ctx, entry.fixed_in_driver),
            source=entry.source,
        )
    ]
