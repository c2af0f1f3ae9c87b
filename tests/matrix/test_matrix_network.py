"""One fact against the real PyPI (marked ``network``; skipped when PyPI cannot be reached)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loradoc.upkeep.checks import RequiresCheck
from loradoc.upkeep.registry import UNREACHABLE, Index, Registry
from loradoc.upkeep.verify import run_checks


@pytest.mark.network
def test_xformers_pin_on_pypi(tmp_path: Path) -> None:
    """xformers 0.0.33.post2 requires torch==2.9.1 ([PIP] in compat-facts §4; the matrix says so too)."""
    check = RequiresCheck("xformers", "0.0.33.post2", "torch", "==2.9.1")
    registry = Registry(index=Index(), cache_dir=tmp_path, timeout_s=15)
    [result] = run_checks([check], lambda _index: registry, workers=1)
    if result.status == "unverified" and UNREACHABLE in result.observed:
        pytest.skip(f"PyPI unreachable: {result.observed}")
    assert result.status == "ok", result
    assert result.where.startswith("PyPI: xformers-0.0.33.post2-")
