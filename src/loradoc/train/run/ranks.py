"""This process's place in a launched run, from the launcher's environment.

accelerate and torchrun start each worker with ``RANK`` (its index among all
processes), ``LOCAL_RANK`` (its index on this machine) and ``WORLD_SIZE`` (how
many there are). These are at hand before accelerate's state exists (config
loading, the output_dir check, the W&B question), so every such question is
answered here, from one reading of the same variables. A plain ``loradoc train``
has none of them set: rank 0 of 1. Once training has started, accelerate's
``PartialState`` is the authority (``pipeline``).

Every function takes an optional ``environ`` (default ``os.environ``) for tests. A
variable that is not a whole number counts as unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _int(environ: Mapping[str, str] | None, name: str) -> int | None:
    value = _env(environ).get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def rank(environ: Mapping[str, str] | None = None) -> int:
    """This process's index among all processes (``RANK``); 0 when not launched."""
    value = _int(environ, "RANK")
    return 0 if value is None else value


def local_rank(environ: Mapping[str, str] | None = None) -> int:
    """This process's index on this machine (``LOCAL_RANK``), also its CUDA device; 0 when not launched."""
    value = _int(environ, "LOCAL_RANK")
    return 0 if value is None else value


def launched_world_size(environ: Mapping[str, str] | None = None) -> int | None:
    """The number of processes when a launcher (torchrun, accelerate) started this one, else None."""
    env = _env(environ)
    if "LOCAL_RANK" not in env or "WORLD_SIZE" not in env:
        return None
    return _int(env, "WORLD_SIZE")


def world_size(environ: Mapping[str, str] | None = None) -> int:
    """The number of processes in this run: the launcher's ``WORLD_SIZE``, else 1."""
    return launched_world_size(environ) or 1


def is_main_process(environ: Mapping[str, str] | None = None) -> bool:
    """Rank 0 of a launched run (global and local), or a plain single process."""
    return rank(environ) == 0 and local_rank(environ) == 0
