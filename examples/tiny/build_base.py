"""Build the tiny Llama base model for this example from the text in ./corpus.

    python examples/tiny/build_base.py                 # -> examples/tiny/model/
    python examples/tiny/build_base.py --out DIR --steps 20 --force

A byte-level BPE tokenizer is trained on corpus/*.txt, a small LlamaForCausalLM is
initialised from a fixed seed and pretrained briefly on the same text (plain torch
loop, 2 CPU threads, deterministic). A folder that already holds a build of the
same corpus, settings and builder code is reused. The logic lives in
loradoc.train.model.tinybase so that tests and `loradoc` can call it too.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

try:
    from loradoc.errors import UserError
    from loradoc.train.model.tinybase import TinyBaseSpec, build_tiny_base, with_steps
except ImportError:  # a checkout that was not installed: use its src/ folder
    sys.path.insert(0, str(HERE.parents[1] / "src"))
    from loradoc.errors import UserError
    from loradoc.train.model.tinybase import TinyBaseSpec, build_tiny_base, with_steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=HERE / "model", help="output folder (default: %(default)s)"
    )
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus", help="folder of *.txt files")
    parser.add_argument("--steps", type=int, default=None, help="pretraining steps (default: the spec's)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the spec's)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the folder is up to date")
    args = parser.parse_args(argv)

    try:
        spec = TinyBaseSpec()
        if args.steps is not None:
            spec = with_steps(spec, args.steps)
        if args.seed is not None:
            spec = dataclasses.replace(spec, seed=args.seed)
        build_tiny_base(args.out, args.corpus, spec, force=args.force)
    except UserError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
