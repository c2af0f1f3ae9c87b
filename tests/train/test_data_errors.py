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


# --- bounded reading: row sizes, JSON arrays -----------------------------------------------


def _single_line_array(path: Path, size: int) -> Path:
    row = json.dumps(GOOD)
    count = size // (len(row) + 2) + 1
    path.write_text("[" + ", ".join([row] * count) + "]\n", encoding="utf-8")
    return path


def test_a_row_over_16_mb_is_refused_before_datasets_reads_it(
    tmp_path: Path, run: Callable[..., Any], capfd: pytest.CaptureFixture[str]
) -> None:
    """A single-line JSON array of 17 MB saved as .jsonl: one line naming the file and the row, and
    the fix; read in chunks (tracemalloc's peak stays near one 1 MiB chunk, not the 17 MB line)."""
    import tracemalloc

    path = _jsonl(tmp_path / "train.jsonl", [GOOD, GOOD])
    with path.open("a", encoding="utf-8") as fh:
        fh.write("[" + ", ".join([json.dumps(GOOD)] * (17 * (1 << 20) // 50)) + "]\n")
    size_mb = len(path.read_bytes().splitlines()[2]) / (1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(UserError) as err:
            run(tmp_path, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.message == (
        f"{path}: row 3 is {size_mb:.1f} MB; rows are limited to 16 MB (a single-line JSON array? write one "
        "object per line)"
    )
    assert peak < 8 << 20, peak
    assert not (tmp_path / "prepared").exists()  # nothing half-written
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 10, 64, 1 << 20])
def test_check_row_sizes_across_chunks(tmp_path: Path, chunk: int) -> None:
    from loradoc.train.data.read import check_row_sizes

    path = tmp_path / "x.jsonl"
    path.write_bytes(b"0123456789\n\n0123456789\n" + b"x" * 11 + b"\nshort\n")
    got = check_row_sizes(path, limit=10, chunk_size=chunk)
    assert got is not None and got.startswith("row 4 is 0.0 MB; rows are limited to ")
    path.write_bytes(b"0123456789\n" * 5 + b"0123456789")  # every line exactly at the limit
    assert check_row_sizes(path, limit=10, chunk_size=chunk) is None
    path.write_bytes(b"0123456789\n" * 2 + b"01234567890")  # the last line, with no newline
    assert (check_row_sizes(path, limit=10, chunk_size=chunk) or "").startswith("row 3 is")


def test_a_json_array_file_too_large_to_parse_whole(
    tmp_path: Path, run: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from loradoc.train.data import read

    path = tmp_path / "train.json"
    path.write_text("[\n" + ",\n".join([json.dumps(GOOD)] * 400) + "\n]\n", encoding="utf-8")
    monkeypatch.setattr(read, "MAX_ARRAY_BYTES", 4096)
    with pytest.raises(
        UserError, match=r"train.json: a JSON array of 0 MB is read whole into memory; arrays "
    ):
        run(tmp_path, path)
    monkeypatch.setattr(read, "MAX_ARRAY_BYTES", 1 << 20)
    assert len(run(tmp_path, path).train) == 400  # the same file under the limit loads


def test_rows_that_are_arrays(tmp_path: Path, run: Callable[..., Any]) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(GOOD) + "\n[1, 2]\n[3, 4]\n", encoding="utf-8")
    with pytest.raises(UserError) as err:
        run(tmp_path, path)
    assert err.value.message == (
        f"{path}: row 2 is a JSON array; each row must be a JSON object with the dataset's fields "
        '(e.g. {"instruction": ..., "output": ...} for alpaca)'
    )
    path.write_text("[1, 2]\n[3, 4]\n", encoding="utf-8")  # the first row too: not read as one array
    with pytest.raises(
        UserError, match=r"train.jsonl: row 1 is a JSON array; each row must be a JSON object"
    ):
        run(tmp_path, path)


def test_json_messages_say_at_once(tmp_path: Path, run: Callable[..., Any]) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(GOOD) + '\n{"instruction": "unterminated', encoding="utf-8")
    with pytest.raises(UserError) as err:
        run(tmp_path, path)
    assert err.value.message == f"{path}: line 2: invalid JSON (Unterminated string starting at column 17)"
    assert "at at" not in err.value.message


def test_a_failed_load_prints_only_loradocs_line_and_leaves_no_locks(
    tmp_path: Path, run: Callable[..., Any], capfd: pytest.CaptureFixture[str]
) -> None:
    """datasets logs "Failed to load JSON from file ..." and leaves *.lock files and empty cache
    folders when its JSON builder raises: neither survives loradoc's failed preparation."""
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(GOOD) + '\n{"instruction": "a", "output": }\n', encoding="utf-8")
    capfd.readouterr()
    with pytest.raises(UserError, match=r"line 2: invalid JSON"):
        run(tmp_path, path)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    assert not (tmp_path / "prepared").exists(), sorted((tmp_path / "prepared").rglob("*"))


def test_a_failed_load_keeps_what_was_there(tmp_path: Path, run: Callable[..., Any]) -> None:
    """An existing prepared folder keeps its files; only this failure's locks and empty folders go."""
    good = _jsonl(tmp_path / "good.jsonl", [GOOD] * 4)
    run(tmp_path, good)
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "prepared").rglob("*"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": }\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"bad.jsonl: line 1: invalid JSON"):
        run(tmp_path, bad)
    after = sorted(p.relative_to(tmp_path) for p in (tmp_path / "prepared").rglob("*"))
    assert after == before


def test_tidy_on_failure_removes_only_new_locks_and_empty_folders(tmp_path: Path) -> None:
    from loradoc.train.data.cache import tidy_on_failure

    root = tmp_path / "prepared"
    (root / "old").mkdir(parents=True)
    (root / "old" / "x.lock").write_text("")
    with pytest.raises(RuntimeError), tidy_on_failure(root):
        (root / "new" / "deep").mkdir(parents=True)
        (root / "new" / "deep" / "b.lock").write_text("")
        (root / "kept").mkdir()
        (root / "kept" / "data.arrow").write_text("x")
        raise RuntimeError("boom")
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
        "kept",
        "kept/data.arrow",
        "old",
        "old/x.lock",
    ]


# --- where the prepared data goes ----------------------------------------------------------


def test_output_dir_that_cannot_be_written_is_named(
    tmp_path: Path, data_config: Callable[..., Any], tiny_tokenizer: Any
) -> None:
    good = _jsonl(tmp_path / "good.jsonl", [GOOD] * 4)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cfg = data_config(tmp_path, [{"path": str(good), "type": "alpaca"}], output_dir=str(blocker / "out"))
    cfg.dataset_prepared_path = None
    with pytest.raises(UserError) as err:
        prepare_data(cfg, tiny_tokenizer, say=lambda s: None)
    assert err.value.message.startswith(
        f"output_dir: {blocker / 'out'} cannot be created or written: the prepared data goes next to it, "
        f"in {blocker / 'prepared'} ("
    )
    assert err.value.message.endswith("choose another output_dir, or set dataset_prepared_path")
    cfg = data_config(
        tmp_path, [{"path": str(good), "type": "alpaca"}], dataset_prepared_path=str(blocker / "p")
    )
    with pytest.raises(UserError, match=r"^dataset_prepared_path: .*a-file/p cannot be created or written"):
        prepare_data(cfg, tiny_tokenizer, say=lambda s: None)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_output_dir_in_proc(tmp_path: Path, data_config: Callable[..., Any], tiny_tokenizer: Any) -> None:
    good = _jsonl(tmp_path / "good.jsonl", [GOOD] * 4)
    cfg = data_config(tmp_path, [{"path": str(good), "type": "alpaca"}], output_dir="/proc/loradoc-out")
    cfg.dataset_prepared_path = None
    with pytest.raises(UserError, match=r"^output_dir: /proc/loradoc-out cannot be created or written: "):
        prepare_data(cfg, tiny_tokenizer, say=lambda s: None)


# --- batches larger than the data ----------------------------------------------------------


def test_micro_batch_larger_than_the_examples(
    tmp_path: Path, data_config: Callable[..., Any], tiny_tokenizer: Any
) -> None:
    path = _jsonl(tmp_path / "train.jsonl", [GOOD] * 6)
    cfg = data_config(
        tmp_path, [{"path": str(path), "type": "alpaca"}], micro_batch_size=8, sample_packing=False
    )
    with pytest.raises(UserError) as err:
        prepare_data(cfg, tiny_tokenizer, say=lambda s: None)
    assert err.value.message == (
        "micro_batch_size 8 x 1 process = 8 rows per forward pass, but the train split has 6 example(s); "
        "set micro_batch_size to 6 or less, or add data"
    )
    # the same config over two processes, from the cache (the check runs on a reused entry too)
    cfg = data_config(
        tmp_path,
        [{"path": str(path), "type": "alpaca"}],
        micro_batch_size=4,
        sample_packing=False,
        num_processes=2,
    )
    with pytest.raises(
        UserError, match=r"micro_batch_size 4 x 2 processes = 8 rows .* set micro_batch_size to 3"
    ):
        prepare_data(cfg, tiny_tokenizer, say=lambda s: None)
    cfg = data_config(
        tmp_path, [{"path": str(path), "type": "alpaca"}], micro_batch_size=6, sample_packing=False
    )
    assert len(prepare_data(cfg, tiny_tokenizer, say=lambda s: None).train) == 6


def test_micro_batch_larger_than_the_packed_rows(
    tmp_path: Path, data_config: Callable[..., Any], tiny_tokenizer: Any
) -> None:
    path = _jsonl(tmp_path / "train.jsonl", [GOOD] * 6)  # six short examples: one packed row
    cfg = data_config(
        tmp_path,
        [{"path": str(path), "type": "alpaca"}],
        micro_batch_size=2,
        sample_packing=True,
        sequence_len=1024,
    )
    with pytest.raises(UserError) as err:
        prepare_data(cfg, tiny_tokenizer, say=lambda s: None)
    assert err.value.message == (
        "micro_batch_size 2 x 1 process = 2 rows per forward pass, but the train split packs into 1 row(s) of "
        "sequence_len 1024 (6 examples); set micro_batch_size to 1 or less, set sample_packing: false, or add data"
    )
