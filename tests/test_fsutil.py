"""loradoc.fsutil: a file is either the old one or the whole new one, never half of either."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from loradoc.fsutil import atomic_path, write_atomic, write_json_atomic


def test_write_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    target.write_text("old")
    write_json_atomic(target, {"b": 1, "when": object()}, default=lambda _o: "x")
    assert json.loads(target.read_text()) == {"b": 1, "when": "x"} and target.read_text().endswith("\n")
    write_atomic(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_the_file_gets_the_mode_a_plain_open_would_give(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    atomic = write_atomic(tmp_path / "atomic", "x")
    assert (atomic.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777)


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "metrics.jsonl"
    target.write_text("kept\n")

    def boom(fh: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, boom)
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "loss.png") as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_text() == "kept\n"
    assert sorted(os.listdir(tmp_path)) == ["metrics.jsonl"]
