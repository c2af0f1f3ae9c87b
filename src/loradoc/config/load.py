"""Load, type, validate and normalise a training config.

``load_config(path, overrides)`` reads an Axolotl-style YAML file and returns a
:class:`~loradoc.config.schema.TrainConfig`, or raises one
:class:`~loradoc.config.problems.ConfigError` listing every problem, each naming its key
(and line). Unknown keys get the nearest valid key; Axolotl keys loradoc does not
implement are ignored with a note or refused, per
:mod:`loradoc.config.unsupported`. Nothing here needs a GPU, the network,
or a heavy import.

Relative paths: an input path (base_model, tokenizer_config, base_model_config,
lora_model_dir, datasets[].path and data_files, deepspeed, resume_from_checkpoint,
chat_template_jinja) and the output paths (output_dir, dataset_prepared_path) are
read from the config file's folder when something of that name exists there;
otherwise they stay as written (hub ids, or paths from the working directory).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
import typing
from pathlib import Path
from typing import Any

from loradoc.config import schema as S
from loradoc.config import vocab as V
from loradoc.config.document import read_config_document
from loradoc.config.problems import ConfigError, PendingChange, Problem, in_reading_order
from loradoc.config.schema import AutoChange, DatasetSpec, TrainConfig
from loradoc.config.unsupported import (
    AXOLOTL_KEYS,
    DATASET_KEYS,
    HARMLESS_PLUGINS,
    SECRET_HINT,
    UNSUPPORTED_VALUES,
    is_neutral,
    looks_secret,
)
from loradoc.config.values import (
    accepts_bool,
    in_range,
    is_empty,
    is_plain_str,
    nearest,
    range_text,
    show,
    suggest,
)
from loradoc.errors import UserError
from loradoc.redact import safe_repr
from loradoc.typed import Mismatch, convert, kind_of

__all__ = [
    "AutoChange",
    "ConfigError",
    "DatasetSpec",
    "TrainConfig",
    "config_from_dict",
    "load_config",
    "parse_overrides",
]

_TOP_HINTS = {k: v for k, v in typing.get_type_hints(TrainConfig).items() if k in TrainConfig.key_names()}
_DS_KEYS = tuple(f for f in typing.get_type_hints(DatasetSpec) if not f.startswith("_"))
_DS_HINTS = typing.get_type_hints(DatasetSpec)
_REQUIRED = ("base_model", "datasets")
RESERVED_KEY = "_loradoc"  # the record block of a resolved_config.yml; read back and ignored


# -- entry points ----------------------------------------------------------------------------
def load_config(
    path: str | Path, overrides: list[str] | dict[str, Any] | None = None, *, echo: bool = True
) -> TrainConfig:
    """Read ``path`` (YAML), apply ``overrides`` (CLI words or a dict), validate, normalise."""
    data, lines, duplicate_problems = read_config_document(Path(path))
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    return config_from_dict(
        data,
        source=str(path),
        base_dir=Path(path).resolve().parent,
        overrides=overrides,
        lines=lines,
        early_problems=duplicate_problems,
        echo=echo,
    )


def config_from_dict(
    data: Any,
    *,
    source: str | None = None,
    base_dir: Path | None = None,
    overrides: dict[str, Any] | None = None,
    lines: dict[int, dict[str, int]] | None = None,
    early_problems: list[Problem] | None = None,
    echo: bool = True,
) -> TrainConfig:
    """Build a TrainConfig from parsed YAML (any value), or raise ConfigError naming every problem."""
    if data is None:
        raise ConfigError(["the config is empty; docs/config.md lists the keys"], source=source)
    if not isinstance(data, dict):
        raise ConfigError(
            [f"the config must be a mapping of keys to values (like `base_model: ...`), not {kind_of(data)}"],
            source=source,
        )
    b = _Builder(lines or {}, set(overrides or ()), base_dir)
    b.problems.extend(early_problems or [])
    merged = dict(data)
    merged.update(overrides or {})
    cfg = b.build(merged, data)
    if b.problems:
        raise ConfigError(in_reading_order(b.problems), source=source)
    assert cfg is not None
    cfg.source = source
    cfg.base_dir = str(base_dir) if base_dir else None
    cfg.echo_changes = echo
    if echo:
        for note in cfg.ignored:
            print(note, file=sys.stderr)
    for change in b.pending:
        if change.keeps_written:  # record the value as the user wrote it, not the schema default it replaced
            setattr(cfg, change.key, change.written)
        cfg.note_change(change.key, change.value, change.reason, cause=change.cause)
    return cfg


def parse_overrides(args: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``--key value`` / ``--key=value`` / ``--flag`` words into {key: value}, typed like YAML.

    Dashes in key names become underscores. A key whose schema type is a plain
    string keeps the word as written; other values are read as YAML
    (``true``, ``2``, ``1e-4``, ``[q_proj, v_proj]``). An empty value unsets the key.
    """
    import yaml

    out: dict[str, Any] = {}
    words = list(args)
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--") or word == "--":
            raise UserError(
                f"unexpected argument {safe_repr(word)}: overrides look like --key value (after the config file)"
            )
        name, eq, text = word[2:].partition("=")
        key = name.replace("-", "_")
        if not key or "." in key:
            raise UserError(f"override {safe_repr(word)}: give a top-level key, like --learning_rate 1e-4")
        if not eq:
            nxt = words[i + 1] if i + 1 < len(words) else None
            if nxt is None or nxt.startswith("--"):
                if not accepts_bool(_TOP_HINTS.get(key)):
                    raise UserError(f"override --{name} needs a value, like --{name} VALUE")
                text = "true"
            else:
                text = nxt
                i += 1
        i += 1
        if is_plain_str(_TOP_HINTS.get(key)):
            out[key] = text if text != "" else None
            continue
        try:
            out[key] = yaml.safe_load(text) if text != "" else None
        except (yaml.YAMLError, ValueError, RecursionError):
            out[key] = text  # not YAML: let the schema judge the plain word
    return out


# -- the builder -----------------------------------------------------------------------------
class _Builder:
    def __init__(
        self, lines: dict[int, dict[str, int]], override_keys: set[str], base_dir: Path | None
    ) -> None:
        self.lines = lines
        self.override_keys = override_keys
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        self.ignored: list[str] = []
        self.pending: list[PendingChange] = []  # applied through TrainConfig.note_change
        self.top_jinja: Any = None  # the top-level chat_template_jinja, which datasets inherit

    # -- labels --------------------------------------------------------------------------
    def _line(self, mapping: dict[Any, Any] | None, key: Any) -> int | None:
        """The line of ``key`` in ``mapping`` (None for overrides and built values)."""
        if mapping is None:
            return None
        return self.lines.get(id(mapping), {}).get(str(key))

    def add(self, message: str, *, key: str | None = None, where: dict[Any, Any] | None = None) -> None:
        """Record a problem; ``where`` is the mapping ``key`` was read from (for its line)."""
        leaf = key.rsplit(".", 1)[-1] if key else None
        self.problems.append(Problem(message, key=key, line=self._line(where, leaf)))

    def _name(self, key: str, prefix: str = "") -> str:
        if not prefix and key in self.override_keys:
            return f"--{key}"
        return prefix + key

    def problem(self, mapping: dict[Any, Any] | None, key: str, text: str, prefix: str = "") -> None:
        where = mapping if key not in self.override_keys or prefix else None
        self.problems.append(
            Problem(f"{self._name(key, prefix)}: {text}", key=prefix + key, line=self._line(where, key))
        )

    # -- top level -----------------------------------------------------------------------
    def build(self, merged: dict[Any, Any], original: dict[Any, Any]) -> TrainConfig | None:
        raw: dict[str, Any] = {}
        self.top_jinja = merged.get("chat_template_jinja")
        for key, value in merged.items():
            where = original if key in original and key not in self.override_keys else None
            if not isinstance(key, str):
                self.problems.append(
                    Problem(
                        f"key {_key_text(key)} is not a name; keys are words like base_model",
                        line=self._line(original, key),
                    )
                )
                continue
            if key == RESERVED_KEY and isinstance(value, dict) and key not in self.override_keys:
                continue
            if looks_secret(key):
                self.problem(where, key, SECRET_HINT)
                continue
            if key in _TOP_HINTS:
                if not is_empty(value):
                    raw[key] = value
                continue
            self._axolotl_key(where, key, value, merged)
        values = self._convert_all(raw, original)
        explicit = frozenset(values)
        eff = {**_defaults(), **values}
        self._normalise(eff, values, explicit, original)
        self._validate(eff, original)
        self._resolve_paths(values)
        if self.problems:
            return None
        cfg = TrainConfig(**values)
        cfg.explicit_keys = explicit
        cfg.ignored = self.ignored
        if cfg.eval_batch_size is None:
            cfg.eval_batch_size = cfg.micro_batch_size
        if cfg.pad_to_sequence_len is None:
            cfg.pad_to_sequence_len = cfg.sample_packing
        return cfg

    def _axolotl_key(
        self, where: dict[Any, Any] | None, key: str, value: Any, merged: dict[Any, Any]
    ) -> None:
        if key == "plugins":
            self._plugins(where, value)
            return
        if key in ("bfloat16", "float16", "float32"):
            self._no_amp_precision(where, key, value, merged)
            return
        if key == "auto_resume_from_checkpoints":
            if value is True and is_empty(merged.get("resume_from_checkpoint")):
                self.pending.append(
                    PendingChange(
                        "resume_from_checkpoint",
                        True,
                        "auto_resume_from_checkpoints: true",
                        cause="auto_resume_from_checkpoints",
                    )
                )
            return
        rule = AXOLOTL_KEYS.get(key)
        if rule is None:
            self.problems.append(self._unknown(where, key, TrainConfig.key_names()))
        elif is_neutral(value, rule.neutral):
            return
        elif rule.action == "ignore":
            self.ignored.append(f"ignored: {key} ({rule.advice})")
        else:
            self.unsupported(where, key, rule.advice)

    def unsupported(self, where: dict[Any, Any] | None, key: str, advice: str, prefix: str = "") -> None:
        self.problems.append(
            Problem(
                f"not supported: {self._name(key, prefix)} ({advice})",
                key=prefix + key,
                line=self._line(where, key),
            )
        )

    def _unknown(
        self, where: dict[Any, Any] | None, key: str, choices: tuple[str, ...], prefix: str = ""
    ) -> Problem:
        if not prefix and key in self.override_keys:
            return Problem(f"unknown option --{key}{suggest(key, choices, dash=True)}", key=key)
        return Problem(
            f"unknown key '{prefix}{key}'{suggest(key, choices, prefix=prefix)}",
            key=prefix + key,
            line=self._line(where, key),
        )

    def _plugins(self, where: dict[Any, Any] | None, value: Any) -> None:
        if is_empty(value):
            return
        names = value if isinstance(value, list) else [value]
        bad = [n for n in names if not isinstance(n, str) or n.rsplit(".", 1)[-1] not in HARMLESS_PLUGINS]
        if bad:
            shown = ", ".join(repr(n)[:80] if isinstance(n, str) else show(n) for n in bad)
            self.unsupported(where, "plugins", f"{shown}: loradoc has no plugin system; remove the entry")
            return
        for n in names:
            short = n.rsplit(".", 1)[-1]
            self.ignored.append(
                f"ignored: plugins {short} ({HARMLESS_PLUGINS[short]}; loradoc computes the plain loss)"
            )

    def _no_amp_precision(
        self, where: dict[Any, Any] | None, key: str, value: Any, merged: dict[Any, Any]
    ) -> None:
        if value is not True:
            return
        partner = {"bfloat16": "bf16", "float16": "fp16"}.get(key)
        if partner and merged.get(partner) is True:
            self.ignored.append(
                f"ignored: {key} (with {partner}: true it adds nothing: loradoc loads the base in {partner})"
            )
            return
        if key == "float32" and merged.get("bf16") in (False, None, "auto") and not merged.get("fp16"):
            if merged.get("bf16") is not False:
                self.pending.append(
                    PendingChange("bf16", False, "float32: true asks for full precision", cause="float32")
                )
            return
        advice = {
            "bfloat16": "pure bf16 without autocast is not implemented; use bf16: true",
            "float16": "pure fp16 without autocast is not implemented; use fp16: true",
            "float32": "it contradicts bf16: true / fp16: true; keep one",
        }[key]
        self.unsupported(where, key, advice)

    # -- typing --------------------------------------------------------------------------
    def _convert_all(self, raw: dict[str, Any], original: dict[Any, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in raw.items():
            where = original if key not in self.override_keys else None
            value = _pre_normalise(key, value, self.pending)
            if value is None:
                continue
            if key in ("datasets", "test_datasets"):
                specs = self._datasets(key, value, where)
                if specs is not None:
                    out[key] = specs
                continue
            try:
                out[key] = convert(_TOP_HINTS[key], value)
            except Mismatch as m:
                self.problem(where, key, f"expected {m.expected}, got {show(value)}")
        return out

    def _datasets(self, key: str, value: Any, where: dict[Any, Any] | None) -> list[DatasetSpec] | None:
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list):
            self.problem(
                where, key, f"expected a list of datasets (each with path and type), got {show(value)}"
            )
            return None
        specs: list[DatasetSpec] = []
        for i, entry in enumerate(value):
            spec = self._dataset(entry, f"{self._name(key)}[{i}].", where)
            if spec is not None:
                specs.append(spec)
        return specs if len(specs) == len(value) else None

    def _dataset(self, entry: Any, prefix: str, parent: dict[Any, Any] | None) -> DatasetSpec | None:
        if not isinstance(entry, dict):
            self.problem(
                parent, "", f"expected a mapping with path and type, got {show(entry)}", prefix=prefix[:-1]
            )
            return None
        n_before = len(self.problems)
        kwargs: dict[str, Any] = {}
        for key, value in entry.items():
            if not isinstance(key, str):
                self.problems.append(
                    Problem(
                        f"{prefix[:-1]}: key {_key_text(key)} is not a name",
                        key=prefix[:-1],
                        line=self._line(entry, key),
                    )
                )
                continue
            if looks_secret(key):
                self.problem(entry, key, SECRET_HINT, prefix=prefix)
                continue
            if key in _DS_HINTS:
                if is_empty(value):
                    continue
                if key == "type" and isinstance(value, dict):
                    self.add(
                        f"not supported: {prefix}type as a mapping (a custom prompt format); "
                        f"use one of {', '.join(V.DATASET_TYPES)}",
                        key=prefix + key,
                        where=entry,
                    )
                    continue
                try:
                    kwargs[key] = convert(_DS_HINTS[key], value)
                except Mismatch as m:
                    self.problem(entry, key, f"expected {m.expected}, got {show(value)}", prefix=prefix)
                continue
            rule = DATASET_KEYS.get(key)
            if rule is None:
                self.problems.append(self._unknown(entry, key, _DS_KEYS, prefix=prefix))
            elif not is_neutral(value, rule.neutral):
                self.unsupported(entry, key, rule.advice, prefix=prefix)
        for req in ("path", "type"):
            if req not in kwargs and not any(p.key == prefix + req for p in self.problems):
                hint = f" ({', '.join(V.DATASET_TYPES)})" if req == "type" else ""
                self.add(f"{prefix}{req} is required{hint}", key=prefix + req)
        dtype = kwargs.get("type")
        if dtype is not None and dtype not in V.DATASET_TYPES:
            close = difflib.get_close_matches(dtype, V.DATASET_TYPES, n=1, cutoff=0.75)
            if close:
                self.add(
                    f"{prefix}type: unknown format '{dtype}' (did you mean '{close[0]}'?)",
                    key=prefix + "type",
                    where=entry,
                )
            else:
                self.add(
                    f"not supported: {prefix}type '{dtype}' (loradoc reads {', '.join(V.DATASET_TYPES)})",
                    key=prefix + "type",
                    where=entry,
                )
        if "ds_type" in kwargs:
            self._choice(entry, "ds_type", kwargs["ds_type"], V.DS_TYPES, prefix=prefix)
        if "chat_template" in kwargs:
            self._chat_template(
                entry, kwargs["chat_template"], kwargs.get("chat_template_jinja"), prefix=prefix
            )
        if len(self.problems) > n_before:
            return None
        mappings = dict(kwargs.get("message_property_mappings") or {})
        for legacy, prop in (("message_field_role", "role"), ("message_field_content", "content")):
            if legacy in kwargs:
                if prop in mappings and mappings[prop] != kwargs[legacy]:
                    self.add(
                        f"{prefix}{legacy} and message_property_mappings.{prop} disagree; keep one",
                        key=prefix + legacy,
                    )
                mappings.setdefault(prop, kwargs[legacy])
        if mappings:
            kwargs["message_property_mappings"] = mappings
        if kwargs.get("chat_template_jinja") and not kwargs.get("chat_template"):
            kwargs["chat_template"] = "jinja"
        return DatasetSpec(**kwargs)

    # -- normalising ---------------------------------------------------------------------
    def _normalise(
        self, eff: dict[str, Any], values: dict[str, Any], explicit: frozenset[str], original: dict[Any, Any]
    ) -> None:
        legacy_on = [k for k in V.LEGACY_ATTENTION if eff.get(k) is True]
        for key in V.LEGACY_ATTENTION:  # folded into attn_implementation: the built config holds only that
            values.pop(key, None)
        if len(legacy_on) > 1:
            self.add(f"{' and '.join(legacy_on)} are both set; keep one attention setting", key=legacy_on[0])
        elif legacy_on:
            wanted = V.LEGACY_ATTENTION[legacy_on[0]]
            current = eff.get("attn_implementation")
            if current is None:
                eff["attn_implementation"] = wanted
                # the doctor reads the legacy key back from this reason (doctor.rules.context)
                self.pending.append(
                    PendingChange(
                        "attn_implementation", wanted, f"legacy {legacy_on[0]}: true", cause=legacy_on[0]
                    )
                )
            elif current != wanted and current in V.ATTN_IMPLEMENTATIONS:  # else: its value is the problem
                self.problem(
                    original if "attn_implementation" in original else None,
                    "attn_implementation",
                    f"{current} contradicts {legacy_on[0]}: true (which means {wanted}); keep one",
                )
        if eff.get("chat_template_jinja") and eff.get("chat_template") is None:
            eff["chat_template"] = "jinja"
            self.pending.append(
                PendingChange(
                    "chat_template", "jinja", "chat_template_jinja is set", cause="chat_template_jinja"
                )
            )
        batch = eff.get("batch_size")
        if batch is not None and isinstance(batch, int):
            per_step = eff["micro_batch_size"] * (eff.get("num_processes") or 1)
            if "gradient_accumulation_steps" in explicit:
                if per_step * eff["gradient_accumulation_steps"] != batch:
                    self.add(
                        f"batch_size {batch} disagrees with micro_batch_size x gradient_accumulation_steps x "
                        f"num_processes = {per_step * eff['gradient_accumulation_steps']}; remove batch_size",
                        key="batch_size",
                    )
            elif isinstance(per_step, int) and per_step > 0:
                if batch % per_step or batch < per_step:
                    self.add(
                        f"batch_size {batch} is not a multiple of micro_batch_size x num_processes = {per_step}; "
                        "set gradient_accumulation_steps instead",
                        key="batch_size",
                    )
                else:
                    eff["gradient_accumulation_steps"] = batch // per_step
                    self.pending.append(
                        PendingChange(
                            "gradient_accumulation_steps",
                            batch // per_step,
                            f"batch_size {batch} / {per_step} rows per step",
                            cause="batch_size",
                        )
                    )

    # -- validation ----------------------------------------------------------------------
    def _validate(self, eff: dict[str, Any], top: dict[Any, Any]) -> None:
        def bad(key: str, text: str) -> None:
            self.problem(top if key not in self.override_keys else None, key, text)

        for key in _REQUIRED:
            if eff.get(key) in (None, "", []) and not any(key in str(p.key) for p in self.problems):
                self.add(f"{key} is required", key=key)
        adapter = eff.get("adapter")
        if adapter is None:
            self.add(
                "adapter is unset, which means full fine-tuning: not supported (set adapter: lora, or qlora with load_in_4bit)",
                key="adapter",
            )
        elif adapter not in V.ADAPTERS:
            self._choice(top, "adapter", adapter, V.ADAPTERS)
        for key, (lo, lo_incl, hi, hi_incl) in S.RANGES.items():
            v = eff.get(key)
            if (
                isinstance(v, (int, float))
                and not isinstance(v, bool)
                and not in_range(v, lo, lo_incl, hi, hi_incl)
            ):
                bad(key, f"{v:g} is out of range ({range_text(lo, lo_incl, hi, hi_incl)})")
        for key in ("eval_steps", "save_steps"):
            v = eff.get(key)
            if isinstance(v, float) and v >= 1 and not v.is_integer():
                bad(key, f"{v} is neither a whole number of steps nor a fraction below 1")
        vss = eff.get("val_set_size")
        if isinstance(vss, float) and vss >= 1 and not vss.is_integer():
            bad("val_set_size", f"{vss} is neither a fraction below 1 nor a whole number of examples")
        if eff.get("fsdp_version") not in (None, 1, 2):
            bad("fsdp_version", f"{show(eff['fsdp_version'])} is not 1 or 2")
        self._choices(eff, top)
        mt = eff.get("model_type")
        if isinstance(mt, str) and not mt.endswith("ForCausalLM"):
            bad(
                "model_type",
                f"'{mt}' is not supported (loradoc trains causal language models: AutoModelForCausalLM)",
            )
        st = eff.get("special_tokens")
        if isinstance(st, dict):
            for k, v in st.items():
                if k not in V.SPECIAL_TOKEN_KEYS:
                    self.add(
                        f"special_tokens: unknown key '{k}'{suggest(k, V.SPECIAL_TOKEN_KEYS)}",
                        key="special_tokens",
                    )
                elif (k == "additional_special_tokens") != isinstance(v, list):
                    want = "a list of strings" if k == "additional_special_tokens" else "a string"
                    self.add(f"special_tokens.{k}: expected {want}, got {show(v)}", key=f"special_tokens.{k}")
        self._contradictions(eff)

    def _choices(self, eff: dict[str, Any], top: dict[Any, Any]) -> None:
        for key, choices in S.VALUE_CHOICES:
            unsupported = UNSUPPORTED_VALUES.get(key, {})
            v = eff.get(key)
            if v is None:
                continue
            if v in unsupported:
                self.unsupported(top, key, f"{v}: {unsupported[v]}")
            else:
                self._choice(top, key, v, choices)
        if eff.get("chat_template") is not None:
            self._chat_template(top, eff["chat_template"], eff.get("chat_template_jinja"))

    def _choice(
        self, where: dict[Any, Any] | None, key: str, value: Any, choices: tuple[str, ...], prefix: str = ""
    ) -> None:
        if value in choices:
            return
        near = nearest(str(value), choices)
        hint = f" (did you mean '{near}'?)" if near else ""
        listing = f"; choose one of {', '.join(choices)}" if len(choices) <= 8 else "; see docs/config.md"
        self.problem(where, key, f"unknown value {show(value)}{hint}{listing}", prefix=prefix)

    def _chat_template(
        self, where: dict[Any, Any] | None, name: str, jinja: str | None, prefix: str = ""
    ) -> None:
        base = name.removeprefix("tokenizer_default_fallback_")
        if "{{" in name or "{%" in name:
            return  # the Jinja text itself
        if base not in V.CHAT_TEMPLATE_NAMES:
            self._choice(where, "chat_template", name, V.CHAT_TEMPLATE_NAMES, prefix=prefix)
        elif base in V.CHAT_TEMPLATE_REFUSED:
            self.problem(where, "chat_template", f"{name}: {V.CHAT_TEMPLATE_REFUSED[base]}", prefix=prefix)
        elif name == "jinja" and not jinja and not self.top_jinja:
            self.add(
                f"{prefix}chat_template: jinja needs chat_template_jinja (the template text or a file)",
                key=prefix + "chat_template",
            )

    def _contradictions(self, eff: dict[str, Any]) -> None:
        p = self.add
        for a, b in (
            ("warmup_steps", "warmup_ratio"),
            ("eval_steps", "evals_per_epoch"),
            ("save_steps", "saves_per_epoch"),
        ):
            if eff.get(a) is not None and eff.get(b) is not None:
                p(f"{a} and {b} are both set; keep one", key=a)
        if eff.get("bf16") is True and eff.get("fp16") is True:
            p("bf16 and fp16 are both true; keep one (bf16: auto picks for you)", key="bf16")
        if eff.get("load_in_4bit") and eff.get("load_in_8bit"):
            p("load_in_4bit and load_in_8bit are both true; keep one", key="load_in_4bit")
        adapter = eff.get("adapter")
        if adapter == "lora" and eff.get("load_in_4bit"):
            p(
                "load_in_4bit needs adapter: qlora (with adapter: lora use load_in_8bit or full precision)",
                key="load_in_4bit",
            )
        if adapter == "qlora" and not eff.get("load_in_4bit"):
            p("adapter: qlora needs load_in_4bit: true", key="adapter")
        if eff.get("test_datasets") and (eff.get("val_set_size") or 0) > 0:
            p("test_datasets and val_set_size are both set; evaluate on one of them", key="test_datasets")
        if eff.get("deepspeed") is not None and (eff.get("fsdp") or eff.get("fsdp_config")):
            p("deepspeed and fsdp are both set; choose one", key="deepspeed")
        if eff.get("eval_sample_packing") is True and eff.get("sample_packing") is not True:
            p("eval_sample_packing: true needs sample_packing: true", key="eval_sample_packing")
        if eff.get("use_wandb") is True and not eff.get("wandb_project"):
            p("use_wandb: true needs wandb_project", key="use_wandb")

    # -- paths ---------------------------------------------------------------------------
    def _resolve_paths(self, values: dict[str, Any]) -> None:
        """Rewrite relative paths that exist beside the config to absolute ones (existence is the preflight's job)."""

        def local(value: str) -> str | None:
            return _resolve_local(value, self.base_dir)

        def template(value: str | None) -> str | None:
            """chat_template_jinja is the template text, or a file holding it."""
            if value is None or "\n" in value or "{" in value:
                return value
            return local(value) or value

        for key in (
            "base_model",
            "base_model_config",
            "tokenizer_config",
            "lora_model_dir",
            "deepspeed",
            "resume_from_checkpoint",
        ):
            v = values.get(key)
            if isinstance(v, str):
                values[key] = local(v) or v
        if isinstance(values.get("chat_template_jinja"), str):
            values["chat_template_jinja"] = template(values["chat_template_jinja"])
        for key in ("output_dir", "dataset_prepared_path"):
            v = values.get(key)
            if isinstance(v, str):
                values[key] = local(v) or os.path.expanduser(v)
        for key in ("datasets", "test_datasets"):
            for spec in values.get(key) or []:
                spec.path = local(spec.path) or spec.path
                if isinstance(spec.data_files, str):
                    spec.data_files = local(spec.data_files) or spec.data_files
                elif isinstance(spec.data_files, list):
                    spec.data_files = [local(f) or f for f in spec.data_files]
                spec.chat_template_jinja = template(spec.chat_template_jinja)


# Axolotl spellings that loading reads as a loradoc value (:func:`_pre_normalise`), beside the
# key's own type; ``str`` means any string. The JSON Schema accepts them too.
ALSO_ACCEPTED: dict[str, tuple[Any, ...]] = {
    "gradient_checkpointing": ("offload", "offload_disk", "unsloth"),
    "attn_implementation": ("auto",),
    "wandb_watch": (False,),
    "wandb_log_model": (False,),
    "resume_from_checkpoint": (False,),
    "fsdp": (str,),  # "full_shard auto_wrap"
}


def _pre_normalise(key: str, value: Any, pending: list[PendingChange]) -> Any:
    """Axolotl spellings that mean a loradoc value (recorded as changes where they alter meaning)."""
    if key == "gradient_checkpointing" and value in ALSO_ACCEPTED[key]:
        pending.append(
            PendingChange(
                "gradient_checkpointing",
                True,
                "loradoc keeps activations on the device: same gradients, more memory",
                written=value,
            )
        )
        return None
    if key in ("attn_implementation", "resume_from_checkpoint") and value in ALSO_ACCEPTED[key]:
        return None
    if key in ("wandb_watch", "wandb_log_model") and value is False:
        return "false"
    if key == "fsdp" and isinstance(value, str):
        return value.split()
    return value


def _defaults() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("internal"):
            continue
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _resolve_local(value: str, base_dir: Path | None) -> str | None:
    """The path ``value`` names, if it exists: first beside the config, then from the working directory."""
    if not value:
        return None
    try:
        p = Path(os.path.expanduser(value))
        if p.is_absolute():
            return str(p) if p.exists() else None
        if base_dir is not None and (base_dir / p).exists():
            return os.path.normpath(base_dir / p)
        if p.exists():
            return os.path.abspath(p)
    except (OSError, ValueError):  # a name the filesystem cannot hold (NUL, too long)
        return None
    return None


def _key_text(key: Any) -> str:
    """A mapping key that is not a name, as the YAML wrote it (``null:`` is None once parsed)."""
    return "'null'" if key is None else show(key)
