"""``run_training(cfg)``: one LoRA fine-tune, from a validated config to the files in ``output_dir``.

Order: check ``output_dir``, then settle W&B (no heavy import yet); then tokenizer,
data (prepared once, on the main process first), precision, attention, eval
packing, model; then transformers' Trainer (``trainer.LoradocTrainer``); then the
outputs. Only the main process prints and writes.

``output_dir`` gets: the adapter (``adapter_model.safetensors``,
``adapter_config.json``), the tokenizer, ``resolved_config.yml`` (every automatic
change recorded), ``metrics.jsonl``, ``loss.png``, ``summary.json``, and the
Trainer's ``checkpoint-*`` folders (each complete one marked, see ``checkpoint``).
A run stopped by SIGINT/SIGTERM saves a checkpoint and writes no final outputs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from loradoc.doctor.snapshot import Snapshot
from loradoc.errors import UserError
from loradoc.train.run.checkpoint import (
    final_outputs,
    finished_past,
    remove_final_outputs,
    resume_target,
    set_aside_incomplete,
    wants_last_checkpoint,
)
from loradoc.train.run.checkpoint import last_checkpoint as _last_checkpoint
from loradoc.train.run.ranks import is_main_process

if TYPE_CHECKING:
    from loradoc.config.schema import TrainConfig

Say = Callable[[str], None]
RUN_MARKERS = ("adapter_model.safetensors", "adapter_config.json", "metrics.jsonl", "summary.json")
LOCK_FILE = ".loradoc.lock"
OWN_FILES = {"resolved_config.yml", "wandb", "runs", "comet", LOCK_FILE}  # runs, comet: loggers (trackers.py)
# the lock files this process holds: (open file, its path, whether taking it created output_dir)
_held: list[tuple[IO[str], Path, bool]] = []


def _echo(msg: str) -> None:
    import click

    click.echo(msg)


def _quiet(msg: str) -> None:
    pass


# --- before anything heavy ----------------------------------------------------------------


def hold_output_lock(out: Path) -> None:
    """Take the output folder's lock for the life of this process, or stop: a second run on the
    same ``output_dir`` is refused instead of interleaving its files with the first.

    An advisory ``flock`` on ``output_dir/.loradoc.lock``: the kernel drops it when the process
    ends, even on SIGKILL, so a stale lock never blocks the next run. Where the folder cannot be
    made or written, nothing is taken and :func:`check_output_dir` says why. (No lock on systems
    without ``fcntl``.)
    """
    try:
        import fcntl
    except ImportError:  # Windows
        return
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fh = open(out / LOCK_FILE, "a", encoding="utf-8")  # noqa: SIM115 - held open on purpose
    except OSError:
        return
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise UserError(
            f"output_dir: {out} is in use by another loradoc run; wait for it to finish, or choose another "
            "output_dir"
        ) from None
    _held.append((fh, out / LOCK_FILE, created))


def release_output_lock() -> None:
    """Let go of the output folders this process locked, leaving no trace of the lock: its file is
    removed, and so is an output folder that taking it created and that stayed empty (a run that
    failed before writing anything leaves nothing behind)."""
    while _held:
        fh, path, created = _held.pop()
        path.unlink(missing_ok=True)
        fh.close()
        if created:
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only when empty


def check_output_dir(cfg: TrainConfig, *, say: Say = _echo, main: bool = True) -> str | None:
    """Refuse to mix runs in one folder; returns the checkpoint to resume from, if any.

    A folder that already holds a run (checkpoints, an adapter, metrics) is refused
    unless ``resume_from_checkpoint`` is set, or ``overwrite_output_dir`` is true and
    the folder is a loradoc run (then it is emptied). A folder with other files in it
    is always refused, and so is a path that cannot become a folder. Only the main
    process (``main=True``) changes anything on disk; the others just check.
    """
    out = Path(cfg.output_dir).expanduser()
    resume = cfg.resume_from_checkpoint
    if _stopped_before_first_checkpoint(out, resume):
        # nothing of the earlier run can be resumed or kept: start it again rather than refuse both ways
        if main:
            _clear_run(out)
            say(
                f"output_dir: the run in {out} stopped before its first complete checkpoint; starting it again"
            )
        return None
    if resume:
        target = resume_target(out, resume, say=say if main else _quiet)
        if main:
            set_aside_incomplete(out, target, say=say)
            final = final_outputs(out)
            if final.problem is not None:
                # stopped while writing its final outputs: they are written again from the checkpoint
                remove_final_outputs(out)
                say(
                    f"resume: the final adapter in {out} is incomplete ({final.problem}), the run stopped "
                    f"while writing it; removed it, resuming from {Path(target).name}"
                )
        return target
    if out.exists() and not out.is_dir():
        raise UserError(f"output_dir: {out} is a file; choose a folder")
    if not out.is_dir():
        _check_creatable(out)
        return None
    entries = sorted(p.name for p in out.iterdir())
    foreign = [e for e in entries if e not in OWN_FILES and e not in RUN_MARKERS and not _is_run_file(e)]
    has_run = any(e.startswith("checkpoint-") or e in RUN_MARKERS for e in entries)
    is_ours = (out / "resolved_config.yml").is_file()
    if cfg.overwrite_output_dir and is_ours and entries:
        if foreign:
            shown = ", ".join(foreign[:4]) + (", ..." if len(foreign) > 4 else "")
            raise UserError(
                f"output_dir: {out} holds files loradoc did not write ({shown}); overwrite_output_dir replaces "
                "only a loradoc run: move them, or choose another output_dir"
            )
        if main:
            _clear_run(out)  # the run's own files only: nothing else is there (checked above)
            say(f"output_dir: emptied {out} (overwrite_output_dir: true)")
        return None
    if has_run or (foreign and not is_ours):
        what = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        if is_ours or has_run:
            raise UserError(
                f"output_dir: {out} already holds a run ({what}); set resume_from_checkpoint: true to continue "
                "it, overwrite_output_dir: true to replace it, or choose another output_dir"
            )
        raise UserError(
            f"output_dir: {out} is not empty and is not a loradoc run ({what}); choose another folder"
        )
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError(f"output_dir: {out} is not writable; choose a folder you can write to")
    return None


def _disk_full(exc: BaseException | None) -> bool:
    """ENOSPC anywhere in the exception's chain; safetensors reports it only in its message."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _no_room(out: Path) -> bool:
    """The output folder's device is full (under 1 MiB free): torch's writer reports that only as
    'unexpected pos' from its zip container."""
    try:
        return shutil.disk_usage(out).free < (1 << 20)
    except OSError:
        return False


def _stopped_before_first_checkpoint(out: Path, resume: object) -> bool:
    """A loradoc run in ``out`` that left no complete checkpoint and no complete final outputs
    (killed before or while writing its first checkpoint, or a full disk then): only its partial
    files are there, so the next plain run starts it again instead of refusing. (An explicit
    ``resume_from_checkpoint`` still stops with the reason.)"""
    if resume or not (out / "resolved_config.yml").is_file():
        return False  # an explicit resume that cannot be honoured is an error, said by resume_target
    entries = [p.name for p in out.iterdir()]
    started = any(e.startswith("checkpoint-") or e in RUN_MARKERS for e in entries)
    foreign = [e for e in entries if e not in OWN_FILES and e not in RUN_MARKERS and not _is_run_file(e)]
    return (
        started
        and not foreign
        and _last_checkpoint(out, say=_quiet) is None
        and not final_outputs(out).present  # an adapter, even a partial one, is never removed here
    )


def _clear_run(out: Path) -> None:
    """Remove a loradoc run's own files from ``out`` (never the lock this process holds)."""
    for path in out.iterdir():
        if path.name == LOCK_FILE:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def already_finished(cfg: TrainConfig, *, say: Say = _echo) -> bool:
    """``resume_from_checkpoint: true`` on a run that already reached the steps this config asks for.

    True (said in one line, nothing changed) when ``output_dir`` holds complete final outputs
    at step N and the config asks for N steps: ``max_steps: N``, or no ``max_steps`` and the
    ``num_epochs`` of the finished run (read from its ``resolved_config.yml``). A config that
    asks for more continues from the last checkpoint (said here, trained by the pipeline);
    one that asks for fewer is refused. When the steps asked for depend on the data (epochs
    changed), the pipeline decides once it knows the steps per epoch (``TrainingSession``).
    """
    if not wants_last_checkpoint(cfg.resume_from_checkpoint):
        return False
    out = Path(cfg.output_dir).expanduser()
    final = final_outputs(out)
    if final.steps is None:
        return False
    done = final.steps
    target = int(cfg.max_steps) if cfg.max_steps else _same_epochs_target(cfg, out, done)
    if target is None:
        return False
    if target == done:
        say(f"already finished: {out} holds the final adapter of step {done} of {target} (nothing to do)")
        return True
    if target < done:
        raise UserError(finished_past(out, done, target))
    say(
        f"resume: continuing the finished run from step {done} to max_steps {target} (same data order; "
        f"the learning-rate schedule of the new steps follows max_steps {target})"
    )
    return False


def _same_epochs_target(cfg: TrainConfig, out: Path, done: int) -> int | None:
    """``done`` when the finished run was epoch-driven with this config's ``num_epochs``, else None."""
    import yaml

    try:
        recorded = yaml.safe_load((out / "resolved_config.yml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(recorded, dict) or recorded.get("max_steps"):
        return None
    if float(recorded.get("num_epochs") or 0) != float(cfg.num_epochs or 0):
        return None
    return done


def _check_creatable(out: Path) -> None:
    """``out`` does not exist yet: its nearest existing parent must be a writable folder."""
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"output_dir: {out} cannot be created ({parent} is a file); choose another folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(
            f"output_dir: {out} cannot be created ({parent} is not writable); choose another folder"
        )


def last_checkpoint(out: Path, *, say: Say = _quiet) -> Path | None:
    """The newest complete ``checkpoint-N`` folder (see ``loradoc.train.run.checkpoint``)."""
    return _last_checkpoint(out, say=say)


def _is_run_file(name: str) -> bool:
    return name.startswith(
        (
            "checkpoint-",
            "tokenizer",
            "special_tokens_map",
            "chat_template",
            "README",
            "loss.png",
            "samples.md",
            "training_args.bin",
        )
    )


# --- the run ------------------------------------------------------------------------------


def run_training(
    cfg: TrainConfig, *, snapshot: Snapshot | None = None, command: list[str] | None = None
) -> int:
    """Train, write the outputs, print the summary; returns the process exit code.

    ``snapshot``: this machine, when the caller has probed it already (else the run probes).

    ``command``: the ``loradoc`` words that started this run (``["train", "cfg.yml", ...]``),
    used to print the exact resume command if the run is interrupted.
    """
    rank0 = is_main_process()
    if rank0:
        hold_output_lock(Path(cfg.output_dir).expanduser())  # before any check: two runs never interleave
    try:
        return _run(cfg, rank0=rank0, snapshot=snapshot, command=command)
    finally:
        release_output_lock()


def _run(cfg: TrainConfig, *, rank0: bool, snapshot: Snapshot | None, command: list[str] | None) -> int:
    from loradoc.train.run.pipeline import TrainingSession
    from loradoc.train.run.trackers import settle_trackers
    from loradoc.train.run.wandb_setup import settle_wandb

    early_say = _echo if rank0 else _quiet
    if already_finished(cfg, say=early_say):
        return 0
    resume = check_output_dir(cfg, say=early_say, main=rank0)
    plan = settle_wandb(cfg, say=early_say)
    trackers = settle_trackers(cfg, say=early_say)
    session = TrainingSession(
        cfg, wandb_plan=plan, trackers=trackers, resume=resume, command=command, snapshot=snapshot
    )
    try:
        return session.run()
    except Exception as exc:
        if not (_disk_full(exc) or _no_room(Path(cfg.output_dir).expanduser())):
            raise
        # checkpoints are marked complete only once written, and outputs go through a rename:
        # nothing half-written counts; say so and stop
        raise UserError(
            f"output_dir: No space left on device ({cfg.output_dir}): free some space (or choose another "
            "output_dir), then run the same command with resume_from_checkpoint: true"
        ) from None
