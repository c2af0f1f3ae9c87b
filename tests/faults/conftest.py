"""Fixtures for the fault harness: the tiny model and data of ``tests/train`` (built by that
conftest's own builders), and the uninterrupted reference run of the harness config, watched
once per session to learn when each phase begins (``harness.calibrate``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402


def _train_fixtures() -> Any:
    spec = importlib.util.spec_from_file_location(
        "_loradoc_train_conftest", HERE.parent / "train" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fault_world(tmp_path_factory: pytest.TempPathFactory) -> harness.World:
    train = _train_fixtures()
    root = tmp_path_factory.mktemp("faults")
    model = root / "model"
    model.mkdir()
    train._build_tokenizer(model)
    train._build_model(model)
    data = root / "data"
    data.mkdir()
    train._write_jsonl(data / "alpaca.jsonl", train._alpaca_rows())
    doc = train.tiny_config_dict(model, data, root)
    doc.pop("output_dir")
    doc.pop("dataset_prepared_path")
    doc.update(harness.RUN_KEYS)
    world = harness.World(root=root, model=model, data=data, doc=doc)
    harness.calibrate(world, root / "reference")
    return world


@pytest.fixture
def where(tmp_path: Path) -> Path:
    return tmp_path
