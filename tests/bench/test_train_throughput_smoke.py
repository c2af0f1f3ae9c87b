"""bench/train_throughput.py --quick runs end to end and reports sane figures (no timing asserted)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench" / "train_throughput.py"
MODES = ("naive", "group_by_length", "packed")


def test_quick_side_by_side_reports_every_mode(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(BENCH), "--quick", "--inline", "--repeats", "1"]
    cmd += ["--workdir", str(tmp_path / "work"), "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.startswith("command: ") and "train_throughput.py --quick" in proc.stdout

    report = json.loads(out.read_text())
    work = report["workload"]
    assert report["problems"] == []
    assert report["machine"]["cores"] >= 1 and report["machine"]["versions"]["torch"]
    (run,) = report["runs"]
    assert set(run) == set(MODES)
    for mode, r in run.items():
        # every mode trains on the same examples and tokens, once
        assert r["examples"] == work["examples"] > 0, mode
        assert r["real_tokens"] == work["real_tokens"], mode
        assert r["supervised_tokens"] == work["supervised_tokens"] < r["real_tokens"], mode
        assert r["slots"] >= r["real_tokens"] and 0 < r["efficiency"] <= 1, mode
        assert 0 < r["timed_seconds"] <= r["loop_seconds"], mode
        assert 0 < r["supervised_tok_s"] < r["input_tok_s"], mode
        assert r["peak_rss_mb"] > 0 and math.isfinite(r["final_loss"]), mode
    assert len({r["adapter_init_checksum"] for r in run.values()}) == 1
    # packing wastes fewer slots than padding (the tiny run is too small for group_by_length to group much)
    assert run["packed"]["padding_pct"] < min(
        run["group_by_length"]["padding_pct"], run["naive"]["padding_pct"]
    )
    assert run["packed"]["attention"] == "loradoc_varlen"
    assert run["packed"]["loradoc_summary"]["input_tokens"] == work["real_tokens"]
    assert set(report["summary"]["ratios"]) == {"packed_vs_naive", "packed_vs_group_by_length"}

    eq = report["equivalence"]
    assert eq["passed"] and eq["control_detected"], eq
