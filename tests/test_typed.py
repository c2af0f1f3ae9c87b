"""loradoc.typed: one converter for the training config and the Snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from loradoc.doctor.snapshot import Snapshot
from loradoc.errors import UserError
from loradoc.typed import Mismatch, build, convert


@dataclass
class Inner:
    name: str | None = None
    n: int | None = None


@dataclass
class Outer:
    items: list[Inner] = field(default_factory=list)
    by_name: dict[str, Inner] | None = None
    mode: Literal["auto"] | bool = "auto"


def test_scalars_are_read_as_a_careful_reader_would() -> None:
    assert convert(int, 2.0) == 2 and convert(float, "2e-4") == 2e-4 and convert(str, 12.4) == "12.4"
    for tp, raw, expected in [
        (int, 2.5, "a whole number"),
        (bool, "yes", "true or false"),
        (float, "fast", "a number"),
    ]:
        with pytest.raises(Mismatch) as exc:
            convert(tp, raw)
        assert exc.value.expected == expected and exc.value.path == ""


def test_records_report_the_path_to_the_bad_value() -> None:
    built = build(Outer, {"items": [{"name": "a", "n": 1}], "by_name": {"x": {"n": 2}}, "mode": True})
    assert built.items == [Inner("a", 1)] and built.by_name == {"x": Inner(None, 2)} and built.mode is True
    with pytest.raises(Mismatch) as exc:
        build(Outer, {"items": [{"name": "a"}, {"n": "two"}]})
    assert (exc.value.path, exc.value.expected) == (".items[1].n", "a whole number")
    with pytest.raises(Mismatch) as exc:
        build(Outer, {"by_name": {"x": {"nme": "a"}}})
    assert exc.value.path == ".by_name.x.nme" and exc.value.unknown_field


def test_snapshot_errors_name_the_field_and_what_it_takes() -> None:
    with pytest.raises(UserError, match=r"^bug\.json: gpus\[0\]\.nme: unknown field; use gpu fields \("):
        Snapshot.from_dict({"gpus": [{"nme": "T4"}]}, source="bug.json")
    with pytest.raises(UserError, match=r"^bug\.json: driver\.version: expected a string, got a list$"):
        Snapshot.from_dict({"driver": {"version": [535]}}, source="bug.json")
    snap = Snapshot.from_dict(
        {"packages": {"Flash_Attn": {"version": "2.7.0"}}, "driver": {"cuda_max": 12.4}}
    )
    assert snap.package("flash-attn") is not None and snap.driver and snap.driver.cuda_max == "12.4"
