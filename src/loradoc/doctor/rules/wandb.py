"""Weights & Biases: a run that logs to W&B needs the package; without a key, `loradoc train` asks once or runs offline."""

from __future__ import annotations

from packaging.version import Version

from loradoc.compat.versions import parse_version
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.fixes import WANDB_FIX
from loradoc.doctor.rules.registry import error, info, rule, warning

_OFF = ("offline", "disabled", "dryrun")


@rule("wandb-key-missing", "wandb-not-installed")
def wandb_ready(ctx: Context) -> list[Finding]:
    project = ctx.cfg("wandb_project")
    env = ctx.snapshot.env
    mode = str(ctx.cfg("wandb_mode") or (env.wandb_mode if env else None) or "").strip().lower()
    if mode in _OFF:
        return []
    if not project:
        return _trainer_default_reports_to_wandb(ctx) if ctx.config is None else []
    out: list[Finding] = []
    if ctx.installed("wandb") is False:
        out.append(
            error(
                "wandb-not-installed",
                f"the training config logs to W&B (wandb_project: {project}) but wandb is not installed",
                'pip install "loradoc[wandb]"\nor: set wandb_mode: disabled in the training config',
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


def _trainer_default_reports_to_wandb(ctx: Context) -> list[Finding]:
    """No loradoc config (which sets report_to itself), wandb installed, no W&B key, and a
    transformers whose Trainer reports to every installed tracker when report_to is unset (before
    the matrix's ``report_to_none_since``): a script that does not set report_to starts W&B, which
    asks for a key, and without a terminal the run waits there."""
    env, t = ctx.snapshot.env, ctx.pkg("transformers")
    since = ctx.matrix.transformers.report_to_none_since
    if env is not None and env.wandb_api_key is False and ctx.installed("wandb") is None:
        return _key_missing_with_tracker_unknown(env.interactive)
    if env is None or env.wandb_api_key is not False or not ctx.installed("wandb") or t is None:
        return []
    have = parse_version(t.version)
    if since is None or have is None or Version(have.public) >= Version(since):
        return []
    make = warning if env.interactive is False else info
    return [
        make(
            "wandb-key-missing",
            f"transformers {t.version} reports to every installed tracker when a script leaves "
            f"report_to unset (until {since}), wandb is installed and no W&B API key is available: the Trainer "
            "starts W&B, which asks for a key"
            + (" and, without a terminal, waits there" if env.interactive is False else ""),
            "export WANDB_MODE=disabled",
            alternative="set report_to: none in the training arguments",
        )
    ]


def _key_missing_with_tracker_unknown(interactive: bool | None) -> list[Finding]:
    """Facts that state no W&B key but not whether wandb is installed or used (a report, a partial
    snapshot): a note, since a job that does report to W&B stops at its login prompt."""
    headless = " and, without a terminal, waits there or fails" if interactive is False else ""
    return [
        info(
            "wandb-key-missing",
            "no W&B API key is available and the facts do not say whether wandb is installed or used: a job "
            "that reports to W&B (report_to wandb, or a transformers before 5.0 with wandb installed) stops at "
            f"W&B's login prompt{headless}",
            WANDB_FIX,
            alternative="export WANDB_MODE=disabled",
        )
    ]
