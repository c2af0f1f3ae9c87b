"""How every trainer of the throughput bench is measured, loradoc's and the peers' alike.

``instrument(trainer, recorder)`` wraps a transformers ``Trainer``'s ``training_step`` (public
attribute) to count the tokens of each micro-batch (real = not the pad id, supervised =
``labels[..., 1:] != -100``, slots = the tensor size, examples) and adds a callback that records
the end time and process CPU time of every optimizer step. ``process_facts`` adds what the
process itself says (CPU share of its threads, peak RSS).

Standard library only at import time: the peers' runners import it from their own virtual
environments, where loradoc is not installed.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import sys
import time
from typing import Any

IGNORE = -100


@dataclasses.dataclass
class StepRecorder:
    """Per-step token counts (from the batches) and step end times (from a callback)."""

    pad_id: int
    real: list[int] = dataclasses.field(default_factory=list)
    supervised: list[int] = dataclasses.field(default_factory=list)
    slots: list[int] = dataclasses.field(default_factory=list)
    examples: list[int] = dataclasses.field(default_factory=list)
    begin: float | None = None
    ends: list[float] = dataclasses.field(default_factory=list)
    cpu_ends: list[float] = dataclasses.field(default_factory=list)  # process CPU time, all threads
    losses: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    train_loss: float | None = None

    def add_batch(self, inputs: Any) -> None:
        ids, labels = inputs["input_ids"], inputs["labels"]
        self.real.append(int(ids.ne(self.pad_id).sum()))
        self.supervised.append(int(labels[..., 1:].ne(IGNORE).sum()))
        self.slots.append(int(ids.numel()))
        pos = inputs.get("position_ids")
        if pos is not None:  # packed: one example per segment that starts at 0 with a real token
            self.examples.append(int((pos.eq(0) & ids.ne(self.pad_id)).sum()))
        else:
            self.examples.append(int(ids.shape[0]))

    def summary(self, warmup: int) -> dict[str, Any]:
        steps = len(self.ends)
        if len(self.real) != steps:
            raise RuntimeError(f"{len(self.real)} batches recorded for {steps} optimizer steps")
        w = warmup if steps > warmup + 1 else 0
        start = self.ends[w - 1] if w else (self.begin or self.ends[0])
        timed_s = self.ends[-1] - start
        cpu_s = self.cpu_ends[-1] - self.cpu_ends[w - 1] if w else None
        real, sup, slots = sum(self.real), sum(self.supervised), sum(self.slots)
        timed_real, timed_sup = sum(self.real[w:]), sum(self.supervised[w:])
        return {
            "steps": steps,
            "warmup_steps": w,
            "examples": sum(self.examples),
            "real_tokens": real,
            "supervised_tokens": sup,
            "slots": slots,
            "padding_pct": round(100.0 * (slots - real) / slots, 2) if slots else 0.0,
            "efficiency": round(real / slots, 4) if slots else 1.0,
            "loop_seconds": round(self.ends[-1] - (self.begin or self.ends[0]), 3),
            "timed_seconds": round(timed_s, 3),
            "timed_real_tokens": timed_real,
            "timed_supervised_tokens": timed_sup,
            "input_tok_s": round(timed_real / timed_s, 1) if timed_s > 0 else None,
            "supervised_tok_s": round(timed_sup / timed_s, 1) if timed_s > 0 else None,
            # CPU time of the timed steps: on a shared machine wall time also counts waiting for a core
            "timed_cpu_seconds": round(cpu_s, 3) if cpu_s is not None else None,
            "supervised_tok_per_cpu_s": round(timed_sup / cpu_s, 1) if cpu_s else None,
            "final_loss": self.losses[-1][1] if self.losses else None,
            "final_loss_step": self.losses[-1][0] if self.losses else None,
            "train_loss_mean": self.train_loss,
        }


def instrument(trainer: Any, recorder: StepRecorder) -> None:
    """Count every micro-batch and time every optimizer step of ``trainer`` (public hooks only)."""
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    if int(trainer.args.gradient_accumulation_steps) != 1:
        raise RuntimeError("the benchmark counts one micro-batch per optimizer step")
    inner = trainer.training_step

    def training_step(model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
        recorder.add_batch(inputs)
        return inner(model, inputs, num_items_in_batch)

    class Timer(TrainerCallback):  # type: ignore[misc]
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if recorder.begin is None:
                recorder.begin = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            recorder.ends.append(time.perf_counter())
            recorder.cpu_ends.append(time.process_time())

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if logs and "loss" in logs:
                recorder.losses.append((int(state.global_step), float(logs["loss"])))

    trainer.training_step = training_step
    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
    trainer.add_callback(Timer())


def adapter_checksum(model: Any) -> float:
    """Sum of |LoRA A| weights: equal across modes when the adapter starts from the same seed."""
    return round(float(sum(p.detach().abs().sum() for n, p in model.named_parameters() if "lora_A" in n)), 6)


def train_measured(trainer: Any, pad_id: int, warmup: int, adapter_of: Any = None) -> dict[str, Any]:
    """Run ``trainer.train()`` instrumented and return the recorder's summary, with the checksum of
    ``adapter_of``'s initial LoRA weights (None when not given: a trainer that makes its own)."""
    recorder = StepRecorder(pad_id)
    instrument(trainer, recorder)
    checksum = adapter_checksum(adapter_of) if adapter_of is not None else None
    result = trainer.train()
    recorder.train_loss = round(float(result.training_loss), 6)
    return {**recorder.summary(warmup), "adapter_init_checksum": checksum}


def process_facts(result: dict[str, Any], threads: int, started: float) -> dict[str, Any]:
    """Add this process's figures to a mode's ``result``: ``cpu_utilisation`` (CPU time of the timed
    steps over their wall time x threads: far below 1 means other jobs took the cores), peak RSS
    (meaningful when the mode ran alone in its process) and the process's own wall time."""
    if result.get("timed_cpu_seconds"):
        result["cpu_utilisation"] = round(
            result["timed_cpu_seconds"] / (result["timed_seconds"] * threads), 3
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    result["torch_threads"] = threads
    result["peak_rss_mb"] = round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)
    result["process_seconds"] = round(time.perf_counter() - started, 2)
    result["pid"] = os.getpid()
    return result
