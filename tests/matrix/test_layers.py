"""The matrix commands (``loradoc.upkeep``) and the doctor (``loradoc.doctor``) do not import each
other: what both need (the pip-compile lock engine, the matrix) lives below them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import loradoc

SRC = Path(loradoc.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function (absolute names)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


@pytest.mark.parametrize(
    ("package", "forbidden"), [("upkeep", "loradoc.doctor"), ("doctor", "loradoc.upkeep")]
)
def test_upkeep_and_doctor_do_not_import_each_other(package: str, forbidden: str) -> None:
    found = {
        f"{path.relative_to(SRC)}: {name}"
        for path in sorted((SRC / package).rglob("*.py"))
        for name in imported_modules(path)
        if name == forbidden or name.startswith(forbidden + ".")
    }
    assert not found, f"loradoc.{package} imports {forbidden}: {sorted(found)}"


def test_the_lock_engine_sits_below_both() -> None:
    engine = imported_modules(SRC / "lockfile.py")
    assert not {n for n in engine if n.startswith(("loradoc.doctor", "loradoc.upkeep"))}
    assert "loradoc.lockfile" in imported_modules(SRC / "upkeep" / "lock.py")
    assert "loradoc.lockfile" in imported_modules(SRC / "doctor" / "install" / "lock.py")
