"""The default accelerate config (``accelerate launch`` reads it) against the machine and the
training config."""

from __future__ import annotations

from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import count, gpu_labels
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import error, rule, warning

CODE = "accelerate-config-conflict"


@rule(CODE)
def accelerate_conflicts(ctx: Context) -> list[Finding]:
    ac = ctx.snapshot.accelerate_config
    if ac is None:
        return []
    where = ac.path or "the default accelerate config"
    rewrite = "or run `accelerate config` again"
    out: list[Finding] = []
    n_gpus = len(ctx.gpus) if ctx.snapshot.gpus is not None else None
    if ac.num_processes and n_gpus is not None and not ac.use_cpu and ac.num_processes > max(n_gpus, 1):
        out.append(
            error(
                CODE,
                f"{where} sets num_processes: {ac.num_processes} but this machine has {count(n_gpus, 'GPU')}",
                f"set num_processes: {max(n_gpus, 1)} in {where} ({rewrite})",
            )
        )
    dist = (ac.distributed_type or "").upper()
    if dist == "MULTI_GPU" and n_gpus is not None and n_gpus < 2:
        out.append(
            warning(
                CODE,
                f"{where} sets distributed_type: MULTI_GPU but this machine has {count(n_gpus, 'GPU')}",
                f"set distributed_type: {'NO' if n_gpus else 'NO and use_cpu: true'} in {where} ({rewrite})",
            )
        )
    mp = (ac.mixed_precision or "").lower()
    if mp in ("bf16", "fp8"):
        lacking = ctx.facts.lacking(mp)
        if lacking:
            out.append(
                error(
                    CODE,
                    f"{where} sets mixed_precision: {mp} but {gpu_labels(lacking)} lacks it "
                    f"(needs compute capability >= {ctx.facts.floor(mp)})",
                    f"set mixed_precision: fp16 in {where} ({rewrite})",
                )
            )
    if ac.use_cpu and ctx.gpus:
        out.append(
            warning(
                CODE,
                f"{where} sets use_cpu: true: training ignores {gpu_labels(ctx.gpus)}",
                f"set use_cpu: false in {where}",
            )
        )
    out.extend(_against_config(ctx, where, mp))
    return out


def _against_config(ctx: Context, where: str, mp: str) -> list[Finding]:
    ac = ctx.snapshot.accelerate_config
    if ctx.config is None or ac is None:
        return []
    out: list[Finding] = []
    want = ctx.cfg("num_processes")
    if isinstance(want, int) and ac.num_processes and want != ac.num_processes:
        out.append(
            warning(
                CODE,
                f"the training config sets num_processes: {want} but {where} says {ac.num_processes}",
                f"make them agree: set num_processes: {want} in {where}, or launch with "
                f"`accelerate launch --num_processes {want}`",
            )
        )
    bf16, fp16 = ctx.cfg_flag("bf16"), ctx.cfg_flag("fp16")
    asked = "bf16" if bf16 is True else "fp16" if fp16 is True else None
    if asked and mp in ("fp16", "bf16") and asked != mp:
        out.append(
            warning(
                CODE,
                f"the training config asks for {asked} but {where} sets mixed_precision: {mp}",
                f"set mixed_precision: {asked} in {where} (or change the training config to {mp})",
            )
        )
    return out
