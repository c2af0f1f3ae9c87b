"""Weights & Biases: a run that logs to W&B needs the package; without a key, `loradoc train` asks once or runs offline."""

from __future__ import annotations

from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.fixes import WANDB_FIX
from loradoc.doctor.rules.registry import error, rule, warning

_OFF = ("offline", "disabled", "dryrun")


@rule("wandb-key-missing", "wandb-not-installed")
def wandb_ready(ctx: Context) -> list[Finding]:
    project = ctx.cfg("wandb_project")
    if not project:
        return []
    env = ctx.snapshot.env
    mode = str(ctx.cfg("wandb_mode") or (env.wandb_mode if env else None) or "").strip().lower()
    if mode in _OFF:
        return []
    out: list[Finding] = []
    if ctx.installed("wandb") is False:
        out.append(
            error(
                "wandb-not-installed",
                f"the training config logs to W&B (wandb_project: {project}) but wandb is not installed",
                'pip install "loradoc[wandb]"  (or set wandb_mode: disabled)',
            )
        )
    if env is None or env.wandb_api_key is not False:
        return out
    fix = WANDB_FIX + "\nor: set wandb_mode: offline in the training config"
    # `loradoc train` settles this itself (loradoc.train.run.wandb_setup): it asks once in a terminal,
    # and runs offline without asking otherwise, so neither case stops a run.
    if env.interactive is False:
        out.append(
            warning(
                "wandb-key-missing",
                f"wandb_project: {project} is set but no W&B API key is available (WANDB_API_KEY or ~/.netrc) and "
                "the shell is not interactive: the run will log to W&B offline (upload it later with `wandb sync`)",
                fix,
            )
        )
    else:
        out.append(
            warning(
                "wandb-key-missing",
                f"wandb_project: {project} is set but no W&B API key is available: loradoc will ask once when "
                "training starts (log in, run offline, or turn W&B off)",
                fix,
            )
        )
    return out
