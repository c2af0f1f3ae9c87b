"""``loradoc train``."""

from __future__ import annotations

import click


@click.command()
def train() -> None:
    """Run a packed LoRA fine-tune from an Axolotl-style YAML config."""
