"""Installed releases that do not work together, though pip installed them side by side (no
Requires-Dist forbids it): the matrix's [[package_conflict]] rows, read against the snapshot's
package versions."""

from __future__ import annotations

from packaging.utils import canonicalize_name

from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import error, rule


@rule("numpy-abi-mismatch", "package-version-conflict")
def package_conflicts(ctx: Context) -> list[Finding]:
    versions: dict[str, str] = {
        str(canonicalize_name(name)): p.version
        for name, p in (ctx.snapshot.packages or {}).items()
        if p.version
    }
    out = []
    for row in ctx.matrix.conflicts_among(versions):
        installed = ", ".join(f"{name} {versions[name]}" for name, _ in row.when)  # names canonical on load
        out.append(error(row.code, f"{installed}: {row.message}", row.fix, source=row.source))
    return out
