"""Liger kernels (Axolotl's ``liger_*`` keys), applied through liger-kernel's public entry points.

Liger's kernels compute the same math as the model's own layers, in Triton, faster and in less
memory: RoPE, RMSNorm, LayerNorm and the gated MLP (SwiGLU, or GeGLU on Gemma). On a CUDA GPU
with ``liger-kernel`` installed, :func:`apply_liger` calls the package's
``apply_liger_kernel_to_<model_type>(model=...)`` with exactly the kernels the config asks for;
elsewhere it says in one line why they are not used, and the run goes on with the model's own
layers (same result).

Liger's cross-entropy kernels stay off: loradoc computes the loss with the model's own head, only
at trained positions (``supervised_logits``), and Liger's fused loss replaces the forward that
does this.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loradoc.config.schema import TrainConfig

# config key -> the kernel it asks for (Axolotl's names; liger_swiglu is the older spelling)
LIGER_KEYS = {
    "liger_rope": "rope",
    "liger_rms_norm": "rms_norm",
    "liger_layer_norm": "layer_norm",
    "liger_glu_activation": "glu",
    "liger_swiglu": "glu",
}
_GLU_ARGS = ("swiglu", "geglu")  # what the per-model entry point calls the gated MLP
_LOSS_ARGS = ("cross_entropy", "fused_linear_cross_entropy")
INSTALL = "pip install liger-kernel"


def liger_asked(cfg: TrainConfig) -> tuple[str, ...]:
    """The kernels the config turns on, in a stable order (empty when none)."""
    return tuple(dict.fromkeys(kernel for key, kernel in LIGER_KEYS.items() if getattr(cfg, key, None)))


def liger_keys_set(cfg: TrainConfig) -> str:
    return ", ".join(key for key in LIGER_KEYS if getattr(cfg, key, None))


def liger_blocker(*, cuda: bool, installed: bool | None = None) -> str | None:
    """Why Liger's kernels cannot run (None: they can)."""
    if not cuda:
        return "Liger's kernels are Triton kernels for CUDA GPUs and this run has none"
    if installed is None:
        installed = find_spec("liger_kernel") is not None
    if not installed:
        return f"liger-kernel is not installed ({INSTALL})"
    return None


def liger_plan(cfg: TrainConfig, *, cuda: bool, installed: bool | None = None) -> str | None:
    """The dry run's line about Liger (None when the config asks for no kernel)."""
    if not liger_asked(cfg):
        return None
    why = liger_blocker(cuda=cuda, installed=installed)
    kernels = ", ".join(liger_asked(cfg))
    if why:
        return f"Liger {kernels}: not used ({why}); the model's own layers run, with the same math"
    return f"Liger {kernels} (liger-kernel, same math as the model's own layers)"


def _entry_point(model_type: str) -> Callable[..., Any] | None:
    import liger_kernel.transformers as liger

    found = getattr(liger, f"apply_liger_kernel_to_{model_type}", None)
    return found if callable(found) else None


def liger_arguments(entry: Callable[..., Any], asked: tuple[str, ...]) -> dict[str, bool]:
    """The entry point's keyword arguments: each asked kernel on, every other kernel off (Liger's
    defaults turn most of them on), both loss kernels off."""
    params = inspect.signature(entry).parameters
    want = {name for kernel in asked for name in (_GLU_ARGS if kernel == "glu" else (kernel,))}
    out: dict[str, bool] = {}
    for name, param in params.items():
        if name == "model" or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        if isinstance(param.default, bool):
            out[name] = name in want and name not in _LOSS_ARGS
    return out


def apply_liger(cfg: TrainConfig, model: Any, *, cuda: bool, say: Callable[[str], None]) -> tuple[str, ...]:
    """Apply the kernels the config asks for to ``model`` (before peft wraps it); returns the
    kernels applied (empty when none could be)."""
    asked = liger_asked(cfg)
    if not asked:
        return ()
    keys = liger_keys_set(cfg)
    why = liger_blocker(cuda=cuda)
    if why:
        say(
            f"note: {keys}: {why}; they are speed options with the same math, so the run goes on without them"
        )
        return ()
    model_type = str(getattr(model.config, "model_type", "") or "")
    entry = _entry_point(model_type)
    if entry is None:
        say(
            f"note: {keys}: liger-kernel has no kernels for model_type {model_type!r}; the run goes on without them"
        )
        return ()
    kwargs = liger_arguments(entry, asked)
    applied = tuple(name for name, on in kwargs.items() if on)
    if not applied:
        say(f"note: {keys}: liger-kernel's {model_type} kernels do not include {', '.join(asked)}")
        return ()
    entry(model=model, **kwargs)
    say(f"kernels: Liger {', '.join(applied)} on {model_type} (liger-kernel)")
    return applied
