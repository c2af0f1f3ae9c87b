"""prepare_data on real files: formats, masks, splits, length handling, the cache."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loradoc.config.schema import TrainConfig
from loradoc.errors import UserError
from loradoc.train.data.prepare import IGNORE, prepare_data, split_indices


def _trained(tok: Any, row: dict[str, Any]) -> str:
    return tok.decode([i for i, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != IGNORE])


def test_alpaca_rows_labels_and_stats(
    data_config: Callable[..., TrainConfig], tmp_path: Path, tiny_data_dir: Path, tiny_tokenizer: Any
) -> None:
    cfg = data_config(tmp_path, [{"path": str(tiny_data_dir / "alpaca.jsonl"), "type": "alpaca"}])
    said: list[str] = []
    data = prepare_data(cfg, tiny_tokenizer, say=said.append)
    rows = [json.loads(line) for line in (tiny_data_dir / "alpaca.jsonl").read_text().splitlines()]
    assert set(data.train.column_names) == {"input_ids", "labels", "length"}
    assert len(data.train) == len(rows) and data.eval is None
    for row, src in zip(data.train, rows, strict=True):
        assert row["length"] == len(row["input_ids"]) == len(row["labels"])
        assert _trained(tiny_tokenizer, row) == src["output"] + "</s>"
    st = data.train_stats
    assert st.rows == st.kept == len(rows)
    assert st.input_tokens == sum(r["length"] for r in data.train)
    assert st.supervised_tokens == sum(sum(1 for x in r["labels"] if x != IGNORE) for r in data.train)
    assert not data.reused and any("tokenized" in s for s in said)


def test_chat_and_sharegpt_give_the_same_tokens(
    data_config: Callable[..., TrainConfig], tmp_path: Path, tiny_data_dir: Path, tiny_tokenizer: Any
) -> None:
    chat = prepare_data(
        data_config(tmp_path / "a", [{"path": str(tiny_data_dir / "chat.jsonl"), "type": "chat_template"}]),
        tiny_tokenizer,
        say=lambda s: None,
    )
    share = prepare_data(
        data_config(
            tmp_path / "b",
            [
                {
                    "path": str(tiny_data_dir / "sharegpt.jsonl"),
                    "type": "chat_template",
                    "field_messages": "conversations",
                    "message_property_mappings": {"role": "from", "content": "value"},
                }
            ],
        ),
        tiny_tokenizer,
        say=lambda s: None,
    )
    assert chat.train["input_ids"] == share.train["input_ids"]
    assert chat.train["labels"] == share.train["labels"]
    first = json.loads((tiny_data_dir / "chat.jsonl").read_text().splitlines()[0])
    replies = [m["content"] + "<|im_end|>\n" for m in first["messages"] if m["role"] == "assistant"]
    assert _trained(tiny_tokenizer, chat.train[0]) == "".join(replies) + "</s>"


def test_completion_trains_all_tokens(
    data_config: Callable[..., TrainConfig], tmp_path: Path, tiny_data_dir: Path, tiny_tokenizer: Any
) -> None:
    cfg = data_config(tmp_path, [{"path": str(tiny_data_dir / "completion.jsonl"), "type": "completion"}])
    data = prepare_data(cfg, tiny_tokenizer, say=lambda s: None)
    row = data.train[0]
    assert row["labels"][0] == IGNORE and row["labels"][1:] == row["input_ids"][1:]


def test_val_split_fraction_count_and_determinism(
    data_config: Callable[..., TrainConfig], tmp_path: Path, tiny_data_dir: Path, tiny_tokenizer: Any
) -> None:
    spec = [{"path": str(tiny_data_dir / "alpaca.jsonl"), "type": "alpaca"}]
    a = prepare_data(data_config(tmp_path / "a", spec, val_set_size=0.25), tiny_tokenizer, say=lambda s: None)
    b = prepare_data(data_config(tmp_path / "b", spec, val_set_size=0.25), tiny_tokenizer, say=lambda s: None)
    assert len(a.eval) == 12 and len(a.train) == 36
    assert a.eval["input_ids"] == b.eval["input_ids"]
    c = prepare_data(data_config(tmp_path / "c", spec, val_set_size=5), tiny_tokenizer, say=lambda s: None)
    assert len(c.eval) == 5 and len(c.train) == 43
    d = prepare_data(
        data_config(tmp_path / "d", spec, val_set_size=0.25, seed=99), tiny_tokenizer, say=lambda s: None
    )
    assert d.eval["input_ids"] != a.eval["input_ids"]
    with pytest.raises(UserError, match="val_set_size: 10 of 10 rows leaves 0 for training"):
        split_indices(10, 10, 0)
    with pytest.raises(UserError, match="val_set_size"):
        split_indices(1, 0.5, 0)


def test_test_datasets_take_precedence(
    data_config: Callable[..., TrainConfig], tmp_path: Path, tiny_data_dir: Path, tiny_tokenizer: Any
) -> None:
    train = [{"path": str(tiny_data_dir / "alpaca.jsonl"), "type": "alpaca"}]
    test = [{"path": str(tiny_data_dir / "completion.jsonl"), "type": "completion", "split": "train"}]
    # a config file cannot ask for both ...
    with pytest.raises(UserError, match="test_datasets and val_set_size are both set"):
        data_config(tmp_path, train, val_set_size=0.5, test_datasets=test)
    # ... but a config changed after loading can: test_datasets still win, and the change is recorded
    cfg = data_config(tmp_path, train, test_datasets=test)
    cfg.val_set_size = 0.5
    said: list[str] = []
    data = prepare_data(cfg, tiny_tokenizer, say=said.append)
    assert len(data.train) == 48 and len(data.eval) == 24
    assert cfg.val_set_size == 0 and [c.key for c in cfg.auto_changes] == ["val_set_size"]


def test_too_long_dropped_or_truncated(
    data_config: Callable[..., TrainConfig], tmp_path: Path, tiny_data_dir: Path, tiny_tokenizer: Any
) -> None:
    spec = [{"path": str(tiny_data_dir / "alpaca.jsonl"), "type": "alpaca"}]
    full = prepare_data(data_config(tmp_path / "full", spec), tiny_tokenizer, say=lambda s: None)
    lengths = sorted(full.train["length"])
    limit = lengths[len(lengths) // 2]
    over = sum(1 for n in lengths if n > limit)
    assert over > 0
    dropped = prepare_data(
        data_config(tmp_path / "d", spec, sequence_len=limit), tiny_tokenizer, say=lambda s: None
    )
    assert dropped.train_stats.dropped_too_long == over and len(dropped.train) == 48 - over
    assert max(dropped.train["length"]) <= limit
    cut = prepare_data(
        data_config(tmp_path / "t", spec, sequence_len=limit, excess_length_strategy="truncate"),
        tiny_tokenizer,
        say=lambda s: None,
    )
    assert cut.train_stats.truncated == over and max(cut.train["length"]) == limit
    assert cut.train_stats.kept + cut.train_stats.dropped_unsupervised == 48
    with pytest.raises(UserError, match=r"alpaca.jsonl: row \d+: \d+ tokens, more than sequence_len"):
        prepare_data(
            data_config(tmp_path / "r", spec, sequence_len=limit, excess_length_strategy="raise"),
            tiny_tokenizer,
            say=lambda s: None,
        )
    with pytest.raises(UserError, match=r"the train split is empty: all 48 examples were dropped: 48 longer"):
        prepare_data(data_config(tmp_path / "e", spec, sequence_len=8), tiny_tokenizer, say=lambda s: None)


def test_rows_without_trained_tokens_are_dropped(
    data_config: Callable[..., TrainConfig], tmp_path: Path, tiny_tokenizer: Any
) -> None:
    path = tmp_path / "chat.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
        {"messages": [{"role": "user", "content": "only a question"}]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = prepare_data(
        data_config(tmp_path, [{"path": str(path), "type": "chat_template"}]),
        tiny_tokenizer,
        say=lambda s: None,
    )
    assert data.train_stats.dropped_unsupervised == 1 and len(data.train) == 1


def test_cache_reused_and_invalidated(
    data_config: Callable[..., TrainConfig], tmp_path: Path, tiny_data_dir: Path, tiny_tokenizer: Any
) -> None:
    src = tmp_path / "alpaca.jsonl"
    src.write_bytes((tiny_data_dir / "alpaca.jsonl").read_bytes())
    spec = [{"path": str(src), "type": "alpaca"}]
    said: list[str] = []
    first = prepare_data(data_config(tmp_path, spec), tiny_tokenizer, say=said.append)
    again = prepare_data(data_config(tmp_path, spec), tiny_tokenizer, say=said.append)
    assert not first.reused and again.reused and again.path == first.path
    assert "reused" in said[-1]
    assert again.train["input_ids"] == first.train["input_ids"]
    assert again.train_stats == first.train_stats
    # each data setting is part of the key
    for change in (
        {"sequence_len": 64},
        {"train_on_inputs": True},
        {"val_set_size": 3},
        {"excess_length_strategy": "truncate"},
    ):
        other = prepare_data(data_config(tmp_path, spec, **change), tiny_tokenizer, say=said.append)
        assert not other.reused and other.key != first.key, change
    # the file changing invalidates it
    lines = src.read_text().splitlines()
    src.write_text("\n".join(lines[:-1]) + "\n")
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    changed = prepare_data(data_config(tmp_path, spec), tiny_tokenizer, say=said.append)
    assert not changed.reused and len(changed.train) == 47
    # no temporary folders left behind
    assert not [p for p in (tmp_path / "prepared").iterdir() if p.name.startswith(".tmp")]


def test_tokenizer_is_part_of_the_cache_key(
    data_config: Callable[..., TrainConfig], tmp_path: Path, tiny_data_dir: Path, tiny_model_dir: Path
) -> None:
    from transformers import AutoTokenizer

    spec = [{"path": str(tiny_data_dir / "alpaca.jsonl"), "type": "alpaca"}]
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    first = prepare_data(data_config(tmp_path, spec), tok, say=lambda s: None)
    tok.add_special_tokens({"eos_token": "<|im_end|>"})
    second = prepare_data(data_config(tmp_path, spec), tok, say=lambda s: None)
    assert not second.reused and second.key != first.key
    assert second.train[0]["input_ids"][-1] == tok.convert_tokens_to_ids("<|im_end|>")
