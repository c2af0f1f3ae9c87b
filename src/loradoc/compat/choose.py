"""Pick torch builds that fit a machine: the driver must run the build's CUDA *and* the build
must carry code for every GPU (nobody but unsloth's shell installer checks both), the
Python must have a wheel, and glibc must meet the wheel tag.

``torch_choices`` ranks every fitting build; ``best_torch`` takes the first. Both are pure
functions of the matrix and the facts passed in, so ``doctor check`` (fixes) and ``doctor
install`` (plans) agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from loradoc.compat.queries import Matrix, norm_os
from loradoc.compat.versions import cuda_tuple, parse_version, public, variant_cuda


@dataclass(frozen=True)
class TorchChoice:
    version: str
    variant: str  # "cu126", "cpu"
    cuda: str | None
    command: str
    via_minor_compat: bool = False  # the driver runs it only with limited features
    via_ptx: bool = False  # some GPU runs it only through PTX JIT
    experimental: bool = False
    driver_known: bool = True
    arch_verified: bool = True
    driver_runs: str | None = None  # driver version unknown, but it ran a build of this CUDA major
    min_driver: str | None = None  # the oldest driver that runs this build's CUDA (minor-version compat)
    # driver unknown: the newest build of each newer CUDA major, for a driver that runs it
    newer: tuple[TorchChoice, ...] = ()

    @property
    def command_or_newer(self) -> str:
        """The install command, then on "or:" lines the builds a newer driver runs (``newer``)."""
        return "\n".join([self.command, *(f"or: {c.command}" for c in self.newer)])

    @property
    def index_url(self) -> str | None:
        return None if "--index-url" not in self.command else self.command.rsplit(" ", 1)[-1]


def _glibc_ok(have: str | None, floor: str | None) -> bool:
    hv, fv = parse_version(have), parse_version(floor)
    return hv is None or fv is None or hv >= fv


def torch_choices(
    m: Matrix,
    *,
    os: str | None = "linux",
    machine: str | None = None,
    python: str | None = None,
    glibc: str | None = None,
    driver: str | None = None,
    cuda_max: str | None = None,
    ccs: Sequence[str | None] = (),
    version: str | None = None,
    gpu: bool | None = None,
    extra: tuple[str, ...] = (),
    cuda_floor: str | None = None,
) -> list[TorchChoice]:
    """Every torch build that fits, best first.

    ``version`` pins the release (its variants are ranked); otherwise releases are scanned
    newest first. ``ccs`` are the GPUs' compute capabilities (None entries are ignored).
    ``gpu`` False (or macOS) asks for CPU builds; None infers a GPU from the driver facts, and
    with none of those answers with PyPI's own default build (a plain ``pip install``).
    Within a release: full driver compatibility before minor-version compatibility, native
    SASS before PTX JIT, stable before experimental; then the highest CUDA the driver fully
    runs (or, under minor-version compatibility, the lowest above it). With a GPU but nothing
    known about the driver, the lowest CUDA that covers the GPUs comes first: it runs on the
    widest range of drivers (the choice says so, ``driver_known`` False); across releases
    (no ``version``) see :func:`_widest_first`. ``cuda_floor``: the driver is known to run this
    CUDA's major without its version being known (it initialised such a build), so no build of
    that major or below is narrower than another.
    """
    system = norm_os(os) or "linux"
    known_ccs = [c for c in ccs if c]
    if gpu is None and (driver or cuda_max or known_ccs):
        gpu = True
    if version is not None:
        versions = [public(version)] if m.is_known_torch(version) else []
    else:
        versions = list(reversed(m.torch_versions()))
    out: list[TorchChoice] = []
    for v in versions:
        if v is None:
            continue
        if m.python_supported(v, python, system, machine) is False:
            continue
        if system == "linux" and not _glibc_ok(glibc, m.glibc_floor(v)):
            continue
        rel = m.torch_release(v)
        if (
            system == "darwin"
            and (machine or "").lower() in ("x86_64", "amd64")
            and rel
            and not rel.macos_x86_64
        ):
            continue
        if gpu is None and system != "darwin":  # nothing known: what PyPI gives
            variant = m.default_variant(v, system, machine) or "pypi"
            names = " ".join((f"torch=={v}", *extra))
            out.append(
                TorchChoice(v, variant, variant_cuda(variant), f"pip install {names}", driver_known=False)
            )
            continue
        if not gpu or system == "darwin":
            out.append(TorchChoice(v, "cpu", None, m.torch_install_command(v, "cpu", os=system, extra=extra)))
            continue
        out.extend(_rank(m, v, system, machine, driver, cuda_max, known_ccs, extra))
    if version is None and gpu and not driver and not cuda_max and out:
        out = _widest_first(out, cuda_floor)
    return out


def _widest_first(choices: list[TorchChoice], cuda_floor: str | None = None) -> list[TorchChoice]:
    """Nothing known about the driver: put first the build that covers the GPUs (those known) on
    the widest range of drivers. A driver runs every minor of a CUDA major it supports, so the
    lowest CUDA major wins, then the newest release offering it (``choices`` is newest release
    first; the sort is stable). Majors up to ``cuda_floor``'s all run on this driver, so they
    rank alike. The first choice carries, in ``newer``, the newest build of each newer CUDA
    major: what a newer driver runs (a newer torch, and GPUs newer than the widest build)."""
    floor = (cuda_tuple(cuda_floor) or (0, 0))[0]

    def major(c: TorchChoice) -> int:
        return (cuda_tuple(c.cuda) or (99, 0))[0]

    def width(c: TorchChoice) -> int:
        return max(floor, major(c))

    ranked = sorted(choices, key=lambda c: (c.via_ptx, c.experimental, width(c)))
    if floor:
        ranked = [replace(c, driver_runs=f"{floor}.x") if major(c) <= floor else c for c in ranked]
    newer: dict[int, TorchChoice] = {}
    for c in ranked[1:]:
        if major(c) > width(ranked[0]) and not (c.via_ptx or c.experimental):
            newer.setdefault(major(c), c)
    ranked[0] = replace(ranked[0], newer=tuple(newer[k] for k in sorted(newer)))
    return ranked


def _rank(
    m: Matrix,
    version: str,
    system: str,
    machine: str | None,
    driver: str | None,
    cuda_max: str | None,
    ccs: Iterable[str],
    extra: tuple[str, ...],
) -> list[TorchChoice]:
    scored: list[tuple[tuple[object, ...], TorchChoice]] = []
    for variant in m.variants_for(version, machine=machine):
        cuda = variant_cuda(variant)
        cov = m.coverage(cuda, system, driver=driver, cuda_max=cuda_max)
        if cov.ok is False:
            continue
        entry = m.archs_for(version, variant, machine)
        if entry is None:
            continue
        support = [m.arch_support(entry, cc, system) for cc in ccs]
        if None in support:
            continue
        choice = TorchChoice(
            version=version,
            variant=variant,
            cuda=cuda,
            command=m.torch_install_command(version, variant, os=system, extra=extra),
            via_minor_compat=cov.via_minor_compat,
            via_ptx="ptx" in support,
            experimental=m.is_experimental(version, variant),
            driver_known=cov.ok is not None,
            arch_verified=entry.verified,
            min_driver=m.minor_compat_floor(cuda, system) or m.min_driver(cuda, system),
        )
        ct = cuda_tuple(cuda) or (0, 0)
        # With the driver known: the highest CUDA it fully runs (or, under minor-version
        # compatibility, the lowest above it). Unknown: the lowest CUDA that covers the GPUs,
        # which runs on the widest range of drivers.
        cuda_rank = ct if cov.via_minor_compat or cov.ok is None else (-ct[0], -ct[1])
        scored.append(((choice.via_minor_compat, choice.via_ptx, choice.experimental, cuda_rank), choice))
    scored.sort(key=lambda pair: pair[0])
    return [c for _, c in scored]


def best_torch(m: Matrix, **facts: object) -> TorchChoice | None:
    """The first of ``torch_choices(m, **facts)``, or None when nothing fits."""
    choices = torch_choices(m, **facts)  # type: ignore[arg-type]
    return choices[0] if choices else None
