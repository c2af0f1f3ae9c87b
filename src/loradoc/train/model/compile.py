"""torch.compile (Axolotl's ``torch_compile``, ``torch_compile_backend`` and ``torch_compile_mode``),
handed to transformers' Trainer, which compiles the model through accelerate.

Measured on this project's 2-core CPU (``bench/torch_compile.py``: a 4-layer Llama with LoRA on
every linear, 1024-token packed rows of 3-12 examples, medians of 3 fresh processes):

- sdpa (a packed row's per-example mask is a tensor, so a step's shapes stay fixed): 0.323 s a
  step compiled against 0.326 s eager (1.01x), after 28 s of compiling in the first step;
- loradoc_varlen (attention once per packed example, in a Python loop): every new set of example
  lengths is a new graph, 1.92 s a step compiled against 0.30 s eager (0.15x).

So the model is compiled on GPUs, unless the run's attention is loradoc_varlen, and never on the
CPU; the plan and the run say which, and why. The GPU gain is not measured here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loradoc.config.vocab import VARLEN

if TYPE_CHECKING:
    from loradoc.config.schema import TrainConfig

VARLEN_RECOMPILES = (
    "loradoc_varlen runs attention once per packed example, so torch.compile recompiles for every new set of "
    "example lengths (measured on the CPU: 0.15x eager, bench/torch_compile.py); set attn_implementation: "
    "sdpa to compile a packed run"
)
CPU_NO_GAIN = (
    "on the CPU a compiled step measured 1.01x eager with sdpa, after 28 s of compiling, and 0.15x with "
    "loradoc_varlen (bench/torch_compile.py): the model runs uncompiled, with the same results"
)


def compile_asked(cfg: TrainConfig) -> bool:
    """``torch_compile: true`` or ``auto``, or a backend or mode (each turns compiling on, as in
    transformers)."""
    return bool(cfg.torch_compile) or bool(cfg.torch_compile_backend) or bool(cfg.torch_compile_mode)


def compile_blocker(attention: str | None, *, device: str) -> str | None:
    """Why this run is not compiled although the config asks (None: it is)."""
    if device == "cpu":
        return CPU_NO_GAIN
    if attention == VARLEN:
        return VARLEN_RECOMPILES
    return None


def resolve_compile(cfg: TrainConfig, *, device: str) -> None:
    """Turn compiling off, with the reason, where the run's attention or machine rules it out
    (``cfg.attn_implementation`` is the attention already chosen for the run)."""
    if not compile_asked(cfg):
        return
    why = compile_blocker(cfg.attn_implementation, device=device)
    if why is None:
        return
    cfg.note_change("torch_compile", False, why)
    for key in ("torch_compile_backend", "torch_compile_mode"):
        if getattr(cfg, key):
            cfg.note_change(key, None, "torch_compile is off", echo=False)


def compile_arguments(cfg: TrainConfig, attention: str | None, *, device: str) -> dict[str, Any]:
    """The ``TrainingArguments`` that compile the model (empty when it is not compiled)."""
    if not compile_asked(cfg) or compile_blocker(attention, device=device) is not None:
        return {}
    out: dict[str, Any] = {"torch_compile": True}
    if cfg.torch_compile_backend:
        out["torch_compile_backend"] = str(cfg.torch_compile_backend)
    if cfg.torch_compile_mode:
        out["torch_compile_mode"] = str(cfg.torch_compile_mode)
    return out


def compile_plan(cfg: TrainConfig) -> str | None:
    """The dry run's line (None when the config does not ask): after ``resolve_compile``."""
    if compile_asked(cfg):
        how = ", ".join(
            f"{k.removeprefix('torch_compile_')} {getattr(cfg, k)}"
            for k in ("torch_compile_backend", "torch_compile_mode")
            if getattr(cfg, k)
        )
        return "torch.compile" + (f" ({how})" if how else "") + "; the first steps include compiling"
    changed = next((c for c in reversed(cfg.auto_changes) if c.key == "torch_compile"), None)
    return f"not compiled: {changed.reason}" if changed else None
