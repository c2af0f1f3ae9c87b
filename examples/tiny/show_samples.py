"""Before/after: the tiny base model and the trained adapter answer held-out prompts.

    python examples/tiny/show_samples.py [--config examples/tiny/lora.yml] [-n 3]

Reads the config (base model, held-out data, output_dir), loads the adapter that
``loradoc train`` saved there, answers the first N held-out prompts greedily with the
adapter off ("before") and on ("after"), prints them, counts how many answers have
their task's shape (a greeting, a shopping list, "This text is about ...") and how
many are exactly the expected answer, and writes ``samples.md`` into output_dir.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent

# the shape of an answer to each task of data/*.jsonl, keyed by how its expected answer starts
TASK_SHAPES = {
    "Hello, ": re.compile(r"Hello, [^!\n]+! It is nice to meet you\."),
    "Shopping list:": re.compile(r"Shopping list:\n- \S"),
    "This text is about ": re.compile(r"This text is about [^\n]+\."),
}


def task_shape(expected: str) -> re.Pattern[str] | None:
    """The pattern an answer to the task whose expected answer is ``expected`` has (None: unknown)."""
    return next((shape for start, shape in TASK_SHAPES.items() if expected.startswith(start)), None)


def score(results: Sequence[object]) -> dict[str, int]:
    """How many of the before/after answers have their task's shape, and how many are exact."""
    counts = dict.fromkeys(("n", "before_shape", "after_shape", "before_exact", "after_exact"), 0)
    for r in results:
        expected = str(getattr(r, "expected", "") or "").strip()
        shape = task_shape(expected)
        counts["n"] += 1
        for side in ("before", "after"):
            answer = str(getattr(r, side)).strip()
            counts[f"{side}_shape"] += bool(shape and shape.match(answer))
            counts[f"{side}_exact"] += answer == expected
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE / "lora.yml"))
    parser.add_argument("-n", type=int, default=3, help="how many held-out prompts (default 3)")
    args = parser.parse_args(argv)

    from loradoc.config.load import load_config
    from loradoc.errors import UserError

    try:
        cfg = load_config(args.config, echo=False)
    except UserError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    out = Path(cfg.output_dir)
    if not (out / "adapter_config.json").is_file():
        print(f"error: {out}: no adapter yet; run `loradoc train {args.config}` first", file=sys.stderr)
        return 2
    spec = (cfg.test_datasets or cfg.datasets)[0]
    rows = [
        json.loads(line) for line in Path(spec.path).read_text(encoding="utf-8").splitlines() if line.strip()
    ]

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from loradoc.train.data.prompts import format_for
    from loradoc.train.run.samples import (
        load_adapter,
        prompts_from_rows,
        sample_before_after,
        write_samples_md,
    )

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(cfg.base_model)
    fmt = format_for(spec, where=spec.path, tokenizer=tokenizer, chat_template=lambda: "")
    prompts, expected = prompts_from_rows(fmt, rows, args.n)
    base = AutoModelForCausalLM.from_pretrained(cfg.base_model, dtype=torch.float32)
    model = load_adapter(base, out)  # PeftModel.from_pretrained, without peft's FutureWarning
    results = sample_before_after(model, tokenizer, prompts, expected=expected)
    for r in results:
        shown = " / ".join(line.strip() for line in r.prompt.splitlines() if line.strip())
        print(f"prompt:   {shown[:140]}")
        print(f"expected: {r.expected}")
        print(f"before:   {r.before.strip()}")
        print(f"after:    {r.after.strip()}")
        print()
    c = score(results)
    print(
        f"in the task's shape: before {c['before_shape']}/{c['n']}, after {c['after_shape']}/{c['n']}; "
        f"exactly as expected: before {c['before_exact']}/{c['n']}, after {c['after_exact']}/{c['n']}"
    )
    path = write_samples_md(results, out / "samples.md")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
