"""Every finding code is documented, and exercised by a test.

"Emitted" is read from the source, not from a list someone has to keep: every call in
``src/loradoc`` of ``Finding(...)`` or of the rule helpers ``error``/``warning``/``info`` whose
code is a string literal, plus the codes the error table answers with. A call whose code is not
a literal must be one of the reviewed pass-throughs below.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from loradoc.compat import load_matrix
from loradoc.doctor.rules import RULES, all_codes

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "loradoc"
DOC = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
TESTS = Path(__file__).parent
MAKERS = {"Finding", "error", "warning", "info"}
# Calls that pass on a code made elsewhere: explain.py re-issues the error table's codes and
# diagnose()'s findings (both checked here through the table and all_codes()); the registry's
# helpers take the code from their callers, which the scan reads.
PASS_THROUGH = {
    ("doctor/explain.py", "e.code"),
    ("doctor/explain.py", "f.code"),
    ("doctor/rules/registry.py", "code"),  # the error/warning/info helpers themselves
    # the matrix's [[package_conflict]] rows: test_rules checks each row's code against the rule's
    ("doctor/rules/package_conflicts.py", "row.code"),
}


def _makers(tree: ast.Module) -> set[str]:
    """MAKERS plus local aliases such as ``make = warning if guessed else error``."""
    names = set(MAKERS)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.IfExp):
            branches = (node.value.body, node.value.orelse)
            if all(isinstance(b, ast.Name) and b.id in MAKERS for b in branches):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` assignments (a rule's ``CODE``)."""
    out = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        value = node.value.value if isinstance(node.value, ast.Constant) else None
        if isinstance(value, str):
            out.update({t.id: value for t in node.targets if isinstance(t, ast.Name)})
    return out


def emitted_in_source() -> tuple[set[str], list[str]]:
    """(literal codes, descriptions of calls whose code is not a literal)."""
    by_file, dynamic = emitted_by_file()
    return set().union(*by_file.values()), dynamic


def emitted_by_file() -> tuple[dict[str, set[str]], list[str]]:
    """Literal codes per source file (relative to src/loradoc), and the non-literal calls."""
    by_file: dict[str, set[str]] = {}
    dynamic: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        makers, constants = _makers(tree), _constants(tree)
        found = by_file.setdefault(rel, set())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if not (
                (isinstance(f, ast.Name) and f.id in makers)
                or (isinstance(f, ast.Attribute) and f.attr == "Finding")  # not logger.info(...)
            ):
                continue
            arg = (
                node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "code"), None)
            )
            if arg is None:
                continue
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
            elif isinstance(arg, ast.Name) and arg.id in constants:
                found.add(constants[arg.id])
            elif (rel, ast.unparse(arg)) not in PASS_THROUGH:
                dynamic.append(f"{rel}:{node.lineno}: {ast.unparse(node)[:80]}")
    return by_file, dynamic


def every_emitted_code() -> set[str]:
    literal, _ = emitted_in_source()
    return literal | set(all_codes()) | {e.code for e in load_matrix().errors}


def test_the_scan_sees_rules_diagnose_explain_and_preflight() -> None:
    literal, dynamic = emitted_in_source()
    assert not dynamic, f"finding codes must be string literals (or a reviewed pass-through): {dynamic}"
    assert {"ok", "internal-rule-error", "no-known-error", "torch-missing", "config-path-missing"} <= literal


def test_each_rule_module_declares_the_codes_it_emits() -> None:
    """all_codes() comes from the @rule declarations, so they must be whole."""
    by_file, _ = emitted_by_file()
    for rel, found in by_file.items():
        if not rel.startswith("doctor/rules/") or not found:
            continue
        module = rel.removeprefix("doctor/rules/").removesuffix(".py")
        declared = {c for r in RULES if r.name.split(".")[0] == module for c in r.codes}
        assert found <= declared, f"{rel} emits undeclared codes: {sorted(found - declared)}"


def test_every_code_is_documented() -> None:
    documented = set(re.findall(r"^### `([a-z0-9-]+)`", DOC, flags=re.M))
    emitted = every_emitted_code()
    missing = sorted(emitted - documented)
    assert not missing, f"document in docs/findings.md: {missing}"
    stale = documented - emitted
    assert not stale, f"documented but never emitted: {sorted(stale)}"


def test_all_codes_lists_every_emitted_code() -> None:
    assert every_emitted_code() == set(all_codes())


def test_every_code_is_well_formed() -> None:
    for code in every_emitted_code():
        assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", code), code


def test_error_table_codes_are_known() -> None:
    known = set(all_codes())
    for e in load_matrix().errors:
        assert e.code in known, e.id
        assert set(e.related) <= known, e.id


def test_every_code_is_exercised_by_a_test() -> None:
    text = "".join(
        p.read_text(encoding="utf-8")
        for p in [*TESTS.glob("test_*.py"), ROOT / "tests" / "train" / "test_dry_run.py"]
        if p.name
        in {
            "test_rules.py",
            "test_rules_config.py",
            "test_explain.py",
            "test_diagnose.py",
            "test_report.py",
            "test_cli_doctor.py",
            "test_dry_run.py",
        }
    )
    untested = [c for c in every_emitted_code() if f'"{c}"' not in text]
    assert not untested, f"no test mentions: {untested}"
