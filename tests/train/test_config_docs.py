"""docs/config.md lists every key the schema has and every Axolotl key it does not implement."""

from __future__ import annotations

import dataclasses
import inspect
import re

from config_cli_helpers import REPO

from loradoc.config.schema import DatasetSpec, TrainConfig
from loradoc.config.unsupported import AXOLOTL_KEYS, CUSTOM_KEYS, DATASET_KEYS
from loradoc.train import preflight

DOC = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
DOCUMENTED = set(re.findall(r"`([a-z0-9_]+)`", DOC))


def test_every_schema_key_is_documented_with_its_meaning() -> None:
    for f in dataclasses.fields(TrainConfig):
        if not f.metadata.get("internal"):
            assert f"| `{f.name}` |" in DOC, f.name
            assert f.metadata["doc"], f.name
    for f in dataclasses.fields(DatasetSpec):
        assert f"| `{f.name}` |" in DOC, f.name


def test_every_unsupported_axolotl_key_is_in_the_table() -> None:
    missing = (set(AXOLOTL_KEYS) | set(CUSTOM_KEYS) | set(DATASET_KEYS)) - DOCUMENTED
    assert not missing, sorted(missing)


def test_a_key_is_either_supported_or_in_the_unsupported_table() -> None:
    assert not set(AXOLOTL_KEYS) & set(TrainConfig.key_names())
    assert not set(CUSTOM_KEYS) & set(TrainConfig.key_names())
    assert not set(DATASET_KEYS) & {f.name for f in dataclasses.fields(DatasetSpec)}


def test_every_preflight_code_is_in_the_table_and_in_findings_md() -> None:
    """The table names what preflight adds; docs/findings.md (tests/doctor/test_findings_docs.py)
    documents every code, including these."""
    findings_doc = (REPO / "docs" / "findings.md").read_text(encoding="utf-8")
    source = inspect.getsource(preflight)
    codes = set(re.findall(r'"(config-[a-z0-9-]+)"', source))
    assert codes == {
        "config-path-missing",
        "config-base-model-incomplete",
        "config-model-not-causal-lm",
        "config-tracker-missing",
        "config-mistral-common-missing",
    }
    for code in codes:
        assert f"| `{code}` |" in DOC, code
        assert code in (preflight.__doc__ or ""), code
        assert f"### `{code}`" in findings_doc, code


def test_every_refused_value_is_documented() -> None:
    from loradoc.config.unsupported import UNSUPPORTED_VALUES

    for key, values in UNSUPPORTED_VALUES.items():
        for value in values:
            assert f"`{value}`".replace("|", "\\|") in DOC, (key, value)
