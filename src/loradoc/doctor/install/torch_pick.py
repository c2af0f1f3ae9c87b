"""The torch half of the plan: which build (version x variant) to end with, and why.

The ranking of fitting builds is ``loradoc.compat.choose.torch_choices`` (shared with
``doctor check``'s fixes); this module adds what only the installer needs: the
user's bounds, keeping an installed torch that already fits, preferring the
newest release for which every wanted extension has a wheel, ROCm, and a
one-line explanation when nothing fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from loradoc.compat.choose import TorchChoice, torch_choices
from loradoc.compat.queries import Matrix, spec_contains
from loradoc.compat.versions import cuda_tuple, driver_tuple, parse_version, public, python_mm, variant_cuda
from loradoc.doctor.facts import machine_facts
from loradoc.doctor.install.wants import Wants
from loradoc.doctor.snapshot import Package, Snapshot
from loradoc.errors import UserError


@dataclass
class Machine:
    """The facts of a Snapshot that the plan reads, normalised."""

    os: str  # "linux", "windows", "darwin"
    os_label: str  # "Linux"
    machine: str  # "x86_64", "aarch64"
    python: str | None  # "3.11.7"
    glibc: str | None
    driver: str | None
    cuda_max: str | None
    gpus: list[tuple[str, str | None]]  # NVIDIA GPUs: (name, compute capability)
    amd: list[str]  # AMD GPU names
    amd_gfx: list[str | None]  # their LLVM targets ("gfx90a"), in the same order; None when unknown
    nvcc: str | None
    memory_mib: int | None
    cpu_count: int | None
    torch: Package | None  # the installed torch, if any
    complete: bool
    has_gpu: bool | None  # NVIDIA GPUs: True/False when the snapshot says, None when it does not
    notes: list[str] = field(default_factory=list)

    @property
    def ccs(self) -> list[str]:
        return [cc for _, cc in self.gpus if cc]

    @property
    def python_mm(self) -> str | None:
        return python_mm(self.python)


def install_machine(snap: Snapshot, m: Matrix) -> Machine:
    """The plan's view of the machine: its derived facts (``loradoc.doctor.facts``), normalised."""
    facts = machine_facts(snap, m)
    notes: list[str] = []
    if facts.os is None:
        notes.append("the snapshot does not say which OS: planned for Linux")
    gpus: list[tuple[str, str | None]] = []
    for i, gpu in enumerate(facts.gpus):
        name = gpu.name or f"GPU{i}"
        if gpu.cc is None:
            notes.append(f"{name}: compute capability unknown; GPU code coverage for it was not checked")
        gpus.append((name, gpu.cc))
    os_name = facts.os_or_linux
    return Machine(
        os=os_name,
        os_label={"linux": "Linux", "windows": "Windows", "darwin": "macOS"}.get(os_name, os_name),
        machine=facts.machine,
        python=snap.python,
        glibc=snap.glibc,
        driver=facts.driver_version,
        cuda_max=snap.driver.cuda_max if snap.driver else None,  # reported; the plan estimates itself
        gpus=gpus,
        amd=[g.name or f"GPU{i}" for i, g in enumerate(facts.amd_gpus)],
        amd_gfx=[g.gfx for g in facts.amd_gpus],
        nvcc=snap.nvcc.version if snap.nvcc else None,
        memory_mib=snap.memory_mib,
        cpu_count=snap.cpu_count,
        torch=snap.package("torch"),
        complete=snap.complete,
        has_gpu=facts.has_nvidia_gpu,
        notes=notes,
    )


@dataclass
class TorchPick:
    choice: TorchChoice
    keep: bool
    reason: str
    warnings: list[str] = field(default_factory=list)


MissingExtensions = Callable[[TorchChoice], list[str]]


def pick_torch(mach: Machine, m: Matrix, wants: Wants, missing: MissingExtensions) -> TorchPick:
    """The torch build to end with. ``missing(choice)`` names wanted extensions without a wheel."""
    if wants.rocm or (mach.amd and not mach.gpus and not wants.cpu and not wants.cuda):
        return _pick_rocm(mach, m, wants)
    gpu = False if wants.cpu else (True if wants.variant else mach.has_gpu)
    choices = torch_choices(
        m,
        os=mach.os,
        machine=mach.machine,
        python=mach.python,
        glibc=mach.glibc,
        driver=mach.driver,
        cuda_max=mach.cuda_max,
        ccs=mach.ccs,
        gpu=gpu,
    )
    choices = [c for c in choices if _wanted(c, wants)]
    if not choices:
        raise UserError(_explain_no_fit(mach, m, wants))
    kept = _installed_fit(mach, m, choices)
    if kept is not None:
        pick = TorchPick(
            kept,
            True,
            f"torch {mach.torch.version if mach.torch else kept.version} is installed and fits: kept",
        )
    else:
        pick = _newest(choices, wants, missing)
    pick.warnings += _warnings(pick.choice, mach, m)
    return pick


def _wanted(c: TorchChoice, wants: Wants) -> bool:
    if (c.version, c.variant) in wants.excluded:
        return False
    if wants.torch is not None and not wants.torch.contains(c.version, prereleases=True):
        return False
    return wants.variant is None or c.variant == wants.variant


def _installed_fit(mach: Machine, m: Matrix, choices: list[TorchChoice]) -> TorchChoice | None:
    pkg = mach.torch
    if pkg is None or pkg.version is None:
        return None
    variant, _ = m.torch_variant_of(
        pkg.version, cuda=pkg.cuda, hip=pkg.hip, os=mach.os, machine=mach.machine, complete=mach.complete
    )
    for c in choices:
        if c.version == public(pkg.version) and c.variant == variant:
            return c
    return None


def _newest(choices: list[TorchChoice], wants: Wants, missing: MissingExtensions) -> TorchPick:
    first = choices[0]
    lacking = missing(first) if wants.extensions else []
    if not lacking:
        what = "newest build that fits" + (" the --torch bound" if wants.torch else "")
        return TorchPick(
            first, False, f"torch {first.version}+{first.variant}: the {what} ({_why_variant(first)})"
        )
    if wants.torch is None:
        for c in choices[1:]:
            if not missing(c):
                return TorchPick(
                    c,
                    False,
                    f"torch {c.version}+{c.variant}: the newest build with wheels for "
                    f"{', '.join(sorted(wants.extensions))} ({_why_variant(c)}); torch {first.version} "
                    f"would need a source build of {', '.join(lacking)}",
                )
    return TorchPick(
        first,
        False,
        f"torch {first.version}+{first.variant}: the newest build that fits ({_why_variant(first)}); "
        f"no fitting torch has wheels for {', '.join(lacking)}",
    )


def _why_variant(c: TorchChoice) -> str:
    if c.variant == "cpu":
        return "CPU build"
    bits = [
        f"driver runs CUDA {c.cuda}" + (" through minor-version compatibility" if c.via_minor_compat else "")
    ]
    bits.append("PTX JIT covers a GPU" if c.via_ptx else "its SASS covers every GPU")
    if c.experimental:
        bits.append("experimental variant")
    return "; ".join(bits)


def _warnings(c: TorchChoice, mach: Machine, m: Matrix) -> list[str]:
    out: list[str] = []
    if c.via_minor_compat:
        full = m.min_driver(c.cuda, mach.os)
        out.append(
            f"torch {c.version}+{c.variant} runs on driver {mach.driver or '?'} only through CUDA minor-version "
            f"compatibility: newer-driver APIs fail and PTX from CUDA {c.cuda} cannot be JIT-compiled "
            f"(Triton kernels may fail); a driver >= {full} lifts this"
        )
    if c.via_ptx:
        out.append(
            f"torch {c.version}+{c.variant} has no native code for some GPU: kernels are JIT-compiled from PTX on first use"
        )
    if c.experimental:
        out.append(f"{c.variant} is an experimental build for torch {c.version}")
    if c.variant != "cpu" and not c.driver_known:
        out.append("the NVIDIA driver version is unknown: driver compatibility was not checked")
    if c.variant != "cpu" and not c.arch_verified:
        out.append(f"the GPU architecture list of torch {c.version}+{c.variant} is UNVERIFIED in the matrix")
    if c.variant == "cpu" and mach.gpus:
        out.append("a CPU build on a machine with NVIDIA GPUs (asked for with --cpu)")
    return out


def amd_label(names: list[str]) -> str:
    """``["MI300X", "MI300X"]`` -> ``"2x MI300X"`` (names in the order first seen)."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{k}x {name}" if k > 1 else name for name, k in counts.items())


def _pick_rocm(mach: Machine, m: Matrix, wants: Wants) -> TorchPick:
    for v in reversed(m.torch_versions()):
        rel = m.torch_release(v)
        if rel is None or not rel.rocm or mach.os != "linux":
            continue
        if wants.torch is not None and not wants.torch.contains(v, prereleases=True):
            continue
        if m.python_supported(v, mach.python, mach.os, mach.machine) is False:
            continue
        if wants.rocm and rel.rocm != wants.rocm:
            continue
        variant = "rocm" + rel.rocm
        choice = TorchChoice(v, variant, None, m.torch_install_command(v, variant, os=mach.os))
        target = f"--backend {variant}" if wants.rocm else amd_label(mach.amd)
        covered, warnings = _rocm_coverage(mach, m, rel.rocm, f"{v}+{variant}")
        return TorchPick(
            choice,
            False,
            f"torch {v}+{variant}: the newest release with a ROCm build, for {target}{covered}",
            warnings,
        )
    asked = f" of ROCm {wants.rocm}" if wants.rocm else ""
    raise UserError(
        f"no torch ROCm build{asked} fits this machine" + _bounds(wants) + "; pass --cpu for a CPU build"
    )


def _rocm_coverage(mach: Machine, m: Matrix, rocm: str, label: str) -> tuple[str, list[str]]:
    """(reason suffix, warnings): whether torch's ROCm wheels carry kernels for each AMD GPU's target."""
    entry = m.rocm_archs_for(rocm)
    if entry is None:
        return "", [
            f"the matrix has no gfx list for ROCm {rocm} builds: coverage of these AMD GPUs was not checked"
        ]
    warnings: list[str] = []
    if not entry.verified:
        warnings.append(f"the gfx list of torch's ROCm {rocm} wheels is UNVERIFIED in the matrix")
    targets = list(dict.fromkeys(g for g in mach.amd_gfx if g))
    unknown = [n for n, g in zip(mach.amd, mach.amd_gfx, strict=True) if not g]
    if unknown:
        warnings.append(
            f"{', '.join(dict.fromkeys(unknown))}: gfx target unknown; kernel coverage not checked"
        )
    missing = [g for g in targets if g not in entry.gfx]
    for gfx in missing:
        o = m.rocm_override_for([gfx], entry.gfx)
        hint = (
            f"; {o.family}x cards often run {o.runs}'s kernels with HSA_OVERRIDE_GFX_VERSION={o.value} "
            "(not supported by AMD)"
            if o
            else ""
        )
        warnings.append(
            f"{gfx}: torch {label} carries no kernels for it (its ROCm wheels carry {', '.join(entry.gfx)}), "
            f"so GPU code fails with 'HIP error: invalid device function'{hint}"
        )
    covered = [g for g in targets if g in entry.gfx]
    return (f"; its wheels carry kernels for {', '.join(covered)}" if covered else ""), warnings


def _bounds(wants: Wants) -> str:
    parts = []
    if wants.torch_text:
        parts.append(f"--torch {wants.torch_text}")
    if wants.cuda:
        parts.append(f"--cuda {wants.cuda}")
    return f" within {' '.join(parts)}" if parts else ""


def _explain_no_fit(mach: Machine, m: Matrix, wants: Wants) -> str:
    """One line: why the newest release the user would accept has no fitting build."""
    versions = [v for v in reversed(m.torch_versions()) if wants.torch is None or wants.torch.contains(v)]
    if not versions:
        return (
            f"--torch {wants.torch_text} matches no torch release in the matrix "
            f"({m.torch_versions()[0]} ... {m.latest_torch()}); pick one of those"
        )
    py = mach.python_mm
    usable = [v for v in versions if m.python_supported(v, mach.python, mach.os, mach.machine) is not False]
    if not usable:
        return f"no torch release{_bounds(wants)} has a wheel for Python {py}; use another Python"
    glibc_ok = [v for v in usable if mach.os != "linux" or _glibc_meets(mach.glibc, m.glibc_floor(v))]
    if not glibc_ok:
        return (
            f"glibc {mach.glibc} is older than every torch release{_bounds(wants)} needs; use a newer Linux"
        )
    if wants.variant and wants.variant != "cpu":
        glibc_ok = [v for v in glibc_ok if wants.variant in m.variants_for(v, machine=mach.machine)]
        if not glibc_ok:
            return f"no torch release{_bounds(wants)} has a {wants.variant} build; drop --cuda or pick another version"
    builds = [
        (v, var)
        for v in glibc_ok
        for var in ([wants.variant] if wants.variant else m.variants_for(v, machine=mach.machine))
    ]
    covering = [(v, var) for v, var in builds if _covers(m, mach, v, var)]
    if not covering:
        for name, cc in mach.gpus:
            if cc and not any(
                _covers(m, Machine(**{**mach.__dict__, "gpus": [(name, cc)]}), v, var) for v, var in builds
            ):
                return (
                    f"no torch build{_bounds(wants)} carries code for {name} (sm_{cc.replace('.', '')}); "
                    "pass --cpu for a CPU build"
                )
        return f"no torch build{_bounds(wants)} covers these GPUs together; limit CUDA_VISIBLE_DEVICES or pass --cpu"

    def floor(build: tuple[str, str]) -> str:
        cuda = variant_cuda(build[1])
        return m.minor_compat_floor(cuda, mach.os) or m.min_driver(cuda, mach.os) or "?"

    v, var = covering[0]
    low = min(covering, key=lambda b: driver_tuple(floor(b)) or (999,))
    have = mach.driver or f"a driver for CUDA {mach.cuda_max}"
    oldest = (
        ""
        if low == (v, var)
        else f"; the oldest driver any of them accepts is {floor(low)} (torch {low[0]}+{low[1]})"
    )
    return (
        f"no torch build{_bounds(wants)} runs on driver {have}: the newest that covers the GPUs, "
        f"torch {v}+{var}, needs driver >= {floor((v, var))}{oldest}; upgrade the NVIDIA driver or pass --cpu"
    )


def _covers(m: Matrix, mach: Machine, version: str, variant: str) -> bool:
    entry = m.archs_for(version, variant, mach.machine)
    return entry is not None and all(m.arch_support(entry, cc, mach.os) for cc in mach.ccs)


def _glibc_meets(have: str | None, floor: str | None) -> bool:
    hv, fv = parse_version(have), parse_version(floor)
    return hv is None or fv is None or hv >= fv


def cuda_major(variant: str | None) -> int | None:
    t = cuda_tuple(variant_cuda(variant))
    return t[0] if t else None


def torch_requirement(
    m: Matrix, mach: Machine, version: str, variant: str
) -> tuple[str, str | None, list[str], str]:
    """``(requirement, index_url, fallback_requirements, fallback_note)`` for the torch step."""
    if mach.os == "darwin":
        return f"torch=={version}", None, [f"torch=={version}"], ""
    req = f"torch=={version}+{variant}"
    default = m.default_variant(version, mach.os, mach.machine)
    if variant == default:
        return (
            req,
            m.index_url(variant),
            [f"torch=={version}"],
            f"PyPI's torch {version} is the same {variant} build",
        )
    note = f"only a mirror or --find-links folder that carries torch {version}+{variant} can supply it"
    return req, m.index_url(variant), [req], note


def python_ok(spec_text: str | None, python: str | None) -> bool:
    """A Python floor check that passes when either side is unknown."""
    mm = python_mm(python)
    return not spec_text or mm is None or spec_contains(spec_text, mm)
