"""Fuzzing the config path: any document, any text, any override words give a TrainConfig or a
UserError (ConfigError), never another exception; an accepted config plans and round-trips."""

from __future__ import annotations

import contextlib
import os
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from config_cli_helpers import A100, CPU
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loradoc.config import vocab as V
from loradoc.config.document import parse_config_text
from loradoc.config.load import TrainConfig, config_from_dict, parse_overrides
from loradoc.config.unsupported import AXOLOTL_KEYS
from loradoc.doctor.snapshot import Snapshot
from loradoc.errors import UserError
from loradoc.train.preflight import plan_lines, resolve


def facts_of(snapshot: Any) -> Any:
    from loradoc.compat.load import load_matrix
    from loradoc.doctor.facts import machine_facts

    return machine_facts(snapshot, load_matrix())


SNAPSHOTS = {"cpu": Snapshot.load(CPU), "a100": Snapshot.load(A100)}
WORDS = sorted(
    {
        *V.ADAPTERS,
        *V.DATASET_TYPES,
        *V.OPTIMIZERS[:6],
        *V.LR_SCHEDULERS[:4],
        *V.ATTN_IMPLEMENTATIONS,
        "auto",
        "offload",
        "drop",
        "truncate",
        "llama3",
        "jinja",
        "2e-4",
        "org/model",
        "./model",
        "",
        "train[:10%]",
    }
)
KEYS = sorted(
    {
        *TrainConfig.key_names(),
        *list(AXOLOTL_KEYS)[::7],
        "plugins",
        "bfloat16",
        "float32",
        "hf_token",
        "lerning_rate",
    }
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=10**7)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(WORDS)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["path", "type", "role", "x"]) | st.text(max_size=6), inner, max_size=3
        )
    ),
    max_leaves=8,
)
dataset = st.fixed_dictionaries(
    {
        "path": st.sampled_from(["org/data", "data.jsonl", ""]) | scalars,
        "type": st.sampled_from(V.DATASET_TYPES) | scalars,
    },
    optional={
        k: values
        for k in (
            "split",
            "field_messages",
            "message_property_mappings",
            "roles",
            "shards",
            "feild",
            "chat_template",
        )
    },
)
documents = st.builds(
    lambda required, extra: {**required, **extra},
    st.fixed_dictionaries(
        {
            "base_model": st.sampled_from(["org/model", "./missing"]),
            "datasets": st.lists(dataset, min_size=1, max_size=2),
        },
        optional={"adapter": st.sampled_from([*V.ADAPTERS, None, "lroa"])},
    ),
    st.dictionaries(st.sampled_from(KEYS), values, max_size=6),
)


def _typed(tp: Any) -> st.SearchStrategy[Any]:
    """Values of a schema type (mostly in range), so that many generated configs are accepted."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([_typed(a) for a in args])
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(_typed(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(
            st.sampled_from(["role", "content", "pad_token", "user", "x"]), _typed(args[1]), max_size=2
        )
    simple: dict[Any, st.SearchStrategy[Any]] = {
        type(None): st.none(),
        bool: st.booleans(),
        int: st.integers(min_value=0, max_value=5000),
        float: st.floats(min_value=0, max_value=1.5),
        str: st.sampled_from(WORDS),
    }
    return simple.get(tp, scalars)


_CHOICES = {
    "adapter": V.ADAPTERS,
    "optimizer": V.OPTIMIZERS,
    "lr_scheduler": V.LR_SCHEDULERS,
    "attn_implementation": V.ATTN_IMPLEMENTATIONS,
    "excess_length_strategy": V.EXCESS_LENGTH_STRATEGIES,
    "chat_template": V.CHAT_TEMPLATE_NAMES[:6],
    "wandb_mode": V.WANDB_MODES,
}
_HINTS = typing.get_type_hints(TrainConfig)
typed_documents = st.builds(
    lambda required, extra: {**required, **extra},
    st.fixed_dictionaries(
        {
            "base_model": st.just("org/model"),
            "adapter": st.just("lora"),
            "datasets": st.lists(
                st.fixed_dictionaries(
                    {"path": st.just("org/data"), "type": st.sampled_from(V.DATASET_TYPES)}
                ),
                min_size=1,
                max_size=2,
            ),
        }
    ),
    st.dictionaries(
        st.sampled_from(
            [
                k
                for k in TrainConfig.key_names()
                if k not in ("base_model", "datasets", "adapter", "test_datasets")
            ]
        ),
        st.none(),
        max_size=4,
    ).flatmap(
        lambda keys: st.fixed_dictionaries(
            {k: st.sampled_from(_CHOICES[k]) if k in _CHOICES else _typed(_HINTS[k]) for k in keys}
        )
    ),
)

# LORADOC_FUZZ_EXAMPLES=5000 for a deeper local run
FUZZ = settings(
    max_examples=int(os.environ.get("LORADOC_FUZZ_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _check_accepted(cfg: TrainConfig) -> None:
    doc = cfg.to_dict()
    again = config_from_dict(yaml.safe_load(yaml.safe_dump(doc)), echo=False)
    assert again.to_dict() == doc
    for snap in SNAPSHOTS.values():
        copy = config_from_dict(doc, echo=False)
        facts = facts_of(snap)
        try:
            resolve(copy, facts)
        except UserError:
            continue
        assert plan_lines(copy, snap, facts=facts)


@FUZZ
@given(documents)
def test_any_document_gives_a_config_or_a_user_error(doc: dict[str, Any]) -> None:
    try:
        cfg = config_from_dict(doc, echo=False)
    except UserError as exc:
        assert exc.message and "Traceback" not in exc.message
        return
    _check_accepted(cfg)


@FUZZ
@given(typed_documents)
def test_typed_documents_are_accepted_or_refused_cleanly(doc: dict[str, Any]) -> None:
    try:
        cfg = config_from_dict(doc, echo=False)
    except UserError:
        return
    _check_accepted(cfg)


@FUZZ
@given(
    st.one_of(
        values,
        st.dictionaries(values.filter(lambda v: isinstance(v, (str, int, float, bool))), values, max_size=4),
    )
)
def test_any_value_as_the_whole_document(doc: Any) -> None:
    with contextlib.suppress(UserError):
        config_from_dict(doc, echo=False)


@FUZZ
@given(
    st.text(max_size=200)
    | st.sampled_from(["a: &x [*x]", "{", "- - -", "a: !!binary xyz", "? [a]\n: b", "\x00"])
)
def test_any_text_parses_or_gives_a_config_error(text: str) -> None:
    try:
        data, _lines, dup = parse_config_text(text, "fuzz.yml")
        config_from_dict(data, early_problems=dup, echo=False)
    except UserError:
        pass


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            ["--learning_rate", "--lora-r", "--x", "--sample_packing", "1e-4", "[a", "--", "-1", "--datasets"]
        )
        | st.text(max_size=8),
        max_size=6,
    )
)
def test_any_override_words(words: list[str]) -> None:
    try:
        overrides = parse_overrides(words)
        config_from_dict(
            {"base_model": "a/b", "adapter": "lora", "datasets": [{"path": "a/d", "type": "alpaca"}]},
            overrides=overrides,
            echo=False,
        )
    except UserError:
        pass


@pytest.mark.parametrize(
    "raw", [b"\xff\xfe\x00\x01", b"base_model: a\r\nadapter: lora\r\n", "\ufeffbase_model: x\n".encode()]
)
def test_odd_bytes_in_a_file(tmp_path: Path, raw: bytes) -> None:
    from loradoc.config.load import load_config

    path = tmp_path / "odd.yml"
    path.write_bytes(raw)
    with pytest.raises(UserError) as exc:
        load_config(path, echo=False)
    assert str(path) in exc.value.message
