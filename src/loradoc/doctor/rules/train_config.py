"""What a training config asks of the machine beyond the GPU stack: the deepspeed package, a
GPU per process, and running the model repository's own code.

(Precision, attention and bitsandbytes have their own modules.) These run for
``loradoc doctor check --config`` and in ``loradoc train``'s preflight alike.
"""

from __future__ import annotations

from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import count
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import error, rule, warning


@rule("config-deepspeed-missing")
def deepspeed_installed(ctx: Context) -> list[Finding]:
    if not ctx.cfg("deepspeed") or ctx.installed("deepspeed") is not False:
        return []
    return [
        error(
            "config-deepspeed-missing",
            "deepspeed is set but the deepspeed package is not installed",
            "pip install deepspeed",
        )
    ]


@rule("config-too-many-processes")
def processes_per_gpu(ctx: Context) -> list[Finding]:
    wanted = ctx.cfg("num_processes")
    n_gpus = len(ctx.snapshot.gpus or [])
    if not (ctx.gpu_training and isinstance(wanted, int) and n_gpus and wanted > n_gpus):
        return []
    return [
        error(
            "config-too-many-processes",
            f"num_processes {wanted} but the machine has {count(n_gpus, 'GPU')}",
            f"set num_processes: {n_gpus} in the training config (or loradoc train --num-processes {n_gpus})",
        )
    ]


@rule("config-trust-remote-code")
def remote_code(ctx: Context) -> list[Finding]:
    if ctx.cfg_flag("trust_remote_code") is not True:
        return []
    return [
        warning(
            "config-trust-remote-code",
            f"trust_remote_code: true runs Python code from {ctx.cfg('base_model')} on this machine",
            "read that code first, or remove trust_remote_code if the model works without it",
        )
    ]
