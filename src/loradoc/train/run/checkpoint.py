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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loradoc.errors import UserError
from loradoc.fsutil import write_atomic, write_json_atomic

MARKER = "loradoc_complete.json"
STATE_PREFIX = "loradoc_state_"  # per process: token counts, seconds, loss accumulators (RunState)
TOKENS_PREFIX = "loradoc_tokens_"  # older checkpoints: token counts and seconds only
STATE = "trainer_state.json"
FINAL_ADAPTER = ("adapter_model.safetensors", "adapter_config.json")
SUMMARY = "summary.json"  # written last of the final outputs (and removed before they are rewritten)
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


def checkpoint_world_size(folder: Path) -> int | None:
    """How many processes wrote the checkpoint (one metric-state file each); None for older checkpoints."""
    found = list(Path(folder).glob(f"{STATE_PREFIX}*.json"))
    return len(found) or None


def save_run_state(folder: Path, *, rank: int, record: dict[str, Any]) -> Path:
    """This process's metric state at the checkpoint (``loradoc_state_RANK.json``, see ``RunState``)."""
    path = Path(folder) / f"{STATE_PREFIX}{rank}.json"
    write_json_atomic(path, record, indent=None)
    return path


@dataclass(frozen=True)
class RunState:
    """What a resumed run needs to log what an unbroken run logs, over all processes at a checkpoint.

    Token counts and training seconds continue (``metrics.TokenMeter``). The loss fields are
    transformers' own accumulators at the save: the sum of the window losses logged so far
    (``logged_loss_sum``, the same on every process), the step last logged, and each
    process's loss summed since then (``pending_loss``, by rank), so the first window after
    the resume and the run's mean loss come out as if the run had never stopped. They are
    None (and empty) for a checkpoint written before loradoc saved them.
    """

    step: int | None = None
    input_tokens: int = 0
    supervised_tokens: int = 0
    train_seconds: float = 0.0
    logged_loss_sum: float | None = None
    last_logged_step: int | None = None
    pending_loss: dict[int, float] = field(default_factory=dict)

    @property
    def has_losses(self) -> bool:
        return self.logged_loss_sum is not None and self.last_logged_step is not None

    def train_loss_mean(self, rank: int = 0) -> float | None:
        """The mean loss over every step up to the checkpoint, as transformers computes it at the end."""
        if not self.has_losses or self.step is None:
            return None
        total = float(self.logged_loss_sum or 0.0) + self.pending_loss.get(rank, 0.0)
        return total / max(self.step, 0.001)


def load_run_state(folder: Path) -> RunState:
    """The ``RunState`` saved in a checkpoint (zeros when it has none, e.g. another tool's)."""
    inputs = supervised = 0
    seconds = 0.0
    step: int | None = None
    logged: float | None = None
    last: int | None = None
    pending: dict[int, float] = {}
    folder = Path(folder)
    paths = sorted(folder.glob(f"{STATE_PREFIX}*.json")) or sorted(folder.glob(f"{TOKENS_PREFIX}*.json"))
    for path in paths:
        try:
            rank = int(path.stem.rsplit("_", 1)[1])
            record = json.loads(path.read_text(encoding="utf-8"))
            inputs += int(record["input_tokens"])
            supervised += int(record["supervised_tokens"])
            seconds = max(seconds, float(record.get("train_seconds", 0.0)))
            if record.get("step") is not None:
                step = int(record["step"])
            if record.get("loss_pending") is not None:
                pending[rank] = float(record["loss_pending"])
            if record.get("loss_logged_sum") is not None and (logged is None or rank == 0):
                logged = float(record["loss_logged_sum"])
                last = int(record["loss_last_logged_step"])
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            continue
    return RunState(step, inputs, supervised, seconds, logged, last, pending)


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


def wants_last_checkpoint(resume: object) -> bool:
    """``resume_from_checkpoint: true`` (the newest checkpoint), not a path."""
    return resume is True or (isinstance(resume, str) and resume.lower() in ("true", "yes", "1"))


def resume_target(out: Path, resume: Any, *, say: Say = _quiet) -> str:
    """The checkpoint folder ``resume_from_checkpoint`` (true or a path) means; UserError if none."""
    if wants_last_checkpoint(resume):
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


def checkpoint_state(folder: Path) -> tuple[int, int | None]:
    """(global step, max steps) recorded in a checkpoint's ``trainer_state.json``; UserError if unreadable."""
    path = Path(folder) / STATE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        steps = record.get("max_steps")
        return int(record["global_step"]), int(steps) if steps is not None else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"resume_from_checkpoint: {path} is unreadable ({type(exc).__name__})") from None


@dataclass(frozen=True)
class FinalOutputs:
    """The final outputs at the top of ``output_dir``: absent, complete (at ``steps``), or not (``problem``)."""

    steps: int | None = None
    problem: str | None = None

    @property
    def present(self) -> bool:
        return self.steps is not None or self.problem is not None

    @property
    def complete(self) -> bool:
        return self.steps is not None


def final_outputs(out: Path) -> FinalOutputs:
    """Whether ``out`` holds a finished run's final adapter, and at which step.

    The pipeline writes the adapter (weights, then ``adapter_config.json``), the tokenizer,
    metrics and plot, and ``summary.json`` last, through a rename; it removes
    ``summary.json`` before it starts. So the outputs are complete exactly when both adapter
    files and a readable ``summary.json`` are there; its ``steps`` says where the run ended.
    """
    out = Path(out)
    names = [*FINAL_ADAPTER, SUMMARY]
    there = [n for n in names if (out / n).is_file()]
    if not there:
        return FinalOutputs()
    missing = [n for n in names if n not in there]
    if missing:
        return FinalOutputs(problem=f"no {missing[0]}")
    try:
        steps = json.loads((out / SUMMARY).read_text(encoding="utf-8"))["steps"]
        if not isinstance(steps, int) or isinstance(steps, bool):
            raise TypeError("steps is not a number")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return FinalOutputs(problem=f"{SUMMARY} is unreadable ({type(exc).__name__})")
    return FinalOutputs(steps=steps)


def remove_final_outputs(out: Path) -> list[str]:
    """Remove the final adapter and summary of ``out`` (an incomplete set: it is written again)."""
    removed = []
    for name in (*FINAL_ADAPTER, SUMMARY):
        path = Path(out) / name
        if path.is_file():
            path.unlink()
            removed.append(name)
    return removed


def finished_past(out: Path, done: int, target: int) -> str:
    """Why a run finished at step ``done`` is not resumed with ``max_steps`` ``target`` below it."""
    return (
        f"resume_from_checkpoint: {out} already reached step {done}, past max_steps {target}; nothing is "
        f"trained or changed. Raise max_steps to continue it, or set overwrite_output_dir: true (without "
        f"resume_from_checkpoint) to train {target} steps from the start, or choose another output_dir"
    )


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
