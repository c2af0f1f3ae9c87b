"""``loradoc doctor``: check, explain, install."""

from __future__ import annotations

import click


@click.group()
def doctor() -> None:
    """Probe this machine, diagnose mismatches, and install a compatible stack."""
