"""Run ``loradoc`` in-process, the way a user runs it, and split what it printed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from loradoc.cli import main

SNAPSHOTS = Path(__file__).parent / "snapshots"
A100 = SNAPSHOTS / "a100.json"
CPU = SNAPSHOTS / "cpu.json"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error:")]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Result:
    """``loradoc ARGS``: its exit code, stdout and stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    code = exc.value.code
    return Result(code if isinstance(code, int) else 1, captured.out, captured.err)
