"""``loradoc doctor``: check, explain (install is added by its own module).

Nothing here imports torch, transformers or datasets: the probe reads files and tools, and
the training config loader is imported only for ``--config``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from loradoc.errors import UserError

if TYPE_CHECKING:
    from loradoc.config.schema import TrainConfig
    from loradoc.doctor.snapshot import Snapshot


@click.group()
def doctor() -> None:
    """Probe this machine, diagnose mismatches, and install a compatible stack."""


def _snapshot(from_path: str | None) -> Snapshot:
    from loradoc.doctor.snapshot import Snapshot

    if from_path:
        return Snapshot.load(from_path)
    from loradoc.doctor.probe.machine import probe

    return probe()


def _load_config(path: str) -> TrainConfig:
    from loradoc.config.load import load_config  # here, not above: only --config needs it

    if not Path(path).is_file():
        raise UserError(f"{path}: training config not found")
    return load_config(path)


@doctor.command("check")
@click.option(
    "--config", "config_path", metavar="CFG.yml", help="Also check what this training config needs."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (for CI).")
@click.option(
    "--save", "save_path", metavar="FILE", help="Save this machine's snapshot as JSON (for bug reports)."
)
@click.option(
    "--from", "from_path", metavar="FILE", help="Diagnose a saved snapshot instead of this machine."
)
def check(config_path: str | None, as_json: bool, save_path: str | None, from_path: str | None) -> None:
    """Diagnose GPU, driver, torch, xformers, flash-attn and bitsandbytes without importing torch.

    Exit status: 0 no errors, 1 errors found, 2 bad usage.
    """
    from loradoc.compat.load import load_matrix
    from loradoc.doctor.diagnose import diagnose
    from loradoc.doctor.report import exit_code, render_json, render_text

    if save_path and from_path:
        raise UserError("--save records this machine and --from replays a saved snapshot: use one of them")
    matrix = load_matrix()
    config = _load_config(config_path) if config_path else None
    snapshot = _snapshot(from_path)
    if save_path:
        snapshot.save(save_path)
    findings = diagnose(snapshot, matrix, config)
    click.echo(
        render_json(findings, snapshot) if as_json else render_text(findings, snapshot, matrix), nl=False
    )
    if save_path and not as_json:
        click.echo(f"snapshot saved to {save_path}")
    code = exit_code(findings)
    if code:
        sys.exit(code)


@doctor.command("explain")
@click.argument("file", required=False, metavar="[FILE|-]")
@click.option(
    "--from", "from_path", metavar="FILE", help="Use a saved snapshot instead of probing this machine."
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def explain_cmd(file: str | None, from_path: str | None, as_json: bool) -> None:
    """Recognise known errors in a log or traceback (FILE, or - for stdin) and say how to fix them.

    Exit status: 0 nothing wrong recognised, 1 errors recognised, 2 bad usage.
    """
    from loradoc.compat.load import load_matrix
    from loradoc.doctor.explain import explain
    from loradoc.doctor.report import exit_code, render_json, render_text

    text = _read_log(file)
    matrix = load_matrix()
    snapshot = _snapshot(from_path)
    findings = explain(text, snapshot, matrix)
    if as_json:
        click.echo(render_json(findings, snapshot), nl=False)
    else:
        click.echo(render_text(findings, snapshot, matrix, title="loradoc doctor explain"), nl=False)
    code = exit_code(findings)
    if code:
        sys.exit(code)


def _read_log(file: str | None) -> str:
    from loradoc.doctor.log_input import read_log

    if file in (None, "-"):
        if file is None and sys.stdin.isatty():
            raise UserError(
                "give a log: loradoc doctor explain FILE, or pipe one in: ... | loradoc doctor explain -"
            )
        text, notes = read_log(sys.stdin.buffer, "standard input")
    else:
        path = Path(file)
        if path.is_dir():
            raise UserError(f"{path}: is a folder; give the log file")
        try:
            with path.open("rb") as fh:
                text, notes = read_log(fh, str(path))
        except FileNotFoundError:
            raise UserError(f"{path}: log file not found") from None
        except OSError as exc:
            raise UserError(f"{path}: cannot read the log ({exc.strerror or exc})") from None
    for note in notes:
        click.echo(f"note: {note}", err=True)
    return text


from loradoc.doctor.install.cli import install_cmd  # noqa: E402  (doctor install, issue 4)

doctor.add_command(install_cmd)
