"""bench/train_throughput.py --quick runs end to end and reports sane figures (no timing asserted).

The TRL peer runs with this environment's Python (trl is a dev dependency); the Axolotl peer needs
its own environment (bench/peers/setup.sh) and is run only when LORADOC_PEERS_AXOLOTL names its Python.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench" / "train_throughput.py"
MODES = ("naive", "group_by_length", "packed", "trl_packed")
AXOLOTL = os.environ.get("LORADOC_PEERS_AXOLOTL")


def test_quick_side_by_side_reports_every_mode(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    modes = MODES + (("axolotl_multipack",) if AXOLOTL else ())
    cmd = [sys.executable, str(BENCH), "--quick", "--inline", "--repeats", "1", "--modes", ",".join(modes)]
    cmd += ["--trl-python", sys.executable, "--workdir", str(tmp_path / "work"), "--json", str(out)]
    if AXOLOTL:
        cmd += ["--axolotl-python", AXOLOTL]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.startswith("command: ") and "train_throughput.py --quick" in proc.stdout

    report = json.loads(out.read_text())
    work = report["workload"]
    assert report["problems"] == []
    assert report["machine"]["cores"] >= 1 and report["machine"]["versions"]["torch"]
    (run,) = report["runs"]
    assert set(run) == set(modes)
    for mode, r in run.items():
        # every mode trains on the same examples and tokens, once
        assert r["examples"] == work["examples"] > 0, mode
        assert r["real_tokens"] == work["real_tokens"], mode
        assert r["supervised_tokens"] == work["supervised_tokens"] < r["real_tokens"], mode
        assert r["slots"] >= r["real_tokens"] and 0 < r["efficiency"] <= 1, mode
        assert 0 < r["timed_seconds"] <= r["loop_seconds"], mode
        assert 0 < r["supervised_tok_s"] < r["input_tok_s"], mode
        assert r["peak_rss_mb"] > 0 and math.isfinite(r["final_loss"]), mode
    # every mode but Axolotl (which makes its adapter itself) starts from the same LoRA weights
    assert len({r["adapter_init_checksum"] for m, r in run.items() if m != "axolotl_multipack"}) == 1
    assert run["trl_packed"]["trainer"].startswith("trl ") and run["trl_packed"]["padding_pct"] == 0.0
    assert run["trl_packed"]["examples"] == run["packed"]["examples"]  # BFD packs each example whole
    # packing wastes fewer slots than padding (the tiny run is too small for group_by_length to group much)
    assert run["packed"]["padding_pct"] < min(
        run["group_by_length"]["padding_pct"], run["naive"]["padding_pct"]
    )
    assert run["packed"]["attention"] == "loradoc_varlen"
    assert run["packed"]["loradoc_summary"]["input_tokens"] == work["real_tokens"]
    assert set(report["summary"]["ratios"]) == {f"packed_vs_{m}" for m in modes if m != "packed"}
    assert report["summary"]["ratios"]["packed_vs_trl_packed"]["target"] == 2.5
    # MFU: real tokens/s x loradoc's training FLOPs per token / this CPU's fp32 matmul rate
    assert work["flops_per_token"] > 0 and report["summary"]["fp32_matmul_flops"] > 0
    assert all(0 < report["summary"]["per_mode"][m]["mfu"] < 1 for m in modes)
    assert report["machine"]["peers"]["trl_packed"]["versions"].startswith("trl ")

    eq = report["equivalence"]
    assert eq["passed"] and eq["control_detected"], eq
