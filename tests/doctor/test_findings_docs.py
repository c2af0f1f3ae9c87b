"""Every finding code is documented, and exercised by a test."""

from __future__ import annotations

import re
from pathlib import Path

from loradoc.compat import load_matrix
from loradoc.doctor.rules import all_codes

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
TESTS = Path(__file__).parent


def test_every_code_is_documented() -> None:
    documented = set(re.findall(r"^### `([a-z0-9-]+)`", DOC, flags=re.M))
    missing = [c for c in all_codes() if c not in documented]
    assert not missing, f"document in docs/findings.md: {missing}"
    stale = documented - set(all_codes())
    assert not stale, f"documented but never emitted: {sorted(stale)}"


def test_error_table_codes_are_known() -> None:
    known = set(all_codes())
    for e in load_matrix().errors:
        assert e.code in known, e.id
        assert set(e.related) <= known, e.id


def test_every_code_is_exercised_by_a_test() -> None:
    text = "".join(
        p.read_text(encoding="utf-8")
        for p in TESTS.glob("test_*.py")
        if p.name
        in {"test_rules.py", "test_explain.py", "test_diagnose.py", "test_report.py", "test_cli_doctor.py"}
    )
    untested = [c for c in all_codes() if f'"{c}"' not in text]
    assert not untested, f"no test mentions: {untested}"
