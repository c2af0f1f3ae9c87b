"""Every numeric key has a range a real run could use, at both ends."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from loradoc.config import schema as S
from loradoc.config.load import config_from_dict
from loradoc.config.problems import ConfigError

MINIMAL = {"base_model": "m", "adapter": "lora", "datasets": [{"path": "d", "type": "alpaca"}]}


def _numeric(tp: typing.Any) -> bool:
    members = typing.get_args(tp) or (tp,)
    return any(m in (int, float) for m in members)


def test_every_numeric_key_is_bounded_on_both_sides() -> None:
    hints = typing.get_type_hints(S.TrainConfig)
    numeric = {
        f.name
        for f in dataclasses.fields(S.TrainConfig)
        if not f.metadata.get("internal") and _numeric(hints[f.name]) and f.name not in ("fsdp_version",)
    }
    unbounded = sorted(k for k in numeric if k not in S.RANGES or None in (S.RANGES[k][0], S.RANGES[k][2]))
    assert unbounded == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("micro_batch_size", 1_000_000_000),
        ("sequence_len", 10**9),
        ("learning_rate", 50),
        ("lora_r", 100_000),
    ],
)
def test_absurd_values_are_refused_with_the_range(key: str, value: float) -> None:
    with pytest.raises(ConfigError) as exc:
        config_from_dict({**MINIMAL, key: value}, echo=False)
    (record,) = exc.value.records
    assert record.key == key and "out of range" in record.message and "<=" in record.message
