"""Stopping a run cleanly on SIGINT/SIGTERM: finish the step, save a checkpoint, say how to resume.

``stop_on_signals(request)`` installs handlers for SIGINT and SIGTERM around
``trainer.train()`` only (data loading and model loading keep Python's usual
behaviour), and restores the previous handlers afterwards. A handler only
records the signal in the ``StopRequest``; ``callbacks.StopOnSignalCallback``
reads it at the end of every optimizer step and asks the Trainer to save a
checkpoint and stop (``control.should_save`` / ``control.should_training_stop``).

Several processes: a terminal's Ctrl-C reaches every process of the group, and
torchrun's agent forwards SIGINT/SIGTERM to its workers, so a worker may get
the signal twice, or a step later than another worker. The callback therefore
all-reduces the flag (max) at every step end, so all ranks stop after the same
step and save one checkpoint together. A repeated signal within
``ABORT_AFTER_S`` seconds of the first is taken as the same request; one that
comes later aborts at once (KeyboardInterrupt for SIGINT, the default action for
SIGTERM).

The run then exits with 128 + the signal number (130 for SIGINT, 143 for
SIGTERM) after printing the checkpoint and the exact command that resumes it.
"""

from __future__ import annotations

import os
import shlex
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
ABORT_AFTER_S = 3.0
_RESUME_FLAGS = ("--resume_from_checkpoint", "--resume-from-checkpoint")


@dataclass
class StopRequest:
    """Shared between the signal handler and the Trainer callback."""

    main: bool = True  # print the notice (main process only)
    signum: int | None = None
    at: float = 0.0  # time.monotonic() of the first signal
    step: int | None = None  # the optimizer step the run stopped after

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal_name(self.signum or 0)

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or 0)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _notice(text: str) -> None:
    with suppress(OSError):
        os.write(2, text.encode("utf-8", "replace"))


@contextmanager
def stop_on_signals(request: StopRequest, signals: Sequence[int] = STOP_SIGNALS) -> Iterator[StopRequest]:
    """Record SIGINT/SIGTERM in ``request`` instead of dying, for the duration of the block."""
    if threading.current_thread() is not threading.main_thread():
        yield request  # signal handlers can only be set from the main thread
        return
    previous: dict[int, Any] = {s: signal.getsignal(s) for s in signals}

    def handler(signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        if request.signum is None:
            request.signum, request.at = signum, now
            if request.main:
                _notice(
                    f"\n{signal_name(signum)}: stopping after the current step and saving a checkpoint "
                    f"(send it again after {ABORT_AFTER_S:g} s to stop at once)\n"
                )
            return
        if now - request.at < ABORT_AFTER_S:
            return  # the same request, delivered twice (terminal + launcher)
        _restore(previous)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for s in signals:
        signal.signal(s, handler)
    try:
        yield request
    finally:
        _restore(previous)


def _restore(previous: dict[int, Any]) -> None:
    for s, h in previous.items():
        signal.signal(s, h if h is not None else signal.SIG_DFL)


def resume_command(words: Sequence[str] | None, config: str | None = None) -> str:
    """The ``loradoc`` command line that resumes this run from its newest checkpoint.

    ``words``: the words after ``loradoc`` that started the run (``train cfg.yml --lr 1e-4``);
    without them, ``loradoc train CONFIG``. Any resume override is replaced.
    """
    words = list(words) if words else ["train", config or "CONFIG"]
    kept: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        name = word.split("=", 1)[0]
        if name in _RESUME_FLAGS:
            has_value = "=" in word
            if not has_value and i + 1 < len(words) and not words[i + 1].startswith("--"):
                i += 1
            i += 1
            continue
        kept.append(word)
        i += 1
    return "loradoc " + shlex.join([*kept, "--resume_from_checkpoint", "true"])
