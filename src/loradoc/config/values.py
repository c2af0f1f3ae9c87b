"""Config values: typing a YAML value by its schema type, and showing values in messages.

``convert(tp, raw)`` accepts what a careful reader of the YAML would: whole numbers
for int keys (``2.0`` too), numbers for float keys (and ``"2e-4"``, which YAML reads
as text), ``true``/``false`` only for bool keys, any scalar for text keys. It raises
:class:`Mismatch` with a description of what was expected. ``show`` never prints a
long opaque string, which could be a misplaced token.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from typing import Any, Literal, Union

from loradoc.redact import safe_repr


def in_range(v: float, lo: float | None, lo_incl: bool, hi: float | None, hi_incl: bool) -> bool:
    if lo is not None and (v < lo or (v == lo and not lo_incl)):
        return False
    return not (hi is not None and (v > hi or (v == hi and not hi_incl)))


def range_text(lo: float | None, lo_incl: bool, hi: float | None, hi_incl: bool) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>=' if lo_incl else '>'} {lo:g}")
    if hi is not None:
        parts.append(f"{'<=' if hi_incl else '<'} {hi:g}")
    return "must be " + " and ".join(parts)


# -- value conversion ------------------------------------------------------------------------
class Mismatch(Exception):
    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def convert(tp: Any, raw: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if raw is None:
            return None
        wanted = []
        for member in (a for a in args if a is not type(None)):
            try:
                return convert(member, raw)
            except Mismatch as m:
                wanted.append(m.expected)
        raise Mismatch(_either(wanted))
    if origin is Literal:
        for a in args:
            if type(a) is type(raw) and a == raw:
                return raw
        raise Mismatch(_either([repr(a) for a in args]))
    if origin is list:
        if not isinstance(raw, list):
            raise Mismatch(f"a list of {_plural(args[0])}")
        try:
            return [convert(args[0], x) for x in raw]
        except Mismatch:
            raise Mismatch(f"a list of {_plural(args[0])}") from None
    if origin is dict:
        if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
            raise Mismatch(f"a mapping of names to {_plural(args[1])}")
        try:
            return {k: convert(args[1], v) for k, v in raw.items()}
        except Mismatch:
            raise Mismatch(f"a mapping of names to {_plural(args[1])}") from None
    if tp is Any:
        return raw
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        raise Mismatch("true or false")
    if tp is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
            return int(raw)
        raise Mismatch("a whole number")
    if tp is float:
        if isinstance(raw, bool):
            raise Mismatch("a number")
        if not (isinstance(raw, (int, float)) or (isinstance(raw, str) and _NUMBER.match(raw.strip()))):
            raise Mismatch("a number")
        value = float(raw)
        if not math.isfinite(value):
            raise Mismatch("a finite number")
        return value
    if tp is str:
        if isinstance(raw, str):
            return raw
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return str(raw)
        raise Mismatch("a string")
    raise Mismatch(str(tp))  # pragma: no cover - a schema type this converter does not know


NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"  # a number written as text ("1e-4")
_NUMBER = re.compile(NUMBER_PATTERN)


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and len(value) == 0)


def is_plain_str(tp: Any) -> bool:
    if tp is str:
        return True
    args = typing.get_args(tp)
    return typing.get_origin(tp) in (Union, types.UnionType) and set(args) == {str, type(None)}


def accepts_bool(tp: Any) -> bool:
    return tp is bool or bool in typing.get_args(tp)


def nearest(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The valid word the user most likely meant: a close spelling, else one that contains it."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if close:
        return close[0]
    if len(word) >= 3:
        containing = [c for c in choices if word.lower() in c.lower()]
        if len(containing) == 1:
            return containing[0]
    return None


def suggest(key: str, choices: tuple[str, ...] | list[str], *, prefix: str = "", dash: bool = False) -> str:
    near = nearest(key, choices)
    if near is None:
        return ""
    return f" (did you mean --{near}?)" if dash else f" (did you mean '{prefix}{near}'?)"


def _either(options: list[str]) -> str:
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


def _plural(tp: Any) -> str:
    names = {str: "strings", int: "whole numbers", float: "numbers", bool: "true/false values"}
    if tp in names:
        return names[tp]
    if typing.get_origin(tp) is list:
        return f"lists of {_plural(typing.get_args(tp)[0])}"
    return "values"


def kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), f"a {type(value).__name__}"
    )


def show(value: Any) -> str:
    """A value for an error message: short, and never a long opaque string that could be a secret."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return safe_repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 40 else f"a {type(value).__name__}"
