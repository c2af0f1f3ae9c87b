from __future__ import annotations

import pytest

from loradoc.compat import versions as v


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.4", (12, 4)),
        ("12.4.127", (12, 4)),
        ("12080", (12, 8)),
        ("11080", (11, 8)),
        ("1201", (12, 1)),
        ("1108", (11, 8)),
        ("124", (12, 4)),
        ("13", (13, 0)),
        ("x", None),
        (None, None),
    ],
)
def test_cuda_tuple(text: str | None, expected: tuple[int, int] | None) -> None:
    assert v.cuda_tuple(text) == expected


def test_variant_round_trip() -> None:
    assert v.variant_cuda("cu118") == "11.8"
    assert v.variant_cuda("cu130") == "13.0"
    assert v.variant_cuda("cpu") is None
    assert v.variant_cuda("rocm6.2") is None
    assert v.cuda_variant("12.4.127") == "cu124"
    assert v.cuda_from_driver_api(12080) == "12.8"


def test_driver_comparison_is_numeric() -> None:
    assert v.driver_at_least("535.104.05", "535.54.03") is True
    assert v.driver_at_least("535.54.03", "535.104.05") is False
    assert v.driver_at_least("580.82.07", "580") is True
    assert v.driver_at_least("579.99", "580") is False
    assert v.driver_at_least("garbage", "580") is None


def test_compute_capability_spellings() -> None:
    assert v.cc_tuple("8.6") == (8, 6)
    assert v.cc_tuple("sm_86") == (8, 6)
    assert v.cc_tuple("120") == (12, 0)
    assert v.cc_tuple("12.0") == (12, 0)
    assert v.cc_tuple("") is None
    assert v.cc_at_least("7.5", "8.0") is False
    assert v.cc_at_least("12.0", "8.0") is True


def test_version_parts() -> None:
    assert v.public("2.5.1+cu124") == "2.5.1"
    assert v.local_tag("2.5.1+cu124") == "cu124"
    assert v.local_tag("2.5.1") is None
    assert v.series("2.10.0+cu128") == "2.10"
    assert v.python_mm("3.11.7") == "3.11"
    assert v.parse_version("not a version") is None
