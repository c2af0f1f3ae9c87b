"""Names of the fine-tuning stack that moved between releases (the matrix's ``[[api_change]]``):
an ImportError, a missing attribute or an unexpected keyword argument on one of them says on
which side of the release that added or removed it the installed package is, and so which way
the fix moves it. ``doctor explain`` reads a match of an ``api_names`` entry only for a name
these rows know.
"""

from __future__ import annotations

import re

from loradoc.compat.queries import Matrix
from loradoc.compat.schema import ApiChange
from loradoc.doctor.rules.context import Context

_NAMES_LOOKED_UP = 64  # matches of one pattern read before giving up: bounded on any log


def known_name(pattern: re.Pattern[str], text: str, matrix: Matrix, kind: str) -> re.Match[str] | None:
    """The first match whose name (with its package and keyword, where the error states them)
    the matrix's [[api_change]] rows know, of model classes for kind "model"."""
    for i, m in enumerate(pattern.finditer(text)):
        if i == _NAMES_LOOKED_UP:
            return None
        row = matrix.api_change(
            api_key(m.groupdict()), m.group("package") if "package" in m.re.groupindex else None
        )
        if row is not None and row.model == (kind == "model"):
            return m
    return None


def api_key(groups: dict[str, str | None]) -> str:
    """The [[api_change]] name an error's groups spell: name, or Class(keyword)."""
    name, keyword = groups.get("name") or "", groups.get("keyword")
    return f"{name}({keyword})" if keyword else name


def api_change_fact(row: ApiChange, name: str, ctx: Context) -> str:
    """What the [[api_change]] row says of the name, with the installed release where known."""
    if "(" in name:  # Class(keyword): a keyword argument
        cls, keyword = name.rstrip(")").split("(")
        name = f"{cls}'s {keyword} argument"
    came = f"{name} came in {row.package} {row.added}" if row.added else None
    went = (
        f"{row.package} {row.removed} removed {name}"
        + (f" and {row.restored} restored it" if row.restored else "")
        if row.removed
        else None
    )
    said = f"{came}; {went}" if came and went else came or went or ""
    pkg = ctx.pkg(row.package)
    return said + (f" (installed: {row.package} {pkg.version})" if pkg is not None and pkg.version else "")


def api_change_fix(row: ApiChange, ctx: Context) -> str:
    """The releases of the package that have the name; a companion of torch (torchaudio) moves
    with torch, to the torch minor its bound was built for."""
    want = f'pip install -U "{row.wants}"' if ">=" in row.wants else f'pip install "{row.wants}"'
    companion = (
        ctx.matrix.companion_torch_spec(row.package, row.removed) if row.removed and not row.added else None
    )
    if companion and companion.startswith("=="):  # its torch minor exactly: below it, with torch
        return f'pip install "torch<{companion[2:].removesuffix(".*")}" "{row.wants}"'
    return want
