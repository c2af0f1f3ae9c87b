"""Problems and automatic changes are typed records: key, line and cause are data, not parsed prose."""

from __future__ import annotations

from pathlib import Path

import pytest

from loradoc.config.load import config_from_dict, load_config
from loradoc.config.problems import ConfigError

BASE = "base_model: org/model\nadapter: lora\ndatasets:\n  - path: org/data\n    type: alpaca\n"


def test_problems_carry_key_and_line_and_come_in_reading_order(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(BASE + "lerning_rate: 1e-4\nlora_r: 0\nlora_r: 4\nwarmup_steps: 3\nwarmup_ratio: 0.1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(cfg, ["--optimizer", "adamw_tourch"])
    records = exc.value.records
    by_key = {r.key: r for r in records}
    assert (
        by_key["lerning_rate"].line == 6 and "did you mean 'learning_rate'" in by_key["lerning_rate"].message
    )
    assert by_key["lora_r"].line == 8  # given twice: the second one is the problem
    assert by_key["optimizer"].line is None and by_key["optimizer"].message.startswith("--optimizer:")
    assert by_key["warmup_steps"].line is None  # two keys that disagree: no single line
    lines = [r.line for r in records]
    known = [n for n in lines if n is not None]
    assert known == sorted(known) and lines[: len(known)] == known
    assert exc.value.problems == [str(r) for r in records]
    assert exc.value.problems[0].startswith("line 6: unknown key 'lerning_rate'")


def test_dataset_problems_name_the_entry() -> None:
    with pytest.raises(ConfigError) as exc:
        config_from_dict(
            {"base_model": "m", "adapter": "lora", "datasets": [{"path": "d", "type": "alpacca"}]}, echo=False
        )
    (record,) = exc.value.records
    assert record.key == "datasets[0].type" and "did you mean 'alpaca'" in record.message


def test_automatic_changes_record_their_cause() -> None:
    doc = {
        "base_model": "m",
        "adapter": "lora",
        "datasets": [{"path": "d", "type": "alpaca"}],
        "xformers_attention": True,
        "batch_size": 8,
        "micro_batch_size": 2,
    }
    cfg = config_from_dict(doc, echo=False)
    causes = {c.key: c.cause for c in cfg.auto_changes}
    assert causes == {
        "attn_implementation": "xformers_attention",
        "gradient_accumulation_steps": "batch_size",
    }
    assert cfg.attn_implementation == "xformers" and cfg.gradient_accumulation_steps == 4
    saved = cfg.resolved_document()  # what resolved_config.yml records
    assert {"key": "attn_implementation", "cause": "xformers_attention"}.items() <= next(
        c for c in saved["_loradoc"]["auto_changes"] if c["key"] == "attn_implementation"
    ).items()
