"""bf16 autocast vs fp32 on this CPU, by model width: the figure ``bf16: auto`` decides by.

For each hidden size, :func:`loradoc.train.cpu_bf16.measure_speedup` times two decoder-shaped
blocks with LoRA on every linear (frozen base, short packed examples) forward and backward in
fp32 and under bf16 autocast, in interleaved pairs, and gives the median ratio; this script
repeats that ``--repeats`` times and prints the median and spread of those, the load average
before and after, and the bar loradoc uses (``MIN_SPEEDUP``). Nothing is cached.

    python bench/cpu_bf16.py [--hidden 128,256,512,1024] [--seq 512] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", default="128,256,512,1024")
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = p.parse_args(argv)
    import torch

    from loradoc.train.cpu_bf16 import MIN_SPEEDUP, measure_speedup

    torch.set_num_threads(args.threads)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"torch {torch.__version__}, {args.threads} threads, sequence {args.seq}; bf16 wins at >= {MIN_SPEEDUP}x"
    )
    print(f"{'hidden':>7}  {'median':>7}  {'min':>6}  {'max':>6}  bf16: auto")
    for hidden in (int(h) for h in args.hidden.split(",")):
        runs = [measure_speedup(hidden, args.seq, threads=args.threads) for _ in range(args.repeats)]
        med = statistics.median(runs)
        verdict = "bf16" if med >= MIN_SPEEDUP else "fp32"
        print(f"{hidden:>7}  {med:>6.2f}x  {min(runs):>5.2f}x  {max(runs):>5.2f}x  {verdict}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
