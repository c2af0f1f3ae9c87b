"""The training config as a JSON Schema (draft 2020-12), generated from the one schema.

``loradoc config schema`` prints it; editors that speak yaml-language-server (VS Code's
YAML extension, Neovim's yamlls) read it for completion, hover docs and inline errors
(``docs/config.md`` shows how). Everything comes from the declarations: each key's type
annotation, default, ``doc``, ``range`` and ``choices`` (:mod:`loradoc.config.schema`),
the Axolotl keys loradoc ignores or refuses (:mod:`loradoc.config.unsupported`), and the
Axolotl spellings loading accepts for a loradoc value (``load.ALSO_ACCEPTED``).

The schema accepts what loading accepts (a test loads every shipped config both ways);
loading still has the last word on what only it can check (keys that contradict each
other, files that must exist).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

from loradoc.config.load import ALSO_ACCEPTED, RESERVED_KEY
from loradoc.config.schema import DatasetSpec, TrainConfig
from loradoc.config.unsupported import AXOLOTL_KEYS, CUSTOM_KEYS, DATASET_KEYS, Unsupported
from loradoc.typed import NUMBER_PATTERN


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of a loradoc training config file."""
    from loradoc import __version__

    properties = _record_properties(TrainConfig)
    properties.update({k: _unsupported(k, rule) for k, rule in AXOLOTL_KEYS.items()})
    for key in CUSTOM_KEYS:
        properties[key] = {"description": "an Axolotl key loradoc reads for its meaning (docs/config.md)"}
    properties[RESERVED_KEY] = {
        "type": "object",
        "description": "loradoc's own record in a resolved_config.yml (read back and ignored)",
    }
    dataset = {
        "type": "object",
        "description": "one dataset: where to read it and its prompt format",
        "properties": {
            **_record_properties(DatasetSpec),
            **{k: _unsupported(k, rule) for k, rule in DATASET_KEYS.items()},
        },
        "required": ["path", "type"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"loradoc training config (loradoc {__version__})",
        "description": "An Axolotl-style LoRA/QLoRA config for `loradoc train`; keys are Axolotl's names.",
        "type": "object",
        "properties": properties,
        "required": ["base_model", "datasets", "adapter"],
        "additionalProperties": False,
        "$defs": {"dataset": dataset},
    }


def _record_properties(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal") or f.name.startswith("_"):
            continue
        prop = _type_schema(hints[f.name], f.name)
        meta = f.metadata
        if meta.get("choices"):
            prop = _with_choices(prop, meta["choices"])
        if meta.get("range"):
            prop = _with_range(prop, meta["range"])
        also = ALSO_ACCEPTED.get(f.name, ()) if cls is TrainConfig else ()
        values = [v for v in also if v is not str]
        if values:
            prop = {"anyOf": [prop, {"enum": values}]}
        if str in also:
            prop = {"anyOf": [prop, {"type": "string"}]}
        prop = _nullable(prop)  # an empty value (`key:`) leaves the key unset
        prop["description"] = meta.get("doc", "")
        default = f.default if f.default is not dataclasses.MISSING else None
        if default is not None and isinstance(default, (str, int, float, bool)):
            prop["default"] = default
        out[f.name] = prop
    return out


def _type_schema(tp: Any, key: str) -> dict[str, Any]:
    """JSON Schema for a schema annotation, accepting what ``values.convert`` accepts; null means unset."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        members = [_type_schema(a, key) for a in args if a is not type(None)]
        return _nullable({"anyOf": members} if len(members) > 1 else members[0])
    if origin is Literal:
        return {"enum": list(args)}
    if origin is list:
        item = {"$ref": "#/$defs/dataset"} if args[0] is DatasetSpec else _type_schema(args[0], key)
        if args[0] is DatasetSpec:  # one mapping is read as a list of one
            return {"anyOf": [{"type": "array", "items": item}, item]}
        return {"type": "array", "items": item}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1], key)}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:  # YAML 1.1 reads 1e-4 as a string; loading accepts numeric strings
        return {"anyOf": [{"type": "number"}, {"type": "string", "pattern": NUMBER_PATTERN}]}
    if tp is str:
        return {"type": ["string", "number"]}
    return {}


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    if {"type": "null"} in prop.get("anyOf", ()):
        return prop
    return {"anyOf": [prop, {"type": "null"}]}


def _with_choices(prop: dict[str, Any], choices: tuple[str, ...]) -> dict[str, Any]:
    return {"enum": list(choices)}  # replaces the plain string type


def _with_range(prop: dict[str, Any], rng: tuple[float | None, bool, float | None, bool]) -> dict[str, Any]:
    lo, lo_incl, hi, hi_incl = rng
    bounds: dict[str, Any] = {}
    if lo is not None:
        bounds["minimum" if lo_incl else "exclusiveMinimum"] = lo
    if hi is not None:
        bounds["maximum" if hi_incl else "exclusiveMaximum"] = hi
    # bounds apply to numbers only, so they sit beside the type (strings and null pass through)
    return {**prop, **bounds} if "anyOf" not in prop else {"allOf": [prop, bounds]}


def _unsupported(key: str, rule: Unsupported) -> dict[str, Any]:
    if rule.action == "ignore":
        return {"description": f"ignored by loradoc: {rule.advice}"}
    neutral = [None, "", *rule.neutral]
    return {
        "description": f"not supported by loradoc: {rule.advice}",
        "deprecated": True,
        "anyOf": [
            {"enum": neutral},
            {"type": "array", "maxItems": 0},
            {"type": "object", "maxProperties": 0},
        ],
    }
