"""One-shot GPU proof: every GPU claim loradoc makes, checked on the machine, into one JSON report.

    python bench/gpu_check.py [--out FILE] [--budget SECONDS] [--cpu-dry-run]
    bash bench/gpu_check.sh            # on the GPU machine: installs loradoc offline, then runs this

Written before any GPU was at hand, so that one short lease of a GPU machine (H100 / H200, torch
2.11 + CUDA 13.0, transformers, peft, accelerate, triton, pyarrow; no datasets, trl, flash-attn,
xformers or bitsandbytes; no network) answers every open question at once. Each step runs in its
own try/except under its own time budget (and all of them under ``--budget``), records ``ok``,
``failed`` or ``skipped`` with the reason and its numbers, and the report is rewritten after every
step, so a run that is cut off still leaves everything it measured.

Steps (``STEPS``):

1. ``environment``: versions, which optional packages are importable (a missing one is skipped,
   never an error), how loradoc was installed.
2. ``probe_vs_nvidia_smi``: ``loradoc.doctor.probe.machine.probe()`` (GPU names, compute
   capability, driver, max CUDA) against ``nvidia-smi --query-gpu=...`` and its banner's
   "CUDA Version", and against torch's own view of the devices.
3. ``machine_facts``: ``machine_facts(snapshot, load_matrix())`` (device, min_cc, bf16, attention
   backends) against what torch and the importable packages say.
4. ``doctor_check``: ``python -m loradoc doctor check --json`` on the real machine: its findings,
   and every error it raises (there should be none: the later steps train on this machine).
5. ``packed_equivalence``: a small random-init Llama loaded with loradoc's ``load_model`` (LoRA on
   every linear, B perturbed from zero so the adapter matters), the same examples packed into one
   row by loradoc's ``PackedCollator`` and unpacked (padded, ``PaddedCollator``), for every
   attention path present; per-example logits, loss and LoRA gradients compared. bf16 tolerances
   are set from the measured bf16 noise (bf16 unpacked vs an fp32 reference); a control without
   example boundaries must exceed them, or the check could not catch contamination.
6. ``matmul_rate``: the device's measured dense matmul rate (bf16 with CUDA events on a GPU).
7. ``throughput``: supervised tok/s of loradoc's packed path vs padded (random order) vs
   length-grouped (transformers' ``get_length_grouped_indices``) batches on a random-init
   Llama-shaped model of ~0.9B parameters at sequence 2048 and 4096, a few optimizer steps each
   after warm-up; MFU against the measured matmul rate (model FLOPs from
   ``loradoc.train.estimate.flops_per_token``).
8. ``peak_memory``: ``torch.cuda.max_memory_allocated`` of a full-width training step (packed and
   padded) next to ``loradoc.train.estimate.estimate_memory``.
9. ``qlora``: a 4-bit (NF4) LoRA training step when bitsandbytes is importable.
10. ``compile``: what ``torch_compile: true`` would give on this GPU: loradoc's packed rows with
    sdpa through a 4-layer slice of the step-7 model, eager against ``torch.compile``d (the first
    steps include compiling), supervised tok/s and the losses side by side. The CPU dry run uses
    torch.compile's ``eager`` backend (no C++ build), so the code path runs in the tests.
11. ``liger``: Liger's kernels against the model's own layers (last: it patches transformers).

``--cpu-dry-run`` runs the same steps with tiny shapes on the CPU (steps that need CUDA say so and
are skipped) in well under a minute and writes the same schema; ``tests/bench/test_gpu_check_dry.py``
runs it so this script cannot rot before a GPU runs it.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import gc
import importlib
import importlib.util
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
SCHEMA = "loradoc-gpu-check/1"
STEPS = (
    "environment",
    "probe_vs_nvidia_smi",
    "machine_facts",
    "doctor_check",
    "packed_equivalence",
    "matmul_rate",
    "throughput",
    "peak_memory",
    "qlora",
    "compile",
    "liger",  # last: liger-kernel patches transformers' Llama module for the rest of the process
)
STEP_FIELDS = ("status", "reason", "seconds", "budget_s", "summary", "data", "error")
# Packages the GPU image may lack; each is reported, none is required.
OPTIONAL = (
    "transformers",
    "peft",
    "accelerate",
    "triton",
    "pyarrow",
    "datasets",
    "trl",
    "flash_attn",
    "flash_attn_interface",  # FlashAttention-3 (flash-attn-3)
    "xformers",
    "bitsandbytes",
    "liger_kernel",
)
# Imported for real (a build can be present and broken); the others are only looked up, so the run
# can report afterwards whether anything on loradoc's path imported them.
IMPORT_TO_CHECK = ("triton", "flash_attn", "flash_attn_interface", "xformers", "bitsandbytes")
# the module each flash attn_implementation runs on
FLASH_MODULES = {"flash_attention_2": "flash_attn", "flash_attention_3": "flash_attn_interface"}
IGNORE = -100
MIB = 1 << 20
RESPONSE_SHARE = 0.535  # supervised share of an example (bench/throughput_workload.py)


# --- shapes per mode -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    device: str
    # packed == unpacked: a small Llama, examples that fill one row
    equiv_model: dict[str, int]
    equiv_lengths: tuple[int, ...]
    equiv_dtypes: tuple[str, ...]
    # throughput / memory: a Llama-shaped model
    big_model: dict[str, int]
    big_precision: str
    seqs: tuple[int, ...]
    warmup_steps: int
    timed_steps: int
    examples: int
    matmul_size: int
    matmul_iters: int
    budgets: dict[str, float]
    total_budget: float


GPU = Profile(
    name="gpu",
    device="cuda",
    equiv_model={
        "hidden_size": 256,
        "intermediate_size": 688,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,  # head_dim 64: every attention kernel takes it
        "num_key_value_heads": 2,
        "vocab_size": 2048,
    },
    equiv_lengths=(37, 120, 5, 300, 64, 17, 250, 90, 1, 61),
    equiv_dtypes=("bf16",),
    # ~0.89B parameters: Llama-2-style vocabulary, GQA 2:1, head_dim 128
    big_model={
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 16,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "vocab_size": 32000,
    },
    big_precision="bf16",
    seqs=(2048, 4096),
    warmup_steps=3,
    timed_steps=8,
    examples=1200,
    matmul_size=8192,
    matmul_iters=50,
    budgets={
        "environment": 60,
        "probe_vs_nvidia_smi": 30,
        "machine_facts": 20,
        "doctor_check": 40,
        "packed_equivalence": 110,
        "matmul_rate": 20,
        "throughput": 140,
        "peak_memory": 45,
        "qlora": 45,
        "compile": 60,
        "liger": 30,
    },
    total_budget=450,
)

DRY = Profile(
    name="cpu-dry-run",
    device="cpu",
    equiv_model={
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 256,
    },
    equiv_lengths=(5, 9, 3, 12, 1, 7, 6, 4, 30, 17),
    equiv_dtypes=("fp32", "bf16"),
    big_model={
        "hidden_size": 64,
        "intermediate_size": 172,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 512,
    },
    big_precision="fp32",
    seqs=(256, 512),
    warmup_steps=1,
    timed_steps=2,
    examples=120,
    matmul_size=256,
    matmul_iters=20,
    budgets={
        "environment": 30,
        "probe_vs_nvidia_smi": 15,
        "machine_facts": 10,
        "doctor_check": 30,
        "packed_equivalence": 40,
        "matmul_rate": 10,
        "throughput": 40,
        "peak_memory": 15,
        "qlora": 15,
        "compile": 20,
        "liger": 10,
    },
    total_budget=170,
)


# --- loradoc: installed, or staged from the working tree ------------------------------------------


def ensure_loradoc() -> dict[str, Any]:
    """Import loradoc; if it is not installed with its data, stage a copy of the tree and use that.

    Where ``pip install -e .`` could not run (no setuptools, no network), ``src/loradoc`` (its
    ``compat_data`` included) is copied into one importable folder, put first on ``sys.path`` and on
    ``PYTHONPATH`` (the ``doctor check`` subprocess needs it too).
    """
    try:
        import loradoc
        import loradoc.compat_data  # noqa: F401

        return {"mode": "installed", "path": str(Path(loradoc.__file__).parent)}
    except ImportError as exc:
        reason = f"{type(exc).__name__}: {exc}"
    for name in [m for m in sys.modules if m == "loradoc" or m.startswith("loradoc.")]:
        del sys.modules[name]
    stage = Path(tempfile.mkdtemp(prefix="loradoc-stage-"))
    atexit.register(shutil.rmtree, stage, ignore_errors=True)
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "src" / "loradoc", stage / "loradoc", ignore=skip)  # compat_data included
    sys.path.insert(0, str(stage))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(stage), os.environ.get("PYTHONPATH")) if p)
    import loradoc
    import loradoc.compat_data  # noqa: F401

    return {"mode": "staged", "path": str(stage / "loradoc"), "why": reason}


# --- budgets --------------------------------------------------------------------------------------


class StepTimeout(BaseException):
    """A step (or a part of one) ran past its time budget.

    A BaseException, so that a step's own ``except Exception`` (one failing mode among several)
    cannot swallow it and run on with no limit left.
    """


class Terminated(BaseException):
    """SIGTERM: the run is being stopped; write what there is."""


class _StepTerminated(BaseException):
    """Carries a step's partial record out of ``run_step`` after a SIGTERM."""

    def __init__(self, step: Step) -> None:
        super().__init__("terminated")
        self.step = step


def _on_alarm(_sig: int, _frame: Any) -> None:
    raise StepTimeout("time budget spent")


def _on_term(_sig: int, _frame: Any) -> None:
    raise Terminated("SIGTERM")


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``StepTimeout`` in this (main) thread after ``seconds``; nests (an outer limit still holds).

    A signal cannot interrupt one long C call (a CUDA kernel, a compile); the exception comes when
    it returns. The report is written after every step, so even a hard kill keeps the earlier steps.
    """
    outer_left, _ = signal.getitimer(signal.ITIMER_REAL)
    start = time.monotonic()
    outer_end = start + outer_left if outer_left > 0 else None
    if outer_end is not None:
        seconds = min(seconds, outer_end - start)
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_end is not None:
            signal.setitimer(signal.ITIMER_REAL, max(outer_end - time.monotonic(), 0.01))


class Skip(Exception):
    """Raised by a step that cannot run here; its message is the reason."""


@dataclasses.dataclass
class Step:
    status: str = "skipped"
    reason: str | None = None
    seconds: float = 0.0
    budget_s: float = 0.0
    summary: str = ""
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None

    def fail(self, reason: str) -> None:
        self.status, self.reason = "failed", reason


# --- shared state between steps -------------------------------------------------------------------


@dataclasses.dataclass
class Context:
    profile: Profile
    args: argparse.Namespace
    workdir: Path
    loradoc_install: dict[str, Any]
    started: float = dataclasses.field(default_factory=time.monotonic)
    snapshot: Any = None
    facts: Any = None
    importable: dict[str, bool] = dataclasses.field(default_factory=dict)
    matmul_flops: float | None = None
    big: dict[str, Any] | None = None  # model dir, config, loaded model, chosen attention

    @property
    def cuda(self) -> bool:
        return self.profile.device == "cuda"

    def left(self) -> float:
        return self.profile.total_budget - (time.monotonic() - self.started)


def _torch() -> Any:
    import torch

    return torch


def _quiet(_msg: str) -> None:
    pass


def _sync(device: str) -> None:
    if device == "cuda":
        _torch().cuda.synchronize()


def _round(x: float | None, digits: int = 4) -> float | None:
    if x is None or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


# --- step 1: environment --------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


_DISTS = {
    "flash_attn": "flash-attn",
    "flash_attn_interface": "flash-attn-3",
    "bitsandbytes": "bitsandbytes",
    "pyarrow": "pyarrow",
}


def step_environment(ctx: Context, step: Step) -> None:
    torch = _torch()
    packages: dict[str, Any] = {}
    for name in OPTIONAL:
        entry: dict[str, Any] = {"version": _version(_DISTS.get(name, name))}
        if importlib.util.find_spec(name) is None:
            entry["status"] = "skipped"
            entry["reason"] = "not installed"
        elif name in IMPORT_TO_CHECK:
            try:
                mod = importlib.import_module(name)
                entry["status"] = "ok"
                entry["version"] = entry["version"] or getattr(mod, "__version__", None)
            except Exception as exc:  # a present but broken build is a finding, not a crash
                entry["status"] = "failed"
                entry["reason"] = f"import failed: {type(exc).__name__}: {str(exc)[:300]}"
        else:
            entry["status"] = "ok"
        packages[name] = entry
        ctx.importable[name] = entry["status"] == "ok"
    cuda = torch.cuda.is_available()
    devices = []
    if cuda:
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            devices.append(
                {
                    "index": i,
                    "name": p.name,
                    "capability": f"{p.major}.{p.minor}",
                    "memory_mib": p.total_memory // MIB,
                    "multiprocessors": p.multi_processor_count,
                }
            )
    step.data.update(
        python=sys.version.split()[0],
        executable=sys.executable,
        platform=platform.platform(),
        cpu_count=os.cpu_count(),
        torch={
            "version": torch.__version__,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "cuda_available": cuda,
            "devices": devices,
        },
        packages=packages,
        loradoc=ctx.loradoc_install,
        install_note=ctx.args.install_note,
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        pytorch_cuda_alloc_conf=os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
    )
    if ctx.cuda and not cuda:
        step.fail("torch.cuda.is_available() is False on the GPU run")
    else:
        step.status = "ok"
    missing = [n for n, e in packages.items() if e["status"] == "skipped"]
    broken = [n for n, e in packages.items() if e["status"] == "failed"]
    step.summary = (
        f"torch {torch.__version__} (CUDA {torch.version.cuda}), {len(devices)} GPU(s)"
        + (f": {devices[0]['name']}" if devices else "")
        + f"; loradoc {ctx.loradoc_install['mode']}"
        + (f"; not installed: {', '.join(missing)}" if missing else "")
        + (f"; broken: {', '.join(broken)}" if broken else "")
    )


# --- step 2: probe vs nvidia-smi ------------------------------------------------------------------


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def step_probe_vs_nvidia_smi(ctx: Context, step: Step) -> None:
    from loradoc.doctor.probe.machine import probe

    t0 = time.perf_counter()
    snap = probe()
    ctx.snapshot = snap
    probe_s = time.perf_counter() - t0
    gpus = [
        {
            "index": g.index,
            "name": g.name,
            "compute_capability": g.compute_capability,
            "memory_mib": g.memory_mib,
        }
        for g in snap.gpus or []
        if (g.vendor or "nvidia") == "nvidia"
    ]
    driver = snap.driver
    ours = {
        "gpus": gpus,
        "driver_version": driver.version if driver else None,
        "cuda_max": driver.cuda_max if driver else None,
        "driver_source": driver.source if driver else None,
        "probe_seconds": round(probe_s, 3),
        "notes": list(snap.notes),
    }
    step.data["probe"] = ours
    step.data["snapshot"] = snap.to_dict()
    smi = shutil.which("nvidia-smi")
    if smi is None:
        raise Skip("nvidia-smi not found (no NVIDIA driver here): the probe's view is recorded alone")
    query = _run([smi, "--query-gpu=name,compute_cap,driver_version", "--format=csv,noheader"], 20)
    banner = _run([smi], 20)
    rows = [[c.strip() for c in line.split(",")] for line in query.stdout.splitlines() if line.strip()]
    m = re.search(r"CUDA Version:\s*([0-9.]+)", banner.stdout)
    theirs = {
        "query_rc": query.returncode,
        "rows": rows,
        "banner_cuda_version": m.group(1) if m else None,
        "stderr": (query.stderr or banner.stderr)[-500:] or None,
    }
    step.data["nvidia_smi"] = theirs
    mismatches: list[str] = []
    if query.returncode != 0:
        mismatches.append(f"nvidia-smi --query-gpu exited {query.returncode}")
    if len(rows) != len(gpus):
        mismatches.append(f"probe saw {len(gpus)} GPU(s), nvidia-smi {len(rows)}")
    for g, row in zip(gpus, rows, strict=False):
        name, cc, drv = (row + [None, None, None])[:3]
        if g["name"] != name:
            mismatches.append(f"GPU {g['index']} name: probe {g['name']!r}, nvidia-smi {name!r}")
        if g["compute_capability"] != cc:
            mismatches.append(
                f"GPU {g['index']} compute capability: probe {g['compute_capability']}, nvidia-smi {cc}"
            )
        if ours["driver_version"] != drv:
            mismatches.append(f"driver: probe {ours['driver_version']}, nvidia-smi {drv}")
    if ours["cuda_max"] != theirs["banner_cuda_version"]:
        mismatches.append(
            f"max CUDA: probe {ours['cuda_max']}, nvidia-smi banner {theirs['banner_cuda_version']}"
        )
    torch = _torch()
    if torch.cuda.is_available() and not os.environ.get("CUDA_VISIBLE_DEVICES"):
        seen = []
        for i in range(torch.cuda.device_count()):
            major, minor = torch.cuda.get_device_capability(i)
            seen.append({"name": torch.cuda.get_device_name(i), "capability": f"{major}.{minor}"})
        step.data["torch"] = seen
        for g, t in zip(gpus, seen, strict=False):
            if g["compute_capability"] != t["capability"]:
                mismatches.append(
                    f"GPU {g['index']} capability: probe {g['compute_capability']}, torch {t['capability']}"
                )
    step.data["mismatches"] = sorted(set(mismatches))
    if mismatches:
        step.fail("; ".join(sorted(set(mismatches))))
    else:
        step.status = "ok"
    first = gpus[0] if gpus else {}
    step.summary = (
        f"{len(gpus)} GPU(s) {first.get('name')} sm {first.get('compute_capability')}, driver "
        f"{ours['driver_version']} (max CUDA {ours['cuda_max']}; nvidia-smi {theirs['banner_cuda_version']}); "
        f"{'agrees' if not mismatches else str(len(set(mismatches))) + ' mismatch(es)'}"
    )


# --- step 3: machine facts ------------------------------------------------------------------------


def step_machine_facts(ctx: Context, step: Step) -> None:
    from loradoc.compat.load import load_matrix
    from loradoc.doctor.facts import machine_facts
    from loradoc.doctor.probe.machine import probe

    torch = _torch()
    if ctx.snapshot is None:
        ctx.snapshot = probe()
    cuda = torch.cuda.is_available()
    facts = machine_facts(ctx.snapshot, load_matrix(), cuda_usable=cuda)
    ctx.facts = facts
    step.data.update(
        device=facts.device,
        min_cc=facts.min_cc,
        bf16=facts.supports("bf16"),
        tf32=facts.supports("tf32"),
        fp8=facts.supports("fp8"),
        attention=sorted(facts.attention),
        attention_missing=dict(sorted(facts.attention_missing.items())),
        packed_masks=facts.packed_masks,
        gpus=[dataclasses.asdict(g) for g in facts.gpus],
        driver_version=facts.driver_version,
        cuda_max=facts.cuda_max,
        torch=dataclasses.asdict(facts.torch) if facts.torch else None,
        notes=list(facts.notes),
    )
    problems: list[str] = []
    want_device = "cuda" if cuda else "cpu"
    if facts.device != want_device:
        problems.append(f"device {facts.device}, torch says {want_device}")
    if cuda:
        caps = [torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())]
        low = min(caps)
        if facts.min_cc != f"{low[0]}.{low[1]}":
            problems.append(f"min_cc {facts.min_cc}, torch {low[0]}.{low[1]}")
        if facts.supports("bf16") != torch.cuda.is_bf16_supported():
            problems.append(
                f"bf16 {facts.supports('bf16')}, torch.cuda.is_bf16_supported() {torch.cuda.is_bf16_supported()}"
            )
        for impl, pkg in (*FLASH_MODULES.items(), ("xformers", "xformers")):
            if (impl in facts.attention) != ctx.importable.get(pkg, False):
                problems.append(
                    f"{impl} {'listed' if impl in facts.attention else 'not listed'}, "
                    f"{pkg} {'importable' if ctx.importable.get(pkg) else 'not importable'}"
                )
    has_flex = importlib.util.find_spec("torch.nn.attention.flex_attention") is not None
    if ("flex_attention" in facts.attention) != has_flex:
        problems.append(
            f"flex_attention listed={'flex_attention' in facts.attention}, torch has it={has_flex}"
        )
    step.data["problems"] = problems
    if problems:
        step.fail("; ".join(problems))
    else:
        step.status = "ok"
    step.summary = (
        f"device {facts.device}, min_cc {facts.min_cc}, bf16 {facts.supports('bf16')}, "
        f"attention {', '.join(sorted(facts.attention))}"
    )


# --- step 4: doctor check -------------------------------------------------------------------------


def step_doctor_check(ctx: Context, step: Step) -> None:
    cmd = [sys.executable, "-m", "loradoc", "doctor", "check", "--json"]
    t0 = time.perf_counter()
    done = _run(cmd, min(30.0, max(ctx.left() - 5, 5)))
    wall = time.perf_counter() - t0
    step.data.update(command=" ".join(cmd[1:]), exit_code=done.returncode, wall_seconds=round(wall, 3))
    try:
        report = json.loads(done.stdout)
    except ValueError:
        step.data["stdout"] = done.stdout[-2000:]
        step.data["stderr"] = done.stderr[-2000:]
        step.fail(f"doctor check printed no JSON (exit {done.returncode})")
        return
    findings = [
        {
            "code": f.get("code"),
            "severity": f.get("severity"),
            "message": f.get("message"),
            "fix": f.get("fix"),
        }
        for f in report.get("findings", [])
    ]
    errors = [f for f in findings if f["severity"] == "error"]
    step.data.update(ok=report.get("ok"), counts=report.get("counts"), findings=findings, errors=errors)
    if errors:
        # This machine runs the training steps below: an error here is a false alarm unless they fail too.
        step.fail(
            "doctor check raised error(s) on a working machine: " + ", ".join(f["code"] for f in errors)
        )
    elif done.returncode != 0:
        step.fail(f"exit code {done.returncode} with no error finding")
    else:
        step.status = "ok"
    codes = ", ".join(f"{f['code']}({f['severity'][0]})" for f in findings)
    step.summary = f"exit {done.returncode} in {wall:.2f} s; findings: {codes}"


# --- models ---------------------------------------------------------------------------------------


class _Tok:
    """What ``load_model`` reads from a tokenizer: its length and pad id."""

    def __init__(self, n: int) -> None:
        self.n, self.pad_token_id = n, 0

    def __len__(self) -> int:
        return self.n


def build_llama(shape: dict[str, int], out: Path, *, device: str, dtype: str, max_len: int) -> dict[str, Any]:
    """A random-init Llama (seeded, no hub) saved to ``out``; returns its config.json."""
    torch = _torch()
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    from loradoc.train.model.load import torch_dtype

    hf_logging.disable_progress_bar()
    config = LlamaConfig(
        **shape,
        max_position_embeddings=max_len,
        tie_word_embeddings=False,
        use_cache=False,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the GPU: seconds for ~1B parameters instead of a minute
        model = LlamaForCausalLM(config)
    model.to(torch_dtype(dtype)).save_pretrained(str(out))
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return json.loads((out / "config.json").read_text())


def train_config(model_dir: Path, **keys: Any) -> Any:
    from loradoc.config.load import config_from_dict

    base = {
        "base_model": str(model_dir),
        "adapter": "lora",
        "datasets": [{"path": "data.jsonl", "type": "alpaca"}],
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.0,
        "lora_target_linear": True,
        "optimizer": "adamw_torch",
        "gradient_checkpointing": False,
    }
    base.update(keys)
    return config_from_dict(base, echo=False)


def load_lora_model(cfg: Any, vocab: int, *, attention: str, precision: str, device: str) -> Any:
    from loradoc.train.model.load import load_model

    model = load_model(cfg, _Tok(vocab), attention=attention, precision=precision, packing=True, say=_quiet)
    if not getattr(cfg, "quantized", False):
        model.to(device)
    return model


def _lora_params(model: Any) -> dict[str, Any]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def to_device(batch: dict[str, Any], device: str) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if hasattr(v, "to") else v for k, v in batch.items()}


# --- step 5: packed == unpacked -------------------------------------------------------------------


def make_examples(lengths: list[int] | tuple[int, ...], vocab: int, seed: int) -> list[dict[str, Any]]:
    """Random token ids; the first ~46% of each example is prompt (-100), the rest is trained."""
    rng = random.Random(seed)
    out = []
    for n in lengths:
        ids = [rng.randrange(3, vocab) for _ in range(n)]
        prompt = min(n - 1, round(n * (1 - RESPONSE_SHARE))) if n > 1 else 0
        out.append({"input_ids": ids, "labels": [IGNORE] * prompt + ids[prompt:], "length": n})
    return out


def _grad_rel(grads: dict[str, Any], ref: dict[str, Any]) -> float:
    """||g - ref|| / ||ref|| over all LoRA tensors (bench/throughput_modes.py's measure)."""
    num = den = 0.0
    for name, r in ref.items():
        g = grads[name].double()
        num += float((g - r.double()).pow(2).sum())
        den += float(r.double().pow(2).sum())
    return math.sqrt(num / den) if den > 0 else float("inf")


def _forward(
    model: Any, batch: dict[str, Any], lengths: list[int], packed: bool
) -> tuple[list[Any], Any, dict[str, Any]]:
    """Per-example logits (fp32, detached), the loss, and the LoRA gradients of that loss."""
    torch = _torch()
    params = _lora_params(model)
    out = model(**batch, use_cache=False)
    grads = torch.autograd.grad(out.loss, list(params.values()))
    logits = out.logits.detach().float()
    per: list[Any] = []
    if packed:
        at = 0
        for n in lengths:
            per.append(logits[0, at : at + n])
            at += n
    else:
        per = [logits[i, :n] for i, n in enumerate(lengths)]
    return per, float(out.loss.detach()), {n: g.detach().float() for n, g in zip(params, grads, strict=True)}


def _max_abs(a: list[Any], b: list[Any]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


def _equiv_impls(ctx: Context) -> tuple[list[str], dict[str, str]]:
    from loradoc.train.model.attention import FLASH, VARLEN

    present = set(ctx.facts.attention) if ctx.facts is not None else {"sdpa", "eager", VARLEN}
    order = ["sdpa", "eager", VARLEN, *sorted(FLASH), "flex_attention"]
    skipped: dict[str, str] = {}
    missing = dict(ctx.facts.attention_missing) if ctx.facts is not None else {}
    impls = []
    for impl in order:
        if impl not in present:
            skipped[impl] = missing.get(impl, "not available here")
        elif not ctx.cuda and impl not in ("sdpa", "eager", VARLEN):
            skipped[impl] = "CPU dry run: tested on the GPU only"
        elif impl in FLASH and not ctx.importable.get(FLASH_MODULES[impl], False):
            skipped[impl] = f"{FLASH_MODULES[impl]} is not importable"
        else:
            impls.append(impl)
    return impls, skipped


def step_packed_equivalence(ctx: Context, step: Step) -> None:
    torch = _torch()
    from loradoc.train.model.attention import FLASH
    from loradoc.train.packing.collator import PaddedCollator

    prof = ctx.profile
    device = prof.device
    shape = prof.equiv_model
    vocab = shape["vocab_size"]
    model_dir = ctx.workdir / "equiv-model"
    build_llama(shape, model_dir, device="cpu", dtype="fp32", max_len=1024)
    examples = make_examples(prof.equiv_lengths, vocab, seed=1)
    lengths = [e["length"] for e in examples]
    padded = to_device(dict(PaddedCollator(pad_token_id=0)(examples)), device)
    supervised = int((padded["labels"] != IGNORE).sum())
    step.data.update(
        model=shape,
        examples=len(examples),
        row_tokens=sum(lengths),
        supervised_tokens=supervised,
        lengths=lengths,
        reference="the same examples padded (PaddedCollator, attention_mask) through the same model",
    )

    def lora_model(impl: str, precision: str) -> Any:
        cfg = train_config(
            model_dir,
            sequence_len=1024,
            sample_packing=True,
            attn_implementation=impl,
            bf16=precision == "bf16",
            lora_r=8,
            lora_alpha=16,
        )
        model = load_lora_model(cfg, vocab, attention=impl, precision=precision, device=device)
        gen = torch.Generator().manual_seed(7)
        with torch.no_grad():  # the same adapter everywhere, B away from zero so it matters
            for name, p in sorted(_lora_params(model).items()):
                p.copy_(torch.randn(p.shape, generator=gen) * (0.05 if "lora_B" in name else 0.1))
        return model.eval()

    # The fp32 reference: what bf16 rounding alone does to the unpacked path sets the bf16 tolerance.
    ref_logits, ref_loss, ref_grads = _forward(lora_model("sdpa", "fp32"), padded, lengths, packed=False)
    scale = max(float(x.abs().max()) for x in ref_logits)
    step.data["logits_scale"] = _round(scale)
    impls, skipped = _equiv_impls(ctx)
    results: dict[str, Any] = {impl: {"status": "skipped", "reason": why} for impl, why in skipped.items()}
    step.data["impls"] = results
    failed: list[str] = []
    for impl in impls:
        for precision in prof.equiv_dtypes:
            key = f"{impl}/{precision}"
            t0 = time.perf_counter()
            try:
                with time_limit(min(60.0, max(ctx.left() - 2, 1))):
                    r = _compare(
                        lora_model(impl, precision), impl in FLASH, examples, lengths, padded, device
                    )
            except StepTimeout:
                results[key] = {"status": "failed", "reason": "time budget spent"}
                failed.append(key)
                continue
            except Exception as exc:
                results[key] = {"status": "failed", "reason": f"{type(exc).__name__}: {str(exc)[:400]}"}
                failed.append(key)
                continue
            noise_logits = _max_abs(r.pop("unpacked_logits"), ref_logits)
            noise_grad = _grad_rel(r.pop("unpacked_grads"), ref_grads)
            r["bf16_noise"] = {"logits_max_abs": _round(noise_logits), "grad_rel": _round(noise_grad)}
            if precision == "fp32":
                tol_logits, tol_grad, tol_loss = 1e-4 * max(scale, 1.0), 1e-4, 1e-5
            else:  # packed and unpacked each round on their own: allow 4x the measured bf16 noise
                tol_logits = max(4 * noise_logits, 2e-2 * scale)
                tol_grad = max(4 * noise_grad, 2e-2)
                tol_loss = max(4 * abs(r["unpacked_loss"] - ref_loss), 2e-3 * abs(ref_loss))
            r["tolerance"] = {
                "logits_max_abs": _round(tol_logits),
                "grad_rel": _round(tol_grad),
                "loss": _round(tol_loss),
            }
            ok = (
                r["logits_max_abs"] <= tol_logits
                and r["grad_rel"] <= tol_grad
                and abs(r["loss_diff"]) <= tol_loss
                and r["grad_tensors"] > 0
            )
            detected = r["control_logits_max_abs"] > tol_logits
            r["control_detected"] = detected
            r["status"] = "ok" if ok and detected else "failed"
            if not ok:
                r["reason"] = "packed differs from unpacked beyond the tolerance"
            elif not detected:
                r["reason"] = (
                    "the no-boundaries control stays within the tolerance: the check cannot see contamination"
                )
            r["seconds"] = round(time.perf_counter() - t0, 2)
            results[key] = r
            if r["status"] != "ok":
                failed.append(key)
            if device == "cuda":
                torch.cuda.empty_cache()
    if not impls:
        step.fail("no attention path could be tested")
    elif failed:
        step.fail("failed: " + ", ".join(failed))
    else:
        step.status = "ok"
    parts = [
        f"{k} {v['logits_max_abs']:.1e}/{v['grad_rel']:.1e}"
        for k, v in results.items()
        if v.get("status") == "ok"
    ]
    step.summary = (
        "logits max|diff| / grad rel: "
        + ", ".join(parts)
        + (f"; FAILED {', '.join(failed)}" if failed else "")
    )


def _compare(
    model: Any,
    flash: bool,
    examples: list[dict[str, Any]],
    lengths: list[int],
    padded: dict[str, Any],
    device: str,
) -> dict[str, Any]:
    torch = _torch()
    from loradoc.train.packing.collator import PackedCollator

    packed = to_device(dict(PackedCollator(pad_token_id=0, varlen_kwargs=flash)([examples])), device)
    p_logits, p_loss, p_grads = _forward(model, packed, lengths, packed=True)
    u_logits, u_loss, u_grads = _forward(model, padded, lengths, packed=False)
    # control: the same row with no example boundaries (positions run on, no cu_seq_lens)
    control = {k: v for k, v in packed.items() if not k.startswith(("cu_seq_lens", "max_length"))}
    control["position_ids"] = torch.arange(packed["input_ids"].shape[1], device=device)[None]
    with torch.no_grad():
        c_logits = model(**control, use_cache=False).logits.float()
    c_per, at = [], 0
    for n in lengths:
        c_per.append(c_logits[0, at : at + n])
        at += n
    per_example = [float((a - b).abs().max()) for a, b in zip(p_logits, u_logits, strict=True)]
    return {
        "logits_max_abs": _max_abs(p_logits, u_logits),
        "logits_max_abs_per_example": [_round(x, 3) for x in per_example],
        "logits_rel": _round(_max_abs(p_logits, u_logits) / max(float(x.abs().max()) for x in u_logits)),
        "packed_loss": p_loss,
        "unpacked_loss": u_loss,
        "loss_diff": p_loss - u_loss,
        "grad_rel": _grad_rel(p_grads, u_grads),
        "grad_max_abs": max(float((p_grads[n] - u_grads[n]).abs().max()) for n in u_grads),
        "grad_tensors": len(u_grads),
        "control_logits_max_abs": _max_abs(c_per, u_logits),
        "unpacked_logits": u_logits,
        "unpacked_grads": u_grads,
    }


# --- step 6: matmul rate --------------------------------------------------------------------------


def step_matmul_rate(ctx: Context, step: Step) -> None:
    torch = _torch()
    n, iters = ctx.profile.matmul_size, ctx.profile.matmul_iters
    if ctx.cuda:
        a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        c = torch.empty_like(a)
        for _ in range(5):
            torch.mm(a, b, out=c)
        torch.cuda.synchronize()
        rates = []
        for _ in range(3):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(iters):
                torch.mm(a, b, out=c)
            end.record()
            end.synchronize()
            rates.append(2 * n**3 * iters / (start.elapsed_time(end) / 1e3))
        method, dtype = "torch.mm timed with CUDA events", "bf16"
        del a, b, c
        torch.cuda.empty_cache()
    else:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        rates = []
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(iters):
                torch.mm(a, b)
            rates.append(2 * n**3 * iters / (time.perf_counter() - t0))
        method, dtype = "torch.mm timed with perf_counter (CPU dry run)", "fp32"
    best = max(rates)
    ctx.matmul_flops = best
    step.data.update(
        size=n,
        iters=iters,
        dtype=dtype,
        method=method,
        tflops=_round(best / 1e12),
        tflops_each=[_round(r / 1e12) for r in rates],
    )
    if ctx.cuda:
        from loradoc.train.estimate_time import gpu_peak_tflops

        name = torch.cuda.get_device_name(0)
        peak = gpu_peak_tflops(name)
        step.data["datasheet"] = {"name": name, "tflops": peak[0], "source": peak[1]} if peak else None
        if peak:
            step.data["measured_over_datasheet"] = _round(best / 1e12 / peak[0], 3)
    step.status = "ok"
    step.summary = f"{dtype} {n}x{n} matmul: {best / 1e12:.3g} TFLOP/s" + (
        f" ({step.data['measured_over_datasheet']:.0%} of the datasheet's {step.data['datasheet']['tflops']})"
        if step.data.get("datasheet")
        else ""
    )


# --- step 7: throughput ---------------------------------------------------------------------------


def big_model(ctx: Context) -> dict[str, Any]:
    """The Llama-shaped model of steps 7 and 8, built and loaded once (loradoc's ``load_model``)."""
    if ctx.big is not None:
        return ctx.big
    from loradoc.train.model.attention import choose_attention

    prof = ctx.profile
    t0 = time.perf_counter()
    model_dir = ctx.workdir / "big-model"
    config = build_llama(
        prof.big_model, model_dir, device=prof.device, dtype=prof.big_precision, max_len=max(prof.seqs)
    )
    built = time.perf_counter() - t0
    available = set(ctx.facts.attention) if ctx.facts is not None else {"sdpa", "eager", "loradoc_varlen"}
    available -= {impl for impl, module in FLASH_MODULES.items() if not ctx.importable.get(module, False)}
    choice = choose_attention(None, packing=True, device=prof.device, available=available)
    cfg = train_config(
        model_dir,
        sequence_len=max(prof.seqs),
        sample_packing=True,
        attn_implementation=choice.impl,
        bf16=prof.big_precision == "bf16",
    )
    t1 = time.perf_counter()
    model = load_lora_model(
        cfg, config["vocab_size"], attention=choice.impl, precision=prof.big_precision, device=prof.device
    )
    from loradoc.train.model.supervised_logits import supports_supervised_logits

    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    ctx.big = {
        "dir": model_dir,
        "config": config,
        "model": model,
        "attention": choice.impl,
        "attention_reason": choice.reason,
        "supervised_logits": supports_supervised_logits(model),
        "params": params,
        "trainable": trainable,
        "build_seconds": round(built, 2),
        "load_seconds": round(time.perf_counter() - t1, 2),
    }
    return ctx.big


def _set_attention(model: Any, impl: str) -> None:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.set_attn_implementation(impl)


def _workload(seq: int, vocab: int, n: int, seed: int) -> list[dict[str, Any]]:
    """Examples with the bench workload's long-tailed lengths, scaled to ``seq`` (median seq/8)."""
    sys.path.insert(0, str(BENCH))
    from throughput_workload import BenchSpec, target_lengths

    spec = BenchSpec(seed=seed, median_len=max(8, seq // 8), max_len=seq, rows=n)
    return make_examples(target_lengths(spec, n), vocab, seed)


def _mode_batches(
    mode: str, examples: list[dict[str, Any]], seq: int, mbs: int, attention: str, k: int, seed: int
) -> list[Any]:
    """``k`` micro-batches drawn at random from one epoch of ``mode``'s batches (so long and short ones mix)."""
    torch = _torch()
    from loradoc.train.packing.collator import PaddedCollator
    from loradoc.train.packing.dataloader import build_dataloader

    rng = random.Random(seed)
    lengths = [e["length"] for e in examples]
    if mode == "grouped":
        try:
            from transformers.trainer_pt_utils import get_length_grouped_indices

            order = get_length_grouped_indices(lengths, mbs, generator=torch.Generator().manual_seed(seed))
        except ImportError:  # the same recipe: megabatches of 50 x mbs, each sorted by length
            order = list(range(len(lengths)))
            rng.shuffle(order)
            mega = 50 * mbs
            order = [
                i
                for s in range(0, len(order), mega)
                for i in sorted(order[s : s + mega], key=lambda i: -lengths[i])
            ]
        index_batches = [[[i] for i in order[s : s + mbs]] for s in range(0, len(order), mbs)]
        collate: Any = PaddedCollator(pad_token_id=0)
    else:
        packing = mode.startswith("packed")
        loader = build_dataloader(
            examples,
            packing=packing,
            sequence_len=seq,
            micro_batch_size=1 if packing else mbs,
            pad_token_id=0,
            seed=seed,
            attention=attention if packing else "sdpa",
        )
        index_batches = list(loader.batch_sampler)
        collate = loader.collate_fn  # loradoc's PackedCollator (varlen kwargs for flash) or PaddedCollator
    picked = rng.sample(index_batches, min(k, len(index_batches)))
    return [collate([[examples[i] for i in b] for b in batch]) for batch in picked]


def _train_steps(
    model: Any, batches: list[Any], device: str, warmup: int, supervised_logits: bool
) -> dict[str, Any]:
    torch = _torch()
    from loradoc.train.model.supervised_logits import keep_supervised_positions

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    model.train()
    times, losses = [], []
    real = sup = slots = 0
    attended = 0.0
    for i, batch in enumerate(batches):
        counts = batch.token_counts
        inputs = to_device(dict(batch), device)
        if supervised_logits:
            keep_supervised_positions(inputs)
        if i == warmup and device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        _sync(device)
        t0 = time.perf_counter()
        loss = model(**inputs, use_cache=False).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        dt = time.perf_counter() - t0
        losses.append(float(loss.detach()))
        if i >= warmup:
            times.append(dt)
            real += counts.real
            sup += counts.supervised
            slots += counts.slots
            attended += _sum_sq_lengths(batch)
    out: dict[str, Any] = {
        "steps": len(times),
        "warmup_steps": warmup,
        "seconds": round(sum(times), 4),
        "step_seconds": [round(t, 4) for t in times],
        "real_tokens": real,
        "supervised_tokens": sup,
        "slots": slots,
        "padding_pct": round(100 * (slots - real) / slots, 2) if slots else None,
        "input_tok_s": round(real / sum(times), 1) if times else None,
        "supervised_tok_s": round(sup / sum(times), 1) if times else None,
        "attention_len": round(attended / real, 1) if real else None,
        "final_loss": losses[-1] if losses else None,
        "loss_finite": all(math.isfinite(x) for x in losses),
    }
    if device == "cuda":
        out["peak_allocated_mib"] = round(torch.cuda.max_memory_allocated() / MIB, 1)
    del opt
    return out


def _sum_sq_lengths(batch: Any) -> float:
    """Sum over examples of len^2 (so that / real tokens = the token-weighted mean example length)."""
    torch = _torch()
    if "position_ids" in batch:
        pos, ids = batch["position_ids"], batch["input_ids"]
        total = 0.0
        for r in range(pos.shape[0]):
            starts = torch.nonzero(pos[r] == 0).flatten().tolist() + [pos.shape[1]]
            real_len = int((ids[r] != 0).sum())
            for a, b in zip(starts, starts[1:], strict=False):
                n = min(b, real_len) - a
                if n > 0:
                    total += n * n
        return total
    return float((batch["attention_mask"].sum(dim=1).double() ** 2).sum())


MODES = ("packed", "packed_full_logits", "padded", "grouped")


def step_throughput(ctx: Context, step: Step) -> None:
    torch = _torch()
    from loradoc.train.estimate_time import flops_per_token

    prof = ctx.profile
    big = big_model(ctx)
    model, config = big["model"], big["config"]
    step.data.update(
        model={
            **prof.big_model,
            "params": big["params"],
            "trainable": big["trainable"],
            "precision": prof.big_precision,
        },
        build_seconds=big["build_seconds"],
        load_seconds=big["load_seconds"],
        packed_attention=big["attention"],
        packed_attention_reason=big["attention_reason"],
        matmul_flops=ctx.matmul_flops,
        modes={
            "packed": "loradoc: BFD-packed rows (build_dataloader), the chosen attention, LM head at trained positions",
            "packed_full_logits": "the same rows with the full LM head (isolates the supervised-logits saving)",
            "padded": "stock: random order, padded per batch with an attention_mask, sdpa, full LM head",
            "grouped": "stock group_by_length: transformers' get_length_grouped_indices, sdpa, full LM head",
        },
        note="host-side collation is done before timing; each step is fwd + bwd + AdamW, synchronised",
        seqs={},
    )
    k = prof.warmup_steps + prof.timed_steps
    problems: list[str] = []
    for seq in prof.seqs:
        examples = _workload(seq, config["vocab_size"], prof.examples, seed=seq)
        mean_len = sum(e["length"] for e in examples) / len(examples)
        mbs = max(1, round(seq / mean_len))  # padded batches hold about a packed row's real tokens
        row: dict[str, Any] = {
            "examples": len(examples),
            "mean_length": round(mean_len, 1),
            "padded_mbs": mbs,
            "modes": {},
        }
        step.data["seqs"][str(seq)] = row
        cfg = train_config(
            big["dir"], sequence_len=seq, sample_packing=True, attn_implementation=big["attention"]
        )
        for mode in MODES:
            if ctx.left() < 10:
                row["modes"][mode] = {"status": "skipped", "reason": "global time budget spent"}
                problems.append(f"{seq}/{mode}: skipped (budget)")
                continue
            try:
                batches = _mode_batches(mode, examples, seq, mbs, big["attention"], k, seed=seq)
                packed = mode.startswith("packed")
                _set_attention(model, big["attention"] if packed else "sdpa")
                r = _train_steps(
                    model,
                    batches,
                    prof.device,
                    prof.warmup_steps,
                    big["supervised_logits"] and mode == "packed",
                )
                r["status"] = "ok" if r["loss_finite"] else "failed"
                if r["attention_len"] and ctx.matmul_flops and r["input_tok_s"]:
                    fpt = flops_per_token(config, cfg, attention_len=r["attention_len"])
                    r["model_flops_per_token"] = _round(fpt)
                    r["mfu"] = _round(r["input_tok_s"] * fpt / ctx.matmul_flops, 3)
            except Exception as exc:
                oom = type(exc).__name__ == "OutOfMemoryError"
                r = {
                    "status": "failed",
                    "reason": ("out of memory: " if oom else "") + f"{type(exc).__name__}: {str(exc)[:300]}",
                }
                problems.append(f"{seq}/{mode}: {r['reason'][:80]}")
            finally:
                _set_attention(model, big["attention"])
                gc.collect()
                if prof.device == "cuda":
                    torch.cuda.empty_cache()
            row["modes"][mode] = r
        m = row["modes"]
        ok = {name: v for name, v in m.items() if v.get("status") == "ok"}
        if "packed" in ok:
            for base in ("padded", "grouped"):
                if base in ok:
                    row[f"packed_vs_{base}"] = _round(
                        ok["packed"]["supervised_tok_s"] / ok[base]["supervised_tok_s"], 3
                    )
    if problems:
        step.fail("; ".join(problems))
    else:
        step.status = "ok"
    parts = []
    for seq, row in step.data["seqs"].items():
        m = row["modes"]
        figs = "/".join(
            f"{m[x]['supervised_tok_s']:,.0f}" if m.get(x, {}).get("status") == "ok" else "-"
            for x in ("packed", "padded", "grouped")
        )
        mfu = m.get("packed", {}).get("mfu")
        parts.append(
            f"seq {seq}: sup tok/s packed/padded/grouped {figs} "
            f"(x{row.get('packed_vs_padded')}, x{row.get('packed_vs_grouped')}; packed MFU {mfu})"
        )
    step.summary = f"{big['params'] / 1e6:,.1f}M params, {big['attention']}; " + "; ".join(parts)


# --- step 8: peak memory vs estimate --------------------------------------------------------------


def _full_rows(seq: int, vocab: int, packing: bool, mbs: int) -> list[list[dict[str, Any]]]:
    """Full-width micro-batches, half of every example trained (the estimator's assumption)."""
    if packing:
        each = seq // 8
        return [[e for e in make_examples([each] * 8, vocab, seed=r)] for r in range(mbs)]
    return [[e] for e in make_examples([seq] * mbs, vocab, seed=3)]


def step_peak_memory(ctx: Context, step: Step) -> None:
    torch = _torch()
    from loradoc.train.estimate import estimate_memory

    prof = ctx.profile
    cases = [("packed", True, 1), ("padded", False, 2)]
    if not ctx.cuda:
        # The estimate still runs, so an API change shows up in the dry run too.
        config = {**prof.big_model, "model_type": "llama", "tie_word_embeddings": False}
        cfg = train_config(
            Path("unused"),
            sequence_len=prof.seqs[0],
            sample_packing=True,
            attn_implementation="loradoc_varlen",
        )
        est = estimate_memory(config, cfg, device="cpu", gpu_memory_mib=None)
        step.data["estimate_cpu"] = {
            "total_mib": round(est.total_bytes / MIB, 1),
            "parts": {p.name: round(p.bytes / MIB, 1) for p in est.parts},
        }
        raise Skip("needs CUDA (torch.cuda.max_memory_allocated); the CPU estimate is recorded")
    big = big_model(ctx)
    model, config = big["model"], big["config"]
    total_mib = torch.cuda.get_device_properties(0).total_memory // MIB
    gc.collect()
    torch.cuda.empty_cache()
    free, total = torch.cuda.mem_get_info()
    # what the device holds beyond torch's allocator: the CUDA context, cuBLAS handles, other processes
    outside = total - free - torch.cuda.memory_reserved()
    step.data.update(device_total_mib=total_mib, outside_allocator_mib=round(outside / MIB, 1), cases={})
    worst = 0.0
    for seq in prof.seqs:
        for name, packing, mbs in cases:
            key = f"{name}-s{seq}-mb{mbs}"
            attention = big["attention"] if packing else "sdpa"
            try:
                from loradoc.train.model.attention import FLASH
                from loradoc.train.packing.collator import PackedCollator, PaddedCollator

                rows = _full_rows(seq, config["vocab_size"], packing, mbs)
                collate: Any = (
                    PackedCollator(pad_token_id=0, pad_to=seq, varlen_kwargs=attention in FLASH)
                    if packing
                    else PaddedCollator(pad_token_id=0, pad_to=seq)
                )
                batch = collate(rows)
                _set_attention(model, attention)
                gc.collect()
                torch.cuda.empty_cache()
                r = _train_steps(model, [batch, batch], prof.device, 1, big["supervised_logits"])
                reserved = torch.cuda.max_memory_reserved()
                cfg = train_config(
                    big["dir"],
                    sequence_len=seq,
                    micro_batch_size=mbs,
                    sample_packing=packing,
                    attn_implementation=attention,
                    bf16=prof.big_precision == "bf16",
                )
                est = estimate_memory(config, cfg, device="cuda", gpu_memory_mib=total_mib)
                counted = est.total_bytes - est.part("allocator margin") - est.part("CUDA context")
                measured = r["peak_allocated_mib"] * MIB
                err = counted / measured - 1
                worst = max(worst, abs(err))
                step.data["cases"][key] = {
                    "measured_peak_allocated_mib": r["peak_allocated_mib"],
                    "measured_peak_reserved_mib": round(reserved / MIB, 1),
                    "estimate_total_mib": round(est.total_bytes / MIB, 1),
                    "estimate_tensors_mib": round(counted / MIB, 1),
                    "tensors_error": _round(err, 3),
                    "estimate_total_vs_reserved_plus_outside": _round(
                        est.total_bytes / (reserved + outside) - 1, 3
                    ),
                    "verdict": est.verdict,
                    "parts_mib": {p.name: round(p.bytes / MIB, 1) for p in est.parts},
                    "attention": attention,
                    "supervised_logits": big["supervised_logits"],
                    "step_seconds": r["step_seconds"],
                }
            except Exception as exc:
                step.data["cases"][key] = {
                    "status": "failed",
                    "reason": f"{type(exc).__name__}: {str(exc)[:300]}",
                }
            finally:
                _set_attention(model, big["attention"])
    bad = [k for k, v in step.data["cases"].items() if v.get("status") == "failed"]
    step.data["worst_tensors_error"] = _round(worst, 3)
    if bad:
        step.fail("failed: " + ", ".join(bad))
    else:
        step.status = "ok"
    step.summary = "; ".join(
        f"{k}: {v['measured_peak_allocated_mib']:,.0f} MiB measured vs {v['estimate_tensors_mib']:,.0f} estimated ({v['tensors_error']:+.0%})"
        for k, v in step.data["cases"].items()
        if "measured_peak_allocated_mib" in v
    )


# --- step 9: QLoRA --------------------------------------------------------------------------------


def step_qlora(ctx: Context, step: Step) -> None:
    torch = _torch()
    if not ctx.cuda:
        raise Skip("needs a CUDA GPU (bitsandbytes 4-bit)")
    if not ctx.importable.get("bitsandbytes", False):
        pkg = importlib.util.find_spec("bitsandbytes")
        raise Skip(
            "bitsandbytes is not installed"
            if pkg is None
            else "bitsandbytes does not import (see environment)"
        )
    from loradoc.train.estimate import estimate_memory
    from loradoc.train.model.attention import FLASH
    from loradoc.train.packing.collator import PackedCollator

    big = big_model(ctx)
    seq = ctx.profile.seqs[0]
    attention = big["attention"]
    cfg = train_config(
        big["dir"],
        adapter="qlora",
        load_in_4bit=True,
        sequence_len=seq,
        sample_packing=True,
        attn_implementation=attention,
        bf16=True,
    )
    # the bf16 model of the earlier steps is not needed any more
    ctx.big = {k: v for k, v in big.items() if k != "model"}
    del big
    gc.collect()
    torch.cuda.empty_cache()
    t0 = time.perf_counter()
    model = load_lora_model(
        cfg, ctx.big["config"]["vocab_size"], attention=attention, precision="bf16", device="cuda"
    )
    load_s = time.perf_counter() - t0
    rows = _full_rows(seq, ctx.big["config"]["vocab_size"], True, 1)
    batch = PackedCollator(pad_token_id=0, pad_to=seq, varlen_kwargs=attention in FLASH)(rows)
    r = _train_steps(model, [batch] * 4, "cuda", 1, ctx.big["supervised_logits"])
    est = estimate_memory(
        ctx.big["config"],
        cfg,
        device="cuda",
        gpu_memory_mib=torch.cuda.get_device_properties(0).total_memory // MIB,
    )
    counted = est.total_bytes - est.part("allocator margin") - est.part("CUDA context")
    linear4 = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit")
    step.data.update(
        load_seconds=round(load_s, 2),
        linear4bit_modules=linear4,
        train=r,
        estimate_tensors_mib=round(counted / MIB, 1),
        tensors_error=_round(counted / (r["peak_allocated_mib"] * MIB) - 1, 3),
        bitsandbytes=_version("bitsandbytes"),
    )
    if not r["loss_finite"] or linear4 == 0:
        step.fail(
            "loss not finite" if not r["loss_finite"] else "no Linear4bit module: the model is not quantized"
        )
    else:
        step.status = "ok"
    step.summary = (
        f"{linear4} Linear4bit modules, step {sum(r['step_seconds']) / max(r['steps'], 1):.3f} s, "
        f"peak {r['peak_allocated_mib']:,.0f} MiB vs estimate {counted / MIB:,.0f} MiB"
    )


def step_compile(ctx: Context, step: Step) -> None:
    """Packed rows with sdpa through a 4-layer slice of the step-7 model, eager and compiled
    (``torch.compile``, as transformers' Trainer does for ``torch_compile: true``)."""
    torch = _torch()
    prof = ctx.profile
    shape = {**prof.big_model, "num_hidden_layers": min(4, prof.big_model["num_hidden_layers"])}
    seq = prof.seqs[0]
    model_dir = ctx.workdir / "compile-model"
    build_llama(shape, model_dir, device=prof.device, dtype=prof.big_precision, max_len=seq)
    examples = _workload(seq, shape["vocab_size"], prof.examples, seed=11)
    batches = _mode_batches("packed", examples, seq, 1, "sdpa", prof.warmup_steps + prof.timed_steps, seed=11)
    backend = "inductor" if ctx.cuda else "eager"  # the CPU dry run: no C++ build, same code path
    results: dict[str, Any] = {}
    for name in ("eager", "compiled"):
        cfg = train_config(model_dir, sequence_len=seq, sample_packing=True, attn_implementation="sdpa")
        model = load_lora_model(
            cfg, shape["vocab_size"], attention="sdpa", precision=prof.big_precision, device=prof.device
        )
        run = torch.compile(model, backend=backend) if name == "compiled" else model
        t0 = time.perf_counter()
        results[name] = _train_steps(run, batches, prof.device, prof.warmup_steps, False)
        results[name]["wall_seconds"] = round(time.perf_counter() - t0, 2)
        del model, run
        gc.collect()
        if ctx.cuda:
            torch.cuda.empty_cache()
    eager, compiled = results["eager"], results["compiled"]
    ratio = _round(compiled["supervised_tok_s"] / eager["supervised_tok_s"], 3)
    loss_rel = abs(compiled["final_loss"] - eager["final_loss"]) / max(abs(eager["final_loss"]), 1e-9)
    compiling = compiled["wall_seconds"] - compiled["seconds"] - (eager["wall_seconds"] - eager["seconds"])
    step.data.update(
        model={**shape, "precision": prof.big_precision},
        sequence_len=seq,
        backend=backend,
        eager=eager,
        compiled=compiled,
        compiled_vs_eager=ratio,
        compile_seconds_about=round(compiling, 1),
        final_loss_rel_diff=_round(loss_rel, 5),
    )
    step.summary = (
        f"{backend}: compiled {compiled['supervised_tok_s']:,.0f} vs eager {eager['supervised_tok_s']:,.0f} "
        f"sup tok/s (x{ratio}), ~{compiling:.0f} s compiling, final loss rel diff {loss_rel:.1e}"
    )
    if compiled["loss_finite"] and loss_rel <= 0.05:
        step.status = "ok"
    else:
        step.fail("the compiled model's losses differ from eager beyond bf16 tolerance")


def step_liger(ctx: Context, step: Step) -> None:
    """Liger's RoPE, RMSNorm and SwiGLU kernels through loradoc's liger_* keys: the same padded batch
    through the equivalence model with and without them, in bf16; loss and LoRA gradients compared."""
    if not ctx.cuda:
        raise Skip("needs a CUDA GPU (Triton kernels)")
    if importlib.util.find_spec("liger_kernel") is None:
        raise Skip("liger-kernel is not installed (carry its wheel in bench/wheels/)")
    from loradoc.train.packing.collator import PaddedCollator

    prof = ctx.profile
    shape = prof.equiv_model
    model_dir = ctx.workdir / "liger-model"
    build_llama(shape, model_dir, device="cpu", dtype="fp32", max_len=1024)
    examples = make_examples(prof.equiv_lengths, shape["vocab_size"], seed=3)
    lengths = [e["length"] for e in examples]
    batch = to_device(dict(PaddedCollator(pad_token_id=0)(examples)), "cuda")
    results: dict[str, Any] = {}
    for name, keys in (
        ("plain", {}),
        ("liger", {"liger_rope": True, "liger_rms_norm": True, "liger_glu_activation": True}),
    ):
        cfg = train_config(model_dir, sequence_len=1024, bf16=True, lora_r=8, lora_alpha=16, **keys)
        model = load_lora_model(cfg, shape["vocab_size"], attention="sdpa", precision="bf16", device="cuda")
        _per, loss, grads = _forward(model, batch, lengths, packed=False)
        results[name] = {"loss": loss, "grads": grads}
        del model
    plain, liger = results["plain"], results["liger"]
    rel = _grad_rel(liger["grads"], plain["grads"])
    loss_rel = abs(liger["loss"] - plain["loss"]) / max(abs(plain["loss"]), 1e-9)
    step.data.update(
        kernels=["rope", "rms_norm", "swiglu"],
        loss_plain=_round(plain["loss"], 5),
        loss_liger=_round(liger["loss"], 5),
        loss_rel_diff=_round(loss_rel, 5),
        lora_grad_rel_diff=_round(rel, 5),
        tolerance={"loss_rel": 0.02, "lora_grad_rel": 0.05},
    )
    step.summary = f"Liger loss {liger['loss']:.4f} vs {plain['loss']:.4f} (rel {loss_rel:.2e}), LoRA grads rel {rel:.2e}"
    if loss_rel <= 0.02 and rel <= 0.05:
        step.status = "ok"
    else:
        step.fail("Liger's kernels changed the loss or the LoRA gradients beyond bf16 tolerance")


STEP_FUNCS: dict[str, Callable[[Context, Step], None]] = {
    "environment": step_environment,
    "probe_vs_nvidia_smi": step_probe_vs_nvidia_smi,
    "machine_facts": step_machine_facts,
    "doctor_check": step_doctor_check,
    "packed_equivalence": step_packed_equivalence,
    "matmul_rate": step_matmul_rate,
    "throughput": step_throughput,
    "peak_memory": step_peak_memory,
    "qlora": step_qlora,
    "compile": step_compile,
    "liger": step_liger,
}
CUDA_STEPS = {"peak_memory", "qlora", "liger"}


# --- the run --------------------------------------------------------------------------------------


def default_out() -> Path:
    out_dir = os.environ.get("OUT")
    return Path(out_dir) / "gpu_check.json" if out_dir else Path("gpu_check.json")


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run_step(ctx: Context, name: str) -> Step:
    step = Step(budget_s=0.0)
    budget = min(ctx.profile.budgets[name], ctx.left())
    step.budget_s = round(budget, 1)
    if budget < 3:
        step.reason = f"global budget of {ctx.profile.total_budget:.0f} s spent"
        return step
    t0 = time.perf_counter()
    try:
        with time_limit(budget):
            STEP_FUNCS[name](ctx, step)
    except Skip as exc:
        step.status, step.reason = "skipped", str(exc)
    except StepTimeout:
        step.fail(f"time budget of {budget:.0f} s spent")
        step.error = traceback.format_exc()[-3000:]
    except Exception as exc:
        step.fail(f"{type(exc).__name__}: {str(exc)[:500]}")
        step.error = traceback.format_exc()[-3000:]
    except Terminated:  # keep what the step measured; main() stops after it
        step.fail("terminated (SIGTERM) during this step")
        step.seconds = round(time.perf_counter() - t0, 2)
        raise _StepTerminated(step) from None
    step.seconds = round(time.perf_counter() - t0, 2)
    if ctx.cuda and name not in ("environment",):
        with contextlib.suppress(Exception):
            _torch().cuda.empty_cache()
    return step


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument(
        "--out", type=Path, default=None, help="report path (default $OUT/gpu_check.json or ./gpu_check.json)"
    )
    ap.add_argument(
        "--cpu-dry-run", action="store_true", help="tiny shapes on the CPU; CUDA-only steps are skipped"
    )
    ap.add_argument(
        "--budget", type=float, default=None, help="seconds for the whole run (GPU 450, dry run 170)"
    )
    ap.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset of the steps, in order")
    ap.add_argument(
        "--workdir", type=Path, default=None, help="where the random models are saved (default: a temp dir)"
    )
    ap.add_argument("--install-note", default=None, help="how gpu_check.sh installed loradoc (recorded)")
    args = ap.parse_args(argv)
    out = args.out or default_out()
    profile = DRY if args.cpu_dry_run else GPU
    if args.budget:
        profile = dataclasses.replace(profile, total_budget=args.budget)
    wanted = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STEPS]
    if unknown:
        ap.error(f"unknown step(s) {', '.join(unknown)}; steps are {', '.join(STEPS)}")
    signal.signal(signal.SIGTERM, _on_term)

    install = ensure_loradoc()
    tmp = tempfile.TemporaryDirectory(prefix="gpu-check-")
    workdir = args.workdir or Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(profile=profile, args=args, workdir=workdir, loradoc_install=install)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "mode": profile.name,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "finished": None,
        "total_seconds": None,
        "budget_s": profile.total_budget,
        "host": platform.node(),
        "steps": {name: dataclasses.asdict(Step(reason="not run yet")) for name in STEPS},
        "counts": {},
        "imported_during_run": {},
    }
    print(f"gpu_check ({profile.name}): report -> {out}", flush=True)
    write_report(out, report)
    terminated = False
    try:
        for name in STEPS:
            if terminated or name not in wanted:
                step = Step(reason="terminated" if terminated else "not selected (--steps)")
            else:
                try:
                    step = run_step(ctx, name)
                except _StepTerminated as stop:
                    step, terminated = stop.step, True
                except Terminated:
                    step = Step(status="failed", reason="terminated (SIGTERM) during this step")
                    terminated = True
            report["steps"][name] = dataclasses.asdict(step)
            print(
                f"  {name:20s} {step.status:8s} {step.seconds:6.1f} s  {step.summary or step.reason or ''}",
                flush=True,
            )
            write_report(out, report)
    finally:
        steps = report["steps"]
        report["counts"] = {
            s: sum(1 for v in steps.values() if v["status"] == s) for s in ("ok", "failed", "skipped")
        }
        report["imported_during_run"] = {n: n in sys.modules for n in ("datasets", "trl")}
        report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        report["total_seconds"] = round(time.monotonic() - ctx.started, 1)
        write_report(out, report)
        tmp.cleanup()
    c = report["counts"]
    print(
        f"gpu_check: {c['ok']} ok, {c['failed']} failed, {c['skipped']} skipped in {report['total_seconds']} s; report {out}"
    )
    for name, s in report["steps"].items():
        if s["status"] == "failed":
            print(f"  FAILED {name}: {s['reason']}")
    return 1 if c["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
