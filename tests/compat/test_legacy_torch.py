"""torch 1.x in the matrix ([torch_legacy]): known for diagnosis, never planned for an install."""

from __future__ import annotations

import pytest

from loradoc.compat import load_matrix
from loradoc.compat.versions import variant_cuda


@pytest.mark.parametrize(
    ("torch", "variant"),
    [("1.0.1", "cu90"), ("1.2.0", "cu100"), ("1.4.0", "cu101"), ("1.12.1", "cu102"), ("1.13.1", "cu117")],
)
def test_a_plain_pip_install_of_an_old_torch_got_the_cuda_its_wheel_bundled(torch: str, variant: str) -> None:
    m = load_matrix()
    assert m.default_variant(torch, "linux") == variant
    assert m.torch_variant_of(torch) == (variant, True)  # inferred, as for any PyPI default
    assert m.default_variant(torch, "windows") == "cpu"
    assert m.default_variant(torch, "linux", machine="aarch64") is None  # not recorded


def test_legacy_releases_answer_python_support_but_are_never_planned() -> None:
    m = load_matrix()
    assert m.python_supported("1.12.1", "3.11") is False
    assert m.python_supported("1.12.1", "3.10.9") is True
    assert m.python_supported("1.4.0", "3.6") is True
    assert m.torch_release("1.12.1") is None and not m.is_known_torch("1.12.1")
    assert m.legacy_torch("1.12.1+cu113").series == "1.12"  # type: ignore[union-attr]
    assert m.variants_for("1.12.1") == []  # no plan offers a 1.x build
    assert all(not v.startswith("1.") for v in m.torch_versions())


def test_two_digit_variants_name_their_cuda() -> None:
    assert variant_cuda("cu92") == "9.2" and variant_cuda("cu80") == "8.0"
    assert variant_cuda("cu101") == "10.1" and variant_cuda("cu130") == "13.0"
    m = load_matrix()
    assert m.torch_variant_of("1.7.1+cu92") == ("cu92", False)
    assert m.min_driver("9.2") == "396.26" and m.min_driver("10.2", "windows") == "441.22"
