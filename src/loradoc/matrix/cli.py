"""``loradoc matrix``: verify, lock, ci."""

from __future__ import annotations

import click


@click.group()
def matrix() -> None:
    """Keep the compat matrix true against the package registries, and feed CI."""
