"""GPUs the machine has but the process cannot see (CUDA_VISIBLE_DEVICES)."""

from __future__ import annotations

from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import count
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import error, rule


@rule("cuda-visible-devices-hides-all-gpus")
def visible_devices(ctx: Context) -> list[Finding]:
    facts = ctx.facts
    if not facts.hidden_gpus or facts.gpus or facts.amd_gpus:
        return []
    env = ctx.snapshot.env
    value = env.cuda_visible_devices if env else None
    return [
        error(
            "cuda-visible-devices-hides-all-gpus",
            f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU ({count(facts.hidden_gpus, 'GPU')} on this machine, "
            f"indices from 0): torch reports 'No CUDA GPUs are available' and training runs on the CPU",
            "unset CUDA_VISIBLE_DEVICES",
        )
    ]
