"""``doctor explain``: recognise canonical errors in a pasted log and answer with findings.

1. Each ``[[error]]`` of ``compat/errors.toml`` is matched against the text; its named groups
   are facts about the machine that produced the log (``found version 12080`` is the
   driver's maximum CUDA, ``sm_120`` a GPU's compute capability, ...).
2. Those facts fill the *unknown* fields of a copy of the snapshot (the snapshot wins where it
   knows), and the error implies the config that triggered it (bf16, flash attention).
3. ``diagnose`` runs on that; its findings for the recognised codes are the precise answer.
   When the facts are too thin, the error table's meaning and fix answer instead, made as
   precise as the facts allow (e.g. a torch variant the reported driver covers).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from loradoc.compat.choose import TorchChoice
from loradoc.compat.queries import Matrix
from loradoc.compat.schema import ERROR_WHEN, ErrorPattern
from loradoc.compat.versions import (
    cc_str,
    cc_tuple,
    cuda_from_driver_api,
    cuda_tuple,
    local_tag,
    parse_version,
)
from loradoc.doctor.api_names import api_change_fact, api_change_fix, api_key, known_name
from loradoc.doctor.conda_commands import conda_build_missing, conda_fix
from loradoc.doctor.diagnose import diagnose
from loradoc.doctor.facts import machine_facts
from loradoc.doctor.findings import Finding, Severity
from loradoc.doctor.rules.common import choice_details
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.fixes import FA_WHEEL_ABI, driver_upgrade_fix, fix_for
from loradoc.doctor.rules.nvcc import torch_for_nvcc
from loradoc.doctor.rules.xformers import xformers_fix
from loradoc.doctor.snapshot import GPU, Driver, Nvcc, Package, Snapshot

_SECRETS = (
    re.compile(r"hf_[A-Za-z0-9]{10,}"),
    re.compile(r"\b[0-9a-f]{40}\b"),
    re.compile(r"(?i)(api[_-]?key|token)=\S+"),
)


@dataclass
class Recognised:
    entry: ErrorPattern
    groups: dict[str, str] = field(default_factory=dict)
    line: str = ""


def recognise(text: str, matrix: Matrix, holds: frozenset[str] = frozenset()) -> list[Recognised]:
    """The error-table entries the text matches (one per finding code, in table order); an entry
    with ``when`` applies only where those machine facts hold (``holds``), and one marked
    ``at_end`` matches the log's last line only."""
    from loradoc.compat.load import check_error_regexes

    check_error_regexes(matrix)
    out: list[Recognised] = []
    codes: set[str] = set()
    last = _last_line(text)
    for entry in matrix.errors:
        if entry.code in codes or not entry.applies(holds):
            continue
        if not all(c.search(text) for c in entry.context):  # the cheap literal contexts come first
            continue
        where = last if entry.at_end else text
        if entry.api_names:
            hits = [m for m in (known_name(p, where, matrix, entry.api_names) for p in entry.patterns) if m]
        else:
            hits = [m for m in (p.search(where) for p in entry.patterns) if m]
        if not hits or any(u.search(text) for u in entry.unless):  # unless: only once a pattern matched
            continue
        groups: dict[str, str] = {}
        for m in hits:
            groups.update({k: v.strip() for k, v in m.groupdict().items() if v})
        out.append(Recognised(entry, groups, _line_of(where, hits[0].start())))
        codes.add(entry.code)
    return out


# Paths only one OS writes: a Windows install's Lib, site-packages or Scripts folder
# (C:\\...\\Lib\\site-packages), a Mac's home folder, Homebrew or the python.org framework at the start
# of a path (WSL's /mnt/c/Users/ is not a Mac's). Each is a literal, searched without case folding:
# a few milliseconds on a 100 MB log.
_WINDOWS_PATH = re.compile(r"\\(?:Lib|lib|site-packages|Scripts)\\")
_MAC_PATHS = tuple(
    re.compile(re.escape(p)) for p in ("/Users/", "/opt/homebrew/", "/Library/Frameworks/Python.framework/")
)
_PATHS_LOOKED_AT = 64  # Mac-looking paths read before giving up: bounded on any log


def _with_os_of_log(snapshot: Snapshot, text: str) -> Snapshot:
    """The snapshot with its OS read from the log's paths, where the snapshot does not state it."""
    if snapshot.os:
        return snapshot
    if _WINDOWS_PATH.search(text):
        return dataclasses.replace(snapshot, os="Windows")
    for paths in _MAC_PATHS:
        for i, m in enumerate(paths.finditer(text)):
            if i == _PATHS_LOOKED_AT:
                break
            if m.start() == 0 or text[m.start() - 1] in " \t\n\"'(=":
                return dataclasses.replace(snapshot, os="Darwin")
    return snapshot


def _holds(snapshot: Snapshot, matrix: Matrix) -> frozenset[str]:
    """The machine facts (of ERROR_WHEN) the snapshot shows to be true."""
    facts = machine_facts(snapshot, matrix)
    in_container = snapshot.env.in_container if snapshot.env else None
    known = {
        "wsl": facts.wsl,
        "in_container": in_container,
        "bare_metal": in_container is False and not facts.wsl,  # known to be neither
        "darwin": facts.os == "darwin",
        "windows": facts.os == "windows",
        "aarch64": facts.machine == "aarch64",
        "torch_installed": facts.torch is not None,
        "nvidia_gpu": facts.has_nvidia_gpu is True,  # an NVIDIA GPU or driver probed or stated
        "no_nvidia_gpu": facts.has_nvidia_gpu is False,  # probed (or stated) and none found
    }
    assert set(known) == set(ERROR_WHEN)
    return frozenset(name for name, value in known.items() if value)


def _last_line(text: str) -> str:
    """The log's last non-blank line: where a run that stalled (no error, no exit) stopped. Walks
    back over trailing blanks only (no copy of a multi-megabyte log)."""
    end = len(text)
    while end and text[end - 1].isspace():
        end -= 1
    return text[text.rfind("\n", 0, end) + 1 : end]


def _line_of(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start : end if end != -1 else len(text)].strip()
    for secret in _SECRETS:
        line = secret.sub("***", line)
    return line[:240]


# -- facts from the log ---------------------------------------------------------------------------


def _enrich(snapshot: Snapshot, found: list[Recognised]) -> tuple[Snapshot, SimpleNamespace]:
    """A copy of the snapshot with the log's facts filled in where the snapshot is silent, and
    the training-config settings the errors imply."""
    snap = copy.deepcopy(snapshot)
    config = SimpleNamespace()
    packages = snap.packages if snap.packages is not None else {}
    for r in found:
        g, eid = r.groups, r.entry.id
        if "nccl" in g and not snap.nccl:
            snap.nccl = g["nccl"]
        if "torch_cuda" in g:  # the CUDA torch was built with, as an error message states it
            torch_pkg = packages.setdefault("torch", Package())
            torch_pkg.cuda = torch_pkg.cuda or g["torch_cuda"]
        if "found" in g:
            snap.driver = snap.driver or Driver()
            if not snap.driver.cuda_max:
                snap.driver.cuda_max = cuda_from_driver_api(g["found"])
        if "driver_cuda" in g:  # the CUDA the driver supports, as a container check or a solver states it
            snap.driver = snap.driver or Driver()
            snap.driver.cuda_max = snap.driver.cuda_max or g["driver_cuda"]
        cc = g.get("cc") or (cc_str(cc_tuple(g["sm"])) if cc_tuple(g.get("sm")) else None)  # type: ignore[arg-type]
        if "cc_major" in g:
            cc = f"{g['cc_major']}.{g.get('cc_minor', '0')}"
        if cc and not snap.gpus:
            snap.gpus = [GPU(index=0, name=g.get("gpu") or None, compute_capability=cc, vendor="nvidia")]
        if "abi_minor" in g and not snap.python:  # the CPython ABI tag the resolver wanted (cp313)
            snap.python = f"{g['abi_major']}.{g['abi_minor']}"
        torch_seen = g.get("have_torch")
        if torch_seen and parse_version(torch_seen) and "torch" not in packages:
            packages["torch"] = Package(version=torch_seen)
        if "built_torch" in g:
            xf = packages.setdefault("xformers", Package())
            xf.built_for_torch = xf.built_for_torch or g["built_torch"]
            t = cuda_tuple(g.get("built_cuda"))
            xf.cuda = xf.cuda or (f"{t[0]}.{t[1]}" if t else None)
            xf.built_for_python = xf.built_for_python or g.get("built_python")
        if eid in FA_WHEEL_ABI:
            fa = packages.setdefault("flash-attn", Package())
            if fa.cxx11_abi is None:
                fa.cxx11_abi = FA_WHEEL_ABI[eid]
        if eid == "flash-attn-other-torch":  # its library failed to load: flash-attn is installed
            packages.setdefault("flash-attn", Package())
        if eid == "nvcc-major-mismatch" and g.get("detected"):
            snap.nvcc = snap.nvcc or Nvcc()
            snap.nvcc.version = snap.nvcc.version or g["detected"]
            tp = packages.get("torch")
            if tp is not None and not tp.cuda and g.get("compiled"):
                tp.cuda = g["compiled"]
        if eid == "torch-not-compiled-with-cuda":
            tp = packages.get("torch")
            if tp is not None and tp.version and not local_tag(tp.version) and not tp.cuda:
                tp.version += "+cpu"
        if r.entry.code == "bf16-unsupported-gpu" and not r.entry.exact_fix:  # else not a training config
            config.bf16 = True
        if r.entry.code in ("flash-attn-gpu-too-old", "flash-attn-missing"):
            config.attn_implementation = "flash_attention_2"
    if packages:
        snap.packages = packages
    return snap, config


# -- answers ------------------------------------------------------------------------------------


def _generic(r: Recognised, ctx: Context) -> Finding:
    """The error table's answer, made as precise as the log and snapshot allow."""
    e, g = r.entry, r.groups
    facts = []
    fix: str | None = e.fix
    alternative: str | None = None
    newer: list[str] | None = None  # torch builds for a newer driver, when the driver is unknown
    if "found" in g:
        facts.append(f"the driver supports CUDA <= {cuda_from_driver_api(g['found'])}")
    if g.get("cc") or g.get("sm"):
        facts.append(f"GPU compute capability {g.get('cc') or cc_str(cc_tuple(g['sm']))}")  # type: ignore[arg-type]
    if "compiled" in g:
        facts.append(
            f"nvcc CUDA {g['detected']}, torch CUDA {g['compiled']}"
            if "detected" in g
            else f"torch CUDA {g['compiled']}"
        )
        t = cuda_tuple(g["compiled"])
        if t:
            facts.append(f"CUDA_HOME must point at a CUDA {t[0]}.x toolkit")
            choice = torch_for_nvcc(ctx, g.get("detected"))  # or torch built for the nvcc at hand
            fix, alternative = (
                f"export CUDA_HOME=/usr/local/cuda-{t[0]}.{t[1]}",
                choice.command if choice and cuda_tuple(choice.cuda) != t else None,
            )
    if e.api_names:  # the release that added or removed the name decides which way to move
        row = ctx.matrix.api_change(api_key(dict(g)), g.get("package"))
        if row is not None:
            facts.append(api_change_fact(row, api_key(dict(g)), ctx))
            fix = api_change_fix(row, ctx)
    if e.id == "torch-older-than-package" and (row := ctx.matrix.api_change(g.get("attr") or "", "torch")):
        facts.append(api_change_fact(row, f"torch.{g['attr']}", ctx))
    if "cuda_major" in g:
        facts.append(f"the extension needs libcudart.so.{g['cuda_major']}")
    if "container_driver" in g:  # the container's own CUDA needs the newer host driver
        facts.append(
            f"the container needs NVIDIA driver {g['container_driver']} or later; the host has {g['host_driver']}"
        )
        fix = driver_upgrade_fix(ctx, g["container_driver"])
    elif (need_cuda := g.get("container_cuda") or e.needs_driver_cuda) and (
        minimum := ctx.matrix.min_driver(need_cuda, ctx.os_or_linux)
    ):  # an image or a library that needs a CUDA the driver does not reach: the driver, not torch
        facts.append(f"CUDA {need_cuda} needs NVIDIA driver {minimum} or later")
        fix = driver_upgrade_fix(ctx, minimum)
    elif (
        "ptx_isa" not in g  # the driver's JIT rejecting a program's PTX: its driver
        and not e.exact_fix  # an exact fix stands as the entry gives it
        and e.code
        in (
            "driver-too-old-for-torch-cuda",
            "gpu-arch-unsupported-by-torch-build",
            "torch-missing",
            "torch-cpu-build-on-gpu-machine",
        )
    ):
        # these errors come from a process that wanted a CUDA GPU: plan a GPU build
        floor = _cuda_that_ran(ctx, g) if e.code == "gpu-arch-unsupported-by-torch-build" else None
        choice = ctx.best_torch(ctx.torch.public if ctx.torch else None, gpu=True, cuda_floor=floor)
        if e.code == "gpu-arch-unsupported-by-torch-build":
            choice = _another_build(ctx, choice)
        if choice is not None:
            fix = choice.command
            more = choice_details(choice)
            facts.extend(more.get("notes", ()))
            newer = more.get("newer_driver_builds")
    if e.id == "conda-cudatoolkit-without-a-build":  # the release's own CUDA build, from conda
        fix = conda_fix(g, ctx.matrix) or fix
    if e.code == "xformers-torch-mismatch" and ctx.torch is not None:
        fix = xformers_fix(ctx, ctx.torch) or fix  # the release pinned to the torch the log shows
    if fix == e.fix and not e.exact_fix:  # nothing above was more precise: a command from the facts
        fix = fix_for(e.code, g, ctx, e.id) or fix
    message = e.meaning + (f"; from the log: {'; '.join(facts)}" if facts else "")
    # a log that stops without an error suggests a cause; an error message states one
    severity = Severity.WARNING if e.at_end or e.warning else Severity.ERROR
    details: dict[str, Any] = {"recognised": e.id, "log": r.line, "source": e.source}
    if alternative:
        details["alternative"] = alternative
    if newer:
        details["newer_driver_builds"] = newer
    return Finding(e.code, severity, message, fix, details)


def _another_build(ctx: Context, choice: TorchChoice | None) -> TorchChoice | None:
    """The log shows the installed build has no kernel for this GPU, whatever the matrix lists
    for it (geti#7163: 2.13.0+cu130 on a T4): not the installed build again but another variant
    of its release whose CUDA major the driver is proven to run (the installed one's or older);
    with none, the planned build stands."""
    t = ctx.torch
    if choice is None or t is None or (choice.version, choice.variant) != (t.public, t.variant):
        return choice
    ran = cuda_tuple(t.cuda)
    others = [
        c
        for c in ctx.torch_choices(t.public, gpu=True)
        if c.variant != t.variant and ran and (cuda_tuple(c.cuda) or (99, 0))[0] <= ran[0]
    ]
    return others[0] if others else choice


def _disproved(r: Recognised, ctx: Context, text: str) -> bool:
    """An entry whose line states facts the matrix can check, where they show nothing wrong: a
    capability warning for a GPU the build covers, a conda command whose cudatoolkit the pinned
    release was built for (or that this does not judge), a build that saw no CUDA next to a torch
    the facts show is a CUDA build, a release missing from a variant's index put down to the index
    or to this Python by what the matrix says of the release's Pythons."""
    if r.entry.id == "conda-cudatoolkit-without-a-build":
        return not conda_build_missing(r.groups, ctx.matrix)
    if r.entry.id == "extension-build-sees-no-cuda":  # a CUDA torch: the build saw no GPU, not a CPU torch
        return ctx.torch is not None and ctx.torch.cuda is not None
    if "listed_variant" in r.groups or r.entry.id == "pytorch-variant-index-lacks-release":
        # a variant's index listing only other releases: the index lacks the release, unless the
        # matrix has it built for that variant (the wheels are there, not for this Python or
        # platform) or says it has no wheel for this Python here (pytorch#170293: 2.5.1 on 3.13
        # on Windows, cp313 being Linux x86_64's only)
        g, m = r.groups, ctx.matrix
        version = g.get("want_torch") or g.get("index_version")
        variant = g.get("listed_variant") or g.get("index_variant")
        not_the_index = m.python_supported(version, ctx.python_mm, ctx.os_or_linux, ctx.machine) is False or (
            variant in m.variants_for(version, machine=ctx.machine)
        )
        return not_the_index if r.entry.id == "pytorch-variant-index-lacks-release" else not not_the_index
    return _capability_warning_disproved(r, ctx, text)


def _capability_warning_disproved(r: Recognised, ctx: Context, text: str) -> bool:
    """torch's capability warning ("Found GPU0 ... which is of compute capability 12.1") for a
    GPU the matrix's arch list of the installed build covers (native code of the same major runs
    on a later minor: sm_120 on a GB10's 12.1), with no kernel actually missing in the log."""
    if r.entry.id != "no-kernel-image" or "Found GPU" not in r.line or "no kernel image" in text:
        return False
    t, cc = ctx.torch, r.groups.get("cc")
    entry = ctx.matrix.archs_for(t.public, t.variant, ctx.machine) if t is not None and t.cuda else None
    return (
        entry is not None and entry.verified and ctx.matrix.arch_support(entry, cc, ctx.os_or_linux) == "sass"
    )


def _cuda_that_ran(ctx: Context, g: dict[str, str]) -> str | None:
    """A GPU-architecture error comes after CUDA initialised: the driver runs the failing build's
    CUDA major. That build is torch's when known, else at least the lowest CUDA of the builds
    that lack the GPU (the matrix's arch lists)."""
    if ctx.torch is not None and ctx.torch.cuda:
        return ctx.torch.cuda
    sm = cc_tuple(g.get("sm"))
    cc = g.get("cc") or (cc_str(sm) if sm else None)
    ccs = [cc] if cc else ctx.ccs
    if not ccs:
        return None
    return ctx.matrix.lowest_cuda_without(ccs, ctx.os_or_linux, ctx.machine)


_NOTHING_KNOWN = Finding(
    "no-known-error",
    Severity.INFO,
    "no known error found in the text; `loradoc doctor check` diagnoses the machine itself",
)


def explain(text: str, snapshot: Snapshot, matrix: Matrix | None = None) -> list[Finding]:
    """Findings for the canonical errors in ``text``, made precise by ``snapshot``."""
    if matrix is None:
        from loradoc.compat.load import load_matrix

        matrix = load_matrix()
    snapshot = _with_os_of_log(snapshot, text)
    found = recognise(text, matrix, _holds(snapshot, matrix))
    if not found:
        return [_NOTHING_KNOWN]
    enriched, config = _enrich(snapshot, found)
    diagnosis = diagnose(enriched, matrix, config if vars(config) else None)
    ctx = Context(enriched, matrix, config)
    out: list[Finding] = []
    for r in found:
        codes = {r.entry.code, *r.entry.related}
        precise = [f for f in diagnosis if f.code in codes and f.severity is not Severity.INFO]
        if precise:
            for f in precise:
                details: dict[str, Any] = {**f.details, "recognised": r.entry.id, "log": r.line}
                out.append(Finding(f.code, Severity.ERROR, f.message, f.fix, details))
        elif not r.entry.facts_only and not _disproved(r, ctx, text):
            out.append(_generic(r, ctx))
    if not out:
        return [_NOTHING_KNOWN]
    unique = list({(f.code, f.message): f for f in out}.values())
    return sorted(unique, key=lambda f: f.severity.rank)
