"""Shared helpers for the diagnosis tests: hand-written snapshots in tests/doctor/snapshots/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loradoc.compat import load_matrix
from loradoc.doctor.diagnose import diagnose
from loradoc.doctor.findings import Finding
from loradoc.doctor.snapshot import Snapshot

SNAPSHOTS = Path(__file__).parent / "snapshots"


def snap(name: str) -> Snapshot:
    return Snapshot.load(SNAPSHOTS / f"{name}.json")


def run(name_or_snapshot: str | Snapshot | dict[str, Any], config: Any = None) -> list[Finding]:
    if isinstance(name_or_snapshot, str):
        s = snap(name_or_snapshot)
    elif isinstance(name_or_snapshot, dict):
        s = Snapshot.from_dict(name_or_snapshot)
    else:
        s = name_or_snapshot
    return diagnose(s, load_matrix(), config)


def by_code(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def one(findings: list[Finding], code: str) -> Finding:
    found = by_code(findings, code)
    assert len(found) == 1, f"expected one {code}, got {[f.code for f in findings]}"
    return found[0]


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}
