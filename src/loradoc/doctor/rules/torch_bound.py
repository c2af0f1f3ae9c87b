"""Packages whose compiled parts are built for given torch minors (the matrix's
[[torch_bound_release]] rows: torchao's kernels, torchcodec's libraries, triton-windows): the
installed release's series must list the installed torch's major.minor."""

from __future__ import annotations

from loradoc.compat.versions import series
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import join
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.fixes import bound_release_fix
from loradoc.doctor.rules.registry import error, rule


@rule("package-requires-other-torch")
def torch_bound_releases(ctx: Context) -> list[Finding]:
    t = ctx.torch
    want = series(t.public) if t is not None else None
    if t is None or want is None:
        return []
    m = ctx.matrix
    out: list[Finding] = []
    for package in sorted({row.package for row in m.torch_bound_releases}):
        p = ctx.pkg(package)
        have = series(p.version) if p is not None else None
        rows = [
            row for row in m.torch_bound_releases if row.package == package and series(row.version) == have
        ]
        if p is None or not rows or any(want in row.torch for row in rows):
            continue  # not installed, a release the matrix does not know, or one built for this torch
        built_for = sorted({v for row in rows for v in row.torch})
        out.append(
            error(
                "package-requires-other-torch",
                f"{package} {p.version} is built for torch {join(built_for)}, not the installed "
                f"torch {t.version}: its compiled parts fail to load or are skipped",
                bound_release_fix(ctx, package, t.public),
                source=rows[0].source,
            )
        )
    return out
