"""Typing plain data (parsed YAML or JSON) by a type annotation: one converter for the training
config and the Snapshot.

``convert(tp, raw)`` accepts what a careful reader of the file would: whole numbers for ``int``
(``2.0`` too), numbers for ``float`` (and ``"2e-4"``, which YAML reads as text), ``true``/``false``
only for ``bool``, any scalar for ``str``, lists and mappings of those, ``Literal`` values, and
dataclasses from mappings (an unknown field is an error). It raises :class:`Mismatch` with what was
expected and the path inside the value where it went wrong (``gpus[0].name``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from typing import Any, Literal, Union

NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"  # a number written as text ("1e-4")
_NUMBER = re.compile(NUMBER_PATTERN)


class Mismatch(Exception):
    def __init__(self, expected: str, path: str = "", *, unknown_field: bool = False, got: str = "") -> None:
        super().__init__(f"{path}: {expected}" if path else expected)
        self.expected = expected  # what was wanted; for an unknown field, the fields there are
        self.path = path  # where inside the value: "", "[2]", ".torch.version"
        self.unknown_field = unknown_field
        self.got = got  # the kind of value found ("a string"), never the value itself

    def at(self, step: str) -> Mismatch:
        return Mismatch(self.expected, step + self.path, unknown_field=self.unknown_field, got=self.got)


def kind_of(value: Any) -> str:
    """What a value is, for messages, without showing it."""
    if isinstance(value, bool):
        return "true/false"
    names = {list: "a list", dict: "a mapping", str: "a string", int: "a number", float: "a number"}
    return names.get(type(value), "nothing" if value is None else f"a {type(value).__name__}")


def _record(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) and isinstance(tp, type)


def convert(tp: Any, raw: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if raw is None:
            return None
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return convert(members[0], raw)  # Optional[X]: X's own mismatch, with its path
        wanted = []
        for member in members:
            try:
                return convert(member, raw)
            except Mismatch as m:
                wanted.append(m.expected)
        raise Mismatch(_either(wanted), got=kind_of(raw))
    if origin is Literal:
        for a in args:
            if type(a) is type(raw) and a == raw:
                return raw
        raise Mismatch(_either([repr(a) for a in args]), got=kind_of(raw))
    if origin is list:
        if not isinstance(raw, list):
            raise Mismatch(f"a list of {_plural(args[0])}", got=kind_of(raw))
        items = []
        for i, x in enumerate(raw):
            try:
                items.append(convert(args[0], x))
            except Mismatch as m:
                raise (
                    m.at(f"[{i}]") if _record(args[0]) else Mismatch(f"a list of {_plural(args[0])}")
                ) from None
        return items
    if origin is dict:
        if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
            raise Mismatch(f"a mapping of names to {_plural(args[1])}", got=kind_of(raw))
        out = {}
        for k, v in raw.items():
            try:
                out[k] = convert(args[1], v)
            except Mismatch as m:
                if _record(args[1]):
                    raise m.at(f".{k}") from None
                raise Mismatch(f"a mapping of names to {_plural(args[1])}", got=kind_of(raw)) from None
        return out
    if tp is Any:
        return raw
    if _record(tp):
        if not isinstance(raw, dict):
            raise Mismatch(f"a mapping of {tp.__name__.lower()} fields", got=kind_of(raw))
        return build(tp, raw)
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        raise Mismatch("true or false", got=kind_of(raw))
    if tp is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
            return int(raw)
        raise Mismatch("a whole number", got=kind_of(raw))
    if tp is float:
        if isinstance(raw, bool):
            raise Mismatch("a number", got=kind_of(raw))
        if not (isinstance(raw, (int, float)) or (isinstance(raw, str) and _NUMBER.match(raw.strip()))):
            raise Mismatch("a number", got=kind_of(raw))
        value = float(raw)
        if not math.isfinite(value):
            raise Mismatch("a finite number", got=kind_of(raw))
        return value
    if tp is str:
        if isinstance(raw, str):
            return raw
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return str(raw)
        raise Mismatch("a string", got=kind_of(raw))
    raise Mismatch(str(tp))  # pragma: no cover - a schema type this converter does not know


def build(cls: type[Any], data: dict[Any, Any]) -> Any:
    """A dataclass from a mapping: every key a field (else Mismatch naming it), each value converted."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in names:
            fields = f"{cls.__name__.lower()} fields ({', '.join(sorted(names))})"
            raise Mismatch(fields, f".{key}", unknown_field=True)
        try:
            kwargs[key] = convert(hints[key], raw)
        except Mismatch as m:
            raise m.at(f".{key}") from None
    return cls(**kwargs)


def _either(options: list[str]) -> str:
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


def _plural(tp: Any) -> str:
    names = {str: "strings", int: "whole numbers", float: "numbers", bool: "true/false values"}
    if tp in names:
        return names[tp]
    if _record(tp):
        return f"{tp.__name__.lower()} mappings"
    if typing.get_origin(tp) is list:
        return f"lists of {_plural(typing.get_args(tp)[0])}"
    return "values"
