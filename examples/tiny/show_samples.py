"""Before/after: the tiny base model and the trained adapter answer held-out prompts.

    python examples/tiny/show_samples.py [--config examples/tiny/lora.yml] [-n 3]

Reads the config (base model, held-out data, output_dir), loads the adapter that
``loradoc train`` saved there, answers the first N held-out prompts greedily with the
adapter off ("before") and on ("after"), prints them and writes ``samples.md`` into
output_dir.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


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
    path = write_samples_md(results, out / "samples.md")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
