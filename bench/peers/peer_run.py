"""What the peers' runners share: their command line, the workload, and the result file.

A runner is started by ``train_throughput.py --peers`` with the Python of the peer's own virtual
environment (``bench/peers/setup.sh``), where loradoc is not installed: it reads only the
workload folder (``spec.json``, ``model/``, ``peers/tokens.jsonl``: the examples exactly as
loradoc tokenized them) and ``step_recorder`` (standard library), and writes one JSON result with
the keys of loradoc's own modes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

from step_recorder import process_facts  # noqa: E402


def spec_of(workdir: Path) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((workdir / "spec.json").read_text())["spec"]
    return spec


def token_rows(workdir: Path) -> list[dict[str, list[int]]]:
    path = workdir / "peers" / "tokens.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path}: missing; train_throughput.py --peers writes it before a peer runs")
    return [json.loads(line) for line in path.read_text().splitlines()]


def lora_kwargs(spec: dict[str, Any]) -> dict[str, Any]:
    """The LoRA of every mode (``throughput_workload.config_doc``): r, alpha, no dropout, q/k/v/o/gate/up/down."""
    return {
        "r": int(spec["lora_r"]),
        "lora_alpha": int(spec["lora_alpha"]),
        "lora_dropout": 0.0,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "bias": "none",
        "task_type": "CAUSAL_LM",
    }


def peer_result(
    out: dict[str, Any], mode: str, trainer: str, spec: dict[str, Any], rows: list[dict[str, list[int]]]
) -> dict[str, Any]:
    """A peer's measured ``out`` with the keys every mode reports (one packed row per step, sdpa)."""
    out.update(
        mode=mode,
        micro_batch_size=int(spec["packed_mbs"]),
        attention="sdpa",
        trainer=trainer,
        dataset_examples=len(rows),
        dataset_real_tokens=sum(len(r["input_ids"]) for r in rows),
    )
    return out


def main(run: Callable[[Path, str, dict[str, Any]], dict[str, Any]], doc: str) -> int:
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--workdir", type=Path, required=True, help="the workload folder of train_throughput.py")
    p.add_argument("--tag", default="r0", help="repeat tag (names the run folder)")
    p.add_argument("--result", type=Path, required=True, help="write the result JSON here")
    args = p.parse_args()

    import torch

    spec = spec_of(args.workdir)
    torch.set_num_threads(int(spec["threads"]))
    started = time.perf_counter()
    result = process_facts(run(args.workdir, args.tag, spec), torch.get_num_threads(), started)
    tmp = args.result.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(args.result)
    return 0
