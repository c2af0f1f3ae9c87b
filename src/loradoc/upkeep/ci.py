"""``loradoc matrix ci``: the supported rows as a GitHub Actions strategy matrix.

Each entry carries what a job needs without knowing the matrix: the runner
labels, the Python, the torch build and its index, whether a lock exists, and
the install command (from the lock when there is one).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loradoc.upkeep.rows import Row

INSTALL_EXTRAS = ".[train,wandb,dev]"


def install_command(row: Row, lock: Path | None) -> str:
    """The shell line that installs this row's stack and loradoc (editable, with test tools)."""
    pip = "python -m pip install"
    if lock is not None:
        first = f"{pip} -r {shlex.quote(lock.as_posix())}"
    else:
        first = f"{pip} {shlex.quote(row.torch_requirement)} --index-url {row.index_url}"
    return f"{first} && {pip} -e {shlex.quote(INSTALL_EXTRAS)}"


def entry(row: Row, root: Path, locks_dir: Path) -> dict[str, Any]:
    lock = row.lock_path(locks_dir)
    rel_lock = lock.relative_to(root) if lock.is_absolute() and lock.is_relative_to(root) else lock
    have_lock = lock.is_file()
    return {
        "row": row.id,
        "python": row.python,
        "torch": row.torch,
        "variant": row.variant,
        "gpu": row.gpu,
        "runner": list(row.runner),
        "index_url": row.index_url,
        "torch_requirement": row.torch_requirement,
        "lock": rel_lock.as_posix() if have_lock else None,
        "install": install_command(row, rel_lock if have_lock else None),
    }


def strategy(rows: Sequence[Row], root: Path, locks_dir: Path, kind: str = "all") -> dict[str, Any]:
    """``{"include": [...]}`` for ``strategy.matrix``; ``kind`` is cpu, gpu or all."""
    chosen = [r for r in rows if kind == "all" or (kind == "gpu") == r.gpu]
    return {"include": [entry(r, root, locks_dir) for r in chosen]}
