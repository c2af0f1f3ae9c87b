"""``loradoc train CONFIG [--dry-run] [--from SNAPSHOT] [--num-processes N] [--KEY VALUE ...]``.

Load and validate the config (with command-line overrides), describe the
machine (probe it, or read a saved snapshot), fit the config to it, run the
preflight, print the plan, then train, or stop there with ``--dry-run``.
Nothing heavy is imported before training starts.
"""

from __future__ import annotations

import os

import click

from loradoc.doctor.facts import MachineFacts
from loradoc.doctor.findings import Finding, Severity
from loradoc.doctor.snapshot import Snapshot

_HELP_EPILOG = """\b
Any config key can be overridden after CONFIG:
  loradoc train cfg.yml --learning_rate 1e-4 --num-epochs 2 --sample_packing=false
Values are read as YAML (true, 2, 1e-4, [q_proj, v_proj]); an empty value unsets a key.
"""


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    epilog=_HELP_EPILOG,
)
@click.argument("config", metavar="CONFIG")
@click.option(
    "--dry-run", is_flag=True, help="Validate, resolve and plan; download nothing and train nothing."
)
@click.option(
    "--from",
    "snapshot_path",
    metavar="SNAPSHOT",
    help="Plan for the machine in this saved snapshot (`loradoc doctor check --save`) instead of probing this one.",
)
@click.option(
    "--num-processes",
    "--num_processes",
    "num_processes",
    type=click.IntRange(min=1),
    help="Training processes (DDP through accelerate); sets num_processes.",
)
@click.pass_context
def train(
    ctx: click.Context, config: str, dry_run: bool, snapshot_path: str | None, num_processes: int | None
) -> None:
    """Run a packed LoRA fine-tune from an Axolotl-style YAML CONFIG."""
    from loradoc.compat.load import load_matrix
    from loradoc.config.load import load_config, parse_overrides
    from loradoc.doctor.facts import machine_facts
    from loradoc.doctor.probe.machine import probe
    from loradoc.train.model_info import read_model_info
    from loradoc.train.preflight import checked_text, plan_lines, resolve, run_preflight
    from loradoc.train.run.ranks import is_main_process

    # workers started by `--num-processes` stay quiet until training: their parent printed the plan
    main_process = is_main_process() and not os.environ.get("LORADOC_PLAN_SHOWN")
    overrides = parse_overrides(ctx.args)
    if num_processes is not None:
        overrides["num_processes"] = num_processes
    cfg = load_config(config, overrides, echo=main_process)
    from loradoc.train.run.launch import command_words, note_launcher_world, train_or_launch

    note_launcher_world(cfg, echo=main_process)
    snapshot = Snapshot.load(snapshot_path) if snapshot_path else probe()
    facts = machine_facts(snapshot, load_matrix())
    resolve(cfg, facts)
    model = read_model_info(cfg)
    findings = run_preflight(cfg, snapshot, this_machine=snapshot_path is None, model=model)
    if main_process:
        for finding in findings:
            _echo_finding(finding)
        click.echo(f"plan for {config} on {_machine(snapshot, facts, snapshot_path)}:")
        for line in plan_lines(cfg, snapshot, model_info=model):
            click.echo(line)
    if any(f.severity is Severity.ERROR for f in findings):
        ctx.exit(1)
    if dry_run:
        if main_process:
            target = f"the machine in {snapshot_path}" if snapshot_path else "this machine"
            click.echo(
                f"dry run: the config is valid for {target} ({checked_text(cfg, model)}); "
                "nothing was downloaded or trained"
            )
        return
    words = command_words(config, ctx.args, snapshot_path, num_processes)
    ctx.exit(train_or_launch(cfg, words, snapshot=None if snapshot_path else snapshot))


def _echo_finding(f: Finding) -> None:
    label = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}[f.severity]
    click.echo(f"{label}: {f.message} [{f.code}]", err=True)
    if f.fix and f.severity is not Severity.INFO:
        click.echo(f"  fix: {f.fix}", err=True)


def _machine(snapshot: Snapshot, facts: MachineFacts, path: str | None) -> str:
    gpus = [*facts.gpus, *facts.amd_gpus]
    if gpus:
        names = sorted({g.name or "GPU" for g in gpus})
        what = f"{len(gpus)} x {' + '.join(names)}"
    elif facts.gpu_training is False:
        what = f"CPU only ({snapshot.cpu_count} cores)" if snapshot.cpu_count else "CPU only"
    else:
        what = "an unknown machine"
    return f"{what} (from {path})" if path else what
