"""Config values: ranges, did-you-mean, and showing values in messages.

Typing a value by its schema type is :func:`loradoc.typed.convert` (shared with the Snapshot).
``show`` never prints a long opaque string, which could be a misplaced token.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Union

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
