"""``loradoc config schema``: the training config's JSON Schema, for editors and CI."""

from __future__ import annotations

import json

import click


@click.group()
def config() -> None:
    """The training config: its JSON Schema (keys, types, ranges, docs)."""


@config.command("schema")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the schema to this file (atomically) instead of printing it.",
)
def schema(output: str | None) -> None:
    """Print the JSON Schema of a training config.

    Point yaml-language-server at it for completion and inline errors in your editor:
    put `# yaml-language-server: $schema=./loradoc-config.schema.json` at the top of the
    config, or map it in your editor's YAML settings (docs/config.md).
    """
    from loradoc.config.json_schema import config_json_schema
    from loradoc.fsutil import write_atomic

    text = json.dumps(config_json_schema(), indent=2) + "\n"
    if output:
        write_atomic(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
