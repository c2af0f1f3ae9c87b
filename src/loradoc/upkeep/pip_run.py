"""Run pip with its local configuration switched off, and a watchdog on its downloads.

``run_pip`` is the one place a pip process is started for the registry. pip
writes a verbose log (``--log``); the watchdog reads it while pip runs and
stops pip the moment it starts downloading a file over ``MAX_DOWNLOAD_MB`` (a
wheel with no separate metadata on a server without range requests), so a
metadata question never turns into a multi-GB download.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_UNREACHABLE_PATTERNS = re.compile(
    r"connection error|Max retries exceeded|Failed to resolve|Name or service not known"
    r"|NewConnectionError|Connection refused|timed out|SSLError|ProxyError|Temporary failure in name",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PipRun:
    rc: int  # pip's exit status; TIMED_OUT or STOPPED_DOWNLOAD when the watchdog ended it
    out: str
    err: str
    log: str  # pip's verbose log


def run_pip(python_exe: str, args: Sequence[str], timeout_s: float) -> PipRun:
    """``python -m pip --isolated ... ARGS`` with ``PIP_CONFIG_FILE=/dev/null`` and no ``PIP_*``
    variables; one network attempt per URL, ``timeout_s`` per socket, six times that in all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONUTF8"] = "1"
    deadline = time.monotonic() + timeout_s * 6
    with tempfile.TemporaryDirectory(prefix="loradoc-pip-") as tmp:
        log = Path(tmp) / "pip.log"
        out_path, err_path = Path(tmp) / "out", Path(tmp) / "err"
        cmd = [
            python_exe,
            "-m",
            "pip",
            "--isolated",
            "--disable-pip-version-check",
            "--retries",
            "1",
            "--timeout",
            str(int(timeout_s)),
            "--log",
            str(log),
            *args,
        ]
        with open(out_path, "wb") as out_fh, open(err_path, "wb") as err_fh:
            proc = subprocess.Popen(cmd, stdout=out_fh, stderr=err_fh, env=env)
            rc = watch(proc, log, deadline)
        out = out_path.read_text(encoding="utf-8", errors="replace")
        err = err_path.read_text(encoding="utf-8", errors="replace")
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    if rc == TIMED_OUT:
        err += f"\nERROR: pip did not answer within {timeout_s * 6:.0f} s"
    return PipRun(rc, out, err, text)


TIMED_OUT = -1
STOPPED_DOWNLOAD = -2
MAX_DOWNLOAD_MB = 50.0
_DOWNLOADING = re.compile(r"Downloading (\S+) \(([\d.]+) (kB|MB|GB)\)")


def watch(proc: subprocess.Popen[bytes], log: Path, deadline: float) -> int:
    """Wait for pip, reading its log; stop it on a large download or past the deadline."""
    offset = 0
    while True:
        try:
            rc = proc.wait(timeout=0.05)
            return rc
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            return TIMED_OUT
        try:
            with open(log, encoding="utf-8", errors="replace") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except OSError:
            continue
        cut = chunk.rfind("\n") + 1
        offset += len(chunk[:cut].encode("utf-8"))
        for m in _DOWNLOADING.finditer(chunk[:cut]):
            size_mb = float(m.group(2)) * {"kB": 1e-3, "MB": 1.0, "GB": 1e3}[m.group(3)]
            if size_mb > MAX_DOWNLOAD_MB:
                proc.kill()
                proc.wait()
                with open(log, "a", encoding="utf-8") as fh:
                    fh.write(f"\nloradoc: stopped pip before it downloaded {m.group(1)} ({size_mb:.0f} MB)\n")
                return STOPPED_DOWNLOAD


def too_big_reason(debug_log: str) -> str:
    for line in debug_log.splitlines():
        if line.startswith("loradoc: stopped pip"):
            return line.removeprefix("loradoc: ") + "; no metadata without downloading the wheel"
    return ""


def unreachable_reason(debug_log: str) -> str:
    for line in debug_log.splitlines():
        if "Could not fetch URL" in line and _UNREACHABLE_PATTERNS.search(line):
            return line.split("Could not fetch URL", 1)[1].strip(" :")[:300]
    return ""
