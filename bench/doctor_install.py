"""Benchmark `loradoc doctor install`.

1. Plan time on a saved snapshot (pure function; target: under 0.2 s).
2. Empty venv -> verified stack: `python -m venv`, then `loradoc doctor install --yes --python VENV`
   (plan, install, `doctor check` in the venv, import smoke test), side by side with the
   baseline a person types by hand, `pip install torch==X+cpu` into an empty venv (no plan,
   no check).

    python bench/doctor_install.py [--runs 3] [--plan-runs 200] [--full] [--torch 2.13.0]

The install runs are pinned to the torch this interpreter runs (a CPU wheel pip can reach)
unless --torch says otherwise. --full installs the Hugging Face stack too (default: --minimal).
Prints medians, the ratio to the baseline, and the exact commands.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "doctor" / "install_snapshots" / "h100_driver580.json"


def plan_times(runs: int) -> list[float]:
    from loradoc.compat.load import load_matrix
    from loradoc.doctor.install.plan import plan
    from loradoc.doctor.install.wants import from_options
    from loradoc.doctor.snapshot import Snapshot

    matrix = load_matrix()
    snap = Snapshot.load(SNAPSHOT)
    wants = from_options(with_=["xformers,flash-attn,bitsandbytes"])
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        plan(snap, matrix, wants)
        out.append(time.perf_counter() - t0)
    return out


def _venv(path: Path) -> tuple[Path, float]:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True)
    return path / "bin" / "python", time.perf_counter() - t0


def install_once(torch: str, full: bool) -> tuple[float, float, list[str], dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        py, t_venv = _venv(Path(tmp) / "env")
        cmd = [
            sys.executable,
            "-m",
            "loradoc",
            "doctor",
            "install",
            "--yes",
            "--python",
            str(py),
            "--torch",
            torch,
        ]
        cmd += ["--json"] + ([] if full else ["--minimal"])
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        t_install = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"install failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
        return t_venv, t_install, cmd, json.loads(proc.stdout)


def baseline_once(torch: str) -> tuple[float, list[str]]:
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        py, _ = _venv(Path(tmp) / "env")
        cmd = [str(py), "-m", "pip", "install", "--no-input", f"torch=={torch}+cpu"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t0, cmd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="install runs (each from an empty venv)")
    ap.add_argument("--plan-runs", type=int, default=200)
    ap.add_argument("--torch", default=None, help="torch version to install (default: this interpreter's)")
    ap.add_argument("--full", action="store_true", help="install the Hugging Face stack too")
    ap.add_argument("--plan-only", action="store_true")
    args = ap.parse_args()

    pt = plan_times(args.plan_runs)
    print(f"plan time on {SNAPSHOT.name} (--with xformers,flash-attn,bitsandbytes), {args.plan_runs} runs:")
    print(f"  median {statistics.median(pt) * 1000:.2f} ms, max {max(pt) * 1000:.2f} ms (target < 200 ms)")
    if args.plan_only:
        return
    torch = args.torch or metadata.version("torch").split("+")[0]
    venvs, installs, bases = [], [], []
    cmd: list[str] = []
    base_cmd: list[str] = []
    result: dict[str, object] = {}
    for _ in range(args.runs):
        t_venv, t_install, cmd, result = install_once(torch, args.full)
        venvs.append(t_venv)
        installs.append(t_install)
        t_base, base_cmd = baseline_once(torch)
        bases.append(t_base)
    med_v, med_i, med_b = (statistics.median(x) for x in (venvs, installs, bases))
    print(
        f"empty venv -> verified stack (torch {torch}+cpu, {'full' if args.full else 'minimal'}), {args.runs} runs:"
    )
    print(f"  python -m venv            median {med_v:6.1f} s")
    print(f"  loradoc doctor install    median {med_i:6.1f} s  (plan + install + doctor check + smoke test)")
    print(f"  total                     median {med_v + med_i:6.1f} s")
    print(
        f"  baseline pip install      median {med_b:6.1f} s  (no plan, no check); ratio {med_i / med_b:.2f}x"
    )
    applied = result.get("applied", {})
    print(
        f"  fell back to pip's configured sources for: {applied.get('fell_back') if isinstance(applied, dict) else '?'}"
    )
    print("commands:")
    print("  " + shlex.join(cmd).replace(str(Path(tempfile.gettempdir())), "$TMP"))
    print("  " + shlex.join(base_cmd).replace(str(Path(tempfile.gettempdir())), "$TMP"))


if __name__ == "__main__":
    main()
