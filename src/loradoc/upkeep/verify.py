"""Check facts against what a package index says: each fact ends ok, mismatch or unverified.

A *check* names the fact it confirms (with the matrix's source key), lists the
questions it needs answered and judges the answers. Two kinds of question:

* :class:`Ask`: the metadata of one release (``name==version``), on the first of
  a list of targets that has a wheel for it;
* :class:`Listing`: which releases of a package have a wheel for one target.

The checks themselves live in ``checks.py``.

:func:`run_checks` asks every question once, in parallel, in phases (a check
may ask more once it has seen answers: the newest release inside a range,
say), then judges each check.

A fact no reachable index can confirm (an unreachable index, a git commit, a
wheel whose metadata cannot be had without downloading it) is *unverified*,
never a mismatch: a mismatch means the registry answered, and said something
else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias
from urllib.parse import urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from loradoc.upkeep.registry import (
    FOUND,
    NOT_FOUND,
    UNREACHABLE,
    Index,
    Lookup,
    Registry,
    Target,
    VersionList,
)
from loradoc.upkeep.registry_types import Release

OK = "ok"
MISMATCH = "mismatch"
UNVERIFIED = "unverified"

# The order in which Pythons are tried for a release whose Pythons are not the subject.
DEFAULT_PYTHONS = ("3.11", "3.12", "3.10", "3.13", "3.9", "3.8", "3.14", "3.15")


@dataclass(frozen=True)
class Ask:
    """The metadata of ``requirement`` on the first of ``targets`` with a wheel for it."""

    requirement: str
    targets: tuple[Target, ...]
    index: Index = field(default_factory=Index)


@dataclass(frozen=True)
class Listing:
    """The releases of ``name`` that ``target`` can install from ``index``."""

    name: str
    target: Target
    index: Index = field(default_factory=Index)
    binary_only: bool = True
    ignore_requires_python: bool = False


Question: TypeAlias = Ask | Listing
Answer: TypeAlias = Lookup | VersionList
Answers = Mapping[Question, Answer]


@dataclass(frozen=True)
class Result:
    fact: str  # "xformers 0.0.33.post2 requires torch ==2.9.1"
    source: str  # the matrix's source: "[PIP]; [PYPI]"
    status: str  # ok | mismatch | unverified
    observed: str = ""  # what the registry said
    where: str = ""  # the index and file that answered

    def to_dict(self) -> dict[str, str]:
        return {
            "fact": self.fact,
            "source": self.source,
            "status": self.status,
            "observed": self.observed,
            "where": self.where,
        }


class Check(Protocol):
    fact: str
    source: str

    def asks(self, answers: Answers) -> list[Question]:
        """The questions needed, given the answers so far (asked again until it adds none)."""
        ...

    def judge(self, answers: Answers) -> Result: ...


# -- helpers ---------------------------------------------------------------------------


def targets_for(pythons: Sequence[str], platform: str = "manylinux_2_28_x86_64") -> tuple[Target, ...]:
    return tuple(Target.for_python(p, platform) for p in pythons)


def py_key(python: str) -> tuple[int, int]:
    major, minor = python.rstrip("t").split(".")[:2]
    return int(major), int(minor)


def spec_text(spec: SpecifierSet | str | None) -> str:
    """A specifier in a stable spelling (``<3,>=2.3`` becomes ``>=2.3,<3``); ``(any)`` when empty."""
    if spec is None:
        return "(none)"
    s = spec if isinstance(spec, SpecifierSet) else SpecifierSet(str(spec))
    if not str(s):
        return "(any)"
    order = {">": 0, ">=": 0, "~=": 1, "==": 1, "===": 1, "!=": 2, "<": 3, "<=": 3}
    parts = sorted(s, key=lambda sp: (order.get(sp.operator, 9), sp.version))
    return ",".join(str(p) for p in parts)


def specs_equal(a: str | None, b: SpecifierSet | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    try:
        return SpecifierSet(a) == b
    except InvalidSpecifier:
        return False


def spec_includes(got: SpecifierSet | None, expected: str | None) -> bool:
    """Every clause of ``expected`` is a clause of ``got``."""
    if got is None or expected is None:
        return got is None and expected is None
    try:
        wanted = SpecifierSet(expected)
    except InvalidSpecifier:
        return False
    have = set(got)
    return all(clause in have for clause in wanted)


def where_of(answer: Lookup) -> str:
    name = answer.release.filename if answer.release else None
    return f"{answer.index}: {name}" if name else answer.index


def not_answered(fact: str, source: str, answer: Answer | None) -> Result | None:
    """The Result when ``answer`` is not a found release (or listing), else None."""
    if answer is None:
        return Result(fact, source, UNVERIFIED, "not asked")
    if answer.status == FOUND:
        return None
    if answer.status == NOT_FOUND and isinstance(answer, Lookup):
        seen = ", ".join(answer.available[-6:]) if answer.available else "none"
        return Result(
            fact,
            source,
            MISMATCH,
            f"{answer.requirement} not on {answer.index} for Python {answer.target.label} (newest there: {seen})",
            answer.index,
        )
    if answer.status == NOT_FOUND and isinstance(answer, VersionList):
        return Result(fact, source, MISMATCH, f"no {answer.name} release on {answer.index}", answer.index)
    return Result(fact, source, UNVERIFIED, f"{answer.status}: {answer.detail}", answer.index)


def found_lookup(fact: str, source: str, answer: Answer | None) -> Lookup | Result:
    """The found Lookup a single-question check judges, or the Result that ends the judging:
    ``not_answered``'s verdict, or unverified when the answer is not a lookup."""
    bad = not_answered(fact, source, answer)
    if bad is not None:
        return bad
    if not isinstance(answer, Lookup):
        return Result(fact, source, UNVERIFIED, "no answer")
    return answer


def found_release(fact: str, source: str, answer: Answer | None) -> tuple[Lookup, Release] | Result:
    """``found_lookup``, also requiring the release metadata the check reads."""
    got = found_lookup(fact, source, answer)
    if isinstance(got, Result):
        return got
    if got.release is None:
        return Result(fact, source, UNVERIFIED, "no answer")
    return got, got.release


# -- running ---------------------------------------------------------------------------


class RegistryFactory(Protocol):
    def __call__(self, index: Index) -> Registry: ...


def _host(index: Index) -> str:
    return urlsplit(index.url).netloc or index.url or ",".join(index.find_links)


def _ask_once(registry_for: RegistryFactory, q: Question, target_no: int) -> Answer:
    registry = registry_for(q.index)
    if isinstance(q, Ask):
        return registry.lookup(q.requirement, q.targets[target_no])
    return registry.versions(
        q.name, q.target, binary_only=q.binary_only, ignore_requires_python=q.ignore_requires_python
    )


def _unreachable_copy(q: Question, probe: Answer) -> Answer:
    reason = probe.detail.split(": ", 1)[-1]
    detail = f"{_host(q.index)} ({reason})"
    index = q.index.label
    if isinstance(q, Ask):
        return Lookup(q.requirement, q.targets[0], index, UNREACHABLE, detail=detail)
    return VersionList(q.name, q.target, index, UNREACHABLE, detail=detail)


def answer_all(
    registry_for: RegistryFactory, questions: Sequence[Question], workers: int = 8
) -> dict[Question, Answer]:
    """Answer every question, in parallel.

    One question per index host goes first; a host that cannot be reached
    answers "unreachable" for all its questions without more pip runs. An
    :class:`Ask` whose target has no wheel moves on to its next target.
    """
    pending = list(dict.fromkeys(questions))
    answers: dict[Question, Answer] = {}
    step: dict[Question, int] = {}

    def run(batch: list[Question]) -> list[Question]:
        """Answer ``batch``; return the Asks that go on to their next target."""
        results = list(pool.map(lambda q: _ask_once(registry_for, q, step.get(q, 0)), batch))
        again: list[Question] = []
        for q, a in zip(batch, results, strict=True):
            answers[q] = a
            n = step.get(q, 0)
            if isinstance(q, Ask) and a.status == NOT_FOUND and n + 1 < len(q.targets):
                step[q] = n + 1
                again.append(q)
        return again

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        probes: dict[str, Question] = {}
        for q in pending:
            probes.setdefault(_host(q.index), q)
        todo = run(list(probes.values()))
        dead = {host: answers[q] for host, q in probes.items() if answers[q].status == UNREACHABLE}
        for q in pending:
            if q in answers:
                continue
            host = _host(q.index)
            if host in dead:
                answers[q] = _unreachable_copy(q, dead[host])
            else:
                todo.append(q)
        while todo:
            todo = run(todo)
    return answers


def run_checks(
    checks: Sequence[Check], registry_for: RegistryFactory, workers: int = 8, max_phases: int = 4
) -> list[Result]:
    """Ask all the checks' questions (in phases, until none adds any), then judge each check."""
    answers: dict[Question, Answer] = {}
    for _ in range(max_phases):
        new = [q for c in checks for q in c.asks(answers) if q not in answers]
        if not new:
            break
        answers.update(answer_all(registry_for, new, workers))
    return [c.judge(answers) for c in checks]


def summary(results: Sequence[Result]) -> dict[str, int]:
    out = {OK: 0, MISMATCH: 0, UNVERIFIED: 0}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    return out
