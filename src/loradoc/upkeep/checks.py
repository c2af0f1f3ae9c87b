"""The kinds of fact ``loradoc matrix verify`` checks, each a small class: what it asks
(``asks``) and how it judges the answers (``judge``). See ``verify.py`` for the questions,
the results and how they are run; ``facts.py`` builds these from the matrix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from loradoc.upkeep.registry_types import FOUND, NOT_FOUND, Index, Release, Target, VersionList
from loradoc.upkeep.verify import (
    DEFAULT_PYTHONS,
    MISMATCH,
    OK,
    UNVERIFIED,
    Answers,
    Ask,
    Listing,
    Question,
    Result,
    found_lookup,
    found_release,
    py_key,
    spec_includes,
    spec_text,
    specs_equal,
    targets_for,
    where_of,
)


@dataclass
class RequiresCheck:
    """``package==version`` declares exactly ``expected`` on ``dependency``.

    ``expected``: a specifier, ``""`` for an unversioned requirement, None for no requirement.
    With ``includes``, the declared specifier only has to contain every clause of
    ``expected`` (the matrix names the bound worth knowing, the package may add others).
    """

    package: str
    version: str
    dependency: str
    expected: str | None
    source: str = "[PIP]"
    extra: str = ""
    pythons: tuple[str, ...] = DEFAULT_PYTHONS
    index: Index = field(default_factory=Index)
    fact: str = ""
    includes: bool = False

    def __post_init__(self) -> None:
        if not self.fact:
            exp = "no requirement" if self.expected is None else spec_text(self.expected)
            via = f" (extra '{self.extra}')" if self.extra else ""
            self.fact = f"{self.package} {self.version} requires {self.dependency} {exp}{via}"

    def _ask(self) -> Ask:
        return Ask(f"{self.package}=={self.version}", targets_for(self.pythons), self.index)

    def asks(self, answers: Answers) -> list[Question]:
        return [self._ask()]

    def judge(self, answers: Answers) -> Result:
        found = found_release(self.fact, self.source, answers.get(self._ask()))
        if isinstance(found, Result):
            return found
        answer, release = found
        req = release.requirement_for(self.dependency, answer.target, self.extra)
        got = req.specifier if req is not None else None
        observed = f"{self.dependency} {spec_text(got)}" if req else f"no requirement on {self.dependency}"
        same = spec_includes(got, self.expected) if self.includes else specs_equal(self.expected, got)
        return Result(self.fact, self.source, OK if same else MISMATCH, observed, where_of(answer))


@dataclass
class RequiresPythonCheck:
    """``package==version`` declares ``Requires-Python: expected``."""

    package: str
    version: str
    expected: str | None
    source: str = "[PIP]"
    pythons: tuple[str, ...] = DEFAULT_PYTHONS
    index: Index = field(default_factory=Index)
    fact: str = ""

    def __post_init__(self) -> None:
        if not self.fact:
            self.fact = f"{self.package} {self.version} Requires-Python {spec_text(self.expected)}"

    def _ask(self) -> Ask:
        return Ask(f"{self.package}=={self.version}", targets_for(self.pythons), self.index)

    def asks(self, answers: Answers) -> list[Question]:
        return [self._ask()]

    def judge(self, answers: Answers) -> Result:
        found = found_release(self.fact, self.source, answers.get(self._ask()))
        if isinstance(found, Result):
            return found
        answer, release = found
        got = release.requires_python
        got_spec = SpecifierSet(got) if got else None
        status = OK if specs_equal(self.expected, got_spec) else MISMATCH
        return Result(self.fact, self.source, status, f"Requires-Python {spec_text(got)}", where_of(answer))


@dataclass
class PythonsCheck:
    """``package==version`` has wheels for exactly ``pythons`` on ``platform``.

    The Pythons next to the list's ends must have none (``exclusive``). A
    free-threaded build is written ``"3.13t"``.
    """

    package: str
    version: str
    pythons: tuple[str, ...]
    source: str = "[PIP]"
    exclusive: bool = True
    platform: str = "manylinux_2_28_x86_64"
    index: Index = field(default_factory=Index)
    fact: str = ""

    def __post_init__(self) -> None:
        if not self.fact:
            what = "Linux x86_64" if "x86_64" in self.platform else self.platform
            self.fact = (
                f"{self.package} {self.version} has {what} wheels for Python {', '.join(self.pythons)}"
            )

    def neighbours(self) -> list[str]:
        plain = sorted({p for p in self.pythons if not p.endswith("t")}, key=py_key)
        if not self.exclusive or not plain:
            return []
        lo, hi = py_key(plain[0]), py_key(plain[-1])
        return [f"{lo[0]}.{lo[1] - 1}", f"{hi[0]}.{hi[1] + 1}"]

    def _listing(self, python: str) -> Listing:
        return Listing(self.package, Target.for_python(python, self.platform), self.index)

    def asks(self, answers: Answers) -> list[Question]:
        return [self._listing(p) for p in (*self.pythons, *self.neighbours())]

    def judge(self, answers: Answers) -> Result:
        missing: list[str] = []
        extra: list[str] = []
        unknown: list[str] = []
        for py in (*self.pythons, *self.neighbours()):
            listed = answers.get(self._listing(py))
            expected = py in self.pythons
            if listed is None or listed.status not in (FOUND, NOT_FOUND):
                unknown.append(
                    f"{py}: {listed.status if listed else 'not asked'} {listed.detail if listed else ''}"
                )
                continue
            has = isinstance(listed, VersionList) and self.version in listed.versions
            if expected and not has:
                missing.append(py)
            elif has and not expected:
                extra.append(py)
        index = self.index.label
        if missing or extra:
            parts = (["no wheel for " + ", ".join(missing)] if missing else []) + (
                ["also wheels for " + ", ".join(extra)] if extra else []
            )
            return Result(self.fact, self.source, MISMATCH, "; ".join(parts), index)
        if unknown:
            return Result(self.fact, self.source, UNVERIFIED, "; ".join(unknown), index)
        around = ", ".join(self.neighbours())
        return Result(
            self.fact, self.source, OK, f"all found; none for {around}" if around else "all found", index
        )


@dataclass
class PythonRangeCheck:
    """``package==version`` has wheels for the Pythons in ``spec`` (say ``>=3.8,<3.12``):
    checked at both ends of the range and just outside them."""

    package: str
    version: str
    spec: str
    source: str = "[PYPI]"
    known: tuple[str, ...] = tuple(f"3.{m}" for m in range(7, 17))
    platform: str = "manylinux_2_28_x86_64"
    index: Index = field(default_factory=Index)
    fact: str = ""

    def __post_init__(self) -> None:
        if not self.fact:
            self.fact = f"{self.package} {self.version} has Linux wheels for Python {spec_text(self.spec)}"

    def probes(self) -> dict[str, bool]:
        """Python -> whether a wheel is expected: the range's ends and their outside neighbours."""
        spec = SpecifierSet(self.spec)
        inside = [p for p in self.known if spec.contains(p + ".0")]
        if not inside:
            return {}
        out = {inside[0]: True, inside[-1]: True}
        idx_lo, idx_hi = self.known.index(inside[0]), self.known.index(inside[-1])
        if idx_lo > 0:
            out[self.known[idx_lo - 1]] = False
        if idx_hi + 1 < len(self.known) and not _open_above(spec):
            out[self.known[idx_hi + 1]] = False
        return out

    def _listing(self, python: str) -> Listing:
        return Listing(self.package, Target.for_python(python, self.platform), self.index)

    def asks(self, answers: Answers) -> list[Question]:
        return [self._listing(p) for p in self.probes()]

    def judge(self, answers: Answers) -> Result:
        wrong, unknown = [], []
        for py, expected in self.probes().items():
            listed = answers.get(self._listing(py))
            if not isinstance(listed, VersionList) or listed.status not in (FOUND, NOT_FOUND):
                unknown.append(f"{py}: {listed.status if listed else 'not asked'}")
                continue
            has = self.version in listed.versions
            if has != expected:
                wrong.append(f"{'a' if has else 'no'} wheel for {py}")
        if wrong:
            return Result(self.fact, self.source, MISMATCH, "; ".join(wrong), self.index.label)
        if unknown:
            return Result(self.fact, self.source, UNVERIFIED, "; ".join(unknown), self.index.label)
        checked = ", ".join(f"{p}{'' if e else ' (none)'}" for p, e in self.probes().items())
        return Result(self.fact, self.source, OK, f"checked {checked}", self.index.label)


def _open_above(spec: SpecifierSet) -> bool:
    return not any(s.operator in ("<", "<=", "==", "~=") for s in spec)


@dataclass
class PlatformCheck:
    """``package==version`` has (``expected``) or has no wheel for ``platform`` and ``python``.

    With ``exact``, only wheels tagged exactly ``platform`` count (not the older
    manylinux tags a machine of that kind also runs), which makes this a check
    of the wheel's tag.
    """

    package: str
    version: str
    platform: str
    expected: bool
    source: str = "[PYPI]"
    python: str = "3.11"
    exact: bool = False
    index: Index = field(default_factory=Index)
    fact: str = ""

    def __post_init__(self) -> None:
        if not self.fact:
            self.fact = (
                f"{self.package} {self.version} {'has' if self.expected else 'has no'} {self.platform} wheel"
            )

    def _listing(self) -> Listing:
        return Listing(
            self.package, Target.for_python(self.python, self.platform, exact=self.exact), self.index
        )

    def asks(self, answers: Answers) -> list[Question]:
        return [self._listing()]

    def judge(self, answers: Answers) -> Result:
        listed = answers.get(self._listing())
        if not isinstance(listed, VersionList) or listed.status not in (FOUND, NOT_FOUND):
            detail = f"{listed.status}: {listed.detail}" if listed else "not asked"
            return Result(self.fact, self.source, UNVERIFIED, detail, self.index.label)
        has = self.version in listed.versions
        tag = " tagged exactly" if self.exact else ""
        observed = f"{'a' if has else 'no'} wheel{tag} {self.platform} for Python {self.python}"
        return Result(
            self.fact, self.source, OK if has == self.expected else MISMATCH, observed, listed.index
        )


def first_python(allowed: Sequence[str] | str, order: Sequence[str] = DEFAULT_PYTHONS) -> str:
    """The first Python of ``order`` in ``allowed`` (a list, or a specifier such as ``>=3.9``)."""
    if isinstance(allowed, str):
        try:
            spec = SpecifierSet(allowed)
        except InvalidSpecifier:
            return order[0]
        return next((p for p in order if spec.contains(p + ".0")), order[0])
    return next((p for p in order if p in allowed), allowed[0] if allowed else order[0])


@dataclass
class WheelTagCheck:
    """The wheel pip picks for ``package==version`` on ``platform`` carries ``tag`` (a platform or
    ABI tag), or one of ``alternatives``."""

    package: str
    version: str
    tag: str
    source: str = "[PYPI]"
    platform: str = "manylinux_2_28_x86_64"
    pythons: tuple[str, ...] = DEFAULT_PYTHONS
    index: Index = field(default_factory=Index)
    fact: str = ""
    alternatives: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.fact:
            self.fact = f"{self.package} {self.version} wheel is tagged {self.tag}"

    def _ask(self) -> Ask:
        return Ask(f"{self.package}=={self.version}", targets_for(self.pythons, self.platform), self.index)

    def asks(self, answers: Answers) -> list[Question]:
        return [self._ask()]

    def judge(self, answers: Answers) -> Result:
        found = found_release(self.fact, self.source, answers.get(self._ask()))
        if isinstance(found, Result):
            return found
        answer, release = found
        filename = release.filename or ""
        tags = set()
        parts = filename.removesuffix(".whl").split("-")
        for part in parts[-3:]:
            tags.update(part.split("."))
        status = OK if tags & {self.tag, *self.alternatives} else MISMATCH
        return Result(self.fact, self.source, status, filename, answer.index)


_CUDA_RUNTIME = re.compile(r"^(nvidia-cuda-runtime(-cu\d+)?|cuda-toolkit)$")


def torch_default_variant(release: Release, target: Target) -> tuple[str, str]:
    """(variant, evidence) of a torch release from its requirements on ``target``:
    ``cu128`` from ``nvidia-cuda-runtime-cu12==12.8.90``, ``cu130`` from
    ``cuda-toolkit[...]==13.0.2``; ``cpu`` when it requires no CUDA runtime."""
    for req in release.requirements(target):
        if _CUDA_RUNTIME.match(req.name.lower().replace("_", "-")):
            pins = [s.version for s in req.specifier if s.operator in ("==", "===")]
            if pins:
                major, minor = pins[0].split(".")[:2]
                return f"cu{major}{minor}", f"{req.name}{req.specifier}"
    return "cpu", "no CUDA runtime requirement"


@dataclass
class DefaultVariantCheck:
    """A plain ``pip install torch==version`` on Linux (x86_64, or the machine of ``platform``)
    gets the build ``expected``: a CUDA variant, or ``cpu``."""

    version: str
    expected: str
    source: str = "[PIP]"
    pythons: tuple[str, ...] = DEFAULT_PYTHONS
    index: Index = field(default_factory=Index)
    fact: str = ""
    platform: str = "manylinux_2_28_x86_64"

    def __post_init__(self) -> None:
        if not self.fact:
            machine = "aarch64" if self.platform.endswith("aarch64") else "x86_64"
            self.fact = f"torch {self.version} PyPI Linux {machine} default is {self.expected}"

    def _ask(self) -> Ask:
        return Ask(f"torch=={self.version}", targets_for(self.pythons, self.platform), self.index)

    def asks(self, answers: Answers) -> list[Question]:
        return [self._ask()]

    def judge(self, answers: Answers) -> Result:
        found = found_release(self.fact, self.source, answers.get(self._ask()))
        if isinstance(found, Result):
            return found
        answer, release = found
        variant, evidence = torch_default_variant(release, answer.target)
        status = OK if variant == self.expected else MISMATCH
        return Result(self.fact, self.source, status, f"{variant} ({evidence})", where_of(answer))


@dataclass
class ExistsCheck:
    """``requirement`` can be installed from ``index`` on one of ``pythons`` (a variant wheel, say)."""

    requirement: str
    index: Index
    fact: str
    source: str
    pythons: tuple[str, ...] = DEFAULT_PYTHONS
    platform: str = "manylinux_2_28_x86_64"

    def _ask(self) -> Ask:
        return Ask(self.requirement, targets_for(self.pythons, self.platform), self.index)

    def asks(self, answers: Answers) -> list[Question]:
        return [self._ask()]

    def judge(self, answers: Answers) -> Result:
        answer = found_lookup(self.fact, self.source, answers.get(self._ask()))
        if isinstance(answer, Result):
            return answer
        return Result(self.fact, self.source, OK, "found", where_of(answer))


@dataclass
class Unverifiable:
    """A fact no registry can confirm (a git commit, a wheel's build flags): reported, not asked."""

    fact: str
    source: str
    reason: str

    def asks(self, answers: Answers) -> list[Question]:
        return []

    def judge(self, answers: Answers) -> Result:
        return Result(self.fact, self.source, UNVERIFIED, self.reason, "")
