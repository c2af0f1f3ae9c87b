"""Render findings: a short text report for people, JSON for CI.

Text: a header (GPUs, driver and its maximum CUDA, torch build, Python and platform), one line
per finding grouped by severity, then the fixes (a command shared by several findings once). JSON:
``{"schema_version", "ok", "counts", "findings", "snapshot"}``; ``ok`` is true when there is
no error. Neither form carries secrets: the snapshot holds only their presence.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from loradoc.compat.queries import Matrix
from loradoc.doctor.findings import Finding, Severity
from loradoc.doctor.rules.common import driver_label
from loradoc.doctor.rules.context import Context
from loradoc.doctor.snapshot import Snapshot

REPORT_SCHEMA_VERSION = 1
_TITLES = {Severity.ERROR: "ERRORS", Severity.WARNING: "WARNINGS", Severity.INFO: "INFO"}


def header_lines(snapshot: Snapshot, matrix: Matrix) -> list[str]:
    ctx = Context(snapshot, matrix)
    rows: list[tuple[str, str]] = []
    if snapshot.gpus is None and not ctx.gpus:
        gpu_text = "unknown"
    elif not ctx.gpus:
        gpu_text = "no NVIDIA GPU found"
    else:
        counts = Counter(g.label for g in ctx.gpus)
        gpu_text = ", ".join(f"{n} x {label}" if n > 1 else label for label, n in counts.items())
    rows.append(("GPU", gpu_text))
    if ctx.driver_version and ctx.cuda_max and not (snapshot.driver and snapshot.driver.cuda_max):
        driver = f"{ctx.driver_version} (max CUDA {ctx.cuda_max}, estimated from the driver version)"
    elif ctx.driver_version or ctx.cuda_max:
        driver = driver_label(ctx).removeprefix("driver ")
    elif snapshot.complete and snapshot.driver is None:
        driver = "not found"
    else:
        driver = "unknown"
    rows.append(("driver", driver))
    t = ctx.torch
    if t is not None:
        build = f"CUDA {t.cuda}" if t.cuda else (t.variant or "build unknown")
        rows.append(("torch", f"{t.version} ({build}{', assumed' if t.inferred else ''})"))
    else:
        rows.append(("torch", "not installed" if ctx.installed("torch") is False else "unknown"))
    platform = " ".join(x for x in (snapshot.os, snapshot.arch) if x)
    glibc = f", glibc {snapshot.glibc}" if snapshot.glibc else ""
    python = snapshot.python or "unknown"
    rows.append(("python", f"{python}" + (f" on {platform}{glibc}" if platform else glibc)))
    width = max(len(k) for k, _ in rows)
    return [f"  {k.ljust(width)}  {v}" for k, v in rows]


def render_text(
    findings: Sequence[Finding], snapshot: Snapshot, matrix: Matrix, *, title: str = "loradoc doctor"
) -> str:
    lines = [title, *header_lines(snapshot, matrix), ""]
    counts = Counter(f.severity for f in findings)
    summary = ", ".join(
        f"{counts[s]} {s.value}{'s' if counts[s] != 1 and s is not Severity.INFO else ''}"
        for s in (Severity.ERROR, Severity.WARNING)
        if counts[s]
    )
    if summary:
        lines.append(summary)
    width = max((len(f.code) for f in findings), default=0)
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        group = [f for f in findings if f.severity is severity]
        if not group:
            continue
        lines.append(_TITLES[severity])
        lines.extend(f"  {f.code.ljust(width)}  {f.message}" for f in group)
    fixes = _fix_lines(findings)
    if fixes:
        lines.extend(["", "FIXES"])
        for codes, body in fixes.items():
            lines.append(f"  {', '.join(codes)}:")
            lines.extend(body)
    return "\n".join(lines) + "\n"


def _fix_lines(findings: Sequence[Finding]) -> dict[tuple[str, ...], list[str]]:
    """The fixes under their finding codes: a command shared by several findings once, and the
    several fixes of one code (accelerate-config-conflict) under one heading."""
    same_fix: dict[str, list[Finding]] = {}
    for f in findings:
        printed = f.printed_fix()
        if printed:
            same_fix.setdefault(printed, []).append(f)
    out: dict[tuple[str, ...], list[str]] = {}
    for printed, group in same_fix.items():
        body = out.setdefault(tuple(dict.fromkeys(f.code for f in group)), [])
        body.extend(f"    {line}" for line in printed.splitlines())
        notes = [n for f in group for n in f.details.get("notes", [])]
        body.extend(f"    note: {note}" for note in dict.fromkeys(notes))
    return out


def report_dict(findings: Sequence[Finding], snapshot: Snapshot) -> dict[str, Any]:
    counts = Counter(f.severity.value for f in findings)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "ok": not any(f.severity is Severity.ERROR for f in findings),
        "counts": {s.value: counts.get(s.value, 0) for s in Severity},
        "findings": [f.to_dict() for f in findings],
        "snapshot": snapshot.to_dict(),
    }


def render_json(findings: Sequence[Finding], snapshot: Snapshot) -> str:
    return json.dumps(report_dict(findings, snapshot), indent=2) + "\n"


def exit_code(findings: Sequence[Finding]) -> int:
    """0 when no finding is an error, else 1."""
    return 1 if any(f.severity is Severity.ERROR for f in findings) else 0
