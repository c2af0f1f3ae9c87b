"""Benchmark: ``loradoc doctor explain`` on a 100 MB log and on a 10 MB single line.

Each input ends with a real driver error, so the answer must still be found. Every run is a
fresh ``loradoc doctor explain FILE`` process; the median of N runs is printed with the exact
command and the load average. The reading window and line cap live in
``loradoc.doctor.log_input``; the target (issue 11) is "finishes in seconds".

    python bench/explain_log.py [-n 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ERROR = b"RuntimeError: The NVIDIA driver on your system is too old (found version 11040).\n"
NOISE = b"[2026-12-06 01:40:00] step 1234/5000 loss=1.2345 lr=2e-4 tokens/s=12345.6 (nothing wrong here)\n"


def make_inputs(folder: Path) -> dict[str, Path]:
    big, line = folder / "train-100mb.log", folder / "one-line-10mb.log"
    with big.open("wb") as fh:
        block = NOISE * 10_000
        for _ in range((100 << 20) // len(block)):
            fh.write(block)
        fh.write(ERROR)
    line.write_bytes(b"x" * (10 << 20) + b" " + ERROR)
    return {"100 MB log": big, "10 MB single line": line}


def time_one(path: Path, runs: int) -> tuple[float, bool]:
    cmd = [sys.executable, "-m", "loradoc", "doctor", "explain", str(path)]
    times, found = [], True
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        found = found and "driver-too-old-for-torch-cuda" in out.stdout
    return statistics.median(times), found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=3, help="timed runs per input (default: %(default)s)")
    parser.add_argument("--keep", type=Path, help="write the inputs here and keep them")
    args = parser.parse_args(argv)
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for label, path in make_inputs(folder).items():
            median, found = time_one(path, args.n)
            print(
                f"{label:18s} median {median:.2f} s over {args.n} runs; error found: {'yes' if found else 'NO'}"
            )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
