"""One install at a time per environment, and a record that outlives a killed install.

``doctor install`` changes an environment in several pip runs. Two things can go wrong that
the rollback in :mod:`apply` cannot cover by itself:

- two installs into one environment at once would interleave their pip runs. The install
  holds an advisory ``flock`` on ``.loradoc-install.lock`` for as long as it (or a pip it
  started: the locked file is passed to each pip) runs; a second install is refused with one
  line. The kernel drops the lock when the last holder ends, even on SIGKILL.
- an install killed where no code can run (SIGKILL, power loss) cannot roll back. Before
  the first pip step, what was installed is written to ``.loradoc-install.json``; it is removed
  when the install finishes or has put everything back. One left behind means an install was
  interrupted: the next ``doctor install`` (or ``doctor install --restore``) puts the
  environment back from it first.

Both files live in the environment's prefix, or, where that cannot be written (a system
Python), in ``${XDG_CACHE_HOME:-~/.cache}/loradoc/install/<hash of the prefix>/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from loradoc.doctor.install.env import Installed, Target
from loradoc.errors import UserError
from loradoc.fsutil import write_json_atomic

LOCK_NAME = ".loradoc-install.lock"
JOURNAL_NAME = ".loradoc-install.json"
JOURNAL_FORMAT = 1


def state_dir(target: Target) -> Path:
    """Where the lock and the journal of ``target``'s environment live."""
    prefix = Path(target.prefix)
    if os.access(prefix, os.W_OK):
        return prefix
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(os.path.realpath(prefix).encode()).hexdigest()[:16]
    return cache / "loradoc" / "install" / key


@dataclass
class Interrupted:
    """What a journal left by an interrupted install says."""

    path: Path
    started: str  # local time, for the message
    command: str
    before: dict[str, Installed]
    index_urls: list[str]


@dataclass
class EnvLock:
    """The held install lock of one environment, and its journal."""

    folder: Path
    handle: IO[str] | None  # None where the system has no flock

    @property
    def fd(self) -> int | None:
        """The locked file's descriptor, to pass to child processes so they hold the lock too."""
        return self.handle.fileno() if self.handle is not None else None

    @property
    def journal(self) -> Path:
        return self.folder / JOURNAL_NAME

    def interrupted(self) -> Interrupted | None:
        """The journal of an earlier install that did not finish, if one is there."""
        try:
            raw = self.journal.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UserError(
                f"{self.journal}: cannot be read ({exc.strerror}); check its permissions"
            ) from None
        try:
            data = json.loads(raw)
            before = {
                name: Installed(name, str(row["version"]), str(row["spec"]), bool(row.get("editable")))
                for name, row in data["before"].items()
            }
            return Interrupted(
                path=self.journal,
                started=str(data.get("started", "?")),
                command=str(data.get("command", "loradoc doctor install")),
                before=before,
                index_urls=[str(u) for u in data.get("index_urls", [])],
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise UserError(
                f"{self.journal}: the record of an interrupted install is damaged, so what was installed "
                "before it is unknown; check the environment with `loradoc doctor check`, then delete the file"
            ) from None

    def record(self, before: dict[str, Installed], index_urls: list[str], command: str) -> None:
        """Write what is installed before the first pip step (atomically: whole or absent)."""
        data: dict[str, Any] = {
            "format": JOURNAL_FORMAT,
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": command,
            "before": {
                d.name: {"version": d.version, "spec": d.spec, "editable": d.editable}
                for d in sorted(before.values(), key=lambda d: d.name)
            },
            "index_urls": index_urls,
        }
        try:
            write_json_atomic(self.journal, data)
        except OSError as exc:
            raise UserError(
                f"{self.journal}: cannot write the install record ({exc.strerror}); nothing was installed"
            ) from None

    def clear(self) -> None:
        """The install finished or everything was put back: forget the record."""
        self.journal.unlink(missing_ok=True)


@contextlib.contextmanager
def hold_env_lock(target: Target) -> Iterator[EnvLock]:
    """Hold ``target``'s install lock for the block, or stop when another install holds it."""
    folder = state_dir(target)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle: IO[str] | None = open(folder / LOCK_NAME, "a", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise UserError(f"{folder}: cannot take the install lock there ({exc.strerror})") from None
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock, the journal still works
        assert handle is not None
        handle.close()
        handle = None
    else:
        assert handle is not None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise UserError(
                f"{target.prefix}: another `loradoc doctor install` (or a pip it started) is changing this "
                "environment; wait for it to finish, then run this again"
            ) from None
    try:
        yield EnvLock(folder, handle)
    finally:
        if handle is not None:
            handle.close()  # the lock file stays: removing it would let two installs lock two files
