"""The JSON Schema from `loradoc config schema` agrees with loading, on every config we ship and the corpus."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from loradoc.config.json_schema import config_json_schema
from loradoc.config.load import config_from_dict
from loradoc.config.problems import ConfigError
from loradoc.config.schema import TrainConfig
from loradoc.config.unsupported import AXOLOTL_KEYS

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpora" / "axolotl-examples"
SHIPPED = sorted(REPO.glob("examples/**/*.yml"))
CORPUS_FILES = sorted([*CORPUS.glob("*.yml"), *CORPUS.glob("*.yaml")]) if CORPUS.is_dir() else []
VALIDATOR = jsonschema.Draft202012Validator(config_json_schema())
MINIMAL = {"base_model": "org/model", "adapter": "lora", "datasets": [{"path": "org/data", "type": "alpaca"}]}


def errors(doc: Any) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc))


def test_the_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(config_json_schema())


def test_the_command_prints_the_schema(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loradoc", "config", "schema"], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == config_json_schema()
    target = tmp_path / "schema.json"
    subprocess.run([sys.executable, "-m", "loradoc", "config", "schema", "-o", str(target)], check=True)
    assert json.loads(target.read_text()) == config_json_schema()


def test_every_key_is_in_the_schema_with_its_doc() -> None:
    props = config_json_schema()["properties"]
    for key in TrainConfig.key_names():
        assert props[key]["description"], key
    assert set(AXOLOTL_KEYS) <= set(props)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_configs_validate(path: Path) -> None:
    assert errors(yaml.safe_load(path.read_text())) == []


@pytest.mark.skipif(not CORPUS_FILES, reason="the shared Axolotl corpus is not beside this checkout")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_configs_that_load_validate(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    try:
        config_from_dict(doc, echo=False)
    except ConfigError:
        return  # refused by loading (an unsupported key): the schema may refuse it too
    assert errors(doc) == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"lora_r": 0}, "lora_r"),  # range
        ({"lora_dropout": 1.5}, "lora_dropout"),
        ({"optimizer": "adamw_tourch"}, "optimizer"),  # choices
        ({"lerning_rate": 1e-4}, ""),  # unknown key
        ({"sample_packing": "yes please"}, "sample_packing"),  # type
        ({"datasets": [{"path": "x"}]}, "datasets"),  # required type
        ({"rl": "dpo"}, "rl"),  # a refused Axolotl key with a value
    ],
)
def test_the_schema_refuses_what_loading_refuses(change: dict[str, Any], where: str) -> None:
    doc = {**MINIMAL, **change}
    with pytest.raises(ConfigError):
        config_from_dict(doc, echo=False)
    found = errors(doc)
    assert found and any(e.startswith(where) for e in found), found


@pytest.mark.parametrize(
    "change",
    [
        {"learning_rate": "1e-4"},  # YAML 1.1 reads this as text
        {"gradient_checkpointing": "offload"},
        {"attn_implementation": "auto"},
        {"fsdp": "full_shard auto_wrap"},
        {"datasets": {"path": "org/data", "type": "alpaca"}},  # one mapping for a list of one
        {"rl": None, "strict": True, "wandb_watch": False, "lora_target_modules": None},
    ],
)
def test_the_schema_accepts_what_loading_accepts(change: dict[str, Any]) -> None:
    doc = {**MINIMAL, **change}
    config_from_dict(doc, echo=False)
    assert errors(doc) == []
