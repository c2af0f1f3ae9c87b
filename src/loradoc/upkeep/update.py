"""``loradoc matrix update``: releases newer than the matrix knows, written into it with their facts.

For each new release (:func:`loradoc.upkeep.verify_run.new_releases`) the registry
is asked what it can tell, with the same pip questions ``verify`` asks:

* a release inside a range the matrix already describes (``[[hf]] versions =
  ">=0.18"``, a torch patch of a known series) is checked against that range's
  facts with verify's own checks; when they hold, the range simply learns its
  newest release; when the registry says otherwise, the range is closed below the
  new release and a new entry carries what the new metadata declares;
* a release the matrix has no entry for (a torch series, an xformers release, a
  bitsandbytes release past a closed range) gets a new entry built from its
  metadata (Requires-Dist, Requires-Python, wheel tags, the variant indexes);
* what no registry can tell (architectures inside a wheel, flash-attn's GitHub
  release assets, the C++ ABI) is written as unverified, saying where to confirm it.

:func:`plan_update` returns the changes and the text edits; the CLI validates the
edited text with the matrix loader before it writes anything.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

from loradoc.compat.queries import Matrix
from loradoc.compat.schema import BnbRelease, HfFloor, MatrixData, TorchRelease
from loradoc.upkeep.checklist import (
    WINDOWS,
    bnb_release_checks,
    hf_release_checks,
    parse_requires,
    torch_release_checks,
)
from loradoc.upkeep.checks import torch_default_variant
from loradoc.upkeep.matrix_text import AppendInline, Edit, NewBlock, SetValue
from loradoc.upkeep.registry import FOUND, UNREACHABLE, Lookup, Target, VersionList
from loradoc.upkeep.verify import (
    DEFAULT_PYTHONS,
    MISMATCH,
    Answer,
    Ask,
    Listing,
    answer_all,
    run_checks,
    spec_text,
    targets_for,
)
from loradoc.upkeep.verify_run import NewRelease, NewReport, Session, new_releases

_NEWEST_KNOWN = re.compile(r"newest known \d[\w.]*")
FA_RELEASES = "https://github.com/Dao-AILab/flash-attention/releases/tag/v{version}"


@dataclass(frozen=True)
class Change:
    """One new release and what the update does with it."""

    package: str
    version: str
    action: str  # "new entry" | "newest known" | "split" | "widened" | "patch added" | "skipped"
    where: str  # the table it touches
    detail: str = ""
    unverified: tuple[str, ...] = ()  # facts written without a registry's confirmation
    disagree: tuple[str, ...] = ()  # facts of the existing entry the new release contradicts

    def line(self) -> str:
        out = f"{self.package} {self.version}: {self.action} {self.where}"
        return out + (f" ({self.detail})" if self.detail else "")


@dataclass
class UpdatePlan:
    new: NewReport
    changes: list[Change] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)

    @property
    def skipped(self) -> list[Change]:
        return [c for c in self.changes if c.action == "skipped"]


def today() -> str:
    return _dt.date.today().isoformat()


def plan_update(m: Matrix, session: Session, *, date: str | None = None) -> UpdatePlan:
    """What ``matrix update`` writes for every release newer than the matrix knows."""
    when = date or today()
    plan = UpdatePlan(new_releases(m, session))
    by_pkg: dict[str, list[NewRelease]] = {}
    for r in plan.new.releases:
        by_pkg.setdefault(r.package, []).append(r)
    meta = _metadata(session, [r for r in plan.new.releases if r.package != "flash-attn"])
    for pkg, releases in by_pkg.items():
        versions = [r.version for r in releases]  # ascending
        if pkg == "torch":
            _torch(plan, m, session, versions, meta, when)
        elif pkg == "xformers":
            _xformers(plan, session, versions, meta, when)
        elif pkg == "flash-attn":
            _flash_attn(plan, m, versions, when)
        else:
            _ranges(plan, m, session, pkg, versions, meta, when)
    return plan


# -- asking ---------------------------------------------------------------------------------


def _ask(pkg: str, version: str, session: Session, platform: str = "manylinux_2_28_x86_64") -> Ask:
    return Ask(f"{pkg}=={version}", targets_for(DEFAULT_PYTHONS, platform), session.indexes.pypi)


def _metadata(session: Session, releases: Sequence[NewRelease]) -> dict[tuple[str, str], Answer]:
    questions = {(r.package, r.version): _ask(r.package, r.version, session) for r in releases}
    answers = answer_all(session.registry_for, list(questions.values()), session.workers)
    return {key: answers[q] for key, q in questions.items()}


def _found(answer: Answer | None) -> Lookup | None:
    if isinstance(answer, Lookup) and answer.status == FOUND and answer.release is not None:
        return answer
    return None


def _why_not(answer: Answer | None) -> str:
    if answer is None:
        return "not asked"
    return f"{answer.status}: {answer.detail}" if answer.detail else answer.status


def _wheel_tags(answer: Lookup) -> tuple[str, str, str] | None:
    """(python, abi, platform) of the wheel that answered, e.g. ("cp39", "abi3", "manylinux_2_28_x86_64")."""
    name = answer.release.filename if answer.release else None
    if not name or not name.endswith(".whl"):
        return None
    try:
        tag = next(iter(parse_wheel_filename(name)[3]))
    except (InvalidWheelFilename, StopIteration):
        return None
    return tag.interpreter, tag.abi, tag.platform


def _requires(answer: Lookup, dependency: str, extra: str = "") -> str | None:
    """The declared specifier on ``dependency`` in this project's spelling; None when none."""
    assert answer.release is not None
    req = answer.release.requirement_for(dependency, answer.target, extra)
    return None if req is None else spec_text(req.specifier).replace("(any)", "")


def _python(answer: Lookup) -> str | None:
    rp = answer.release.requires_python if answer.release else None
    return spec_text(rp) if rp else None


def _source(version: str, when: str, keys: str = "[PIP]") -> str:
    return f"{keys} ({version} metadata, read by loradoc matrix update {when})"


# -- torch ----------------------------------------------------------------------------------


def _torch(
    plan: UpdatePlan,
    m: Matrix,
    session: Session,
    versions: Sequence[str],
    meta: dict[tuple[str, str], Answer],
    when: str,
) -> None:
    series = {s.series: s for s in m.torch}
    new_series: dict[str, list[str]] = {}
    for v in versions:
        key = ".".join(v.split(".")[:2])
        if key in series:
            _torch_patch(plan, m, session, series[key], v)
        else:
            new_series.setdefault(key, []).append(v)
    for key, vs in new_series.items():
        _torch_series(plan, m, session, key, vs, meta, when)


def _torch_patch(plan: UpdatePlan, m: MatrixData, session: Session, s: TorchRelease, version: str) -> None:
    results = run_checks(
        torch_release_checks(m, session.indexes, s, version), session.registry_for, session.workers
    )
    disagree = tuple(f"{r.fact}: registry says {r.observed}" for r in results if r.status == MISMATCH)
    plan.edits.append(AppendInline(("torch", s.series), "releases", {"version": version}))
    plan.changes.append(
        Change(
            "torch",
            version,
            "patch added",
            f'[torch."{s.series}"]',
            f"{sum(r.status == 'ok' for r in results)} of the series' facts confirmed",
            disagree=disagree,
        )
    )


def _torch_series(
    plan: UpdatePlan,
    m: Matrix,
    session: Session,
    key: str,
    versions: Sequence[str],
    meta: dict[tuple[str, str], Answer],
    when: str,
) -> None:
    first = versions[0]
    where = f'[torch."{key}"]'
    answer = _found(meta.get(("torch", first)))
    if answer is None:
        plan.changes.append(Change("torch", first, "skipped", where, _why_not(meta.get(("torch", first)))))
        return
    prev = m.torch[-1]
    pythons = _torch_pythons(session, prev, first)
    variants, variants_known = _torch_variants(m, session, first, pythons or prev.python)
    arm = _ask("torch", first, session, "manylinux_2_28_aarch64")
    aarch64 = _found(answer_all(session.registry_for, [arm])[arm])
    tags = _wheel_tags(answer)
    platform = tags[2] if tags else prev.platform_tag
    glibc = _glibc(platform) or prev.glibc
    a_tags = _wheel_tags(aarch64) if aarch64 else None
    assert answer.release is not None
    default, _ = torch_default_variant(answer.release, answer.target)
    arm_default = (
        torch_default_variant(aarch64.release, aarch64.target)[0] if aarch64 and aarch64.release else None
    )
    unverified = [
        f"C++ ABI presumed as torch {prev.series} ({'cxx11' if prev.cxx11_abi else 'pre-cxx11'})",
        f"architecture lists presumed as torch {prev.series}; ROCm and experimental variants not read: "
        "confirm in pytorch RELEASE.md",
    ]
    if not variants_known:
        unverified.append(f"variants presumed as torch {prev.series}: the PyTorch index did not answer")
    machines = ("x86_64", "aarch64") if a_tags else ("x86_64",)
    arch_blocks, no_template = _arch_blocks(m, prev, key, variants, machines, when)
    if no_template:
        variants = [v for v in variants if v not in no_template]
        unverified.append(
            f"variants {', '.join(no_template)} are on the index but no earlier series has them: "
            "add them with their [[archs]] by hand"
        )
    fields: dict[str, Any] = {
        "releases": [{"version": v} for v in versions],
        "requires_python": _python(answer) or prev.requires_python,
        "python": [p for p in pythons if not p.endswith("t")] or list(prev.python),
        "free_threaded": [p[:-1] for p in pythons if p.endswith("t")] or None,
        "variants": list(variants),
        "variants_verified": None if variants_known else False,
        "pypi_default": default,
        "platform_tag": platform,
        "glibc": glibc,
        "cxx11_abi": prev.cxx11_abi,
        "aarch64_platform_tag": a_tags[2] if a_tags else None,
        "pypi_default_aarch64": arm_default,
        "note": f"added by loradoc matrix update {when}; UNVERIFIED: " + "; ".join(unverified),
        "source": _source(first, when, "[PIP]; [PYPI]"),
    }
    plan.edits.append(NewBlock(f'[torch."{prev.series}"]', where, fields))
    plan.edits += arch_blocks
    plan.changes.append(
        Change(
            "torch",
            ", ".join(versions),
            "new entry",
            where,
            f"Python {', '.join(fields['python'])}; PyPI default {default}; variants {' '.join(variants)}",
            unverified=tuple(unverified),
        )
    )


def _arch_blocks(
    m: Matrix, prev: TorchRelease, key: str, variants: Sequence[str], machines: Sequence[str], when: str
) -> tuple[list[NewBlock], list[str]]:
    """``[[archs]]`` for the new series, presumed as the previous series' (no registry reads a
    wheel's architectures); and the variants no earlier series has, which cannot be presumed."""
    major, minor = key.split(".")
    blocks: list[NewBlock] = []
    missing: list[str] = []
    for variant in variants:
        for machine in machines:
            was = m.archs_for(prev.versions[-1], variant, machine)
            if was is None:
                if machine == "x86_64":
                    missing.append(variant)
                continue
            fields = {
                "torch": f">={key},<{major}.{int(minor) + 1}",
                "variant": variant,
                "machine": machine if machine != "x86_64" else None,
                "sass": list(was.sass),
                "ptx": list(was.ptx) or None,
                "ptx_linux_only": True if was.ptx_linux_only else None,
                "verified": False,
                "note": f"presumed as torch {prev.series} by loradoc matrix update {when}; UNVERIFIED: "
                f"confirm with torch.cuda.get_arch_list() on the {variant} wheel",
                "source": was.source,
            }
            blocks.append(NewBlock("[[archs]]", "[[archs]]", fields))
    return blocks, missing


def _torch_pythons(session: Session, prev: TorchRelease, version: str) -> list[str]:
    """The CPython versions (free-threaded as ``3.14t``) with a Linux x86_64 wheel of ``version``."""
    lo = min(prev.python, key=_py)
    hi = max(prev.python, key=_py)
    major = int(hi.split(".")[0])
    candidates = [f"{major}.{n}" for n in range(_py(lo)[1], _py(hi)[1] + 2)]
    candidates += [p + "t" for p in candidates if _py(p) >= (3, 13)]
    questions = [Listing("torch", Target.for_python(p), session.indexes.pypi) for p in candidates]
    answers = answer_all(session.registry_for, questions, session.workers)
    out = []
    for p, q in zip(candidates, questions, strict=True):
        a = answers[q]
        if isinstance(a, VersionList) and a.status == FOUND and version in a.versions:
            out.append(p)
    return out


def _torch_variants(
    m: MatrixData, session: Session, version: str, pythons: Sequence[str]
) -> tuple[list[str], bool]:
    """The CUDA variants of the last two series that have ``version`` on their index, and
    whether the index answered (else the last series' variants, presumed)."""
    candidates = list(dict.fromkeys(v for s in m.torch[-2:] for v in s.variants))
    plain = [p for p in pythons if not p.endswith("t")] or ["3.12"]
    targets = targets_for(sorted(plain, key=_py, reverse=True))
    questions = {v: Ask(f"torch=={version}+{v}", targets, session.indexes.torch(m, v)) for v in candidates}
    answers = answer_all(session.registry_for, list(questions.values()), session.workers)
    if any(a.status == UNREACHABLE for a in answers.values()):
        return list(m.torch[-1].variants), False
    return [v for v, q in questions.items() if answers[q].status == FOUND], True


def _glibc(platform: str) -> str | None:
    mm = re.fullmatch(r"manylinux_(\d+)_(\d+)_\w+", platform)
    if mm:
        return f"{mm.group(1)}.{mm.group(2)}"
    return {"manylinux2014": "2.17", "manylinux2010": "2.12", "manylinux1": "2.5"}.get(
        platform.split("_x86")[0]
    )


def _py(p: str) -> tuple[int, int]:
    major, minor = p.rstrip("t").split(".")[:2]
    return int(major), int(minor)


# -- xformers -------------------------------------------------------------------------------


def _xformers(
    plan: UpdatePlan,
    session: Session,
    versions: Sequence[str],
    meta: dict[tuple[str, str], Answer],
    when: str,
) -> None:
    for v in versions:
        answer = _found(meta.get(("xformers", v)))
        if answer is None:
            plan.changes.append(
                Change("xformers", v, "skipped", "[[xformers.release]]", _why_not(meta.get(("xformers", v))))
            )
            continue
        tags = _wheel_tags(answer)
        abi3 = bool(tags and tags[1] in ("abi3", "none"))
        python = _python(answer) or ""
        windows = _has_wheel(session, "xformers", v, WINDOWS, answer.target.python)
        unverified = (
            "architectures and CUDA build not read: `python -m xformers.info` on the wheel shows "
            "TORCH_CUDA_ARCH_LIST and the CUDA it was built with",
        )
        fields = {
            "version": v,
            "torch": _requires(answer, "torch") or "",
            "python": python,
            "abi3": abi3,
            "windows": windows,
            "note": f"added by loradoc matrix update {when}; UNVERIFIED: {unverified[0]}",
            "source": _source(v, when, "[PIP]; [PYPI]"),
        }
        plan.edits.append(NewBlock("[[xformers.release]]", "[[xformers.release]]", fields))
        plan.changes.append(
            Change("xformers", v, "new entry", "[[xformers.release]]", f"torch {fields['torch']}", unverified)
        )


def _has_wheel(session: Session, pkg: str, version: str, platform: str, python: str) -> bool:
    q = Listing(pkg, Target(python=python, platform=platform), session.indexes.pypi)
    a = answer_all(session.registry_for, [q])[q]
    return isinstance(a, VersionList) and a.status == FOUND and version in a.versions


# -- flash-attn -----------------------------------------------------------------------------


def _flash_attn(plan: UpdatePlan, m: MatrixData, versions: Sequence[str], when: str) -> None:
    """PyPI has only flash-attn's sdist: the wheel list lives in the GitHub release assets."""
    prev = m.flash_attn.releases[-1]
    for v in versions:
        where_to = FA_RELEASES.format(version=v)
        unverified = (
            f"wheel list presumed as {prev.versions[-1]}: confirm against the assets of {where_to}",
        )
        builds = [
            {
                "torch": list(b.torch),
                "cuda": list(b.cuda) if len(prev.builds) > 1 else None,
                "abi": list(b.abi),
            }
            for b in prev.builds
        ]
        fields = {
            "versions": [v],
            "python": prev.python,
            "cuda": list(prev.cuda),
            "cuda_tag": prev.cuda_tag,
            "builds": builds,
            "platforms": list(prev.platforms) if prev.platforms != ("linux_x86_64",) else None,
            "verified": False,
            "note": f"added by loradoc matrix update {when}; UNVERIFIED: {unverified[0]}",
            "source": f"[PYPI] sdist {v}; [FA-PUB] to confirm",
        }
        plan.edits.append(NewBlock("[[flash_attn.release]]", "[[flash_attn.release]]", fields))
        plan.changes.append(Change("flash-attn", v, "new entry", "[[flash_attn.release]]", "", unverified))


# -- ranges: bitsandbytes and the Hugging Face packages -------------------------------------


def _entries(m: MatrixData, pkg: str) -> list[tuple[int, BnbRelease | HfFloor]]:
    if pkg == "bitsandbytes":
        return list(enumerate(m.bitsandbytes.releases))
    return [(i, f) for i, f in enumerate(m.hf) if f.package == pkg]


@dataclass
class _Current:
    """The entry a release is judged against: one in the file (``path``) or one this update adds."""

    entry: BnbRelease | HfFloor
    path: tuple[str | int, ...] | None = None
    block: NewBlock | None = None

    def set(self, plan: UpdatePlan, key: str, value: Any) -> None:
        if self.block is not None:
            self.block.fields[key] = value
        elif self.path is not None:
            plan.edits.append(SetValue(self.path, key, value))
        self.entry = replace(self.entry, **{key: value})


def _ranges(
    plan: UpdatePlan,
    m: MatrixData,
    session: Session,
    pkg: str,
    versions: Sequence[str],
    meta: dict[tuple[str, str], Answer],
    when: str,
) -> None:
    """Each new release joins the range that contains it (or widens the last, closed one)
    when that range's facts hold for it, checked with verify's own checks; otherwise the
    range is closed below it and a new entry starts at it, with what its metadata says."""
    bnb = pkg == "bitsandbytes"
    entries = _entries(m, pkg)
    if not entries:
        return
    table = "[[bitsandbytes.release]]" if bnb else "[[hf]]"

    def path(i: int) -> tuple[str | int, ...]:
        return ("bitsandbytes", "release", i) if bnb else ("hf", i)

    containing = {v: next(((i, e) for i, e in entries if _contains(e.versions, v)), None) for v in versions}
    last_i, last = entries[-1]
    current: _Current | None = None
    for v in versions:
        answer = _found(meta.get((pkg, v)))
        if answer is None:
            plan.changes.append(Change(pkg, v, "skipped", table, _why_not(meta.get((pkg, v)))))
            continue
        if current is None or (current.block is None and not _contains(current.entry.versions, v)):
            hit = containing[v]
            current = _Current(*hit[1:], path=path(hit[0])) if hit else _Current(last, path=path(last_i))
        e = current.entry
        pypi = session.indexes.pypi
        checks = (
            bnb_release_checks(e, v, pypi) if isinstance(e, BnbRelease) else hf_release_checks(e, v, pypi)
        )
        results = run_checks(checks, session.registry_for, session.workers)
        disagree = tuple(f"{r.fact}: registry says {r.observed}" for r in results if r.status == MISMATCH)
        where = f"{table} {pkg} {e.versions}" if not bnb else f"{table} {e.versions}"
        inside = _contains(e.versions, v)
        if not disagree and inside:
            current.set(plan, "note", _newest_note(e.note, v))
            plan.changes.append(Change(pkg, v, "newest known", where, "its facts hold"))
            continue
        widened = _widen(e.versions, v) if not disagree else None
        if widened:
            current.set(plan, "versions", widened)
            plan.changes.append(Change(pkg, v, "widened", where, f"to {widened}; its facts hold"))
            continue
        if inside:
            current.set(plan, "versions", f"{e.versions},<{v}")
        fields = _hf_fields(e, answer, v, when) if isinstance(e, HfFloor) else _bnb_fields(answer, v, when)
        anchor_occurrence = -1 if bnb else last_i
        block = NewBlock(table, table, fields, occurrence=anchor_occurrence)
        plan.edits.append(block)
        new_entry = _bnb_entry(fields) if bnb else _hf_entry(fields)
        plan.changes.append(
            Change(
                pkg,
                v,
                "split" if inside else "new entry",
                f"{table} {pkg} {new_entry.versions}" if not bnb else f"{table} {new_entry.versions}",
                "the registry differs from " + e.versions if disagree else "no range holds it",
                unverified=_fields_unverified(fields),
                disagree=disagree,
            )
        )
        current = _Current(new_entry, block=block)


def _contains(spec: str, version: str) -> bool:
    try:
        return SpecifierSet(spec).contains(version, prereleases=True)
    except InvalidSpecifier:
        return False


def _widen(spec: str, version: str) -> str | None:
    """``<=0.50.2`` or ``==0.48.2`` stretched to include ``version``; None for other shapes."""
    try:
        clauses = list(SpecifierSet(spec))
    except InvalidSpecifier:
        return None
    uppers = [c for c in clauses if c.operator in ("<=", "==")]
    if len(uppers) != 1 or Version(uppers[0].version) >= Version(version):
        return None
    up = uppers[0]
    rest = [str(c) for c in clauses if c is not up]
    if up.operator == "==":
        rest.append(f">={up.version}")
    return spec_text(",".join([*rest, f"<={version}"]))


def _newest_note(note: str | None, version: str) -> str:
    text = f"newest known {version}"
    if note and _NEWEST_KNOWN.search(note):
        return _NEWEST_KNOWN.sub(text, note, count=1)
    return f"{text}; {note}" if note else text


def _hf_fields(prev: HfFloor, answer: Lookup, version: str, when: str) -> dict[str, Any]:
    extra = "torch" if prev.torch_extra else ""
    torch = _requires(answer, "torch", extra)
    requires = []
    for line in prev.requires:
        parsed = parse_requires(line)
        if parsed is None:
            continue
        name, _, dep_extra = parsed
        spec = _requires(answer, name, dep_extra)
        if spec is not None:
            requires.append(f"{name}{spec}" + (f" ({dep_extra} extra)" if dep_extra else ""))
    notes = [f"newest known {version}"]
    if prev.runtime_torch_floor:
        notes.append(
            f"UNVERIFIED: runtime_torch_floor carried over from {prev.versions} (read its utils/import_utils.py)"
        )
    return {
        "package": prev.package,
        "versions": f">={version}",
        "torch": torch or "",
        "torch_declared": None if torch is not None else False,
        "torch_extra": True if prev.torch_extra and torch is not None else None,
        "runtime_torch_floor": True if prev.runtime_torch_floor else None,
        "python": _python(answer) or "",
        "requires": requires or None,
        "note": "; ".join(notes),
        "source": _source(version, when),
    }


def _hf_entry(fields: dict[str, Any]) -> HfFloor:
    return HfFloor(
        package=fields["package"],
        versions=fields["versions"],
        torch=fields["torch"],
        python=fields["python"],
        source=fields["source"],
        torch_declared=fields["torch_declared"] is not False,
        torch_extra=bool(fields["torch_extra"]),
        runtime_torch_floor=bool(fields["runtime_torch_floor"]),
        requires=tuple(fields["requires"] or ()),
        note=fields["note"],
    )


def _bnb_fields(answer: Lookup, version: str, when: str) -> dict[str, Any]:
    tags = _wheel_tags(answer)
    pure = bool(tags and tags[1] == "none" and tags[2] == "any")
    return {
        "versions": f"=={version}",
        "torch": _requires(answer, "torch"),
        "python": _python(answer),
        "pure_python": True if pure else None,
        "note": None
        if pure
        else f"newest known {version}; UNVERIFIED: shipped CUDA libraries not read (list "
        "bitsandbytes/libbitsandbytes_*.so inside the wheel)",
        "source": _source(version, when),
    }


def _bnb_entry(fields: dict[str, Any]) -> BnbRelease:
    return BnbRelease(
        versions=fields["versions"],
        source=fields["source"],
        torch=fields["torch"],
        python=fields["python"],
        pure_python=bool(fields["pure_python"]),
        note=fields["note"],
    )


def _fields_unverified(fields: dict[str, Any]) -> tuple[str, ...]:
    note = fields.get("note") or ""
    return tuple(part.split("UNVERIFIED:", 1)[1].strip() for part in note.split(";") if "UNVERIFIED:" in part)
