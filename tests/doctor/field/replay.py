"""Replay the field corpus through the doctor and count what it gets right.

Each case (``cases/*.yml``, format in README.md) becomes a Snapshot (its ``facts``) for
``doctor check`` and a log (its ``log``) for ``doctor explain``. A case is *right* when either
names the confirmed cause (``expect.code``), and *right with a usable fix* when that finding's fix
is something a user can act on as printed: a shell command that ``bash -n`` accepts, without
placeholders or prose inside it, or a config change, containing every ``expect.fix_has`` string
(or every string of one ``expect.also_works`` entry: another fix shown to work on that machine).

``python tests/doctor/field/replay.py`` prints the table; ``-v`` lists every miss.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from loradoc.compat.load import load_matrix
from loradoc.doctor.diagnose import diagnose
from loradoc.doctor.explain import explain
from loradoc.doctor.findings import Finding
from loradoc.doctor.snapshot import Snapshot

CASES = Path(__file__).resolve().parent / "cases"
REQUIRED = ("thread", "url", "date", "kind", "facts", "log", "confirmed", "expect", "status")
# Fix lines that change a file or setting rather than run a command.
_CONFIG_CHANGE = re.compile(r"^(set|replace|remove|add|unset) \S.* (in|with|from) ")
_PLACEHOLDER = re.compile(r"<[a-z_ -]+>|\.\.\.")
_PROSE = re.compile(r"\s\((?![^)]*[=$])[^)]*\s[^)]*\)\s*$")  # "cmd  (a CUDA 12.x toolkit)"


@dataclass(frozen=True)
class Outcome:
    path: Path
    kind: str
    expected: str
    status: str
    right: bool
    usable: bool
    found: tuple[str, ...]
    fix: str | None

    @property
    def thread(self) -> str:
        return self.path.stem.split("__", 1)[-1]


def load_case(path: Path) -> dict[str, Any]:
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(case, dict):
        raise ValueError(f"{path.name}: not a mapping")
    missing = [k for k in REQUIRED if k not in case]
    if missing:
        raise ValueError(f"{path.name}: missing {', '.join(missing)}")
    return case


def all_cases() -> list[Path]:
    return sorted(CASES.glob("*.yml"))


@cache
def shell_parses(line: str) -> bool:
    return subprocess.run(["bash", "-n", "-c", line], capture_output=True).returncode == 0


def fix_lines(fix: str) -> list[str]:
    return [line.strip().removeprefix("or:").strip() for line in fix.splitlines() if line.strip()]


def usable_fix(fix: str | None, must_have: list[str]) -> bool:
    """The first fix line is actionable as printed, and the fix names what the thread confirmed."""
    if not fix or any(s not in fix for s in must_have):
        return False
    first = fix_lines(fix)[0]
    if _CONFIG_CHANGE.match(first):
        return True
    if _PLACEHOLDER.search(first) or _PROSE.search(first):
        return False
    return shell_parses(first)


def fix_expectations(expect: dict[str, Any]) -> list[list[Any]]:
    """The sets of substrings a usable fix may contain: the thread's own fix (``fix_has``) and
    each ``also_works`` entry, a different fix whose ``source`` shows it works on that machine."""
    return [list(expect.get("fix_has") or []), *(list(a["fix_has"]) for a in expect.get("also_works") or [])]


def printed_fix(f: Finding) -> str | None:
    """The fix as the report prints it (Finding.printed_fix): the fix, then its "or:" lines."""
    return f.printed_fix()


def replay(path: Path) -> Outcome:
    case = load_case(path)
    matrix = load_matrix()
    snapshot = Snapshot.from_dict(case["facts"] or {}, source=path.name)
    findings: list[Finding] = [
        *diagnose(snapshot, matrix),
        *explain(str(case["log"] or ""), snapshot, matrix),
    ]
    expected = str(case["expect"]["code"])
    hits = [f for f in findings if f.code == expected]
    wanted = [[str(s) for s in want] for want in fix_expectations(case["expect"])]
    return Outcome(
        path=path,
        kind=str(case["kind"]),
        expected=expected,
        status=str(case["status"]),
        right=bool(hits),
        usable=any(usable_fix(printed_fix(f), must) for f in hits for must in wanted),
        found=tuple(dict.fromkeys(f.code for f in findings if f.code not in ("ok", "no-known-error"))),
        fix=hits[0].fix if hits else None,
    )


def table(outcomes: list[Outcome]) -> str:
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_kind[o.kind].append(o)
    rows = [("kind", "right", "right + usable fix", "cases", "gaps marked")]
    for kind in sorted(by_kind):
        group = by_kind[kind]
        rows.append(_row(kind, group))
    rows.append(_row("all", outcomes))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def _row(name: str, group: list[Outcome]) -> tuple[str, str, str, str, str]:
    n = len(group)
    right = sum(o.right for o in group)
    usable = sum(o.usable for o in group)
    gaps = sum(o.status == "gap" for o in group)
    return (name, f"{right} ({right / n:.0%})", f"{usable} ({usable / n:.0%})", str(n), str(gaps))


def misses(outcomes: list[Outcome]) -> str:
    lines = []
    for o in outcomes:
        if o.usable:
            continue
        why = "fix not usable: " + repr(o.fix) if o.right else f"found {', '.join(o.found) or 'nothing'}"
        lines.append(f"  {o.path.name}: expected {o.expected} [{o.status}]; {why}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    outcomes = [replay(p) for p in all_cases()]
    print(table(outcomes))
    if "-v" in argv:
        print(misses(outcomes))
        print(Counter(o.expected for o in outcomes if not o.right).most_common())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
