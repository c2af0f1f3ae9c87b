"""bench/gpu_check.py --cpu-dry-run runs every step and writes the report a GPU run would write.

The GPU run happens once, on a borrowed machine, with no chance to fix the script there; this
keeps its code paths (and loradoc's APIs it calls) working in the meantime.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu_check.py"
sys.path.insert(0, str(REPO / "bench"))

import gpu_check  # noqa: E402

CPU_PATHS = ("sdpa", "eager", "loradoc_varlen")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("gpu-check") / "report.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--cpu-dry-run", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=REPO,
    )
    assert out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())
    data["_proc"] = {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr[-3000:]}
    return data


def test_every_step_is_reported_with_a_status(report: dict) -> None:
    assert report["schema"] == gpu_check.SCHEMA and report["mode"] == "cpu-dry-run"
    assert list(report["steps"]) == list(gpu_check.STEPS)
    for name, step in report["steps"].items():
        assert set(step) == set(gpu_check.STEP_FIELDS), name
        assert step["status"] in ("ok", "failed", "skipped"), name
        if step["status"] != "ok":
            assert step["reason"], name
    failed = {n: s["reason"] for n, s in report["steps"].items() if s["status"] == "failed"}
    assert not failed, failed
    assert report["_proc"]["rc"] == 0, report["_proc"]
    counts = report["counts"]
    assert counts["ok"] + counts["skipped"] == len(gpu_check.STEPS) and counts["failed"] == 0
    assert report["total_seconds"] > 0 and report["finished"]
    # the human summary names every step
    for name in gpu_check.STEPS:
        assert name in report["_proc"]["stdout"], name


def test_steps_that_need_cuda_say_why(report: dict) -> None:
    steps = report["steps"]
    for name in ("peak_memory", "qlora", "liger"):
        assert steps[name]["status"] == "skipped"
        assert "CUDA" in steps[name]["reason"], steps[name]["reason"]
    # the estimator still ran (so a change in its API shows up here, not on the GPU)
    assert steps["peak_memory"]["data"]["estimate_cpu"]["total_mib"] > 0
    for name in (
        "environment",
        "machine_facts",
        "doctor_check",
        "packed_equivalence",
        "matmul_rate",
        "throughput",
        "compile",
    ):
        assert steps[name]["status"] == "ok", (name, steps[name]["reason"])
    probe = steps["probe_vs_nvidia_smi"]
    assert probe["status"] in ("ok", "skipped") and "probe" in probe["data"]


def test_packed_equals_unpacked_on_every_cpu_attention_path(report: dict) -> None:
    impls = report["steps"]["packed_equivalence"]["data"]["impls"]
    for impl in CPU_PATHS:
        for precision in ("fp32", "bf16"):
            r = impls[f"{impl}/{precision}"]
            assert r["status"] == "ok", (impl, precision, r)
            assert r["logits_max_abs"] <= r["tolerance"]["logits_max_abs"]
            assert r["grad_rel"] <= r["tolerance"]["grad_rel"] and r["grad_tensors"] > 0
            # the check can see contamination: without example boundaries it fails by far
            assert (
                r["control_detected"] and r["control_logits_max_abs"] > 10 * r["tolerance"]["logits_max_abs"]
            )
        assert impls[f"{impl}/fp32"]["logits_max_abs"] <= 1e-4
    for impl in ("flash_attention_2", "flex_attention"):
        assert impls[impl]["status"] == "skipped" and impls[impl]["reason"]


def test_throughput_and_matmul_figures_are_recorded(report: dict) -> None:
    assert report["steps"]["matmul_rate"]["data"]["tflops"] > 0
    data = report["steps"]["throughput"]["data"]
    assert data["packed_attention"] == "loradoc_varlen"
    assert set(data["seqs"]) == {str(s) for s in gpu_check.DRY.seqs}
    for seq, row in data["seqs"].items():
        assert set(row["modes"]) == set(gpu_check.MODES), seq
        for mode, r in row["modes"].items():
            assert r["status"] == "ok", (seq, mode, r)
            assert r["steps"] == gpu_check.DRY.timed_steps
            assert 0 < r["supervised_tokens"] < r["real_tokens"] <= r["slots"]
            assert r["supervised_tok_s"] > 0 and r["mfu"] > 0 and math.isfinite(r["final_loss"])
        assert row["modes"]["packed"]["padding_pct"] < row["modes"]["padded"]["padding_pct"]
        assert row["packed_vs_padded"] > 0 and row["packed_vs_grouped"] > 0


def test_the_compile_step_runs_both_ways_with_the_same_losses(report: dict) -> None:
    data = report["steps"]["compile"]["data"]
    assert data["backend"] == "eager"  # the dry run: no C++ build
    for name in ("eager", "compiled"):
        assert data[name]["steps"] == gpu_check.DRY.timed_steps and data[name]["supervised_tok_s"] > 0
    assert data["final_loss_rel_diff"] <= 1e-5 and data["compiled_vs_eager"] > 0


def test_nothing_on_the_path_needs_what_the_gpu_image_lacks(report: dict) -> None:
    # The GPU image has no datasets or trl: the run must not import them.
    assert report["imported_during_run"] == {"datasets": False, "trl": False}
    packages = report["steps"]["environment"]["data"]["packages"]
    assert set(packages) == set(gpu_check.OPTIONAL)
    for name, entry in packages.items():
        assert entry["status"] in ("ok", "skipped", "failed"), name


def test_a_spent_budget_skips_the_remaining_steps_and_still_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    cmd = [sys.executable, str(SCRIPT), "--cpu-dry-run", "--budget", "1", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    steps = json.loads(out.read_text())["steps"]
    assert list(steps) == list(gpu_check.STEPS)
    assert all(s["status"] == "skipped" and "budget" in s["reason"] for s in steps.values()), steps


def test_time_limits_nest() -> None:
    import time

    with gpu_check.time_limit(5):
        with pytest.raises(gpu_check.StepTimeout), gpu_check.time_limit(0.05):
            time.sleep(1)
        time.sleep(0.1)  # the outer limit is still armed, and not yet due
    with pytest.raises(gpu_check.StepTimeout), gpu_check.time_limit(0.1), gpu_check.time_limit(5):
        time.sleep(1)  # an inner limit never outlasts the outer one
