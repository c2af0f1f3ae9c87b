"""Trainer callbacks: metrics.jsonl, a progress bar with loss, tokens/s and ETA, checkpoint
completion markers, and the clean stop on SIGINT/SIGTERM.

Files are written and the bar drawn on the main process only
(``state.is_world_process_zero``), so a multi-process run writes one file and draws one bar.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from loradoc.fsutil import write_atomic
from loradoc.train.run.checkpoint import save_run_state, write_marker
from loradoc.train.run.signals import StopRequest

RENAMES = {"learning_rate": "lr"}
# metrics.jsonl columns about the process's wall clock, not about the training: they differ between
# an unbroken run and a stopped-and-resumed one while every other column is equal (tests/faults)
TIMING_COLUMNS = frozenset(
    {
        "tokens_per_s",
        "supervised_tokens_per_s",
        "train_runtime",
        "train_samples_per_second",
        "train_steps_per_second",
        "eval_runtime",
        "eval_samples_per_second",
        "eval_steps_per_second",
    }
)
DROP = {"total_flos"}


def metrics_record(step: int, epoch: float | None, logs: dict[str, Any]) -> dict[str, Any]:
    """One metrics.jsonl line: step and epoch first, then the logged values (finite numbers)."""
    record: dict[str, Any] = {"step": int(step)}
    if epoch is not None:
        record["epoch"] = round(float(epoch), 4)
    for key, value in logs.items():
        if key in DROP or key == "epoch":
            continue
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        record[RENAMES.get(key, key)] = value
    return record


def read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class MetricsFileCallback(TrainerCallback):
    """Appends every log event to ``metrics.jsonl`` (one JSON object per line, flushed)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # on resume, keep what was logged up to the checkpoint and drop what came after it
        # (and the end-of-train record of an interrupted run)
        kept = [
            r
            for r in read_metrics(self.path)
            if int(r.get("step", 0)) <= state.global_step and "train_runtime" not in r
        ]
        write_atomic(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        record = metrics_record(state.global_step, state.epoch, logs)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


class ProgressBarCallback(TrainerCallback):
    """A tqdm bar over optimizer steps (tqdm gives the ETA) with loss and tokens/s; eval as one line."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.done = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        from tqdm.auto import tqdm

        self.done = state.global_step
        self.bar = tqdm(
            total=state.max_steps, initial=self.done, desc="training", unit="step", dynamic_ncols=True
        )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.done)
            self.done = state.global_step

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if self.bar is None or not logs:
            return
        if "loss" in logs:
            post = {"loss": f"{logs['loss']:.4f}"}
            if "tokens_per_s" in logs:
                post["tok/s"] = f"{logs['tokens_per_s']:,.0f}"
                post["sup tok/s"] = f"{logs.get('supervised_tokens_per_s', 0):,.0f}"
            self.bar.set_postfix(post, refresh=True)
        elif "eval_loss" in logs:
            self.bar.write(f"step {state.global_step}: eval_loss {logs['eval_loss']:.4f}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class CheckpointMarkerCallback(TrainerCallback):
    """After the Trainer has written ``checkpoint-N``: wait for every process, then mark it complete.

    ``on_save`` runs on every process right after ``Trainer._save_checkpoint`` returns;
    each process has written its own RNG state by then, and its metric state
    (``run_state()``: token counts, seconds, loss accumulators; ``checkpoint.RunState``), so
    after the barrier the main process flushes the folder and writes
    ``loradoc_complete.json`` (``checkpoint.write_marker``).
    """

    def __init__(self, run_state: Callable[[], dict[str, Any]] | None = None) -> None:
        self.run_state = run_state

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from accelerate import PartialState
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if self.run_state is not None and folder.is_dir():  # the metrics continue on resume
            save_run_state(folder, rank=args.process_index, record=self.run_state())
        PartialState().wait_for_everyone()
        if state.is_world_process_zero and folder.is_dir():
            write_marker(folder, step=state.global_step)
        PartialState().wait_for_everyone()


class StopOnSignalCallback(TrainerCallback):
    """At each optimizer step's end: if a stop signal came (on any process), save and stop.

    Under several processes the flag is all-reduced (max) every step, so every rank
    stops after the same step, whichever rank the signal reached first.
    """

    def __init__(self, request: StopRequest) -> None:
        self.request = request

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        signum = int(self.request.signum or 0)
        if args.world_size > 1:
            signum = _all_ranks_max(signum, args.device)
        if not signum:
            return
        if self.request.signum is None:  # another rank got it first
            self.request.signum = signum
        self.request.step = int(state.global_step)
        control.should_save = True
        control.should_training_stop = True


def _all_ranks_max(value: int, device: Any) -> int:
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())
