"""Training throughput: loradoc's packed trainer next to transformers' Trainer, in one run.

Same tiny model, data, seed, LoRA, optimizer and schedule for every mode (the peers'
protocol in cpu-peer-baselines.md; workload in ``throughput_workload.py``):

- ``naive``: transformers Trainer, padded per batch, random order (the naive baseline);
- ``group_by_length``: transformers Trainer, padded, length-grouped sampler;
- ``packed``: ``loradoc train``'s code path (``run_training``: packing sampler and
  collator, per-example attention, peft LoRA, LoradocTrainer);
- with ``--peers``, the peers in their own virtual environments (``throughput_peers.py``,
  ``bench/peers/setup.sh``): ``trl_packed`` (TRL SFTTrainer, BFD packing, padding-free) and
  ``axolotl_multipack`` (Axolotl's multipack sampler), on exactly the tokens loradoc trains on.

Each mode runs in its own process (so its peak RSS is its own), one epoch over the same
examples; the first ``--warmup-steps`` optimizer steps are left out of the timing. The
modes take turns ``--repeats`` times, in alternating order. A repeat in which some mode's
threads spent under 90% of its timed wall time on a core was disturbed by another job: it is
run again (up to ``--max-reruns`` times) and left out of the figures, which come from clean
repeats only (all repeats, with a warning, when none was clean). Medians and spread are
printed with the ratios against the targets (supervised tokens/s: >= 2.5x the naive
baseline, >= 1.5x group_by_length, >= 2.5x TRL packed, >= 1.8x Axolotl multipack; peak RSS
at or below the padded baselines), and a loss/gradient equivalence check of the packed path
against the padded one on the same weights.

    .venv/bin/python bench/train_throughput.py [--rows 600] [--repeats 3] [--peers]
        [--modes naive,group_by_length,packed] [--quick] [--json OUT] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput_modes import MODES, run_mode  # noqa: E402
from throughput_peers import PEERS, check_tokens, peer_command, peer_python, peer_versions  # noqa: E402
from throughput_workload import QUICK, BenchSpec, build_workload  # noqa: E402

# packed must reach this many times each baseline's supervised tok/s (issues 3 and 16)
TARGETS = {"naive": 2.5, "group_by_length": 1.5, **{m: p.target for m, p in PEERS.items()}}
CHECKSUM_RTOL = 1e-5  # same initial adapter: equal sums of |lora_A| up to float32 rounding
CLEAN_CPU = 0.9  # a run whose threads were on a core at least this share of the time counts as undisturbed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=None, help="first N dataset rows (default 600; --quick 40)")
    p.add_argument("--repeats", type=int, default=3, help="side-by-side passes, interleaved (default 3)")
    p.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"comma-separated subset of {','.join([*MODES, *PEERS])}",
    )
    p.add_argument("--peers", action="store_true", help=f"add the peers' modes ({', '.join(PEERS)})")
    p.add_argument("--trl-python", type=Path, default=None, help="Python of the TRL environment")
    p.add_argument("--axolotl-python", type=Path, default=None, help="Python of the Axolotl environment")
    p.add_argument(
        "--max-reruns",
        type=int,
        default=None,
        help="disturbed repeats run again, at most this many times (default 2; --quick 0)",
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny model and data: a smoke test, not a measurement"
    )
    p.add_argument("--json", type=Path, default=None, help="write every figure to this JSON file")
    p.add_argument("--workdir", type=Path, default=None, help="keep (and reuse) the built workload here")
    p.add_argument("--threads", type=int, default=None, help="torch threads per mode (default 2)")
    p.add_argument("--padded-mbs", type=int, default=None, help="examples per step, padded modes (default 8)")
    p.add_argument("--packed-mbs", type=int, default=None, help="packed rows per step (default 1)")
    p.add_argument(
        "--warmup-steps", type=int, default=None, help="optimizer steps left out of timing (default 3)"
    )
    p.add_argument(
        "--bf16-auto",
        action="store_true",
        help="packed mode with loradoc's default bf16: auto (bf16 autocast where this CPU measured it faster); "
        "without it every mode trains in fp32",
    )
    p.add_argument("--no-equivalence", action="store_true", help="skip the loss/gradient equivalence check")
    p.add_argument(
        "--inline",
        action="store_true",
        help="run every mode in this process (RSS is then cumulative; for tests)",
    )
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--tag", default="r0", help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def make_spec(args: argparse.Namespace) -> BenchSpec:
    spec = QUICK if args.quick else BenchSpec()
    changes = {
        "rows": args.rows,
        "threads": args.threads,
        "padded_mbs": args.padded_mbs,
        "packed_mbs": args.packed_mbs,
        "warmup_steps": args.warmup_steps,
        "bf16": "auto" if args.bf16_auto else None,
    }
    return dataclasses.replace(spec, **{k: v for k, v in changes.items() if v is not None})


# --- machine facts ------------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in ("torch", "transformers", "peft", "accelerate", "datasets"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "python": platform.python_version(),
        "versions": versions,
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


# --- running the modes --------------------------------------------------------------------


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[key] = str(threads)
    env["TOKENIZERS_PARALLELISM"] = "false"
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("WANDB_MODE", "disabled")
    return env


def run_in_child(
    mode: str, workdir: Path, tag: str, threads: int, python: Path | None = None
) -> dict[str, Any]:
    """Run ``mode`` in its own process (a peer's runner under ``python``) and read its result."""
    result = workdir / "results" / f"{mode}-{tag}.json"
    result.parent.mkdir(parents=True, exist_ok=True)
    result.unlink(missing_ok=True)
    log = workdir / "results" / f"{mode}-{tag}.log"
    if python is not None:
        cmd = peer_command(mode, python, workdir, tag, result)
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--workdir", str(workdir)]
        cmd += ["--tag", tag, "--result", str(result)]
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=child_env(threads), check=False)
    if proc.returncode != 0 or not result.is_file():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise SystemExit(f"mode {mode} failed (exit {proc.returncode}); log {log}:\n{tail}")
    data: dict[str, Any] = json.loads(result.read_text())
    return data


def child_main(args: argparse.Namespace) -> int:
    out = run_mode(args.child, args.workdir, args.tag)
    tmp = args.result.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=2))
    tmp.replace(args.result)
    return 0


# --- report -------------------------------------------------------------------------------


def workload_facts(workdir: Path, spec: BenchSpec) -> dict[str, Any]:
    import numpy as np
    from throughput_workload import load_bench_config

    from loradoc.train.data.prepare import prepare_data
    from loradoc.train.estimate_time import flops_per_token
    from loradoc.train.model.load import load_tokenizer
    from loradoc.train.packing.bins import pack_lengths

    cfg = load_bench_config(workdir / "config.yml")
    tok = load_tokenizer(cfg, say=lambda s: None)
    data = prepare_data(cfg, tok, say=lambda s: None)
    lengths = np.asarray(data.train["length"], dtype=np.int64)
    supervised = int(sum(sum(1 for t in lab[1:] if t != -100) for lab in data.train["labels"]))
    # the length of the example a token sits in, averaged over tokens: its attention context
    attention_len = float((lengths.astype(np.float64) ** 2).sum() / lengths.sum())
    model_config = json.loads((workdir / "model" / "config.json").read_text())
    return {
        "rows": spec.rows,
        "examples": len(lengths),
        "real_tokens": int(lengths.sum()),
        "supervised_tokens": supervised,
        "length_median": float(np.median(lengths)),
        "length_p90": float(np.percentile(lengths, 90)),
        "length_p99": float(np.percentile(lengths, 99)),
        "length_max": int(lengths.max()),
        "tokenizer_vocab": len(tok),
        "packing_efficiency_at_sequence_len": round(pack_lengths(lengths, spec.sequence_len).efficiency, 4),
        "packing_efficiency_at_2048": round(pack_lengths(lengths, 2048).efficiency, 4),
        "data_stats": data.train_stats.to_dict(),
        "attention_len": round(attention_len, 1),
        # training FLOPs of one real token: the useful work of every mode (loradoc's estimator)
        "flops_per_token": flops_per_token(model_config, cfg, attention_len=attention_len),
    }


def _spread(xs: list[float]) -> str:
    if len(xs) == 1:
        return "n=1"
    return f"{min(xs):,.0f}-{max(xs):,.0f}"


def summarise(
    runs: list[dict[str, dict[str, Any]]], modes: list[str], flops_per_token: float = 0.0, peak: float = 0.0
) -> dict[str, Any]:
    """Medians per mode, ratios of packed to every other mode, and MFU: real tokens/s x training
    FLOPs per token (the useful work, the same for every mode) / the measured fp32 matmul rate."""
    per_mode: dict[str, Any] = {}
    for mode in modes:
        rs = [r[mode] for r in runs]
        per_mode[mode] = {
            key: statistics.median(float(x[key]) for x in rs)
            for key in ("input_tok_s", "supervised_tok_s", "peak_rss_mb", "timed_seconds", "loop_seconds")
            if all(x.get(key) is not None for x in rs)
        }
        per_mode[mode]["supervised_tok_s_all"] = [x["supervised_tok_s"] for x in rs]
        per_mode[mode]["input_tok_s_all"] = [x["input_tok_s"] for x in rs]
        per_mode[mode]["peak_rss_mb_all"] = [x["peak_rss_mb"] for x in rs]
        if flops_per_token and peak and "input_tok_s" in per_mode[mode]:
            per_mode[mode]["mfu"] = round(per_mode[mode]["input_tok_s"] * flops_per_token / peak, 4)
    ratios: dict[str, Any] = {}
    if "packed" in modes:
        for base in (m for m in modes if m != "packed"):
            each = [r["packed"]["supervised_tok_s"] / r[base]["supervised_tok_s"] for r in runs]
            each_in = [r["packed"]["input_tok_s"] / r[base]["input_tok_s"] for r in runs]
            rss = [r["packed"]["peak_rss_mb"] / r[base]["peak_rss_mb"] for r in runs]
            ratios[f"packed_vs_{base}"] = {
                "supervised_tok_s": round(statistics.median(each), 3),
                "supervised_tok_s_all": [round(x, 3) for x in each],
                "input_tok_s": round(statistics.median(each_in), 3),
                "peak_rss": round(statistics.median(rss), 3),
                "target": TARGETS[base],
                "meets_target": statistics.median(each) >= TARGETS[base],
                "rss_at_or_below": statistics.median(rss) <= 1.0,
            }
    return {"per_mode": per_mode, "ratios": ratios, "repeats": len(runs)}


def disturbed(run: dict[str, dict[str, Any]]) -> str:
    """The modes of one repeat whose threads were on a core under ``CLEAN_CPU`` of the time ('' if none)."""
    slow = [
        f"{m} cpu {r.get('cpu_utilisation', 0):.2f}"
        for m, r in run.items()
        if r.get("cpu_utilisation", 0) < CLEAN_CPU
    ]
    return ", ".join(slow)


def print_run(rep: int, mode: str, r: dict[str, Any]) -> None:
    loss = r.get("final_loss")
    print(
        f"  [{rep + 1}] {mode:<18} {r['steps']:>4} steps x {r['micro_batch_size']}  "
        f"{r['input_tok_s']:>8,.0f} in tok/s {r['supervised_tok_s']:>8,.0f} sup tok/s  "
        f"loop {r['loop_seconds']:7.2f} s  pad {r['padding_pct']:5.1f}%  "
        f"rss {r['peak_rss_mb']:7,.0f} MiB  loss {loss if loss is None else f'{loss:.4f}'}  "
        f"cpu {r.get('cpu_utilisation', float('nan')):.2f}"
        + (f"  precision {r['precision']}" if r.get("precision") not in (None, "fp32") else ""),
        flush=True,
    )


def print_table(summary: dict[str, Any], runs: list[dict[str, dict[str, Any]]], modes: list[str]) -> None:
    print(f"\nmedians over {summary['repeats']} repeats (spread = min-max):")
    head = f"  {'mode':<18} {'real tok':>8} {'sup tok':>8} {'pad %':>6} {'eff':>6} {'in tok/s':>9} {'sup tok/s':>10} "
    print(
        head
        + f"{'spread':>13} {'MFU':>6} {'loop s':>7} {'peak RSS MiB':>13} {'final loss':>10} {'mean loss':>9}"
    )
    for mode in modes:
        m, first = summary["per_mode"][mode], runs[0][mode]
        losses = [r[mode]["final_loss"] for r in runs if r[mode]["final_loss"] is not None]
        means = [r[mode]["train_loss_mean"] for r in runs if r[mode]["train_loss_mean"] is not None]
        print(
            f"  {mode:<18} {first['real_tokens']:>8,} {first['supervised_tokens']:>8,} {first['padding_pct']:>6.1f} "
            f"{first['efficiency']:>6.3f} {m['input_tok_s']:>9,.0f} {m['supervised_tok_s']:>10,.0f} "
            f"{_spread(m['supervised_tok_s_all']):>13} {m.get('mfu', float('nan')):>6.1%} {m['loop_seconds']:>7.1f} "
            f"{m['peak_rss_mb']:>13,.0f} "
            f"{statistics.median(losses) if losses else float('nan'):>10.4f} "
            f"{statistics.median(means) if means else float('nan'):>9.4f}"
        )
    for name, r in summary["ratios"].items():
        verdict = "meets" if r["meets_target"] else "MISSES"
        rss = "at or below" if r["rss_at_or_below"] else "ABOVE"
        print(
            f"  {name}: supervised tok/s x{r['supervised_tok_s']:.2f} (each repeat {r['supervised_tok_s_all']}; "
            f"target >= {r['target']}: {verdict}); input tok/s x{r['input_tok_s']:.2f}; "
            f"peak RSS x{r['peak_rss']:.2f} ({rss} the baseline)"
        )


def print_equivalence(eq: dict[str, Any]) -> None:
    verdict = "PASS" if eq["passed"] else "FAIL"
    print(
        f"\nloss equivalence ({verdict}): first {eq['examples']} examples, {eq['supervised_tokens']:,} supervised "
        f"tokens, same weights (LoRA B perturbed), eval mode, {eq['packed_rows']} packed rows with {eq['attention']}:"
    )
    print(
        f"  summed token loss padded {eq['padded_loss_sum']:.6f} vs packed {eq['packed_loss_sum']:.6f} "
        f"(rel diff {eq['loss_rel_diff']:.2e}, tolerance {eq['tolerance']['loss']:g}); "
        f"LoRA gradients rel diff {eq['grad_rel_diff']:.2e} over {eq['lora_tensors_compared']} tensors "
        f"(tolerance {eq['tolerance']['grad']:g})"
    )
    seen = "detected" if eq["control_detected"] else "NOT detected"
    print(
        f"  control: the same packed rows without example boundaries: loss rel diff "
        f"{eq['control_no_boundaries_rel_diff']:.2e}, gradients {eq['control_no_boundaries_grad_rel_diff']:.2e} "
        f"({seen} by these tolerances)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.peers:
        modes += [m for m in PEERS if m not in modes]
    unknown = [m for m in modes if m not in MODES and m not in PEERS]
    if unknown or not modes:
        print(
            f"error: --modes: unknown {unknown}; choose from {', '.join([*MODES, *PEERS])}", file=sys.stderr
        )
        return 2
    pythons = {m: peer_python(m, getattr(args, f"{PEERS[m].venv}_python")) for m in modes if m in PEERS}
    spec = make_spec(args)
    command = (
        shlex.join([sys.executable, *sys.argv])
        if argv is None
        else shlex.join(["train_throughput.py", *argv])
    )
    facts = machine_facts()
    print(f"command: {command}")
    print(
        f"machine: {facts['cores']} cores ({facts['usable_cores']} usable), {facts['cpu']}; python {facts['python']}; "
        + ", ".join(f"{k} {v}" for k, v in facts["versions"].items())
    )
    print(f"load average at start: {facts['load_average_start']} (the machine may be shared)")
    cores = facts["usable_cores"] or facts["cores"] or 1
    busy = facts["load_average_start"][0] + spec.threads > cores + 0.5
    if busy and not args.quick:
        print(
            f"WARNING: the machine is busy (load {facts['load_average_start'][0]} on {cores} cores): other jobs "
            "take the cores in bursts, so wall-clock figures vary between repeats; the cpu column (share of the "
            "mode's thread time spent on a core) shows which runs were disturbed. With more than one torch "
            "thread per process the threads also wait on each other, which slows small steps (the packed rows) "
            "most. Measure on an idle machine."
        )

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="loradoc-bench-")
        workdir = Path(tmp.name)
    else:
        workdir = args.workdir.resolve()
    try:
        return _run(args, spec, modes, workdir, command, facts, pythons)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _run(
    args: argparse.Namespace,
    spec: BenchSpec,
    modes: list[str],
    workdir: Path,
    command: str,
    facts: dict[str, Any],
    pythons: dict[str, Path],
) -> int:
    t0 = time.perf_counter()
    build_workload(workdir, spec)
    work = workload_facts(workdir, spec)
    problems: list[str] = []
    if pythons:
        problems += check_tokens(run_in_child("export", workdir, "export", spec.threads), work)
        for mode, python in pythons.items():
            found = ", ".join(f"{k} {v}" for k, v in peer_versions(mode, python).items())
            facts.setdefault("peers", {})[mode] = {"python": str(python), "versions": found}
            print(f"peer {mode}: {python} ({found})")
    print(
        f"workload: {work['examples']} examples of the first {work['rows']} rows, {work['real_tokens']:,} real tokens, "
        f"{work['supervised_tokens']:,} supervised; lengths median {work['length_median']:.0f}, "
        f"p90 {work['length_p90']:.0f}, p99 {work['length_p99']:.0f}, max {work['length_max']} "
        f"(built in {time.perf_counter() - t0:.1f} s)"
    )
    print(
        f"model: Llama hidden {spec.hidden}, {spec.layers} layers, {spec.heads} heads, {spec.kv_heads} KV heads, "
        f"intermediate {spec.intermediate}, vocab {spec.vocab}, untied, fp32; LoRA r{spec.lora_r}/a{spec.lora_alpha} "
        f"on q/k/v/o/gate/up/down; AdamW lr {spec.learning_rate:g} cosine; sequence_len {spec.sequence_len}; "
        f"{spec.threads} threads; one epoch; packed bf16: {str(spec.bf16).lower()}; padded {spec.padded_mbs} examples/step, packed {spec.packed_mbs} "
        f"row(s)/step; first {spec.warmup_steps} steps untimed"
    )
    print(
        f"packing efficiency (BFD): {work['packing_efficiency_at_sequence_len']:.2%} at {spec.sequence_len}, "
        f"{work['packing_efficiency_at_2048']:.2%} at 2048"
    )
    from loradoc.train.estimate_time import measure_cpu_flops

    peak = measure_cpu_flops(spec.threads, seconds=2.0)
    print(
        f"MFU basis: {work['flops_per_token'] / 1e6:.1f} MFLOP per real token (LoRA training, attention over the "
        f"token-weighted mean example length {work['attention_len']:.0f}); fp32 matmul rate at {spec.threads} "
        f"threads measured now: {peak / 1e9:.1f} GFLOP/s (1024x1024 matmuls, best of 2 s)"
    )

    def one(mode: str, tag: str) -> dict[str, Any]:
        if mode in pythons:
            return run_in_child(mode, workdir, tag, spec.threads, python=pythons[mode])
        if args.inline:
            import torch

            torch.set_num_threads(spec.threads)
            return run_mode(mode, workdir, tag)
        return run_in_child(mode, workdir, tag, spec.threads)

    runs: list[dict[str, dict[str, Any]]] = []
    dropped: list[dict[str, dict[str, Any]]] = []
    rep = 0
    while len(runs) < args.repeats:
        this: dict[str, dict[str, Any]] = {}
        order = modes if rep % 2 == 0 else modes[::-1]  # alternate so drift in load hits every mode alike
        for mode in order:
            this[mode] = one(mode, f"r{rep}")
            print_run(rep, mode, this[mode])
        rep += 1
        slow = disturbed(this)
        reruns = args.max_reruns if args.max_reruns is not None else 0 if args.quick else 2
        if slow and len(dropped) < reruns:
            dropped.append(this)
            print(f"  repeat {rep} was disturbed ({slow}): left out and run again", flush=True)
            continue
        runs.append(this)

    problems += check_consistency(runs, modes, work)
    clean = [r for r in runs if not disturbed(r)]
    shown = clean or runs
    summary = summarise(shown, modes, work["flops_per_token"], peak)
    summary["fp32_matmul_flops"] = peak
    summary["dropped_repeats"] = len(dropped)
    print(
        f"\n{len(clean)} undisturbed repeats of {len(runs)} kept; {len(dropped)} disturbed repeats dropped "
        f"(a mode's threads on a core < {CLEAN_CPU:.0%} of its timed wall time)"
    )
    print_table(summary, shown, modes)
    if not clean:
        print(
            f"WARNING: no repeat was undisturbed after {len(dropped)} reruns: these figures come from disturbed "
            "repeats; measure on a quieter machine"
        )
    eq = None
    if not args.no_equivalence:
        eq = one("equivalence", "eq")
        print_equivalence(eq)
    load_end = [round(x, 2) for x in os.getloadavg()]
    print(f"\nload average at end: {load_end}; total {time.perf_counter() - t0:.0f} s")
    if args.inline:
        print("note: --inline ran every mode in one process, so peak RSS is cumulative, not per mode")
    for p in problems:
        print(f"WARNING: {p}")
    if args.json:
        report = {
            "command": command,
            "machine": {**facts, "load_average_end": load_end},
            "spec": dataclasses.asdict(spec),
            "inline": bool(args.inline),
            "workload": work,
            "runs": runs,
            "dropped_runs": dropped,
            "summary": summary,
            "equivalence": eq,
            "problems": problems,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"json: {args.json}")
    return 1 if problems or (eq is not None and not eq["passed"]) else 0


def check_consistency(
    runs: list[dict[str, dict[str, Any]]], modes: list[str], work: dict[str, Any]
) -> list[str]:
    """Every mode must have trained on the same examples, tokens and initial adapter."""
    problems = []
    for rep, run in enumerate(runs):
        for mode in modes:
            r = run[mode]
            for key, want in (
                ("examples", work["examples"]),
                ("real_tokens", work["real_tokens"]),
                ("supervised_tokens", work["supervised_tokens"]),
            ):
                if r[key] != want:
                    problems.append(f"repeat {rep + 1} {mode}: {key} {r[key]} != {want} in the dataset")
        # Axolotl makes its adapter itself (no checksum); every other mode starts from the same weights.
        # The checksum is a float32 sum: another process's reduction order moves its 7th digit.
        sums = {
            run[m]["adapter_init_checksum"] for m in modes if run[m].get("adapter_init_checksum") is not None
        }
        if sums and max(sums) - min(sums) > CHECKSUM_RTOL * max(abs(x) for x in sums):
            problems.append(f"repeat {rep + 1}: the LoRA adapters started from different weights: {sums}")
    return problems


if __name__ == "__main__":
    raise SystemExit(main())
