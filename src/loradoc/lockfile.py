"""Lock files: a resolved set of requirements, written by pip-tools' ``pip-compile``.

``compile_lock()`` is the engine that both lock writers share: ``loradoc doctor install
--lock`` (``loradoc.doctor.install.lock.plan_lock`` turns an install plan into its inputs)
and ``loradoc matrix lock`` (``loradoc.upkeep.lock`` locks each supported row into
``constraints/*.txt``). It sits below both, so neither imports the other.

- Index URLs are written into the file (``--extra-index-url`` for each variant
  index), so ``pip install -r FILE`` finds the torch build again.
- Hashes are generated when the sources hand them over cheaply: PyPI (its JSON
  API) and local files or folders. pip-compile ignores the ``#sha256=`` that
  download.pytorch.org puts on its links and would download every matching
  wheel, for every platform, to hash it (gigabytes), so a lock that uses such
  an index is written without hashes and its header says so.
- The file is written atomically (``loradoc.fsutil``): never half-written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from loradoc.errors import UserError
from loradoc.fsutil import write_atomic

HASHING_HOSTS = ("pypi.org", "files.pythonhosted.org", "test.pypi.org")


@dataclass
class LockResult:
    path: Path
    hashed: bool
    command: list[str]  # the pip-compile command that made it
    notes: list[str] = field(default_factory=list)


def sources_give_hashes(urls: Sequence[str]) -> bool:
    """True when every index/find-links URL is PyPI or on local disk."""
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme in ("", "file"):
            continue
        if parsed.hostname not in HASHING_HOSTS:
            return False
    return True


def compile_lock(
    requirements: Sequence[str],
    out: str | os.PathLike[str],
    *,
    extra_index_urls: Sequence[str] = (),
    index_url: str | None = None,
    find_links: Sequence[str] = (),
    no_index: bool = False,
    generate_hashes: bool | None = None,
    header: Sequence[str] = (),
    trailer: Sequence[str] = (),
    python: str | None = None,
    compile_command: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
) -> LockResult:
    """Resolve ``requirements`` with pip-compile and write the lock to ``out`` atomically.

    ``generate_hashes=None`` decides from the sources (see ``sources_give_hashes``).
    ``python`` is the interpreter that runs pip-compile (it resolves for itself).
    """
    target = Path(out)
    urls = [*extra_index_urls, *find_links, *([index_url] if index_url else [])]
    hashed = sources_give_hashes(urls) if generate_hashes is None else generate_hashes
    notes: list[str] = []
    if not hashed:
        remote = sorted({urlparse(u).hostname or u for u in urls if not sources_give_hashes([u])})
        notes.append(
            f"no hashes: {', '.join(remote)} would have to be downloaded in full to hash every "
            "matching wheel (pip-compile does not reuse an index's #sha256 links)"
        )
    exe = python or sys.executable
    with tempfile.TemporaryDirectory(prefix="loradoc-lock-") as tmp:
        src = Path(tmp) / "loradoc-plan.in"
        src.write_text("".join(r + "\n" for r in requirements), encoding="utf-8")
        raw = Path(tmp) / "lock.txt"
        argv = [
            exe, "-m", "piptools", "compile", "--no-config", "--quiet", "--allow-unsafe", "--strip-extras",
            "--no-emit-trusted-host", "--resolver", "backtracking", "--output-file", raw.name,
            "--pip-args", "--timeout 15 --retries 0",
        ]  # fmt: skip
        if hashed:
            argv.append("--generate-hashes")
        if index_url:
            argv += ["--index-url", index_url]
        if no_index:
            argv.append("--no-index")
        for url in extra_index_urls:
            argv += ["--extra-index-url", url]
        for link in find_links:
            argv += ["--find-links", link]
        argv.append(src.name)
        run_env = dict(os.environ if env is None else env)
        run_env["CUSTOM_COMPILE_COMMAND"] = compile_command or "loradoc doctor install --lock " + target.name
        run_env["PIP_TOOLS_CACHE_DIR"] = run_env.get("PIP_TOOLS_CACHE_DIR") or str(Path(tmp) / "cache")
        try:
            proc = subprocess.run(
                argv,
                cwd=tmp,
                env=run_env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise UserError(f"--lock {target}: pip-compile did not finish within {timeout_s:g} s") from None
        if proc.returncode != 0:
            msg = _last_error(proc.stderr) or _last_error(proc.stdout) or f"exit {proc.returncode}"
            if "No module named piptools" in proc.stderr:
                msg = f"pip-tools is not installed for {exe}; `pip install 'loradoc[install]'` (or pip-tools)"
            raise UserError(f"--lock {target}: pip-compile failed: {msg}")
        body = raw.read_text(encoding="utf-8")
    lines = [f"# {h}" if h else "#" for h in header]
    lines += [f"# {n}" for n in notes]
    text = ("\n".join(lines) + "\n" if lines else "") + body
    if trailer:
        text += "".join(f"{t}\n" for t in trailer)
    _write_atomic(target, text)
    return LockResult(target, hashed, argv, notes)


def _last_error(text: str) -> str | None:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.lower().startswith("error") or "could not find" in ln.lower():
            return ln
    return lines[-1] if lines else None


def _write_atomic(target: Path, text: str) -> None:
    try:
        write_atomic(target, text)
    except OSError as exc:
        raise UserError(f"--lock {target}: cannot write ({exc.strerror or exc})") from None
