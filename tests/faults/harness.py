"""The fault harness: run the real ``loradoc`` CLI as a subprocess, hurt it, check the recovery.

A fault point is (phase, signal, a seeded moment). The run is started in its own process
group (``start_new_session``); the harness polls ``output_dir`` and the prepared-data folder
for the files that mark each phase and sends a real signal to the whole group at a seeded
random moment inside that phase. Then it recovers the way a user would (the next plain run,
or ``resume_from_checkpoint: true`` when a checkpoint is there) and compares the outcome with
an uninterrupted run of the same config:

- ``adapter_model.safetensors``: the same bytes;
- ``metrics.jsonl``: the same rows, timing columns left out;
- ``summary.json``: the same fields, process-bound ones left out;
- nothing half-written: no temporary file anywhere under ``output_dir``, and every
  ``checkpoint-N`` folder complete (marked, every file at its size) or set aside
  (``checkpoint-N.incomplete``).

``PACE`` (seconds) slows the points where a signal should land (``pace/sitecustomize.py``);
the computation is unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from loradoc.train.run.callbacks import TIMING_COLUMNS
from loradoc.train.run.checkpoint import checkpoint_problem, is_temp_file
from loradoc.train.run.pipeline import PROCESS_FIELDS

HERE = Path(__file__).resolve().parent
PACE_DIR = HERE / "pace"


# 8 steps, checkpoints every 2, eval every 4 on 5 held-out examples, a schedule with state
RUN_KEYS: dict[str, Any] = {
    "max_steps": 8,
    "save_steps": 2,
    "val_set_size": 5,
    "eval_steps": 4,
    "eval_batch_size": 2,
    "sequence_len": 128,
    "lr_scheduler": "cosine",
    "warmup_steps": 2,
    "logging_steps": 1,
}
STEPS = RUN_KEYS["max_steps"]
PACE = 0.12


# --- running the CLI -----------------------------------------------------------------------------


def cli_env(home: Path, *, pace: float | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WANDB_", "RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_", "LORADOC_FAULT"))
    }
    env.update(
        TQDM_DISABLE="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        HOME=str(home),
    )
    env.pop("PYTHONPATH", None)
    if pace:
        env["LORADOC_FAULT_PACE"] = str(pace)
        env["PYTHONPATH"] = str(PACE_DIR)
    return env


@dataclass
class Ran:
    argv: list[str]
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    signalled: str | None = None  # the signal the harness sent, if any
    at: float | None = None  # seconds after the start when it was sent

    def tail(self, n: int = 1500) -> str:
        return f"rc={self.rc} argv={' '.join(self.argv[2:])}\n--- stdout\n{self.stdout[-n:]}\n--- stderr\n{self.stderr[-n:]}"


def loradoc(
    words: list[str],
    cwd: Path,
    *,
    pace: float | None = None,
    timeout: float = 300,
    trigger: Callable[[float], bool] | None = None,
    sig: int = signal.SIGKILL,
    delay: float = 0.0,
    poll: float = 0.004,
    extra_env: dict[str, str] | None = None,
) -> Ran:
    """``python -m loradoc WORDS`` in its own process group; with ``trigger``, ``sig`` goes to the
    group ``delay`` seconds after ``trigger(elapsed)`` first returns True."""
    argv = [sys.executable, "-m", "loradoc", *words]
    home = cwd / "home"
    home.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with (
        open(cwd / "stdout.log", "w+") as out,
        open(cwd / "stderr.log", "w+") as err,
    ):
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**cli_env(home, pace=pace), **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        sent: str | None = None
        at: float | None = None
        try:
            if trigger is not None:
                fire_at: float | None = None
                while proc.poll() is None:
                    now = time.monotonic() - start
                    if now > timeout:
                        break
                    if fire_at is None and trigger(now):
                        fire_at = now + delay
                    if fire_at is not None and now >= fire_at:
                        try:
                            os.killpg(proc.pid, sig)
                            sent, at = signal.Signals(sig).name, now
                        except ProcessLookupError:
                            pass
                        break
                    time.sleep(poll)
            try:
                proc.wait(timeout=max(1.0, timeout - (time.monotonic() - start)))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            # a killed launcher may leave workers behind: the group goes with it
            with _suppress_lookup():
                os.killpg(proc.pid, signal.SIGKILL)
        out.seek(0)
        err.seek(0)
        return Ran(argv, proc.returncode, out.read(), err.read(), time.monotonic() - start, sent, at)


class _suppress_lookup:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return exc[0] is not None and issubclass(exc[0], (ProcessLookupError, PermissionError))


# --- a world: the tiny model, its data, a config and the uninterrupted run -------------------------


@dataclass
class World:
    root: Path
    model: Path
    data: Path
    doc: dict[str, Any]  # the config without output_dir / dataset_prepared_path
    reference: Path | None = None  # output_dir of the uninterrupted run
    timeline: dict[str, float] = field(default_factory=dict)  # phase marker -> seconds after start

    def config(self, where: Path, **keys: Any) -> Path:
        """Write the config for a run in ``where`` (output ``where/run``, cache ``where/prepared``)."""
        where.mkdir(parents=True, exist_ok=True)
        doc = {
            **self.doc,
            "output_dir": str(where / "run"),
            "dataset_prepared_path": str(where / "prepared"),
            **keys,
        }
        path = where / "cfg.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path


def metrics_lines(out: Path) -> list[dict[str, Any]]:
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            rows.append(json.loads(line))
    return rows


def markers(where: Path) -> dict[str, bool]:
    """Which phase markers exist now under ``where`` (see ``World.config``)."""
    out, prepared = where / "run", where / "prepared"
    rows = metrics_lines(out) if (out / "metrics.jsonl").is_file() else []
    entries = [p for p in prepared.iterdir() if p.is_dir()] if prepared.is_dir() else []
    m = {
        "prepared": prepared.is_dir(),
        "prepared_entry": any((p / "meta.json").is_file() for p in entries),
        "resolved": (out / "resolved_config.yml").is_file(),
        "final_adapter": (out / "adapter_model.safetensors").is_file(),
        "summary": (out / "summary.json").is_file(),
    }
    for r in rows:
        if "loss" in r:
            m[f"loss{r['step']}"] = True
        if "eval_loss" in r:
            m[f"eval{r['step']}"] = True
    for n in range(1, STEPS + 1):
        if (out / f"checkpoint-{n}").is_dir():
            m[f"ck{n}"] = True
    return m


def calibrate(world: World, where: Path) -> Ran:
    """The uninterrupted run, watched: when each phase marker first appeared (``world.timeline``)."""
    cfg = world.config(where)
    seen: dict[str, float] = {}

    def watch(now: float) -> bool:
        for name, present in markers(where).items():
            if present and name not in seen:
                seen[name] = now
        return False

    ran = loradoc(["train", str(cfg)], where, trigger=watch, poll=0.01)
    assert ran.rc == 0, ran.tail()
    seen.setdefault("end", ran.seconds)
    world.timeline = seen
    world.reference = where / "run"
    return ran


# --- checks ---------------------------------------------------------------------------------------


def history(out: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in metrics_lines(out)]


def summary(out: Path) -> dict[str, Any]:
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return {k: v for k, v in s.items() if k not in PROCESS_FIELDS}


def temp_files(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if is_temp_file(p.name) or ".tmp" in p.name
    )


def half_written(out: Path) -> list[str]:
    """What is half-written under ``out``: temporary files, checkpoints neither complete nor set aside."""
    problems = [f"temporary file {t}" for t in temp_files(out)]
    if out.is_dir():
        for p in sorted(out.iterdir()):
            if re.fullmatch(r"checkpoint-\d+", p.name) and p.is_dir():
                why = checkpoint_problem(p)
                if why is not None:
                    problems.append(f"{p.name}: {why}")
    return problems


def differences(out: Path, ref: Path) -> list[str]:
    """How ``out`` differs from the uninterrupted run ``ref`` (empty: equal)."""
    diffs: list[str] = []
    a, b = out / "adapter_model.safetensors", ref / "adapter_model.safetensors"
    if not a.is_file():
        return ["no adapter_model.safetensors"]
    if a.read_bytes() != b.read_bytes():
        diffs.append("adapter_model.safetensors bytes differ")
    got, want = history(out), history(ref)
    if got != want:
        bad = [i for i, (x, y) in enumerate(zip(got, want, strict=False)) if x != y]
        first = bad[0] if bad else min(len(got), len(want))
        diffs.append(
            f"metrics.jsonl differs ({len(got)} vs {len(want)} rows; first at row {first}: "
            f"{got[first] if first < len(got) else None} vs {want[first] if first < len(want) else None})"
        )
    try:
        s_got = summary(out)
    except (OSError, ValueError) as exc:
        diffs.append(f"summary.json unreadable ({exc})")
    else:
        s_want = summary(ref)
        if s_got != s_want:
            keys = sorted(k for k in s_got.keys() | s_want.keys() if s_got.get(k) != s_want.get(k))
            diffs.append(
                "summary.json differs in "
                + ", ".join(f"{k}: {s_got.get(k)!r} vs {s_want.get(k)!r}" for k in keys)
            )
    diffs += half_written(out)
    return diffs


# --- recovery -------------------------------------------------------------------------------------

REFUSED = ("already holds a run", "holds no checkpoint", "no checkpoint in")


@dataclass
class Outcome:
    point: str
    fault: Ran | None
    recovery: list[Ran]
    how: str  # plain | resume | overwrite | none
    problems: list[str]  # empty: equal to the uninterrupted run
    notes: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.problems

    def line(self) -> str:
        at = f" at {self.fault.at:.2f}s" if self.fault and self.fault.at is not None else ""
        rc = f" rc={self.fault.rc}" if self.fault else ""
        state = "equal" if self.equal else "FAIL: " + "; ".join(self.problems)
        notes = f" [{'; '.join(self.notes)}]" if self.notes else ""
        return f"{self.point}{at}{rc} -> {self.how}: {state}{notes}"


def recover(world: World, where: Path, *, pace: float | None = None) -> tuple[str, list[Ran], list[str]]:
    """Run again the way a user would: ``resume_from_checkpoint: true`` when a checkpoint (or a final
    adapter) is there, else the plain command; when that is refused, the other one; when both are
    refused (a folder the run started but never checkpointed), ``overwrite_output_dir: true``,
    which the refusal names, noted as a finding."""
    cfg = where / "cfg.yml"
    out = where / "run"
    has_state = out.is_dir() and any(
        p.name.startswith("checkpoint-") or p.name == "adapter_model.safetensors" for p in out.iterdir()
    )
    plain = ["train", str(cfg)]
    resume = [*plain, "--resume_from_checkpoint", "true"]
    order = [("resume", resume), ("plain", plain)] if has_state else [("plain", plain), ("resume", resume)]
    runs: list[Ran] = []
    notes: list[str] = []
    for how, words in order:
        ran = loradoc(words, where, pace=pace)
        runs.append(ran)
        if ran.rc == 0:
            return how, runs, notes
        if not any(r in ran.stderr for r in REFUSED):
            return how, runs, notes  # a failure, not a refusal: reported by the caller
    notes.append(
        "neither the plain run nor resume_from_checkpoint: true was accepted; needed overwrite_output_dir: true"
    )
    ran = loradoc([*plain, "--overwrite_output_dir", "true"], where, pace=pace)
    runs.append(ran)
    return "overwrite", runs, notes


def check_recovered(
    world: World, where: Path, point: str, fault: Ran | None, *, pace: float | None = None
) -> Outcome:
    leftovers = temp_files(where / "run")
    how, runs, notes = recover(world, where, pace=pace)
    if leftovers:
        notes.append(f"the fault left {len(leftovers)} temporary file(s): {', '.join(leftovers[:3])}")
    last = runs[-1]
    if last.rc != 0:
        problems = [f"recovery ({how}) failed: {last.tail(800)}"]
    elif "Traceback" in last.stderr:
        problems = ["recovery printed a traceback"]
    else:
        assert world.reference is not None
        problems = differences(where / "run", world.reference)
    return Outcome(point, fault, runs, how, problems, notes)


# --- training fault points -------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    phase: str
    sig: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.phase}/{signal.Signals(self.sig).name}/{self.seed}"


PHASES = ("startup", "data", "model", "train", "eval", "checkpoint", "final")


def plan_point(
    world: World, point: Point
) -> tuple[Callable[[Path], Callable[[float], bool]], float, float | None, str]:
    """(trigger factory for a run folder, delay, pace, description) for ``point``, drawn from its seed."""
    rng = random.Random(f"{point.phase}-{point.sig}-{point.seed}")
    t = world.timeline
    if point.phase == "startup":  # imports, config, preflight: before the data folder appears
        when = rng.uniform(0.3, max(0.4, t.get("prepared", 2.0) - 0.05))
        return (lambda where: lambda now: now >= when), 0.0, None, f"{when:.2f}s after start"
    if point.phase == "data":  # tokenizing and writing the prepared cache
        span = max(0.02, t.get("prepared_entry", 0) - t.get("prepared", 0))
        delay = rng.uniform(0, span)
        return (
            (lambda where: lambda now: markers(where)["prepared"]),
            delay,
            None,
            f"{delay:.3f}s into data prep",
        )
    if point.phase == "model":  # from the cache entry to the first output file (model, LoRA, Trainer)
        span = max(0.02, t.get("resolved", 0) - t.get("prepared_entry", 0))
        delay = rng.uniform(0, span)
        return (
            (lambda where: lambda now: markers(where)["prepared_entry"]),
            delay,
            None,
            f"{delay:.3f}s into model load",
        )
    if point.phase == "train":  # during or between steps (paced)
        step = rng.randint(1, STEPS - 1)
        delay = rng.uniform(0, 1.6 * PACE)
        return (
            (lambda where: lambda now: markers(where).get(f"loss{step}", False)),
            delay,
            PACE,
            f"{delay:.3f}s after step {step} logged",
        )
    if point.phase == "eval":  # during evaluation at step 4 or 8 (paced: 3 eval batches)
        step = rng.choice([4, 8])
        delay = rng.uniform(0, 3 * PACE)
        return (
            (lambda where: lambda now: markers(where).get(f"loss{step}", False)),
            delay,
            PACE,
            f"{delay:.3f}s into eval at step {step}",
        )
    if point.phase == "checkpoint":  # while checkpoint-N is written (paced file by file)
        step = rng.choice([2, 4, 6, 8])
        delay = rng.uniform(0, 3 * PACE)
        return (
            (lambda where: lambda now: markers(where).get(f"ck{step}", False)),
            delay,
            PACE,
            f"{delay:.3f}s into checkpoint-{step}",
        )
    if point.phase == "final":  # the final adapter, tokenizer, metrics, plot, summary (paced)
        delay = rng.uniform(0, 1.5 * PACE)
        return (
            (lambda where: lambda now: markers(where)["final_adapter"]),
            delay,
            PACE,
            f"{delay:.3f}s after the final adapter appeared",
        )
    raise ValueError(point.phase)


def run_point(world: World, point: Point, where: Path) -> Outcome:
    factory, delay, pace, what = plan_point(world, point)
    cfg = world.config(where)
    fault = loradoc(["train", str(cfg)], where, pace=pace, trigger=factory(where), sig=point.sig, delay=delay)
    outcome = check_recovered(world, where, f"{point.name} ({what})", fault)
    if fault.signalled is None:
        outcome.notes.append("the signal was not sent (the run ended first)")
    if fault.rc == 0 and fault.signalled:
        outcome.notes.append("the run finished before the signal took effect")
    if (
        "Traceback" in fault.stderr
        and point.sig == signal.SIGTERM
        and point.phase in ("train", "eval", "checkpoint")
    ):
        outcome.problems.append("the SIGTERM'd run printed a traceback")
    return outcome


def training_points(
    n_per_phase: int, seed: int, signals: tuple[int, ...] = (signal.SIGKILL, signal.SIGTERM)
) -> list[Point]:
    rng = random.Random(seed)
    return [
        Point(phase, sig, rng.randrange(10**6))
        for phase in PHASES
        for sig in signals
        for _ in range(n_per_phase)
    ]


# --- the figure -----------------------------------------------------------------------------------


def figure(outcomes: list[Outcome], title: str = "fault harness") -> str:
    failed = [o for o in outcomes if not o.equal]
    noted = [o for o in outcomes if o.equal and o.notes]
    lines = [
        f"{title}: {len(outcomes)} fault points tried, {len(outcomes) - len(failed)} equal to the uninterrupted run, {len(failed)} failures"
    ]
    lines += ["  " + o.line() for o in outcomes]
    if noted:
        lines.append(f"  findings on equal points: {len(noted)}")
    if failed:
        lines.append("failures:")
        lines += ["  " + o.line() for o in failed]
    return "\n".join(lines)


def fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
