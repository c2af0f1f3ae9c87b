"""Fixtures for the hostile-input corpus: the tiny model of tests/train (built once per session)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

_TRAIN_CONFTEST = Path(__file__).resolve().parents[1] / "train" / "conftest.py"


def _train_fixtures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("loradoc_train_test_fixtures", _TRAIN_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fx = _train_fixtures()


@pytest.fixture(scope="session")
def hostile_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with its tokenizer (the same builder as tests/train)."""
    out = tmp_path_factory.mktemp("hostile-tiny-llama")
    _fx._build_tokenizer(out)
    _fx._build_model(out)
    return out
