"""A verify run: the registries it asks, the checks it builds from the matrix, the report.

``verify_matrix`` is what ``loradoc matrix verify`` runs; ``new_releases`` is
``--new``. Both are plain functions of a matrix and a :class:`Session`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

from loradoc.compat.schema import MatrixData
from loradoc.upkeep.checklist import (
    Indexes,
    RangeFact,
    bnb_checks,
    bnb_ranges,
    expand_ranges,
    flash_attn_checks,
    hf_ranges,
    known_newest,
    listing_for_ranges,
    torch_checks,
    xformers_checks,
)
from loradoc.upkeep.registry import FOUND, Index, Registry, Target, VersionList
from loradoc.upkeep.verify import Check, Listing, Result, answer_all, run_checks, summary

PARTS = ("torch", "xformers", "flash-attn", "bitsandbytes", "hf")


@dataclass
class Session:
    """Settings shared by every registry a run talks to."""

    indexes: Indexes = field(default_factory=Indexes)
    cache_dir: Path | None = None
    use_cache: bool = True
    workers: int = 8
    timeout_s: float = 20.0
    _registries: dict[Index, Registry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def registry_for(self, index: Index) -> Registry:
        with self._lock:
            if index not in self._registries:
                self._registries[index] = Registry(
                    index=index,
                    cache_dir=self.cache_dir,
                    use_cache=self.use_cache,
                    timeout_s=self.timeout_s,
                )
            return self._registries[index]

    @property
    def pip_calls(self) -> int:
        return sum(r.calls for r in self._registries.values())


@dataclass
class Report:
    results: list[Result]
    seconds: float
    pip_calls: int

    @property
    def counts(self) -> dict[str, int]:
        return summary(self.results)

    @property
    def ok(self) -> bool:
        return self.counts.get("mismatch", 0) == 0

    def to_dict(self) -> dict[str, object]:
        return {
            "counts": self.counts,
            "seconds": round(self.seconds, 1),
            "pip_calls": self.pip_calls,
            "results": [r.to_dict() for r in self.results],
        }


def build_checks(m: MatrixData, session: Session, parts: Sequence[str] = PARTS) -> list[Check]:
    """Every check for the chosen parts of the matrix; ranges are expanded against the registry."""
    ix = session.indexes
    checks: list[Check] = []
    if "torch" in parts:
        checks += torch_checks(m, ix)
    if "xformers" in parts:
        checks += xformers_checks(m, ix)
    if "flash-attn" in parts:
        checks += flash_attn_checks(m, ix)
    ranges: list[RangeFact] = []
    if "bitsandbytes" in parts:
        checks += bnb_checks(m, ix)
        ranges += bnb_ranges(m, ix)
    if "hf" in parts:
        ranges += hf_ranges(m, ix)
    if ranges:
        listings = {rf.package: listing_for_ranges(rf.package, ix) for rf in ranges}
        answers = answer_all(session.registry_for, list(listings.values()), session.workers)
        listed = {pkg: answers[q] for pkg, q in listings.items()}
        checks += expand_ranges(ranges, {k: v for k, v in listed.items() if isinstance(v, VersionList)})
    return checks


def verify_matrix(m: MatrixData, session: Session, parts: Sequence[str] = PARTS) -> Report:
    start = time.monotonic()
    checks = build_checks(m, session, parts)
    results = run_checks(checks, session.registry_for, session.workers)
    return Report(results, time.monotonic() - start, session.pip_calls)


@dataclass(frozen=True)
class NewRelease:
    package: str
    version: str
    known: str  # the newest release the matrix knows
    index: str


@dataclass
class NewReport:
    releases: list[NewRelease]
    unlisted: dict[str, str]  # package -> why the registry gave no list


def new_releases(m: MatrixData, session: Session, *, pythons: Sequence[str] | None = None) -> NewReport:
    """Releases on the registry newer than the newest the matrix knows, per package.

    Listed for several Pythons (the newest torch's, and the one after), since a
    new torch may drop the oldest Python or add the next one.
    """
    known = known_newest(m)
    if pythons is None:
        newest = m.torch[-1].python if m.torch else ("3.12",)
        last = newest[-1]
        major, minor = last.split(".")[:2]
        pythons = (*newest[-3:], f"{major}.{int(minor) + 1}")
    pypi = session.indexes.pypi
    questions = [
        Listing(pkg, Target(py), pypi, binary_only=False, ignore_requires_python=True)
        for pkg in known
        for py in pythons
    ]
    answers = answer_all(session.registry_for, questions, session.workers)
    out: list[NewRelease] = []
    unlisted: dict[str, str] = {}
    for pkg, newest_known in known.items():
        floor = _v(newest_known)
        found: set[str] = set()
        for q in questions:
            a = answers[q]
            if q.name != pkg or not isinstance(a, VersionList):
                continue
            if a.status == FOUND:
                found.update(a.versions)
            elif a.status != "not-found":
                unlisted[pkg] = f"{a.status}: {a.detail}"
        newer = [v for v in found if not _pre(v) and floor is not None and _key(v) > floor]
        out += [NewRelease(pkg, v, newest_known, pypi.label) for v in sorted(newer, key=_key)]
        if found:
            unlisted.pop(pkg, None)
    return NewReport(out, unlisted)


def _key(text: str) -> Version:
    return _v(text) or Version("0")


def _v(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _pre(text: str) -> bool:
    v = _v(text)
    return v is None or v.is_prerelease or v.is_devrelease
