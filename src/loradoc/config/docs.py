"""The key tables of ``docs/config.md``, generated from the declarations (never written by hand).

Each table sits between ``<!-- BEGIN generated: NAME -->`` and ``<!-- END generated: NAME -->``
in the page. ``python -m loradoc.config.docs`` rewrites them; ``--check`` exits 1 when the page
is out of date (a test runs it), so adding a key to the schema is one declaration and one
regeneration.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from loradoc.config.schema import DatasetSpec, TrainConfig
from loradoc.config.unsupported import (
    AXOLOTL_KEYS,
    CUSTOM_KEY_DOCS,
    DATASET_KEYS,
    UNSUPPORTED_VALUES,
    Unsupported,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "config.md"
REQUIRED = {"base_model", "datasets", "path", "type"}


def sections() -> dict[str, str]:
    """Every generated table, by name."""
    return {
        "keys": _keys_table(TrainConfig),
        "dataset-keys": _keys_table(DatasetSpec),
        "unsupported-keys": _unsupported_table(AXOLOTL_KEYS, custom=True),
        "unsupported-values": _values_table(),
        "unsupported-dataset-keys": _unsupported_table(DATASET_KEYS, custom=False),
    }


def _keys_table(cls: type) -> str:
    hints = typing.get_type_hints(cls)
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal") or f.name.startswith("_"):
            continue
        rows.append(
            f"| `{f.name}` | {_type_text(hints[f.name])} | {_default_text(f)} | {_cell(f.metadata.get('doc', ''))} |"
        )
    return "\n".join(rows)


def _type_text(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return " \\| ".join(_type_text(a) for a in args if a is not type(None))
    if origin is Literal:
        return " \\| ".join(f'"{a}"' for a in args)
    if origin is list:
        return f"list[{_type_text(args[0])}]"
    if origin is dict:
        return f"map[{_type_text(args[0])}, {_type_text(args[1])}]"
    if tp is Any:
        return "any"
    return getattr(tp, "__name__", str(tp))


def _default_text(f: dataclasses.Field[Any]) -> str:
    if f.name in REQUIRED:
        return "required"
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _grouped(table: dict[str, Unsupported]) -> list[tuple[Unsupported, list[str]]]:
    groups: dict[tuple[str, str], tuple[Unsupported, list[str]]] = {}
    for key, rule in table.items():
        groups.setdefault((rule.action, rule.advice), (rule, []))[1].append(key)
    return list(groups.values())


def _unsupported_table(table: dict[str, Unsupported], *, custom: bool) -> str:
    rows = ["| action | keys | why / what to do instead |", "|---|---|---|"]
    for rule, keys in _grouped(table):
        rows.append(f"| {rule.action} | {', '.join(f'`{k}`' for k in keys)} | {_cell(rule.advice)} |")
    if custom:
        for names, (action, text) in CUSTOM_KEY_DOCS.items():
            rows.append(f"| {action} | {', '.join(f'`{k}`' for k in names.split())} | {text} |")
    return "\n".join(rows)


def _values_table() -> str:
    rows = ["| key | values | what to do instead |", "|---|---|---|"]
    for key, values in UNSUPPORTED_VALUES.items():
        by_advice: dict[str, list[str]] = {}
        for value, advice in values.items():
            by_advice.setdefault(advice, []).append(value)
        for advice, names in by_advice.items():
            rows.append(f"| `{key}` | {', '.join(f'`{_cell(n)}`' for n in names)} | {_cell(advice)} |")
    return "\n".join(rows)


def _replacement(table: str) -> typing.Callable[[re.Match[str]], str]:
    return lambda m: m.group(1) + table + m.group(2)


def render(page: str) -> str:
    """``page`` with every generated section replaced by the current tables."""
    for name, table in sections().items():
        pattern = re.compile(
            rf"(<!-- BEGIN generated: {re.escape(name)} [^>]*-->\n).*?(\n<!-- END generated: {re.escape(name)} -->)",
            re.S,
        )
        if not pattern.search(page):
            raise SystemExit(f"{DOC}: no generated section {name!r} (BEGIN/END markers)")
        page = pattern.sub(_replacement(table), page)
    return page


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    page = DOC.read_text(encoding="utf-8")
    new = render(page)
    if "--check" in args:
        if new != page:
            print(f"{DOC} is out of date: run python -m loradoc.config.docs", file=sys.stderr)
            return 1
        return 0
    if new != page:
        from loradoc.fsutil import write_atomic

        write_atomic(DOC, new)
        print(f"updated {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
