"""Checkpoints that are either complete or visibly not.

transformers' Trainer writes ``checkpoint-N`` in place: the adapter, then the
optimizer, scheduler and RNG state, then ``trainer_state.json``. A crash (or a
full disk, or a power cut before the page cache reached the disk) in the middle
leaves a folder that can look whole. So loradoc writes one more file, last:
``loradoc_complete.json``, listing every file of the checkpoint with its size.
It is written by ``callbacks.CheckpointMarkerCallback`` from the Trainer's
``on_save`` hook, which runs right after the Trainer has finished the folder:
all processes meet first (each writes its own RNG file), then the main process
flushes every file to disk and writes the marker through a temporary file and a
rename, so the marker exists only once everything it names is on disk.

A checkpoint counts as complete only when its marker is there and every file it
lists has the listed size. ``last_checkpoint`` (``resume_from_checkpoint: true``)
skips the others and says so; a checkpoint named by path without a marker (one
written by another tool) is used with a note, one whose marker disagrees with
its files is refused.

No heavy imports here: the CLI checks ``output_dir`` before training starts.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loradoc.errors import UserError
from loradoc.fsutil import write_atomic, write_json_atomic

MARKER = "loradoc_complete.json"
TOKENS_PREFIX = "loradoc_tokens_"
STATE = "trainer_state.json"
_NAME = re.compile(r"checkpoint-(\d+)")
# a file being written: loradoc.fsutil's ".NAME.RANDOM.tmpSUFFIX", or any "*.tmp"
_TEMP = re.compile(r"^\..+\.tmp(\.[^.]*)?$|\.tmp$")

Say = Callable[[str], None]


def _quiet(msg: str) -> None:
    pass


# --- writing ------------------------------------------------------------------------------


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some filesystems do not open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_temp_file(name: str) -> bool:
    """Whether ``name`` is a temporary file (not part of a checkpoint)."""
    return bool(_TEMP.search(name))


def checkpoint_files(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (relative POSIX path -> size), the marker and temp files left out."""
    out: dict[str, int] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name == MARKER or is_temp_file(path.name):
            continue
        out[path.relative_to(folder).as_posix()] = path.stat().st_size
    return out


def write_marker(folder: Path, *, step: int) -> Path:
    """Flush the checkpoint's files to disk, then write its completion marker atomically."""
    folder = Path(folder)
    files = checkpoint_files(folder)
    for name in files:
        _fsync_file(folder / name)
    for sub in {(folder / n).parent for n in files}:
        _fsync_dir(sub)
    record = {"step": int(step), "files": files, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_atomic(folder / MARKER, json.dumps(record, indent=1, sort_keys=True) + "\n")
    _fsync_dir(folder)
    return folder / MARKER


def save_token_counts(folder: Path, *, rank: int, inputs: int, supervised: int, seconds: float) -> None:
    """This process's token counters at the checkpoint (``loradoc_tokens_RANK.json``)."""
    record = {"input_tokens": int(inputs), "supervised_tokens": int(supervised), "train_seconds": seconds}
    write_json_atomic(Path(folder) / f"{TOKENS_PREFIX}{rank}.json", record, indent=None)


def load_token_counts(folder: Path) -> tuple[int, int, float]:
    """(input tokens, supervised tokens, training seconds) over all processes at a checkpoint (0s if none)."""
    inputs = supervised = 0
    seconds = 0.0
    for path in Path(folder).glob(f"{TOKENS_PREFIX}*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            inputs += int(record["input_tokens"])
            supervised += int(record["supervised_tokens"])
            seconds = max(seconds, float(record.get("train_seconds", 0.0)))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return inputs, supervised, seconds


# --- reading ------------------------------------------------------------------------------


def checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a complete loradoc checkpoint (None when it is)."""
    folder = Path(folder)
    marker = folder / MARKER
    if not marker.is_file():
        if not (folder / STATE).is_file():
            return f"no {STATE} and no {MARKER}: the save did not finish"
        return f"no {MARKER}: the save did not finish (or another tool wrote it)"
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
        files = record["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{MARKER} is unreadable ({type(exc).__name__})"
    for name, size in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        actual = path.stat().st_size
        if actual != size:
            return f"{name} has {actual} bytes, {size} were written"
    if STATE not in files:
        return f"{STATE} is not among its files"
    return None


@dataclass(frozen=True)
class Found:
    step: int
    path: Path
    problem: str | None  # None: complete


def scan_checkpoints(out: Path) -> list[Found]:
    """The ``checkpoint-N`` folders in ``out``, oldest step first, each with its problem (if any)."""
    if not out.is_dir():
        return []
    found = []
    for p in out.iterdir():
        m = _NAME.fullmatch(p.name)
        if m and p.is_dir():
            found.append(Found(int(m.group(1)), p, checkpoint_problem(p)))
    return sorted(found, key=lambda f: f.step)


def last_checkpoint(out: Path, *, say: Say = _quiet) -> Path | None:
    """The complete ``checkpoint-N`` with the highest N; newer incomplete ones are skipped, and said."""
    found = scan_checkpoints(Path(out))
    complete = [f for f in found if f.problem is None]
    best = complete[-1] if complete else None
    for f in found:
        if f.problem is not None and (best is None or f.step > best.step):
            say(f"resume: skipping {f.path.name} ({f.problem})")
    return best.path if best else None


def resume_target(out: Path, resume: Any, *, say: Say = _quiet) -> str:
    """The checkpoint folder ``resume_from_checkpoint`` (true or a path) means; UserError if none."""
    if resume is True or (isinstance(resume, str) and resume.lower() in ("true", "yes", "1")):
        found = last_checkpoint(out, say=say)
        if found is None:
            broken = [f.path.name for f in scan_checkpoints(out)]
            if broken:
                raise UserError(
                    f"resume_from_checkpoint: true, but no checkpoint in {out} is complete "
                    f"({', '.join(broken)}); name one by path to use it anyway, or remove the key to start fresh"
                )
            raise UserError(
                f"resume_from_checkpoint: true, but {out} holds no checkpoint-* folder; remove the key to start fresh"
            )
        return str(found)
    path = Path(str(resume)).expanduser()
    if not (path / STATE).is_file():
        raise UserError(f"resume_from_checkpoint: {path} is not a checkpoint folder (no {STATE})")
    problem = checkpoint_problem(path)
    if problem is not None:
        if (path / MARKER).exists():
            raise UserError(
                f"resume_from_checkpoint: {path} is damaged ({problem}); choose an earlier checkpoint"
            )
        say(f"resume: {path.name} has no {MARKER} (not written by loradoc?); trusting its {STATE}")
    return str(path)


def set_aside_incomplete(out: Path, target: str, *, say: Say = _quiet) -> list[Path]:
    """Rename incomplete checkpoints newer than ``target`` to ``checkpoint-N.incomplete`` (main process).

    The resumed run writes those steps again; a half-written folder of the same
    name would otherwise mix old files into the new checkpoint.
    """
    m = _NAME.fullmatch(Path(target).name)
    after = int(m.group(1)) if m else -1
    moved = []
    for f in scan_checkpoints(Path(out)):
        if f.problem is None or f.step <= after or Path(f.path).resolve() == Path(target).resolve():
            continue
        dest = f.path.with_name(f"{f.path.name}.incomplete")
        n = 1
        while dest.exists():
            n += 1
            dest = f.path.with_name(f"{f.path.name}.incomplete{n}")
        f.path.rename(dest)
        say(f"resume: moved the incomplete {f.path.name} aside to {dest.name}")
        moved.append(dest)
    return moved
