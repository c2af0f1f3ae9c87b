"""The environment ``doctor install`` works on: its interpreter, what is installed, how to run pip in it.

Everything here talks to the target interpreter through subprocesses
(``[python, -m, pip, ...]``), never by importing into this process, so the
target can be another virtual environment (``--python PATH``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loradoc.errors import UserError
from loradoc.netcheck import unreachable

Echo = Callable[[str], None]

_TARGET_INFO = r"""
import json, os, platform, sys
prefix = sys.prefix
conda = os.path.isdir(os.path.join(prefix, "conda-meta")) and os.path.basename(prefix) != "base" \
    and not os.path.isdir(os.path.join(prefix, "envs"))
try:
    import pip
    pip_version = pip.__version__
except Exception:
    pip_version = None
print(json.dumps({
    "executable": sys.executable,
    "version": platform.python_version(),
    "prefix": prefix,
    "in_venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix) or conda,
    "system": platform.system(),
    "machine": platform.machine(),
    "pip": pip_version,
}))
"""


@dataclass
class Target:
    """The interpreter whose environment gets installed into."""

    python: str  # absolute path to the interpreter
    version: str  # "3.11.7"
    prefix: str
    in_venv: bool
    system: str  # "Linux"
    machine: str  # "x86_64"
    pip: str | None  # pip's version, None when the environment has no pip

    @property
    def is_self(self) -> bool:
        """True when the target is the interpreter running loradoc."""
        return os.path.realpath(self.prefix) == os.path.realpath(sys.prefix)

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


def inspect_target(python: str | None) -> Target:
    """Describe ``python`` (default: this interpreter) by running it; a UserError if it cannot run."""
    exe = python or sys.executable
    if python and os.sep not in python and not Path(python).exists():
        import shutil

        exe = shutil.which(python) or python
    try:
        proc = subprocess.run(
            [exe, "-c", _TARGET_INFO], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(
            f"--python {exe}: cannot run it ({exc}); give the path of a Python interpreter"
        ) from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(
            f"--python {exe}: it exited {proc.returncode} ({last}); give the path of a Python interpreter"
        )
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    target = Target(
        python=info["executable"] or exe,
        version=info["version"],
        prefix=info["prefix"],
        in_venv=bool(info["in_venv"]),
        system=info["system"],
        machine=info["machine"],
        pip=info["pip"],
    )
    if target.pip is None:
        raise UserError(
            f"{target.python}: this environment has no pip; run `{target.python} -m ensurepip` first"
        )
    return target


# -- what is installed --------------------------------------------------------------------
@dataclass(frozen=True)
class Installed:
    """One installed distribution, with what it takes to put it back."""

    name: str  # canonical
    version: str
    spec: str  # a pip requirement that reinstalls exactly this: "torch==2.1.0+cu121", "x @ git+...@sha"
    editable: bool = False


def installed_set(target: Target, env: Mapping[str, str] | None = None) -> dict[str, Installed]:
    """What is installed in the target, from ``pip inspect`` (JSON, pip >= 22.2)."""
    proc = subprocess.run(
        [target.python, "-m", "pip", "inspect", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"{target.python} -m pip inspect failed ({last}); upgrade pip in that environment")
    return parse_inspect(json.loads(proc.stdout))


def parse_inspect(report: dict[str, Any]) -> dict[str, Installed]:
    from packaging.utils import canonicalize_name

    out: dict[str, Installed] = {}
    for item in report.get("installed", []) or []:
        meta = item.get("metadata", {})
        name = canonicalize_name(str(meta.get("name", "")))
        version = str(meta.get("version", ""))
        if not name or not version:
            continue
        url = item.get("direct_url") or {}
        editable = bool((url.get("dir_info") or {}).get("editable"))
        out[name] = Installed(name, version, _reinstall_spec(name, version, url), editable)
    return out


def _reinstall_spec(name: str, version: str, direct_url: dict[str, object]) -> str:
    url = str(direct_url.get("url") or "")
    if not url:
        return f"{name}=={version}"
    vcs = direct_url.get("vcs_info")
    if isinstance(vcs, dict):
        return f"{name} @ {vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id', '')}"
    dir_info = direct_url.get("dir_info")
    if isinstance(dir_info, dict) and dir_info.get("editable"):
        return f"-e {url}"
    return f"{name} @ {url}"


# -- running pip ----------------------------------------------------------------------------
@dataclass
class RunResult:
    argv: list[str]
    returncode: int
    tail: list[str]  # the last lines of its output, for the error message

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def last_error(self) -> str:
        for line in reversed(self.tail):
            s = line.strip()
            if s.startswith("ERROR:") or s.startswith("error:"):
                return s
        return next((s.strip() for s in reversed(self.tail) if s.strip()), f"exit {self.returncode}")


def run_streamed(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    echo: Echo | None,
    keep: int = 40,
    pass_fds: Sequence[int] = (),
) -> RunResult:
    """Run a command, passing its output line by line to ``echo``; keep the tail.

    ``pass_fds`` stay open in the child (an install passes its lock, so a pip outliving a killed
    loradoc still holds it). When this process is interrupted (Ctrl-C, or a signal turned into an
    exception), the child is stopped too before the exception goes on: nothing keeps changing the
    environment behind a rollback.
    """
    tail: deque[str] = deque(maxlen=keep)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            text=True,
            errors="replace",
            bufsize=1,
            pass_fds=tuple(pass_fds),
        )
    except OSError as exc:
        return RunResult(list(argv), 127, [f"error: cannot run {argv[0]}: {exc}"])
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            if echo:
                echo(line)
        return RunResult(list(argv), proc.wait(), list(tail))
    except BaseException:
        stop_child(proc)
        raise


def stop_child(proc: subprocess.Popen[str], grace: float = 15.0) -> None:
    """Terminate ``proc`` and wait for it (killing it after ``grace`` seconds)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- is the wheel index there? ---------------------------------------------------------------
def index_unreachable(index_url: str, project: str, timeout: float = 3.0) -> str | None:
    """None when ``index_url`` answers for ``project`` within ``timeout`` seconds, else why not.

    A file:// index is checked on disk. A 404 for the project still counts as
    reachable (the index answered; pip will say what is missing).
    """
    url = index_url.rstrip("/") + "/" + project + "/"
    if url.startswith("file://"):
        path = Path(urllib.request.url2pathname(url[len("file://") :]))
        return None if path.parent.is_dir() else f"{path.parent} does not exist"
    req = urllib.request.Request(url, method="GET", headers={"Accept": "text/html"})
    return unreachable(req, timeout, answered=lambda code: code == 404)
