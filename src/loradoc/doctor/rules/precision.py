"""Number formats the training config asks for against the GPUs' compute capabilities."""

from __future__ import annotations

from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import gpu_labels
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import error, info, rule, warning


@rule("bf16-unsupported-gpu", "tf32-unsupported-gpu")
def precision_vs_gpu(ctx: Context) -> list[Finding]:
    facts = ctx.facts
    out: list[Finding] = []
    bf16, tf32 = ctx.cfg_flag("bf16"), ctx.cfg_flag("tf32")
    no_bf16 = facts.lacking("bf16")
    if no_bf16 and bf16 is True:
        out.append(
            error(
                "bf16-unsupported-gpu",
                f"the training config sets bf16: true but {gpu_labels(no_bf16)} has no bfloat16 support "
                f"(needs compute capability >= {facts.floor('bf16')}): transformers stops with "
                '"Your setup doesn\'t support bf16/gpu"',
                "set bf16: false and fp16: true in the training config (or bf16: auto)",
            )
        )
    elif no_bf16 and bf16 == "auto":
        out.append(
            info(
                "bf16-unsupported-gpu",
                f"bf16: auto will train in fp16 on {gpu_labels(no_bf16)} (no bfloat16 below compute capability "
                f"{facts.floor('bf16')})",
                None,
            )
        )
    elif no_bf16 and ctx.config is None:  # no training config to judge: say what the GPU lacks
        out.append(
            info(
                "bf16-unsupported-gpu",
                f"{gpu_labels(no_bf16)} has no bfloat16 (needs compute capability >= {facts.floor('bf16')}): "
                "a model or training config in bf16 fails there ('Your setup doesn't support bf16/gpu', "
                "'Bfloat16 is only supported on GPUs with compute capability of at least 8.0'); use fp16",
                "set bf16: false and fp16: true in the training config",
            )
        )
    no_tf32 = facts.lacking("tf32")
    if no_tf32 and tf32 is None and ctx.config is None:
        out.append(
            info(
                "tf32-unsupported-gpu",
                f"{gpu_labels(no_tf32)} has no TF32 tensor cores (needs compute capability >= "
                f"{facts.floor('tf32')}): a training config with tf32: true fails or has no effect there",
                "set tf32: false in the training config",
            )
        )
    if no_tf32 and tf32 is True:
        out.append(
            warning(
                "tf32-unsupported-gpu",
                f"the training config sets tf32: true but {gpu_labels(no_tf32)} has no TF32 tensor cores "
                f"(needs compute capability >= {facts.floor('tf32')}); the setting has no effect or fails",
                "set tf32: false in the training config",
            )
        )
    return out
