"""``loradoc doctor install``: plan, (lock,) apply, verify.

    loradoc doctor install --dry-run [--json]          print the plan and its exact pip commands
    loradoc doctor install [--yes] [--python PATH]     run it, then `doctor check` + an import smoke test
    loradoc doctor install --lock FILE                 also write the resolved set with pip-compile
    loradoc doctor install --restore [--python PATH]   put back what an interrupted install changed

The exit code is the final `doctor check`'s (1 when the smoke test fails on a clean check).
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import click

from loradoc.doctor.install.steps import TORCH_CONSTRAINT_FILE, InstallPlan
from loradoc.errors import UserError


@click.command("install")
@click.option("--dry-run", is_flag=True, help="Print the plan and the exact pip commands; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan (and the result) as JSON.")
@click.option("--python", "python", metavar="PATH", help="Install into this interpreter's environment.")
@click.option(
    "--yes", "-y", is_flag=True, help="Do not ask before touching a Python outside a virtual environment."
)
@click.option(
    "--torch", "torch_bound", metavar="VERSION", help="Bound torch: 2.5 (any 2.5.x), 2.5.1, or '>=2.4,<2.6'."
)
@click.option("--cuda", metavar="X.Y", help="Use exactly this CUDA variant (12.4 or cu124).")
@click.option("--cpu", is_flag=True, help="Install a CPU build of torch.")
@click.option(
    "--backend",
    metavar="NAME",
    help="The torch build by name, as uv's --torch-backend: auto, cpu, cu128, rocm6.4.",
)
@click.option(
    "--with",
    "with_",
    multiple=True,
    metavar="NAMES",
    help="Add xformers, flash-attn, bitsandbytes (comma separated).",
)
@click.option(
    "--without", multiple=True, metavar="NAMES", help="Leave out packages or groups: hf, wandb, stack, ..."
)
@click.option("--minimal", is_flag=True, help="torch and the wanted extensions only, no Hugging Face stack.")
@click.option(
    "--channel",
    type=click.Choice(["stable", "test", "nightly"]),
    default="stable",
    show_default=True,
    help="torch releases (stable), release candidates (test) or nightly builds, from the PyTorch index.",
)
@click.option(
    "--config",
    "config",
    metavar="CFG.yml",
    help="Add what a training config's attention/quantisation keys need.",
)
@click.option("--lock", "lock", metavar="FILE", help="Write the resolved set to FILE with pip-compile.")
@click.option(
    "--from",
    "from_",
    metavar="SNAPSHOT",
    help="Plan for a saved snapshot instead of this machine (with --dry-run).",
)
@click.option(
    "--restore",
    "restore_only",
    is_flag=True,
    help="Put back what an interrupted install changed (from its record in the environment), then stop.",
)
def install_cmd(
    dry_run: bool,
    as_json: bool,
    python: str | None,
    yes: bool,
    torch_bound: str | None,
    cuda: str | None,
    cpu: bool,
    backend: str | None,
    with_: tuple[str, ...],
    without: tuple[str, ...],
    minimal: bool,
    channel: str,
    config: str | None,
    lock: str | None,
    from_: str | None,
    restore_only: bool,
) -> None:
    """Resolve, install, lock and verify the right torch stack for this machine."""
    if restore_only:
        if dry_run or from_ or lock:
            raise UserError("--restore puts an environment back; it takes only --python")
        _restore_interrupted(python)
        return
    # the environment's install lock, once taken, is held to the end (see journal.py)
    with contextlib.ExitStack() as hold:
        import dataclasses
        import os

        from loradoc.compat.load import load_matrix
        from loradoc.doctor.install.apply import put_back_interrupted
        from loradoc.doctor.install.journal import EnvLock, hold_env_lock
        from loradoc.doctor.install.plan import plan
        from loradoc.doctor.install.wants import from_options
        from loradoc.doctor.snapshot import Snapshot

        held: EnvLock | None = None

        wants = from_options(
            torch=torch_bound,
            cuda=cuda,
            cpu=cpu,
            with_=list(with_),
            without=list(without),
            config=config,
            minimal=minimal,
            backend=backend,
            channel=channel,
        )
        if lock and channel != "stable":
            raise UserError(
                f"--lock with --channel {channel}: pre-release builds leave the index after a while, so a "
                "lock of one would not install later; lock a stable plan"
            )
        matrix = load_matrix()
        target = None
        if from_:
            if not dry_run:
                raise UserError(f"--from {from_}: a saved snapshot describes another machine; add --dry-run")
            if python:
                raise UserError("--from and --python contradict each other; give one of them")
            snapshot = Snapshot.load(from_)
        else:
            from loradoc.doctor.install.env import inspect_target
            from loradoc.doctor.install.verify import probe_target

            target = inspect_target(python)
            if dry_run:
                _warn_interrupted(target)
            else:
                # held from before the probe to the end: the plan is made for what is really there,
                # after an interrupted install was put back, and nothing changes it in between
                held = hold.enter_context(hold_env_lock(target))
                put_back_interrupted(held, target, env=dict(os.environ), echo=click.echo)
            snapshot = probe_target(target)
        if target is None:
            the_plan = plan(snapshot, matrix, wants)
            _stderr(
                f"the plan for the machine in {from_} rests on the matrix alone (no index is asked for another machine)"
            )
        else:
            from loradoc.doctor.install.live import plan_until_it_exists

            probed = snapshot
            the_plan = plan_until_it_exists(
                lambda excluded: plan(
                    probed, matrix, dataclasses.replace(wants, excluded=frozenset(excluded))
                ),
                target,
                env=dict(os.environ),
                echo=_stderr if as_json else click.echo,
                say_unreachable=dry_run,  # an install's step says it when it runs
            )
        shown_python = target.python if target else "python"
        log = _stderr if as_json else click.echo
        result: dict[str, Any] = {"plan": the_plan.to_dict()}
        if as_json:
            result["plan"]["commands"] = the_plan.commands(shown_python)
        else:
            click.echo(render_plan(the_plan, shown_python, target_label=shown_python if target else from_))
        if lock:
            result["lock"] = _write_lock(the_plan, lock, target, log)
        if dry_run:
            if as_json:
                click.echo(json.dumps(result["plan"], indent=2))
            return
        assert target is not None
        if not target.in_venv and not yes:
            _confirm_outside_venv(target.python)
        from loradoc.doctor.install.apply import apply
        from loradoc.doctor.install.verify import verify

        applied = apply(the_plan, target, echo=log, lock=held, confirmed=True)
        log(
            f"installed: torch {applied.torch}"
            + (f" (fell back for: {', '.join(applied.fell_back)})" if applied.fell_back else "")
        )
        check_args = ["--config", config] if config else []
        outcome = verify(
            target, the_plan.imports, gpu=the_plan.variant != "cpu", echo=log, check_args=check_args
        )
        summary = _summarise(outcome)
        for line in summary:
            log(line)
        if as_json:
            result.update(
                applied={"torch": applied.torch, "fell_back": applied.fell_back},
                check={"exit_code": outcome.check_rc, "report": outcome.check},
                smoke=outcome.smoke,
                exit_code=outcome.exit_code,
            )
            click.echo(json.dumps(result, indent=2))
        sys.exit(outcome.exit_code)


def _restore_interrupted(python: str | None) -> None:
    import os

    from loradoc.doctor.install.apply import put_back_interrupted, signals_raise
    from loradoc.doctor.install.env import inspect_target
    from loradoc.doctor.install.journal import hold_env_lock

    target = inspect_target(python)
    with hold_env_lock(target) as held, signals_raise():
        if not put_back_interrupted(held, target, env=dict(os.environ), echo=click.echo):
            click.echo(f"nothing to restore: no interrupted install into {target.prefix}")


def _warn_interrupted(target: Any) -> None:
    from loradoc.doctor.install.journal import JOURNAL_NAME, state_dir

    if (state_dir(target) / JOURNAL_NAME).is_file():
        _stderr(
            f"warning: an earlier install into {target.prefix} was interrupted; the install puts back "
            "what was there before it first (`loradoc doctor install --restore` does only that)"
        )


def _stderr(line: str) -> None:
    click.echo(line, err=True)


def _confirm_outside_venv(python: str) -> None:
    msg = f"{python} is not in a virtual environment; install into it anyway?"
    if not sys.stdin.isatty():
        raise UserError(f"{python} is not in a virtual environment; pass --yes to install into it anyway")
    if not click.confirm(msg, default=False):
        raise click.exceptions.Abort()


def _write_lock(the_plan: InstallPlan, path: str, target: Any, log: Any) -> dict[str, Any]:
    from loradoc.doctor.install.apply import step_project
    from loradoc.doctor.install.env import index_unreachable
    from loradoc.doctor.install.lock import plan_lock

    unreachable: dict[str, str] = {}
    for step in the_plan.steps:
        if step.index_url and step.index_url not in unreachable:
            why = index_unreachable(step.index_url, step_project(step))
            if why is not None:
                unreachable[step.index_url] = why
                log(
                    f"{step.index_url} cannot be reached ({why}); the lock uses pip's configured sources for it"
                )
    res = plan_lock(
        the_plan,
        path,
        unreachable=unreachable,
        python_version=target.version if target else None,
        command=f"loradoc doctor install --lock {path}",
    )
    log(f"wrote {res.path} (pip-compile, {'with' if res.hashed else 'without'} hashes)")
    return {"path": str(res.path), "hashed": res.hashed, "notes": res.notes}


def render_plan(p: InstallPlan, python: str = "python", target_label: str | None = None) -> str:
    """The plan for people: each choice with its reason, warnings, then the exact commands."""
    head = f"install plan: torch {p.torch_label} ({p.variant}) for Python {p.python} on {p.platform}"
    lines = [head + (f"  [{target_label}]" if target_label else "")]
    width = max((len(d.item) for d in p.decisions), default=8)
    for d in p.decisions:
        value = d.value if d.value is not None else "skipped"
        lines.append(f"  {d.item:<{width}}  {value}")
        lines.append(f"  {'':<{width}}    {d.reason}")
    for w in p.warnings:
        lines.append(f"warning: {w}")
    if p.steps:
        pin = f" ({TORCH_CONSTRAINT_FILE} holds {p.torch_constraint()})" if p.torch else ""
        if not p.torch and p.channel != "stable":
            pin = f" ({TORCH_CONSTRAINT_FILE} holds the torch the first step installs)"
        lines.append(f"commands{pin}:")
        lines += [f"  {c}" for c in p.commands(python)]
    else:
        lines.append("nothing to install")
    return "\n".join(lines)


def _summarise(outcome: Any) -> list[str]:
    lines = []
    report = outcome.check or {}
    findings = report.get("findings", []) if isinstance(report, dict) else []
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.get("severity", "?")] = counts.get(f.get("severity", "?"), 0) + 1
        if f.get("severity") in ("error", "warning"):
            lines.append(f"  {f.get('severity')}: {f.get('code')}: {f.get('message')}")
    tally = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no findings"
    lines.insert(0, f"doctor check in the target environment: exit {outcome.check_rc} ({tally})")
    for row in outcome.smoke:
        if "import" in row:
            state = (
                f"ok {row.get('version') or ''}".strip() if row.get("ok") else f"FAILED: {row.get('error')}"
            )
            lines.append(f"  import {row['import']}: {state}")
        elif "torch" in row:
            state = "ok" if row.get("ok") else f"FAILED: {row.get('error')}"
            lines.append(f"  torch {row['torch']} on {row.get('device', '?')}: {state}")
        elif "error" in row:
            lines.append(f"  smoke test FAILED: {row['error']}")
    lines.append("verified" if outcome.exit_code == 0 else f"not verified (exit {outcome.exit_code})")
    return lines
