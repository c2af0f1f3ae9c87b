"""Writing files so that a crash, a signal or a full disk never leaves half of one.

Every file loradoc writes for a user (snapshots, locks, resolved configs, metrics, plots,
checkpoint markers, caches) goes through :func:`write_atomic`: the content lands in a
hidden temporary file in the same folder (same filesystem, so the final rename is atomic),
is flushed to disk, and only then replaces the target. On any failure the temporary file
is removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """A temporary path beside ``target`` to write to; it replaces ``target`` when the block ends
    without an exception, and is removed otherwise. For writers that need a file name
    (``savefig``, ``save_pretrained``-style APIs)."""
    path = Path(target)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets the mode open() would give it
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(target: str | Path, content: str | bytes | Callable[[IO[Any]], None]) -> Path:
    """Write ``content`` (text, bytes, or a function that writes to the open file) to ``target``
    atomically and durably; returns the target's path."""
    path = Path(target)
    binary = isinstance(content, bytes)
    with (
        atomic_path(path) as tmp,
        open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh,
    ):
        if callable(content):
            content(fh)
        else:
            fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def write_json_atomic(
    target: str | Path, data: Any, *, indent: int | None = 2, default: Callable[[Any], Any] | None = None
) -> Path:
    """``data`` as JSON (with a final newline), written atomically; ``default`` as for ``json.dumps``."""
    return write_atomic(target, json.dumps(data, indent=indent, default=default) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
