"""``loradoc matrix``: verify, update, lock, ci."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from loradoc.errors import UserError

PART_CHOICES = ("torch", "xformers", "flash-attn", "bitsandbytes", "hf")


@click.group()
def matrix() -> None:
    """Keep the compat matrix true against the package registries, and feed CI."""


def _load(matrix_path: str | None) -> Any:
    from loradoc.compat.load import load_matrix

    if matrix_path and not Path(matrix_path).is_file():
        raise UserError(f"{matrix_path}: matrix file not found (--matrix)")
    return load_matrix(matrix_path)


def _session(
    index_url: str | None, torch_index_url: str | None, no_cache: bool, cache_dir: str | None, jobs: int
) -> Any:
    from loradoc.upkeep.checklist import Indexes
    from loradoc.upkeep.registry import PYPI_SIMPLE, Index, default_cache_dir
    from loradoc.upkeep.verify_run import Session

    if torch_index_url and "{variant}" not in torch_index_url:
        raise UserError(
            f"--torch-index-url {torch_index_url}: needs a {{variant}} placeholder, "
            "e.g. https://download.pytorch.org/whl/{variant}"
        )
    if jobs < 1:
        raise UserError(f"--jobs {jobs}: needs at least 1")
    indexes = Indexes(pypi=Index(index_url or PYPI_SIMPLE), torch_pattern=torch_index_url)
    return Session(
        indexes=indexes,
        cache_dir=Path(cache_dir) if cache_dir else default_cache_dir(),
        use_cache=not no_cache,
        workers=jobs,
    )


def _registry_options(fn: Any) -> Any:
    options = [
        click.option(
            "--matrix", "matrix_path", metavar="FILE", help="Verify this matrix file (default: shipped)."
        ),
        click.option(
            "--index-url",
            metavar="URL",
            help="Ask this index instead of PyPI (a mirror, or file:// for tests).",
        ),
        click.option(
            "--torch-index-url",
            metavar="PATTERN",
            help="PyTorch variant index pattern with {variant} (default: the matrix's).",
        ),
        click.option("--no-cache", is_flag=True, help="Ask again instead of using answers under a day old."),
        click.option(
            "--cache-dir",
            metavar="DIR",
            help="Answer cache (default $LORADOC_CACHE_DIR/registry or ~/.cache).",
        ),
        click.option("--jobs", "-j", default=8, show_default=True, help="pip processes at a time."),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


@matrix.command("verify")
@_registry_options
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option(
    "--only",
    "parts",
    multiple=True,
    type=click.Choice(PART_CHOICES),
    help="Verify only these parts (repeatable).",
)
@click.option("--problems", is_flag=True, help="Show only mismatches and unverified facts.")
@click.option(
    "--new", "new", is_flag=True, help="List registry releases newer than the matrix knows instead."
)
@click.option("--fail-on-new", is_flag=True, help="With --new: exit 1 when there is any.")
def verify_cmd(
    matrix_path: str | None,
    index_url: str | None,
    torch_index_url: str | None,
    no_cache: bool,
    cache_dir: str | None,
    jobs: int,
    as_json: bool,
    parts: tuple[str, ...],
    problems: bool,
    new: bool,
    fail_on_new: bool,
) -> None:
    """Check every matrix fact a registry can confirm; exit 1 on any mismatch.

    Asks pip for release metadata (`pip install --dry-run --report`, no wheel is
    downloaded) with pip's local configuration switched off. Facts no reachable
    index can confirm are reported as unverified, not failed.
    """
    from loradoc.upkeep.verify_run import PARTS, new_releases, verify_matrix

    m = _load(matrix_path)
    session = _session(index_url, torch_index_url, no_cache, cache_dir, jobs)
    if new:
        report = new_releases(m, session)
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "new": [vars(r) for r in report.releases],
                        "unlisted": report.unlisted,
                    },
                    indent=2,
                )
            )
        else:
            _print_new(report)
        if fail_on_new and report.releases:
            sys.exit(1)
        return
    vreport = verify_matrix(m, session, parts or PARTS)
    if as_json:
        click.echo(json.dumps(vreport.to_dict(), indent=2))
    else:
        _print_table(vreport.results, problems)
        c = vreport.counts
        click.echo(
            f"{len(vreport.results)} facts: {c['ok']} ok, {c['mismatch']} mismatch, {c['unverified']} unverified "
            f"({vreport.seconds:.0f} s, {vreport.pip_calls} pip runs; answers cached for a day)"
        )
    if not vreport.ok:
        sys.exit(1)


@matrix.command("update")
@_registry_options
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 when the registry has releases the matrix lacks."
)
@click.option("--diff", "show_diff", is_flag=True, help="Print the edit as a unified diff; write nothing.")
@click.option(
    "--record",
    metavar="FILE",
    help="Append what was added to this Markdown log (the repository's compat/VERIFY.md).",
)
def update_cmd(
    matrix_path: str | None,
    index_url: str | None,
    torch_index_url: str | None,
    no_cache: bool,
    cache_dir: str | None,
    jobs: int,
    check: bool,
    show_diff: bool,
    record: str | None,
) -> None:
    """Write releases newer than the matrix knows into it, with the facts the registry gives.

    \b
    A release inside a range the matrix describes is checked against that range's
    facts (the checks `verify` runs): when they hold, the range learns it as its newest
    release; when the registry says otherwise, the range is closed below it and a new
    entry starts there. New torch series and xformers, bitsandbytes and flash-attn
    releases get entries built from their metadata and wheel tags. What no registry can
    tell (architectures inside a wheel, GitHub release assets, the C++ ABI) is written
    as UNVERIFIED with where to confirm it. The file keeps its layout and comments; the
    edited matrix is validated before it is written. Without --matrix, the matrix of the
    checkout in the current folder (compat/matrix.toml) is updated.
    """
    from loradoc.compat.load import matrix_from_text
    from loradoc.fsutil import write_atomic

    try:
        from loradoc.upkeep.matrix_text import MatrixTextError, apply_edits
    except ModuleNotFoundError as exc:
        if exc.name != "tomlkit":
            raise
        raise UserError("loradoc matrix update needs tomlkit: pip install 'loradoc[matrix]'") from None
    from loradoc.upkeep.update import plan_update, today

    given = Path(matrix_path) if matrix_path else Path("compat/matrix.toml")
    target: Path | None = given
    if not given.is_file():
        if matrix_path or not check:
            raise UserError(
                f"{given}: matrix file not found; run in the loradoc checkout or give --matrix FILE"
            )
        target = None  # --check of the shipped matrix
    m = _load(str(target) if target else None)
    session = _session(index_url, torch_index_url, no_cache, cache_dir, jobs)
    if check:
        from loradoc.upkeep.verify_run import new_releases

        report = new_releases(m, session)
        _print_new(report)
        if report.releases:
            click.echo("run `loradoc matrix update` to add them", err=True)
            sys.exit(1)
        if report.unlisted:
            sys.exit(2)
        return
    assert target is not None
    plan = plan_update(m, session)
    for pkg, why in sorted(plan.new.unlisted.items()):
        click.echo(f"{pkg}: could not list releases ({why})", err=True)
    if not plan.edits:
        if not plan.changes:
            click.echo(f"no releases newer than {target} knows")
        _print_changes(plan.changes)
        sys.exit(1 if plan.skipped or plan.new.unlisted else 0)
    before = target.read_text(encoding="utf-8")
    try:
        after = apply_edits(before, plan.edits)
    except MatrixTextError as exc:
        raise UserError(f"{target}: cannot apply the update ({exc}); nothing written") from None
    matrix_from_text(after, target)  # a MatrixError names the entry; nothing written
    if show_diff:
        import difflib

        click.echo(
            "".join(
                difflib.unified_diff(
                    before.splitlines(True), after.splitlines(True), str(target), str(target)
                )
            ),
            nl=False,
        )
        _print_changes(plan.changes, err=True)
        return
    write_atomic(target, after)
    _print_changes(plan.changes)
    click.echo(f"wrote {target}; `loradoc matrix verify --matrix {target}` confirms what the registry can")
    if record:
        _record(Path(record), today(), plan.changes)
    if plan.skipped:
        sys.exit(1)


def _print_changes(changes: Sequence[Any], err: bool = False) -> None:
    for c in changes:
        click.echo(c.line(), err=err)
        for d in c.disagree:
            click.echo(f"    differs: {d}", err=err)
        for u in c.unverified:
            click.echo(f"    UNVERIFIED: {u}", err=err)


def _record(path: Path, date: str, changes: Sequence[Any]) -> None:
    lines = [f"\n# `loradoc matrix update`, {date}\n\n"]
    lines += [f"- {c.line()}\n" for c in changes]
    lines += [f"  - differs: {d}\n" for c in changes for d in c.disagree]
    lines += [f"  - UNVERIFIED ({c.package} {c.version}): {u}\n" for c in changes for u in c.unverified]
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(lines))


def _print_table(results: Sequence[Any], problems: bool) -> None:
    rows = [r for r in results if not problems or r.status != "ok"]
    if not rows:
        return
    width = shutil.get_terminal_size((160, 24)).columns
    fact_w = min(max(len(r.fact) for r in rows), 72)
    src_w = 14
    click.echo(f"{'STATUS':<10}  {'FACT':<{fact_w}}  {'SOURCE':<{src_w}}  OBSERVED")
    for r in rows:
        fact = r.fact if len(r.fact) <= fact_w else r.fact[: fact_w - 1] + "…"
        src = r.source if len(r.source) <= src_w else r.source[: src_w - 1] + "…"
        room = max(20, width - fact_w - src_w - 16)
        observed = r.observed if len(r.observed) <= room else r.observed[: room - 1] + "…"
        click.echo(f"{r.status:<10}  {fact:<{fact_w}}  {src:<{src_w}}  {observed}")


def _print_new(report: Any) -> None:
    if not report.releases:
        click.echo("no releases newer than the matrix knows")
    for r in report.releases:
        click.echo(f"{r.package} {r.version} (matrix knows up to {r.known}) on {r.index}")
    for pkg, why in sorted(report.unlisted.items()):
        click.echo(f"{pkg}: could not list releases ({why})")


def _rows(matrix_path: str | None, rows_path: str | None) -> tuple[Any, list[Any]]:
    from loradoc.upkeep.rows import load_rows

    if rows_path and not Path(rows_path).is_file():
        raise UserError(f"{rows_path}: rows file not found (--rows)")
    m = _load(matrix_path)
    return m, load_rows(m, rows_path)


@matrix.command("lock")
@click.argument("row_ids", nargs=-1, metavar="[ROW]...")
@click.option("--all", "all_rows", is_flag=True, help="Lock every supported row.")
@click.option("--check", is_flag=True, help="Report locks that are stale against the matrix; write nothing.")
@click.option("--require-all", is_flag=True, help="With --check: a row without a lock is an error too.")
@click.option("--out", "out_dir", default="constraints", show_default=True, help="Folder of the locks.")
@click.option("--matrix", "matrix_path", metavar="FILE", help="Matrix file (default: shipped).")
@click.option("--rows", "rows_path", metavar="FILE", help="Supported rows file (default: shipped rows.toml).")
@click.option(
    "--python-exe", metavar="PATH", help="Interpreter that runs pip-compile (default: found per row)."
)
@click.option(
    "--find-links",
    multiple=True,
    metavar="DIR",
    help="A local copy of wheels from an unreachable index (its path is not written into the lock).",
)
@click.option("--index-url", metavar="URL", help="Resolve from this index instead of PyPI (a mirror).")
def lock_cmd(
    row_ids: tuple[str, ...],
    all_rows: bool,
    check: bool,
    require_all: bool,
    out_dir: str,
    matrix_path: str | None,
    rows_path: str | None,
    python_exe: str | None,
    find_links: tuple[str, ...],
    index_url: str | None,
) -> None:
    """Lock the training stack of supported rows into constraints/<row>.txt (pip-compile).

    ROW is an id such as py3.11-torch2.13.0-cpu (`loradoc matrix ci --format text` lists them).
    A row whose index cannot be reached is skipped with the reason; the exit code is 1
    when any row was not locked.
    """
    from loradoc.upkeep.lock import check_locks, write_lock
    from loradoc.upkeep.rows import find_row

    m, rows = _rows(matrix_path, rows_path)
    out = Path(out_dir)
    if check:
        if row_ids or all_rows:
            raise UserError("--check looks at every row; give no ROW and no --all")
        states = check_locks(m, rows, out)
        bad = {"stale", "unmarked", "orphan"} | ({"missing"} if require_all else set())
        for st in states:
            click.echo(f"{st.status:<9} {st.name}: {st.detail}")
        if any(st.status in bad for st in states):
            sys.exit(1)
        return
    if all_rows == bool(row_ids):
        raise UserError("name the rows to lock (e.g. py3.11-torch2.13.0-cpu) or pass --all, not both")
    chosen = rows if all_rows else [find_row(rows, r) for r in row_ids]
    for link in find_links:
        if not Path(link).is_dir():
            raise UserError(f"--find-links {link}: not a folder")
    outcomes = []
    for row in chosen:
        click.echo(f"locking {row.id} ...", err=True)
        outcome = write_lock(m, row, out, python_exe=python_exe, find_links=find_links, index_url=index_url)
        outcomes.append(outcome)
        where = f" -> {outcome.path}" if outcome.path else ""
        click.echo(f"{outcome.status:<8} {row.id}: {outcome.detail}{where}")
    if any(o.status != "locked" for o in outcomes):
        sys.exit(1)


@matrix.command("ci")
@click.option("--format", "fmt", type=click.Choice(["github", "text"]), default="github", show_default=True)
@click.option(
    "--kind", type=click.Choice(["all", "cpu", "gpu"]), default="all", show_default=True, help="Which rows."
)
@click.option("--locks", "locks_dir", default="constraints", show_default=True, help="Folder of the locks.")
@click.option("--matrix", "matrix_path", metavar="FILE", help="Matrix file (default: shipped).")
@click.option("--rows", "rows_path", metavar="FILE", help="Supported rows file (default: shipped rows.toml).")
def ci_cmd(fmt: str, kind: str, locks_dir: str, matrix_path: str | None, rows_path: str | None) -> None:
    """The supported rows as a GitHub Actions strategy matrix (JSON for `strategy.matrix`).

    \b
    In a workflow:
      echo "matrix=$(loradoc matrix ci --kind cpu)" >> "$GITHUB_OUTPUT"
      ...
      strategy:
        matrix: ${{ fromJSON(needs.rows.outputs.matrix) }}
      runs-on: ${{ matrix.runner }}
    """
    from loradoc.upkeep.ci import strategy

    _, rows = _rows(matrix_path, rows_path)
    data = strategy(rows, Path.cwd(), Path(locks_dir), kind)
    if fmt == "github":
        click.echo(json.dumps(data, separators=(",", ":")))
        return
    for e in data["include"]:
        lock = e["lock"] or "no lock"
        click.echo(f"{e['row']:<28} {' '.join(e['runner']):<40} {lock}")
