"""The live truth at plan time: does every requirement the plan names exist here?

The matrix knows what runs; only the index knows what exists today. Before
anything is touched (and on a ``--dry-run`` of this machine, saying so), pip is
asked, with ``pip install --dry-run --no-deps``, run by the target interpreter so
its Python and platform tags are the ones that count, and with the exact index
each step will use. One pip call per index (steps that share an index and build
environment are asked together).

- An index that does not answer within its timeout gets one line: the steps that
  would use it rest on the matrix alone (or on pip's configured sources, when the
  step has a fallback), and the plan goes on.
- A torch build that does not exist moves the plan to the next best build, with a
  note in the plan's warnings; nothing is installed on a guess.
- Any other missing requirement stops the command with one line naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from loradoc.doctor.install.env import Echo, Target, index_unreachable, run_streamed
from loradoc.doctor.install.steps import InstallPlan, PipStep
from loradoc.errors import UserError

INDEX_CHECK_TIMEOUT_S = 3.0
MAX_MOVES = 4  # torch builds tried after the first choice turned out not to exist

_NOT_FOUND = re.compile(
    r"(?:No matching distribution found for|Could not find a version that satisfies the requirement)\s+(\S+)"
)
_NETWORK = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Max retries exceeded|"
    r"Temporary failure in name resolution|Could not fetch URL|ConnectTimeout|ReadTimeout|"
    r"Network is unreachable|Connection refused"
)


@dataclass(frozen=True)
class Missing:
    """A planned requirement the index does not have for this Python and platform."""

    step: PipStep
    requirement: str
    where: str  # the index, or "pip's configured sources"
    detail: str  # pip's own error line

    def error(self) -> UserError:
        return UserError(
            f"step {self.step.name}: {self.detail} (pip install --dry-run against {self.where}, before anything "
            "was installed); nothing was changed"
        )


def find_missing(
    plan: InstallPlan,
    target: Target,
    *,
    env: Mapping[str, str],
    echo: Echo,
    index_timeout: float = INDEX_CHECK_TIMEOUT_S,
    reach: dict[str, str | None] | None = None,
    say_unreachable: bool = True,
) -> Missing | None:
    """Ask pip about every plain requirement of the plan; the first missing one, or None.

    Wheel URLs and source builds are not asked about (the matrix lists their files).
    ``reach`` remembers which index URLs answered (shared with the install that follows);
    ``say_unreachable=False`` leaves the line about an index that does not answer to the step
    that uses it.
    """
    reach = {} if reach is None else reach
    groups: dict[tuple[str | None, tuple[tuple[str, str], ...], bool], list[tuple[PipStep, str]]] = {}
    for step in plan.steps:
        reqs = _plain(step.requirements)
        if not reqs or step.needs:
            continue
        index = step.index_url
        if index:
            if index not in reach:
                reach[index] = index_unreachable(index, _project(reqs[0], step.name), timeout=index_timeout)
            why = reach[index]
            if why is not None:
                if step.fallback_requirements is None:
                    if say_unreachable:
                        echo(f"{index} cannot be reached ({why}): step {step.name} rests on the matrix alone")
                    continue
                if say_unreachable:
                    echo(
                        f"{index} cannot be reached ({why}): step {step.name} is checked on pip's configured sources"
                    )
                index, reqs = None, _plain(step.fallback_requirements)
        key = (index, tuple(sorted(step.env.items())), "--pre" in step.pip_args)
        groups.setdefault(key, []).extend((step, r) for r in reqs)
    checked = calls = 0
    for (index, env_items, pre), items in groups.items():
        for batch in _one_per_project(items):
            argv = [target.python, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed"]
            argv += ["--no-input", "--quiet", "--timeout", "15", "--retries", "0"]
            if index:
                argv += ["--index-url", index]
            if pre:
                argv.append("--pre")
            ran = run_streamed([*argv, *(r for _, r in batch)], env={**env, **dict(env_items)}, echo=None)
            calls += 1
            where = index or "pip's configured sources"
            if ran.ok:
                checked += len(batch)
                continue
            text = "\n".join(ran.tail)
            if _NETWORK.search(text) and not _NOT_FOUND.search(text):
                echo(
                    f"{where} could not be asked ({ran.last_error()}): the plan rests on the matrix alone there"
                )
                continue
            return _missing(batch, where, ran.last_error(), text)
    if checked:
        echo(
            f"checked with pip install --dry-run: the {checked} planned requirement(s) exist for this "
            f"Python and platform ({calls} pip call{'s' if calls != 1 else ''})"
        )
    return None


def plan_until_it_exists(
    make_plan: Callable[[set[tuple[str, str]]], InstallPlan],
    target: Target,
    *,
    env: Mapping[str, str],
    echo: Echo,
    index_timeout: float = INDEX_CHECK_TIMEOUT_S,
    reach: dict[str, str | None] | None = None,
    say_unreachable: bool = True,
) -> InstallPlan:
    """The plan whose requirements all exist: ``make_plan(excluded)`` plans without the torch
    builds (version, variant) found missing so far; a missing torch build moves to the next
    best with a note. Raises UserError for any other missing requirement (nothing changed).
    ``say_unreachable=False`` (an install, whose steps say it when they run): no line about an
    index that does not answer."""
    excluded: set[tuple[str, str]] = set()
    notes: list[str] = []
    while True:
        try:
            plan = make_plan(excluded)
        except UserError as exc:
            if not notes:
                raise
            raise UserError(f"{'; '.join(notes)}, and no other build fits: {exc.message}") from None
        missing = find_missing(
            plan,
            target,
            env=env,
            echo=echo,
            index_timeout=index_timeout,
            reach=reach,
            say_unreachable=say_unreachable,
        )
        if missing is None:
            plan.warnings[:0] = [f"{n}: planned the next best build" for n in notes]
            return plan
        if missing.step.name != "torch" or plan.keep_torch or not plan.torch or len(excluded) >= MAX_MOVES:
            raise missing.error()
        version = plan.torch.split("+", 1)[0]
        excluded.add((version, plan.variant or ""))
        note = f"torch {version}+{plan.variant} is not on {missing.where} for this Python and platform"
        echo(f"{note} (pip install --dry-run): planning the next best build")
        notes.append(note)


def _plain(requirements: Sequence[str]) -> list[str]:
    return [r for r in requirements if " @ " not in r and "://" not in r]


def _project(requirement: str, default: str) -> str:
    try:
        return Requirement(requirement).name
    except InvalidRequirement:
        return default


def _one_per_project(items: list[tuple[PipStep, str]]) -> list[list[tuple[PipStep, str]]]:
    """Split so no project is asked twice in one pip call (pip would call that a conflict)."""
    batches: list[list[tuple[PipStep, str]]] = []
    seen: list[set[str]] = []
    for step, req in items:
        name = canonicalize_name(_project(req, req))
        for batch, names in zip(batches, seen, strict=True):
            if name not in names:
                batch.append((step, req))
                names.add(name)
                break
        else:
            batches.append([(step, req)])
            seen.append({name})
    return batches


def _missing(batch: list[tuple[PipStep, str]], where: str, error: str, text: str) -> Missing:
    """The requirement pip names as missing, mapped back to its step."""
    m = _NOT_FOUND.search(text)
    if m:
        named = canonicalize_name(_project(m.group(1), m.group(1)))
        for step, req in batch:
            if canonicalize_name(_project(req, req)) == named:
                return Missing(step, req, where, error)
    step, req = batch[0]
    return Missing(step, req, where, error)
