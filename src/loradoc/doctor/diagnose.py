"""diagnose(snapshot, matrix, config) -> findings: every rule over one machine description.

A pure function of its inputs, so it runs the same on a live probe, a saved snapshot, a
hand-written bug report, or inside ``loradoc train``'s preflight.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loradoc.compat.queries import Matrix
from loradoc.doctor.findings import Finding, Severity
from loradoc.doctor.rules import RULES, Context, Rule
from loradoc.doctor.rules.common import driver_label, gpu_labels
from loradoc.doctor.snapshot import Snapshot


def diagnose(
    snapshot: Snapshot,
    matrix: Matrix | None = None,
    config: Any = None,
    *,
    rules: Sequence[Rule] | None = None,
) -> list[Finding]:
    """Findings sorted by severity (errors first), with an ``ok`` summary when nothing is wrong.

    ``config`` is the training config (any object read with getattr and Axolotl key names), or
    None. A rule that raises does not stop the others: it becomes an ``internal-rule-error``.
    """
    if matrix is None:
        from loradoc.compat.load import load_matrix

        matrix = load_matrix()
    ctx = Context(snapshot, matrix, config)
    found: list[Finding] = []
    for r in RULES if rules is None else rules:
        try:
            found.extend(r(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the rest
            found.append(
                Finding(
                    "internal-rule-error",
                    Severity.WARNING,
                    f"rule {r.name} failed ({type(exc).__name__}: {exc}); its checks were skipped",
                    "report this with the snapshot: loradoc doctor check --save snapshot.json",
                )
            )
    unique = list({(f.code, f.message): f for f in found}.values())
    if not any(f.severity in (Severity.ERROR, Severity.WARNING) for f in unique):
        unique.append(Finding("ok", Severity.INFO, _summary(ctx)))
    return sorted(unique, key=lambda f: f.severity.rank)


def _summary(ctx: Context) -> str:
    parts = []
    t = ctx.torch
    if t is not None:
        parts.append(f"torch {t.label}")
    if ctx.gpus:
        parts.append(gpu_labels(ctx.gpus))
    if ctx.driver_version or ctx.cuda_max:
        parts.append(driver_label(ctx))
    if not parts:
        return "no problems found in what the snapshot describes"
    return "no problems found: " + ", ".join(parts)


def has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
