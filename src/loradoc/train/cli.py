"""``loradoc train CONFIG [--dry-run] [--from SNAPSHOT] [--num-processes N] [--KEY VALUE ...]``.

Load and validate the config (with command-line overrides), describe the
machine (probe it, or read a saved snapshot), fit the config to it, run the
preflight, print the plan, then train, or stop there with ``--dry-run``.
Nothing heavy is imported before training starts.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import click

from loradoc.doctor.facts import MachineFacts
from loradoc.doctor.findings import Finding, Severity
from loradoc.doctor.snapshot import Snapshot

if TYPE_CHECKING:
    from loradoc.config.schema import TrainConfig
    from loradoc.train.estimate import MemoryEstimate
    from loradoc.train.model_info import ModelInfo

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
    "--json",
    "as_json",
    is_flag=True,
    help="With --dry-run: print the plan as JSON (findings, resolved config, memory estimate) for CI and schedulers.",
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
@click.option(
    "--num-machines",
    type=click.IntRange(min=1),
    default=1,
    help="Machines in the run; each runs this command with its own --machine-rank (passed to accelerate).",
)
@click.option(
    "--machine-rank", type=click.IntRange(min=0), default=0, help="This machine's number, 0 to M-1."
)
@click.option("--main-process-ip", metavar="HOST", help="Address of machine 0, reachable from every machine.")
@click.option(
    "--main-process-port", type=click.IntRange(1, 65535), help="Rendezvous port on machine 0 (default 29500)."
)
@click.pass_context
def train(
    ctx: click.Context,
    config: str,
    dry_run: bool,
    as_json: bool,
    snapshot_path: str | None,
    num_processes: int | None,
    num_machines: int,
    machine_rank: int,
    main_process_ip: str | None,
    main_process_port: int | None,
) -> None:
    """Run a packed LoRA fine-tune from an Axolotl-style YAML CONFIG.

    \b
    Several machines: run the same command on each, with the total --num-processes,
    --num-machines M, this machine's --machine-rank and machine 0's --main-process-ip.
    """
    if as_json and not dry_run:
        raise click.UsageError("--json prints a plan: use it with --dry-run")
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
    if not dry_run:  # before any Hugging Face library is imported: it reads HF_HUB_OFFLINE once
        from loradoc.train.hub import settle_hub

        settle_hub(cfg, say=(lambda m: click.echo(m, err=True)) if main_process else (lambda m: None))
    from loradoc.train.run.launch import (
        Nodes,
        check_fsdp_processes,
        command_words,
        note_launcher_world,
        train_or_launch,
    )

    nodes = Nodes(num_machines, machine_rank, main_process_ip, main_process_port)
    nodes.check(int(cfg.num_processes or 1))
    note_launcher_world(cfg, echo=main_process)
    snapshot = Snapshot.load(snapshot_path) if snapshot_path else probe()
    check_fsdp_processes(cfg, snapshot=snapshot)  # the dry run says it too, before any planning
    facts = machine_facts(snapshot, load_matrix())
    model = read_model_info(cfg)
    hidden = model.config.get("hidden_size")
    resolve(cfg, facts, hidden=hidden if isinstance(hidden, int) else None, measure=snapshot_path is None)
    findings = run_preflight(cfg, snapshot, this_machine=snapshot_path is None, model=model)
    memory = memory_estimate(cfg, facts, snapshot, model)
    findings += memory_findings(memory)
    timing = time_estimate(cfg, facts, model, this_machine=snapshot_path is None)
    errors = any(f.severity is Severity.ERROR for f in findings)
    if as_json:
        target = f"the machine in {snapshot_path}" if snapshot_path else "this machine"
        doc = {
            "config": config,
            "machine": _machine(snapshot, facts, snapshot_path),
            "valid": not errors,
            "valid_for": target,
            "checked": checked_text(cfg, model),
            "findings": [f.to_dict() for f in findings],
            "memory": memory.to_dict() if memory else None,
            "time": timing if isinstance(timing, str) else timing.to_dict(),
            "resolved_config": cfg.resolved_document(),
        }
        click.echo(json.dumps(doc, indent=2, default=str))
        ctx.exit(1 if errors else 0)
    if main_process:
        for finding in findings:
            _echo_finding(finding)
        click.echo(f"plan for {config} on {_machine(snapshot, facts, snapshot_path)}:")
        for line in plan_lines(cfg, snapshot, facts=facts, model_info=model):
            click.echo(line)
        for line in (
            memory.lines() if memory else ["memory  not estimated (the model's config.json was not read)"]
        ):
            click.echo(f"  {line}")
        click.echo(f"  {timing if isinstance(timing, str) else timing.line()}")
    if errors:
        ctx.exit(1)
    if dry_run:
        if main_process:
            target = f"the machine in {snapshot_path}" if snapshot_path else "this machine"
            click.echo(
                f"dry run: the config is valid for {target} ({checked_text(cfg, model)}); "
                "nothing was downloaded or trained"
            )
        return
    words = command_words(config, ctx.args, snapshot_path, num_processes, nodes)
    ctx.exit(train_or_launch(cfg, words, snapshot=None if snapshot_path else snapshot, nodes=nodes))


def memory_estimate(
    cfg: TrainConfig, facts: MachineFacts, snapshot: Snapshot, model: ModelInfo
) -> MemoryEstimate | None:
    """The per-process memory of this run against the device it trains on (the smallest visible
    GPU, or the machine's RAM on the CPU); None when the model's config.json was not read."""
    from loradoc.train.estimate import estimate_memory

    if not model.checked:
        return None
    if facts.device == "cuda":
        sizes = [g.memory_mib for g in facts.gpus if g.memory_mib]
        capacity = min(sizes) if sizes else None
    else:
        capacity = snapshot.memory_mib
    try:
        return estimate_memory(
            model.config, cfg, device=facts.device, gpu_memory_mib=capacity, world_size=cfg.world_size()
        )
    except ValueError as exc:  # a config.json without the decoder's shape (hidden_size, layers, ...)
        click.echo(f"note: memory not estimated: {exc}", err=True)
        return None


def time_estimate(cfg: TrainConfig, facts: MachineFacts, model: ModelInfo, *, this_machine: bool) -> Any:
    """How long training takes (a TimeEstimate), or a line saying why not yet. Before the data is
    read only a ``max_steps`` run has a token count: full packed rows, an upper bound."""
    from loradoc.train.estimate_time import plan_time

    if facts.device != "cuda" and not this_machine:
        return (
            "time    not estimated (the CPU rate of that machine is unknown; it is measured where it trains)"
        )
    tokens = None
    if cfg.max_steps and cfg.max_steps > 0:
        per_step = int(cfg.micro_batch_size) * int(cfg.gradient_accumulation_steps) * cfg.world_size()
        tokens = int(cfg.max_steps) * per_step * int(cfg.sequence_len)
    names = [g.name for g in facts.gpus if g.name]
    estimate = plan_time(
        model.config if model.checked else None,
        cfg,
        device=facts.device,
        gpu_name=names[0] if names else None,
        tokens=tokens,
        epochs=1.0,
        world_size=cfg.world_size(),
    )
    return "time    " + estimate if isinstance(estimate, str) else estimate


def memory_findings(memory: MemoryEstimate | None) -> list[Finding]:
    """An error when the run cannot fit (with the least change that makes it fit), a warning when
    it fits with under 10% headroom."""
    if memory is None or memory.verdict not in ("does not fit", "tight"):
        return []
    where = "GPU" if memory.device != "cpu" else "RAM"
    need = f"~{memory.total_bytes / 2**30:.1f} GiB per process"
    have = f"{(memory.capacity_bytes or 0) / 2**30:.1f} GiB of {where}"
    fits = [f for f in memory.fixes if f.verdict != "does not fit"]
    fix = f"set {fits[0].change} (estimated ~{fits[0].total_bytes / 2**30:.1f} GiB)" if fits else None
    if memory.verdict == "does not fit":
        return [Finding("memory-does-not-fit", Severity.ERROR, f"the run needs {need} but has {have}", fix)]
    return [
        Finding("memory-tight", Severity.WARNING, f"the run needs {need} of {have}: under 10% headroom", fix)
    ]


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
