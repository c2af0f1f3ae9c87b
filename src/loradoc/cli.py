"""The ``loradoc`` command line.

Heavy packages (torch, transformers, datasets, peft, wandb) are imported only
inside the commands that need them, so ``loradoc doctor check`` stays fast.
"""

from __future__ import annotations

import sys

import click

from loradoc import __version__
from loradoc.errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="loradoc")
def cli() -> None:
    """Diagnose and fix a fine-tuning environment, and run packed LoRA fine-tunes."""


def _register() -> None:
    from loradoc.config.cli import config
    from loradoc.doctor.cli import doctor
    from loradoc.train.cli import train
    from loradoc.upkeep.cli import matrix

    cli.add_command(doctor)
    cli.add_command(train)
    cli.add_command(matrix)
    cli.add_command(config)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the CLI and turns a UserError into one line and an exit code."""
    try:
        # With standalone_mode=False, click returns the code of a ctx.exit(N) instead of raising it.
        result = cli.main(args=argv, prog_name="loradoc", standalone_mode=False)
    except UserError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(result if isinstance(result, int) and not isinstance(result, bool) else 0)
