"""Edits to ``compat/matrix.toml`` that keep the file as people wrote it.

Two kinds of edit, both applied to the text through tomlkit so comments, key
order, spacing and inline tables stay as they were:

* :class:`SetValue` / :class:`AppendInline`: a value inside an existing table
  (an entry's ``versions`` or ``note``, a patch release added to a torch series'
  ``releases``);
* :class:`NewBlock`: a whole new table (``[torch."2.16"]``, ``[[xformers.release]]``,
  ``[[hf]]``), inserted as text right after the last content line of an anchor
  table, so that it lands before the comment block that introduces the next
  section (tomlkit would put it after that comment, which belongs to the next
  table).

:func:`apply_edits` returns the new text; the caller validates it with the
matrix loader before writing anything.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import tomlkit
from tomlkit.items import AoT, Array, Table

Path_: TypeAlias = tuple[str | int, ...]  # ("torch", "2.15") or ("hf", 12)


@dataclass(frozen=True)
class SetValue:
    path: Path_
    key: str
    value: Any


@dataclass(frozen=True)
class AppendInline:
    """Append ``{ k = v, ... }`` to the inline-table array ``path.key``."""

    path: Path_
    key: str
    value: dict[str, Any]


@dataclass(frozen=True)
class NewBlock:
    """Insert a table after the ``occurrence``-th table headed ``anchor`` (-1: the last)."""

    anchor: str  # a header line as written: '[[hf]]', '[torch."2.15"]'
    header: str  # the new table's header line
    fields: dict[str, Any]
    occurrence: int = -1
    comment: str | None = None


Edit: TypeAlias = SetValue | AppendInline | NewBlock


class MatrixTextError(Exception):
    """An edit that does not fit the file (a missing table or anchor)."""


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """``text`` with every edit applied (values first, then new tables from the bottom up)."""
    doc = tomlkit.parse(text)
    for e in edits:
        if isinstance(e, SetValue):
            _container(doc, e.path)[e.key] = e.value
        elif isinstance(e, AppendInline):
            arr = _container(doc, e.path).get(e.key)
            if not isinstance(arr, Array):
                raise MatrixTextError(f"{_show(e.path)}.{e.key} is not an array")
            arr.append(tomlkit.parse(f"x = {inline(e.value)}")["x"])
    lines = tomlkit.dumps(doc).splitlines(keepends=True)
    # Blocks for the same anchor go in the order given; anchors are handled bottom-up so
    # that earlier line numbers stay valid.
    by_line: dict[int, list[NewBlock]] = {}
    for e in edits:
        if isinstance(e, NewBlock):
            by_line.setdefault(_block_end(lines, e.anchor, e.occurrence), []).append(e)
    for end in sorted(by_line, reverse=True):
        new = "".join("\n" + render_block(b) for b in by_line[end])
        lines[end + 1 : end + 1] = [new]
    return "".join(lines)


def render_block(b: NewBlock) -> str:
    out = [f"# {line}\n" for line in (b.comment.splitlines() if b.comment else [])]
    out.append(b.header + "\n")
    out += [f"{key} = {value_text(value)}\n" for key, value in b.fields.items() if value is not None]
    return "".join(out)


def value_text(value: Any) -> str:
    """A TOML value as this file writes it: lists of tables as inline tables."""
    if isinstance(value, list | tuple) and value and all(isinstance(v, dict) for v in value):
        one_line = "[" + ", ".join(inline(v) for v in value) + "]"
        if len(one_line) <= 100:
            return one_line
        return "[\n" + "".join(f"    {inline(v)},\n" for v in value) + "]"
    return str(tomlkit.item(list(value) if isinstance(value, tuple) else value).as_string())


def inline(table: dict[str, Any]) -> str:
    return "{ " + ", ".join(f"{k} = {value_text(v)}" for k, v in table.items() if v is not None) + " }"


def _container(doc: Any, path: Path_) -> Any:
    node = doc
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError):
            raise MatrixTextError(f"{_show(path)}: not in the matrix") from None
    if not isinstance(node, Table | AoT | dict):
        raise MatrixTextError(f"{_show(path)}: not a table")
    return node


def _show(path: Path_) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path)


_HEADER = re.compile(r"^\s*\[")


def _block_end(lines: Sequence[str], anchor: str, occurrence: int) -> int:
    """The index of the last content line (not blank, not a comment) of the anchor table."""
    starts = [i for i, line in enumerate(lines) if line.strip() == anchor]
    if not starts:
        raise MatrixTextError(f"{anchor}: no such table in the matrix")
    try:
        start = starts[occurrence]
    except IndexError:
        raise MatrixTextError(f"{anchor}: no table number {occurrence + 1} in the matrix") from None
    end = start
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if _HEADER.match(lines[i]) and not _inside_value(lines, start, i):
            break
        if stripped and not stripped.startswith("#"):
            end = i
    return end


def _inside_value(lines: Sequence[str], start: int, i: int) -> bool:
    """Whether line ``i`` continues a multi-line array of the table starting at ``start``
    (its ``[`` is then a value, not a header)."""
    depth = 0
    for line in lines[start + 1 : i]:
        code = line.split("#", 1)[0]
        depth += code.count("[") - code.count("]")
    return depth > 0
