"""Bad data files: one UserError naming the file and the row or line, and the fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loradoc.errors import UserError
from loradoc.train.data.prepare import prepare_data


@pytest.fixture
def run(data_config: Callable[..., Any], tiny_tokenizer: Any) -> Callable[..., Any]:
    def go(tmp_path: Path, path: Path | str, kind: str = "alpaca") -> Any:
        cfg = data_config(tmp_path, [{"path": str(path), "type": kind}])
        return prepare_data(cfg, tiny_tokenizer, say=lambda s: None)

    return go


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = {"instruction": "a", "input": "", "output": "b"}


def test_missing_field_names_file_and_row(
    tmp_path: Path, run: Callable[..., Any], tiny_tokenizer: Any
) -> None:
    path = _jsonl(tmp_path / "train.jsonl", [GOOD] * 16 + [{"instruction": "x", "input": ""}] + [GOOD] * 3)
    with pytest.raises(UserError) as err:
        run(tmp_path, path)
    assert err.value.message == (
        f"{path}: row 17: missing field 'output' (alpaca needs instruction, output; input optional)"
    )


def test_null_field(tmp_path: Path, run: Callable[..., Any], tiny_tokenizer: Any) -> None:
    path = _jsonl(tmp_path / "train.jsonl", [GOOD, {**GOOD, "output": None}])
    with pytest.raises(UserError, match=r"train.jsonl: row 2: missing field 'output'"):
        run(tmp_path, path)


def test_wrong_type_between_rows(tmp_path: Path, run: Callable[..., Any], tiny_tokenizer: Any) -> None:
    path = _jsonl(tmp_path / "train.jsonl", [GOOD, GOOD, {**GOOD, "output": 12}])
    with pytest.raises(UserError) as err:
        run(tmp_path, path)
    assert str(path) in err.value.message and "3" in err.value.message and "'output'" in err.value.message


def test_wrong_type_in_every_row(tmp_path: Path, run: Callable[..., Any], tiny_tokenizer: Any) -> None:
    path = _jsonl(tmp_path / "train.jsonl", [{**GOOD, "output": 1}, {**GOOD, "output": 2}])
    with pytest.raises(UserError, match=r"train.jsonl: row 1: field 'output' must be text, got a number"):
        run(tmp_path, path)


def test_not_utf8(tmp_path: Path, run: Callable[..., Any], tiny_tokenizer: Any) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"instruction": "caf\xe9", "output": "x"}\n')
    with pytest.raises(UserError, match=r"train.jsonl: line 2: not valid UTF-8 \(byte 0xe9 at column 21\)"):
        run(tmp_path, path)


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
def test_check_utf8_positions_across_chunks(tmp_path: Path, chunk: int) -> None:
    from loradoc.train.data.read import check_utf8

    path = tmp_path / "x.txt"
    path.write_bytes("ab\nc\u00e9d\n\u20acxy".encode() + b"\xff\n")
    assert check_utf8(path, chunk_size=chunk) == (
        "line 3: not valid UTF-8 (byte 0xff at column 6); save the file as UTF-8"
    )
    path.write_bytes("ok \u20ac\n".encode() * 5)
    assert check_utf8(path, chunk_size=chunk) is None


def test_invalid_json_line(tmp_path: Path, run: Callable[..., Any], tiny_tokenizer: Any) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + '{"instruction": "a", "output": }\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"train.jsonl: line 2: invalid JSON"):
        run(tmp_path, path)


def test_empty_and_missing_files(tmp_path: Path, run: Callable[..., Any], tiny_tokenizer: Any) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(UserError, match=r"empty.jsonl: no rows \(the file is empty\)"):
        run(tmp_path, empty)
    with pytest.raises(UserError, match=r"datasets\[0\]\.path: \./nope\.jsonl: no such file or folder"):
        run(tmp_path, "./nope.jsonl")
    odd = tmp_path / "train.xyz"
    odd.write_text("x")
    with pytest.raises(UserError, match=r"unknown file type '\.xyz'"):
        run(tmp_path, odd)


def test_csv_and_parquet_and_folder(tmp_path: Path, run: Callable[..., Any], tiny_tokenizer: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.csv").write_text("instruction,input,output\nsay hi,,hi\nsay yo,,yo\n", encoding="utf-8")
    pq.write_table(pa.table({"instruction": ["say ok"], "output": ["ok"]}), folder / "b.parquet")
    data = run(tmp_path, folder)
    assert len(data.train) == 3
    texts = sorted(
        tiny_tokenizer.decode([i for i, lab in zip(r["input_ids"], r["labels"], strict=True) if lab != -100])
        for r in data.train
    )
    assert texts == ["hi</s>", "ok</s>", "yo</s>"]


def test_chat_row_problems(tmp_path: Path, run: Callable[..., Any], tiny_tokenizer: Any) -> None:
    good = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    path = _jsonl(tmp_path / "chat.jsonl", [good, {"messages": [{"role": "user", "content": ["x"]}]}])
    with pytest.raises(UserError, match=r"chat.jsonl: row 2: message 1: 'content' must be text, got a list"):
        run(tmp_path, path, "chat_template")
