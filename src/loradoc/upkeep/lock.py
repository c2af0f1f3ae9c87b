"""``loradoc matrix lock``: one pip-compile lock per supported row, and a staleness check.

The inputs of a row's lock come from the matrix (the torch build and its
index, the xformers release and bitsandbytes range for that torch and CUDA,
the Hugging Face caps that torch needs) and from loradoc's own requirements
(core, ``train`` and ``wandb`` extras). Their digest is written into the
lock's header; ``--check`` recomputes it, so a matrix or pyproject change that
alters what a row would lock shows up as a stale lock.

The resolving itself is ``loradoc.lockfile.compile_lock`` (pip-compile),
run by an interpreter of the row's Python (``python3.X`` found on PATH or in
pyenv, with pip-tools in a cached virtual environment).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from loradoc import __version__
from loradoc.compat.queries import Matrix
from loradoc.errors import UserError
from loradoc.fsutil import write_atomic
from loradoc.lockfile import compile_lock
from loradoc.upkeep.registry import UNREACHABLE, Index, Registry, Target, default_cache_dir
from loradoc.upkeep.rows import Row

LOCK_FORMAT = 1
EXTRAS = ("train", "wandb")
HF_CAPPED = ("transformers", "peft", "accelerate")
ROW_TAG = "# loradoc-lock-row: "
DIGEST_TAG = "# loradoc-lock-inputs: sha256:"


@dataclass
class LockInputs:
    """What a row's lock resolves, and from where."""

    row: Row
    requirements: list[str]
    extra_index_urls: list[str] = field(default_factory=list)
    trailer: list[str] = field(default_factory=list)  # installed after the lock, not resolved
    notes: list[str] = field(default_factory=list)

    def digest(self) -> str:
        blob = json.dumps(
            [LOCK_FORMAT, self.row.id, self.requirements, self.extra_index_urls, self.trailer], sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()


def loradoc_requirements(extras: Sequence[str] = EXTRAS) -> list[str]:
    """loradoc's own requirements (core plus ``extras``) from its installed metadata."""
    try:
        lines = metadata.requires("loradoc") or []
    except metadata.PackageNotFoundError as exc:
        raise UserError(
            "loradoc is not installed (pip install -e .): its requirements are read from there"
        ) from exc
    out: list[str] = []
    for line in lines:
        req = Requirement(line)
        marker = req.marker
        if marker is not None and "extra" in str(marker):
            if not any(marker.evaluate({"extra": e}) for e in extras):
                continue
            req.marker = None  # an extra we lock; an environment-only marker stays for pip-compile
        out.append(str(req))
    return list(dict.fromkeys(out))


def lock_inputs(m: Matrix, row: Row) -> LockInputs:
    """The requirements and indexes of ``row``'s lock, all chosen from the matrix."""
    rel = m.torch_release(row.torch)
    assert rel is not None  # rows are validated against the matrix
    inputs = LockInputs(row, [])
    if row.variant == rel.pypi_default:
        inputs.requirements.append(f"torch=={row.torch}")
        inputs.notes.append(
            f"torch {row.torch} from PyPI, whose Linux x86_64 default build is {row.variant}."
        )
    else:
        inputs.requirements.append(row.torch_requirement)
        inputs.extra_index_urls.append(row.index_url)
    for package in HF_CAPPED:
        floor = m.hf_compatible(package, row.torch)
        newest = next((h for h in reversed(m.hf) if h.package == package), None)
        if floor is not None and newest is not None and floor is not newest:
            cap = m.hf_pin_below(floor)
            if cap:
                inputs.requirements.append(cap)
                inputs.notes.append(f"{cap}: newer {package} needs a newer torch than {row.torch}.")
    inputs.requirements += loradoc_requirements()
    if row.gpu:
        _gpu_extensions(m, row, inputs)
    return inputs


def _gpu_extensions(m: Matrix, row: Row, inputs: LockInputs) -> None:
    xf = m.xformers_for_torch(row.torch, row.python)
    if xf is not None:
        inputs.requirements.append(f"xformers=={xf.version}")
        if row.variant in xf.index_variants:
            url = m.xformers.index_url.format(variant=row.variant)
            if url not in inputs.extra_index_urls:
                inputs.extra_index_urls.append(url)
            inputs.notes.append(f"xformers {xf.version} from {url}, built for torch's CUDA.")
    bnb = m.bnb_for_cuda(row.cuda, row.torch, row.python)
    if bnb is not None:
        inputs.requirements.append(f"bitsandbytes{bnb.versions}")
    wheel = m.flash_attn_wheel(row.torch, row.cuda, m.torch_cxx11_abi(row.torch, row.variant), row.python)
    if wheel is not None:
        inputs.trailer += [
            f"# flash-attn {wheel.version}: its release wheel for this row (GitHub, not an index; not resolved here):",
            f"#   pip install {wheel.url}",
        ]


# -- writing ------------------------------------------------------------------------------------


@dataclass
class LockOutcome:
    row: Row
    status: str  # "locked" | "skipped" | "failed"
    detail: str
    path: Path | None = None


def resolver_python(python: str, cache_dir: Path | None = None) -> str:
    """An interpreter of ``python`` ("3.12") with pip-tools: this one, or a cached venv."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == python:
        return sys.executable
    base = _find_interpreter(python)
    if base is None:
        raise UserError(
            f"no Python {python} interpreter found (python{python} on PATH or in pyenv); pass --python-exe PATH"
        )
    venv = (cache_dir or default_cache_dir().parent) / "lock-venvs" / f"py{python}"
    exe = venv / "bin" / "python"
    if (
        not exe.exists()
        or subprocess.run([str(exe), "-c", "import piptools"], capture_output=True).returncode
    ):
        subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
        pip_tools = metadata.version("pip-tools")
        proc = subprocess.run(
            [str(exe), "-m", "pip", "--isolated", "install", "--quiet", f"pip-tools=={pip_tools}"],
            capture_output=True,
            text=True,
            env=isolated_env(),
        )
        if proc.returncode != 0:
            raise UserError(
                f"could not install pip-tools for Python {python} in {venv}: {proc.stderr.strip()[-300:]}"
            )
    return str(exe)


def _find_interpreter(python: str) -> str | None:
    found = shutil.which(f"python{python}")
    if found:
        return found
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for cand in sorted(pyenv.glob(f"{python}.*"), reverse=True):
        exe = cand / "bin" / "python"
        if exe.exists():
            return str(exe)
    return None


def isolated_env() -> dict[str, str]:
    """The environment with pip's local configuration switched off (a site constraint file or
    find-links folder must not leak into a lock) and range-request metadata on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_USE_FEATURE"] = "fast-deps"
    return env


def unreachable_indexes(inputs: LockInputs, cache_dir: Path | None = None) -> dict[str, str]:
    """Index URL -> why, for each of the lock's indexes that does not answer."""
    out: dict[str, str] = {}
    for url in inputs.extra_index_urls:
        answer = Registry(index=Index(url), cache_dir=cache_dir, use_cache=False, timeout_s=15).lookup(
            inputs.requirements[0], Target(inputs.row.python)
        )
        if answer.status == UNREACHABLE:
            out[url] = answer.detail
    return out


def write_lock(
    m: Matrix,
    row: Row,
    out_dir: Path,
    *,
    python_exe: str | None = None,
    find_links: Sequence[str] = (),
    cache_dir: Path | None = None,
    index_url: str | None = None,
) -> LockOutcome:
    """Lock ``row`` into ``out_dir/<row>.txt``; an unreachable index skips the row (with why).

    ``index_url`` stands in for PyPI (a mirror, or a local index in tests).
    """
    inputs = lock_inputs(m, row)
    dead = {url: _reason(why) for url, why in unreachable_indexes(inputs, cache_dir).items()}
    if dead and not find_links:
        why = "; ".join(f"{u} unreachable ({d})" for u, d in dead.items())
        return LockOutcome(row, "skipped", f"{why}; lock it where the index answers, or pass --find-links")
    header = [
        f"loradoc lock for row {row.id}: Python {row.python}, torch {row.torch} ({row.variant}), Linux x86_64.",
        f"Made by `loradoc matrix lock {row.id}` (loradoc {__version__}, pip-compile) on {dt.date.today()}",
        "from compat/matrix.toml, compat/rows.toml and loradoc's core, train and wandb requirements.",
        "Install: pip install -r THIS_FILE, then pip install -e '.[train,wandb,dev]'.",
        "Stale when `loradoc matrix lock --check` says so (the inputs digest below changed).",
        *inputs.notes,
    ]
    for url, why in dead.items():
        header.append(f"{url} was unreachable ({why}); its wheels came from a local copy of it.")
    header += [ROW_TAG.removeprefix("# ") + row.id, DIGEST_TAG.removeprefix("# ") + inputs.digest()]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = row.lock_path(out_dir)
    exe = python_exe or resolver_python(row.python, cache_dir)
    try:
        compile_lock(
            inputs.requirements,
            target,
            extra_index_urls=inputs.extra_index_urls,
            index_url=index_url,
            find_links=list(find_links),
            header=header,
            trailer=inputs.trailer,
            python=exe,
            compile_command=f"loradoc matrix lock {row.id}",
            env=isolated_env(),
            timeout_s=900,
        )
    except UserError as exc:
        return LockOutcome(row, "failed", exc.message)
    if find_links:
        _drop_find_links(target, find_links)
    return LockOutcome(row, "locked", f"{_count_pins(target)} packages pinned", target)


def _reason(detail: str) -> str:
    """pip's "URL: connection error: WHY - skipping" -> WHY."""
    return detail.split("connection error: ", 1)[-1].removesuffix(" - skipping")


def _drop_find_links(path: Path, links: Sequence[str]) -> None:
    """A local folder means nothing on another machine: remove its ``--find-links`` lines."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    drop = {f"--find-links {link}\n" for link in links}
    write_atomic(path, "".join(ln for ln in lines if ln not in drop))


def _count_pins(path: Path) -> int:
    return sum(
        1 for ln in path.read_text(encoding="utf-8").splitlines() if re.match(r"^[A-Za-z0-9][\w.-]*==", ln)
    )


# -- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockState:
    name: str  # the row id, or the file name of an orphan
    status: str  # fresh | stale | missing | orphan | unmarked
    detail: str


def read_marks(path: Path) -> tuple[str | None, str | None]:
    """(row id, inputs digest) from a lock's header."""
    row = digest = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if line.startswith(ROW_TAG):
            row = line.removeprefix(ROW_TAG).strip()
        elif line.startswith(DIGEST_TAG):
            digest = line.removeprefix(DIGEST_TAG).strip()
    return row, digest


def check_locks(m: Matrix, rows: Sequence[Row], out_dir: Path) -> list[LockState]:
    """Each row's lock: fresh, stale (its inputs changed), or missing; plus orphan files."""
    states: list[LockState] = []
    for row in rows:
        path = row.lock_path(out_dir)
        if not path.is_file():
            states.append(LockState(row.id, "missing", f"no {path.name}; run `loradoc matrix lock {row.id}`"))
            continue
        marked_row, digest = read_marks(path)
        if marked_row != row.id or digest is None:
            states.append(LockState(row.id, "unmarked", f"{path.name} has no loradoc header; lock it again"))
        elif digest != lock_inputs(m, row).digest():
            states.append(
                LockState(
                    row.id,
                    "stale",
                    f"the matrix or loradoc's requirements changed; `loradoc matrix lock {row.id}`",
                )
            )
        else:
            states.append(LockState(row.id, "fresh", path.name))
    known = {row.lock_path(out_dir).name for row in rows}
    for path in sorted(out_dir.glob("*.txt")) if out_dir.is_dir() else []:
        if path.name not in known:
            states.append(LockState(path.name, "orphan", "no supported row locks into this file; delete it"))
    return states
