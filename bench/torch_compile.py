"""torch.compile against eager for a packed LoRA step on this CPU, per attention: the figures
behind ``torch_compile`` (``loradoc.train.model.compile``).

Each run is a fresh process (so no compiled graph is reused between modes; inductor's on-disk
cache is pointed at a fresh folder): a random-init Llama (4 layers, hidden 256, vocab 8192) with
LoRA r8 on every linear, AdamW, and 12 packed rows of 1024 tokens whose example boundaries are
drawn at random (3-12 examples a row), the same rows for every mode. It reports the first step
(which includes compiling) and the median of the last 8 steps. The modes run interleaved,
``--repeats`` times; the medians are printed with the load average.

    python bench/torch_compile.py [--attention sdpa,loradoc_varlen] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROWS, LENGTH, VOCAB = 12, 1024, 8192


def child(attention: str, compiled: bool, threads: int) -> dict[str, float]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from loradoc.train.model.attention import register_attention

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    register_attention()
    config = LlamaConfig(
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=8,
        vocab_size=VOCAB,
        max_position_embeddings=2048,
        attn_implementation=attention,
    )
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=8, lora_alpha=16, target_modules=targets))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    gen = torch.Generator().manual_seed(1)
    rows = []
    for _ in range(ROWS):
        count = int(torch.randint(3, 13, (1,), generator=gen))
        cuts = sorted(set(torch.randint(1, LENGTH, (count - 1,), generator=gen).tolist()))
        bounds = [0, *cuts, LENGTH]
        positions = torch.cat(
            [torch.arange(b - a) for a, b in zip(bounds, bounds[1:], strict=False)]
        ).unsqueeze(0)
        ids = torch.randint(0, VOCAB, (1, LENGTH), generator=gen)
        labels = ids.masked_fill(positions == 0, -100)
        rows.append((ids, positions, labels))
    forward = torch.compile(model) if compiled else model
    times, losses = [], []
    for ids, positions, labels in rows:
        start = time.perf_counter()
        loss = forward(input_ids=ids, position_ids=positions, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
        times.append(time.perf_counter() - start)
    return {"first_s": times[0], "step_s": statistics.median(times[-8:]), "first_loss": losses[0]}


def run(attention: str, compiled: bool, threads: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache, OMP_NUM_THREADS=str(threads))
        args = [sys.executable, __file__, "--child", attention, str(int(compiled)), str(threads)]
        done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{attention} compiled={compiled} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        print(json.dumps(child(argv[1], argv[2] == "1", int(argv[3]))))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--attention", default="sdpa,loradoc_varlen")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = p.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results: dict[tuple[str, bool], list[dict[str, float]]] = {}
    modes = [(a, c) for a in args.attention.split(",") for c in (False, True)]
    for _ in range(args.repeats):
        for mode in modes:
            results.setdefault(mode, []).append(run(*mode, args.threads))
    print(
        f"{args.threads} threads; {ROWS} packed rows of {LENGTH} tokens; medians of {args.repeats} processes"
    )
    print(f"{'attention':<16} {'mode':<9} {'first step':>11} {'step':>8} {'vs eager':>9}  first loss")
    for attention in args.attention.split(","):
        eager = statistics.median(r["step_s"] for r in results[(attention, False)])
        for compiled in (False, True):
            rs = results[(attention, compiled)]
            step = statistics.median(r["step_s"] for r in rs)
            first = statistics.median(r["first_s"] for r in rs)
            print(
                f"{attention:<16} {'compiled' if compiled else 'eager':<9} {first:>10.2f}s {step:>7.3f}s "
                f"{eager / step:>8.2f}x  {rs[0]['first_loss']:.6f}"
            )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
