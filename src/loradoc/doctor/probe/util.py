"""Small helpers the probe modules share: bounded tool runs, file reads, PATH lookups.

Nothing here raises on a weird machine: every helper returns ``None`` (or a
result object that says what went wrong) so the probe can record a note and
carry on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ToolResult:
    """What one external command did. ``ok`` only when it ran and exited 0."""

    argv: list[str]
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    error: str | None = None  # could not start it at all (OSError text)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and self.error is None

    def first_line(self) -> str:
        """The first non-empty output line (stdout, then stderr): the message a note quotes."""
        for text in (self.stdout, self.stderr):
            for line in text.splitlines():
                if line.strip():
                    return line.strip()
        return ""

    def describe(self) -> str:
        """One phrase for a note: why this run gave nothing usable."""
        name = Path(self.argv[0]).name if self.argv else "command"
        if self.error is not None:
            return f"{name} could not run ({self.error})"
        if self.timed_out:
            return f"{name} did not answer within the time limit and was stopped"
        msg = self.first_line()
        return f"{name} exited {self.returncode}" + (f": {msg}" if msg else "")


def run_tool(argv: Sequence[str], *, env: Mapping[str, str], timeout: float) -> ToolResult:
    """Run ``argv`` with a hard time limit; never hangs, never raises.

    The child gets its own session so that, on timeout, the whole process group
    is killed (a wrapper script's ``sleep`` would otherwise keep the pipes open).
    """
    import subprocess

    result = ToolResult(argv=list(argv))
    posix = os.name == "posix"
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            start_new_session=posix,
        )
    except (OSError, ValueError) as exc:
        result.error = getattr(exc, "strerror", None) or str(exc)
        return result
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        result.timed_out = True
        _kill(proc, posix)
        try:
            out, err = proc.communicate(timeout=1.0)
        except (subprocess.TimeoutExpired, OSError, ValueError):
            out, err = b"", b""
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
    result.returncode = proc.returncode
    result.stdout = out.decode("utf-8", "replace") if out else ""
    result.stderr = err.decode("utf-8", "replace") if err else ""
    return result


def _kill(proc: object, posix: bool) -> None:
    import signal

    pid = getattr(proc, "pid", None)
    try:
        if posix and pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            proc.kill()  # type: ignore[attr-defined]
    except (OSError, AttributeError):
        pass


def read_text(path: str | os.PathLike[str], limit: int = 1 << 20) -> str | None:
    """The file's text (at most ``limit`` bytes), or None if it cannot be read."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit)
    except OSError:
        return None
    return data.decode("utf-8", "replace")


def which(name: str, env: Mapping[str, str]) -> str | None:
    """``shutil.which`` against the given environment's PATH (not this process's)."""
    path = env.get("PATH")
    if not path:
        return None
    exts = [""]
    if os.name == "nt":
        exts += [e.lower() for e in env.get("PATHEXT", ".EXE;.BAT;.CMD").split(";") if e]
    for folder in path.split(os.pathsep):
        if not folder:
            continue
        for ext in exts:
            candidate = os.path.join(folder, name + ext)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    return None


def under(root: Path, absolute: str) -> Path:
    """``/sys/module/x`` re-rooted under ``root`` (tests point root at a tmp tree)."""
    return root / absolute.lstrip("/")


def home_dir(env: Mapping[str, str]) -> Path:
    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) if home else Path(os.path.expanduser("~"))
