"""Turn the compat matrix into checks a registry can answer (see ``verify.py``).

One function per part of the matrix. Facts about a version *range* (a
bitsandbytes or transformers floor that holds for ``>=5.1,<5.15``) are
checked on the oldest and the newest release inside the range that the
registry lists, so a first and a last release that disagree with the matrix
are both caught.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from loradoc.compat.schema import BnbRelease, HfFloor, MatrixData, TorchRelease, XformersRelease
from loradoc.upkeep.checks import (
    DefaultVariantCheck,
    ExistsCheck,
    PlatformCheck,
    PythonRangeCheck,
    PythonsCheck,
    RequiresCheck,
    RequiresPythonCheck,
    Unverifiable,
    WheelTagCheck,
    first_python,
)
from loradoc.upkeep.registry import FOUND, NOT_FOUND, PYPI_SIMPLE, Index, Target, VersionList
from loradoc.upkeep.verify import MISMATCH, UNVERIFIED, Answers, Check, Listing, Question, Result, spec_text

PYPI = Index()
MACOS_X86_64 = "macosx_14_0_x86_64"  # pip widens a macOS tag to the older releases itself
WINDOWS = "win_amd64"
_REQ_EXTRA = re.compile(r"^(?P<req>[^()]+?)\s*\((?P<extra>[\w-]+) extra\)\s*$")
_NEWEST_KNOWN = re.compile(r"newest known (\d[\w.]*)")


@dataclass(frozen=True)
class Indexes:
    """Where each fact is asked: PyPI (or a stand-in) and the PyTorch variant indexes."""

    pypi: Index = field(default_factory=Index)
    torch_pattern: str | None = None  # "https://download.pytorch.org/whl/{variant}"; None: the matrix's

    def torch(self, matrix: MatrixData, variant: str) -> Index:
        pattern = self.torch_pattern or matrix.index_url_pattern
        return Index(pattern.format(variant=variant))


def source_key(entry_source: str, key: str) -> str:
    """``[KEY]`` when the matrix entry cites it, else the entry's own source text."""
    tag = f"[{key}]"
    return tag if tag in entry_source else entry_source


# -- torch ---------------------------------------------------------------------------


def torch_checks(m: MatrixData, ix: Indexes) -> list[Check]:
    out: list[Check] = []
    for series in m.torch:
        for version in series.versions:
            out += torch_release_checks(m, ix, series, version)
        out.append(
            Unverifiable(
                f"torch {series.series} Linux builds use the {'cxx11' if series.cxx11_abi else 'pre-cxx11'} C++ ABI"
                + (f" ({', '.join(series.cxx11_abi_variants)} differ)" if series.cxx11_abi_variants else ""),
                series.source,
                "inside the wheel's binaries; package metadata does not say",
            )
        )
    return out


def torch_release_checks(m: MatrixData, ix: Indexes, series: TorchRelease, version: str) -> list[Check]:
    src = series.source
    pythons = (*series.python, *(p + "t" for p in series.free_threaded))
    out: list[Check] = [
        PythonsCheck("torch", version, pythons, source_key(src, "PYPI"), index=ix.pypi),
        RequiresPythonCheck("torch", version, series.requires_python, source_key(src, "PIP"), index=ix.pypi),
        DefaultVariantCheck(version, series.pypi_default, source_key(src, "PIP"), index=ix.pypi),
        WheelTagCheck("torch", version, series.platform_tag, source_key(src, "PYPI"), index=ix.pypi),
        PlatformCheck(
            "torch",
            version,
            MACOS_X86_64,
            series.macos_x86_64,
            source_key(src, "PYPI"),
            python=first_python(series.python),
            index=ix.pypi,
            fact=f"torch {version} {'has' if series.macos_x86_64 else 'has no'} macOS x86_64 wheel",
        ),
    ]
    if series.aarch64_platform_tag and series.pypi_default_aarch64:
        out.append(
            DefaultVariantCheck(
                version,
                series.pypi_default_aarch64,
                source_key(src, "PIP"),
                index=ix.pypi,
                platform=series.aarch64_platform_tag,
            )
        )
    if series.aarch64_platform_tag:
        out.append(
            PlatformCheck(
                "torch",
                version,
                series.aarch64_platform_tag,
                True,
                source_key(src, "PYPI"),
                python=first_python(series.python),
                exact=True,
                index=ix.pypi,
                fact=f"torch {version} Linux aarch64 wheel is tagged {series.aarch64_platform_tag}",
            )
        )
    for variant in series.all_variants:
        kind = "experimental" if variant in series.experimental else "stable"
        index = ix.torch(m, variant)
        out.append(
            ExistsCheck(
                f"torch=={version}+{variant}",
                index,
                f"torch {version}+{variant} ({kind}) on {index.url}",
                source_key(src, "RM"),
                pythons=series.python,
            )
        )
    if series.rocm:
        variant = f"rocm{series.rocm}"
        index = ix.torch(m, variant)
        out.append(
            ExistsCheck(
                f"torch=={version}+{variant}",
                index,
                f"torch {version}+{variant} on {index.url}",
                source_key(src, "RM"),
                pythons=series.python,
            )
        )
    return out


# -- xformers ------------------------------------------------------------------------


def xformers_checks(m: MatrixData, ix: Indexes) -> list[Check]:
    out: list[Check] = []
    for r in m.xformers.releases:
        out += _xformers_release_checks(r, ix, m.xformers.index_url)
    for pin in m.xformers.git_pins:
        out.append(
            Unverifiable(
                f"xformers source build for torch {pin.torch} at commit {pin.commit[:12]}",
                pin.source,
                "a git commit: no package index can confirm it",
            )
        )
    return out


def _xformers_release_checks(r: XformersRelease, ix: Indexes, pattern: str) -> list[Check]:
    src = r.source
    out: list[Check] = []
    for variant in r.index_variants:
        index = Index(
            ix.torch_pattern.format(variant=variant) if ix.torch_pattern else pattern.format(variant=variant)
        )
        fact = f"xformers {r.version} wheels on {index.url}"
        py = (first_python(r.python),)
        out.append(
            ExistsCheck(f"xformers=={r.version}", index, fact, source_key(src, "XF-WHEELS"), pythons=py)
        )
    out += [
        RequiresCheck("xformers", r.version, "torch", r.torch, source_key(src, "PIP"), index=ix.pypi),
        PythonRangeCheck("xformers", r.version, r.python, source_key(src, "PYPI"), index=ix.pypi),
        PlatformCheck(
            "xformers",
            r.version,
            WINDOWS,
            r.windows,
            source_key(src, "PYPI"),
            python=first_python(r.python),
            index=ix.pypi,
            fact=f"xformers {r.version} {'has' if r.windows else 'has no'} Windows wheel",
        ),
    ]
    if r.platform_tag:
        out.append(
            WheelTagCheck("xformers", r.version, r.platform_tag, source_key(src, "PYPI"), index=ix.pypi)
        )
    if r.abi3:
        out.append(
            WheelTagCheck(
                "xformers",
                r.version,
                "abi3",
                source_key(src, "PYPI"),
                index=ix.pypi,
                alternatives=("none",),  # py39-none (0.0.35) is Python-independent too
                fact=f"xformers {r.version} is one wheel for every Python (abi3 or none ABI tag)",
            )
        )
    built = [
        f"torch {r.built_with_torch}" if r.built_with_torch else "",
        f"CUDA {r.built_with_cuda}" if r.built_with_cuda else "",
        f"nvcc {r.built_with_nvcc}" if r.built_with_nvcc else "",
        f"archs {r.built_archs}" if r.built_archs else "",
    ]
    if any(built):
        out.append(
            Unverifiable(
                f"xformers {r.version} PyPI wheel built with " + ", ".join(b for b in built if b),
                source_key(src, "WHL"),
                "the wheel's build info; package metadata does not say",
            )
        )
    if r.cuda_major is not None:
        out.append(
            Unverifiable(
                f"xformers {r.version} PyPI wheel links CUDA {r.cuda_major} runtime",
                source_key(src, "WHL"),
                "the wheel's ELF NEEDED entries; package metadata does not say",
            )
        )
    return out


# -- flash-attn ----------------------------------------------------------------------


@dataclass
class SdistOnlyCheck:
    """``package==version`` is on the index as a source distribution and has no wheel there."""

    package: str
    version: str
    source: str
    index: Index = field(default_factory=Index)
    fact: str = ""

    def __post_init__(self) -> None:
        if not self.fact:
            self.fact = f"{self.package} {self.version} is on PyPI as an sdist only"

    def _listings(self) -> tuple[Listing, Listing]:
        t = Target("3.12")
        any_file = Listing(self.package, t, self.index, binary_only=False, ignore_requires_python=True)
        wheels = Listing(self.package, t, self.index, binary_only=True, ignore_requires_python=True)
        return any_file, wheels

    def asks(self, answers: Answers) -> list[Question]:
        return list(self._listings())

    def judge(self, answers: Answers) -> Result:
        any_file, wheels = (answers.get(q) for q in self._listings())
        for a in (any_file, wheels):
            if not isinstance(a, VersionList) or a.status not in (FOUND, NOT_FOUND):
                detail = f"{a.status}: {a.detail}" if a else "not asked"
                return Result(self.fact, self.source, UNVERIFIED, detail, self.index.label)
        assert isinstance(any_file, VersionList) and isinstance(wheels, VersionList)
        listed = self.version in any_file.versions
        wheel = self.version in wheels.versions
        if listed and not wheel:
            return Result(self.fact, self.source, "ok", "sdist, no wheel", self.index.label)
        observed = "not on the index" if not listed else "has a wheel for Linux x86_64 CPython 3.12"
        return Result(self.fact, self.source, MISMATCH, observed, self.index.label)


def flash_attn_checks(m: MatrixData, ix: Indexes) -> list[Check]:
    out: list[Check] = []
    for r in m.flash_attn.releases:
        for v in r.versions:
            out.append(SdistOnlyCheck("flash-attn", v, "[PYPI]", index=ix.pypi))
        torches = sorted({t for b in r.builds for t in b.torch}, key=_vkey)
        out.append(
            Unverifiable(
                f"flash-attn {'/'.join(r.versions)} GitHub wheels: torch {', '.join(torches)}, "
                f"CUDA {', '.join(r.cuda)}, Python {spec_text(r.python)}",
                r.source,
                "GitHub release assets; not a package index",
            )
        )
    fa3 = m.flash_attn_3
    if fa3 is not None:
        out.append(
            Unverifiable(
                f"{fa3.distribution} {fa3.version} wheels on PyTorch's {', '.join(fa3.variants)} indexes "
                f"(torch >= {fa3.min_torch}, {', '.join(fa3.platforms)}, Python {spec_text(fa3.python)})",
                fa3.source,
                "the wheels' platform tags are unconfirmed: a pip query could not tell a missing wheel from "
                "a tag it was not asked for; read the index pages (whl/cuXXX/flash-attn-3/)",
            )
        )
    return out


# -- ranges: bitsandbytes and the Hugging Face packages -------------------------------


@dataclass(frozen=True)
class RangeFact:
    """Checks that hold for every release of ``package`` in ``versions``: built for one release."""

    package: str
    versions: str
    source: str
    build: Callable[[str], list[Check]]
    exact: tuple[str, ...] = ()  # versions named exactly (``==0.48.2``): checked even when not listed


def listing_for_ranges(package: str, ix: Indexes) -> Listing:
    return Listing(package, Target("3.12"), ix.pypi, binary_only=False, ignore_requires_python=True)


def range_ends(spec: str, listed: Sequence[str]) -> list[str]:
    """The oldest and newest final releases in ``listed`` that ``spec`` contains
    (only the newest when the range has no lower bound)."""
    try:
        s = SpecifierSet(spec)
    except InvalidSpecifier:
        return []
    inside = sorted({v for v in listed if _final(v) and s.contains(v)}, key=_vkey)
    if not inside:
        return []
    if not any(sp.operator in (">", ">=", "==", "~=", "===") for sp in s):
        return [inside[-1]]  # no lower bound: the oldest release is not what the fact is about
    return list(dict.fromkeys([inside[0], inside[-1]]))


def bnb_release_checks(r: BnbRelease, v: str, index: Index = PYPI) -> list[Check]:
    checks: list[Check] = [
        RequiresCheck("bitsandbytes", v, "torch", r.torch, source_key(r.source, "PIP"), index=index)
    ]
    if r.python:
        checks.append(
            RequiresPythonCheck("bitsandbytes", v, r.python, source_key(r.source, "PIP"), index=index)
        )
    if r.pure_python:
        checks.append(
            WheelTagCheck(
                "bitsandbytes",
                v,
                "any",
                source_key(r.source, "PYPI"),
                index=index,
                fact=f"bitsandbytes {v} is a pure-Python (py3-none-any) wheel",
            )
        )
    if r.cuda_libs or r.rocm_libs:
        checks.append(
            Unverifiable(
                f"bitsandbytes {v} Linux wheel ships {', '.join((*(r.cuda_libs or ()), *r.rocm_libs))}",
                source_key(r.source, "WHL"),
                "files inside the wheel; package metadata does not say",
            )
        )
    return checks


def bnb_checks(m: MatrixData, ix: Indexes) -> list[Check]:
    """Facts of the bitsandbytes table that name one release: the first native Windows wheel."""
    first = m.bitsandbytes.windows_since
    if not first:
        return []
    return [
        PlatformCheck(
            "bitsandbytes",
            first,
            "win_amd64",
            True,
            source_key(m.bitsandbytes.source, "PYPI"),
            exact=True,
            index=ix.pypi,
            fact=f"bitsandbytes {first} has a win_amd64 wheel (its first native Windows build)",
        )
    ]


def bnb_ranges(m: MatrixData, ix: Indexes) -> list[RangeFact]:
    return [
        RangeFact(
            "bitsandbytes",
            r.versions,
            r.source,
            partial(bnb_release_checks, r, index=ix.pypi),
            _exact(r.versions),
        )
        for r in m.bitsandbytes.releases
    ]


def hf_release_checks(f: HfFloor, v: str, index: Index = PYPI) -> list[Check]:
    src = source_key(f.source, "PIP")
    extra = "torch" if f.torch_extra else ""
    torch_spec = f.torch if f.torch_declared else None  # None: expect no requirement on torch
    checks: list[Check] = [RequiresCheck(f.package, v, "torch", torch_spec, src, extra=extra, index=index)]
    if f.python:
        checks.append(RequiresPythonCheck(f.package, v, f.python, src, index=index))
    for line in f.requires:
        parsed = parse_requires(line)
        if parsed is None:
            checks.append(Unverifiable(f"{f.package} {v} requires {line}", src, "not a requirement line"))
            continue
        name, spec, dep_extra = parsed
        checks.append(
            RequiresCheck(f.package, v, name, spec, src, extra=dep_extra, includes=True, index=index)
        )
    return checks


def hf_ranges(m: MatrixData, ix: Indexes) -> list[RangeFact]:
    return [
        RangeFact(
            f.package, f.versions, f.source, partial(hf_release_checks, f, index=ix.pypi), _exact(f.versions)
        )
        for f in m.hf
    ]


@dataclass
class Fixed:
    """A result known without asking (a range with no release on the registry)."""

    fact: str
    source: str
    status: str
    observed: str

    def asks(self, answers: Answers) -> list[Question]:
        return []

    def judge(self, answers: Answers) -> Result:
        return Result(self.fact, self.source, self.status, self.observed, "")


def expand_ranges(ranges: Sequence[RangeFact], listings: Mapping[str, VersionList]) -> list[Check]:
    """Each range's checks, built for its oldest and newest listed release."""
    out: list[Check] = []
    for rf in ranges:
        listed = listings.get(rf.package)
        if listed is None or listed.status != FOUND:
            detail = f"{listed.status}: {listed.detail}" if listed else "not listed"
            out.append(Fixed(f"{rf.package} {spec_text(rf.versions)} facts", rf.source, UNVERIFIED, detail))
            continue
        ends = range_ends(rf.versions, listed.versions) or list(rf.exact)
        if not ends:
            out.append(
                Fixed(
                    f"{rf.package} has releases {spec_text(rf.versions)}",
                    rf.source,
                    MISMATCH,
                    f"none listed on {listed.index}",
                )
            )
            continue
        for v in ends:
            out += rf.build(v)
    return out


# -- newest known ----------------------------------------------------------------------


def known_newest(m: MatrixData) -> dict[str, str]:
    """The newest release of each package the matrix knows (from versions, bounds and notes)."""
    seen: dict[str, list[str]] = {}

    def add(pkg: str, versions: Sequence[str]) -> None:
        seen.setdefault(pkg, []).extend(v for v in versions if _parse(v))

    add("torch", [v for s in m.torch for v in s.versions])
    add("xformers", [r.version for r in m.xformers.releases])
    add("flash-attn", [v for r in m.flash_attn.releases for v in r.versions])
    for r in m.bitsandbytes.releases:
        add("bitsandbytes", _spec_versions(r.versions) + _NEWEST_KNOWN.findall(r.note or ""))
    for f in m.hf:
        add(f.package, _spec_versions(f.versions) + _NEWEST_KNOWN.findall(f.note or ""))
    return {pkg: max(vs, key=_vkey) for pkg, vs in seen.items() if vs}


# -- helpers ---------------------------------------------------------------------------


def _parse(v: str) -> Version | None:
    try:
        return Version(v)
    except InvalidVersion:
        return None


def _vkey(v: str) -> Version:
    return _parse(v) or Version("0")


def _final(v: str) -> bool:
    p = _parse(v)
    return p is not None and not p.is_prerelease and not p.is_devrelease


def _spec_versions(spec: str) -> list[str]:
    """The releases a specifier names itself: its inclusive bounds (``<5.25`` names no release)."""
    try:
        return [s.version for s in SpecifierSet(spec) if s.operator in (">=", "<=", "==", "~=", "===")]
    except InvalidSpecifier:
        return []


def _exact(spec: str) -> tuple[str, ...]:
    try:
        return tuple(s.version for s in SpecifierSet(spec) if s.operator == "==" and "*" not in s.version)
    except InvalidSpecifier:
        return ()


def parse_requires(line: str) -> tuple[str, str, str] | None:
    """``"accelerate>=1.1.0 (torch extra)"`` -> ("accelerate", ">=1.1.0", "torch")."""
    extra = ""
    m = _REQ_EXTRA.match(line)
    if m:
        line, extra = m.group("req"), m.group("extra")
    try:
        req = Requirement(line.strip())
    except InvalidRequirement:
        return None
    return req.name, str(req.specifier), extra


__all__ = [
    "PYPI_SIMPLE",
    "Indexes",
    "RangeFact",
    "bnb_checks",
    "bnb_ranges",
    "bnb_release_checks",
    "expand_ranges",
    "flash_attn_checks",
    "hf_ranges",
    "hf_release_checks",
    "known_newest",
    "listing_for_ranges",
    "parse_requires",
    "torch_checks",
    "torch_release_checks",
    "xformers_checks",
]
