"""The workload of ``train_throughput.py``: model, tokenizer, data and config, built locally.

Follows the protocol of the peers' CPU measurement (cpu-peer-baselines): a random-init
Llama (hidden 256, 4 layers, 4 heads, 2 KV heads, intermediate 688, vocab 8192,
untied, fp32), a byte-level BPE tokenizer trained here on a synthetic corpus, and an
alpaca-format dataset whose formatted token lengths are long-tailed (lognormal; median
~105, p90 ~248, p99 ~576, max ~999). Nothing comes from the hub.

``build_workload(workdir, spec)`` writes, under ``workdir``: ``model/`` (weights and
tokenizer, ``save_pretrained``), ``data/train.jsonl`` (the first ``spec.rows`` rows)
and ``config.yml`` (a loradoc config for the packed run; the baselines read the same
file for their shared settings). It is deterministic in ``spec`` and reuses the model
and data of a folder built with the same ``build_key``.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SPEC_FILE = "spec.json"
BUILD_FILE = "build.json"


@dataclass(frozen=True)
class BenchSpec:
    """Everything that defines one side-by-side run (the defaults are the peers' setup)."""

    rows: int = 600
    sequence_len: int = 1024
    # model (cpu-peer-baselines: 7.1M parameters)
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 688
    vocab: int = 8192
    # formatted token lengths: lognormal(median, sigma), capped at max_len
    median_len: int = 102
    sigma: float = 0.68
    max_len: int = 999
    response_share: float = 0.535  # peers: 41,223 supervised of 79,488 tokens
    corpus_words: int = 3000
    # training
    padded_mbs: int = 8
    packed_mbs: int = 1
    warmup_steps: int = 3
    learning_rate: float = 2e-4
    lora_r: int = 16
    lora_alpha: int = 32
    seed: int = 42
    threads: int = 2
    logging_steps: int = 10
    equiv_examples: int = 24
    # the packed run's bf16 key: false = fp32 like every baseline and peer (the protocol); "auto" =
    # loradoc's default, which picks bf16 autocast on a CPU where it measured it faster
    bf16: str | bool = False

    def build_key(self) -> str:
        """Hash of the fields that shape the built model and data (not the training settings)."""
        fields = {k: v for k, v in asdict(self).items() if k in _BUILD_FIELDS}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


_BUILD_FIELDS = {
    "rows",
    "sequence_len",
    "hidden",
    "layers",
    "heads",
    "kv_heads",
    "intermediate",
    "vocab",
    "median_len",
    "sigma",
    "max_len",
    "response_share",
    "corpus_words",
    "seed",
}


QUICK = BenchSpec(
    rows=32,
    sequence_len=256,
    hidden=64,
    layers=2,
    heads=4,
    kv_heads=2,
    intermediate=172,
    vocab=1024,
    median_len=48,
    max_len=220,
    corpus_words=400,
    padded_mbs=4,
    packed_mbs=1,
    warmup_steps=1,
    logging_steps=2,
    equiv_examples=8,
)


def quick_spec(**overrides: Any) -> BenchSpec:
    return replace(QUICK, **overrides)


# --- synthetic text ---------------------------------------------------------------------

_ONSETS = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "st", "tr"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ea"]
_CODAS = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st"]
# Tokens of the alpaca template (loradoc.train.data.prompts) with and without an input, measured.
_ALPACA_OVERHEAD = {False: 29, True: 42}  # template + BOS + EOS
_TOKENS_PER_WORD = 1.16  # punctuation and rare words split


class _Words:
    """A Zipf-distributed vocabulary of pronounceable pseudo-words."""

    def __init__(self, n: int, rng: random.Random) -> None:
        seen: set[str] = set()
        words: list[str] = []
        while len(words) < n:
            syllables = rng.choice([1, 1, 2, 2, 2, 3, 3, 4])
            w = "".join(
                rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)
            )
            if w not in seen:
                seen.add(w)
                words.append(w)
        self.words = words
        self.cum = list(_cumulative([1.0 / (i + 1) ** 1.05 for i in range(n)]))

    def text(self, n_words: int, rng: random.Random, end: str = ".") -> str:
        picked = rng.choices(self.words, cum_weights=self.cum, k=max(1, n_words))
        out: list[str] = []
        sentence = 0
        for w in picked:
            out.append(w.capitalize() if sentence == 0 else w)
            sentence += 1
            if sentence >= 6 and rng.random() < 0.12:
                out[-1] += "."
                sentence = 0
            elif sentence >= 3 and rng.random() < 0.06:
                out[-1] += ","
        text = " ".join(out).rstrip(".,")
        return text + end


def _cumulative(xs: list[float]) -> list[float]:
    total, out = 0.0, []
    for x in xs:
        total += x
        out.append(total)
    return out


def target_lengths(spec: BenchSpec, n: int) -> list[int]:
    """Formatted token lengths to aim for, long-tailed (lognormal), seeded."""
    rng = random.Random(spec.seed)
    mu = math.log(spec.median_len)
    return [min(spec.max_len, max(36, round(rng.lognormvariate(mu, spec.sigma)))) for _ in range(n)]


def synthetic_rows(spec: BenchSpec) -> list[dict[str, str]]:
    """Alpaca rows (instruction / input / output) with roughly ``target_lengths`` tokens each.

    About one token per word with the tokenizer trained on this text; the template's
    own tokens are subtracted, and about ``response_share`` of the row is the response.
    """
    rng = random.Random(spec.seed + 1)
    words = _Words(spec.corpus_words, random.Random(spec.seed + 2))
    rows = []
    for total in target_lengths(spec, spec.rows):
        has_input = rng.random() < 0.4
        body = max(6, total - _ALPACA_OVERHEAD[has_input])
        out_tokens = min(body - 3, round(total * spec.response_share))
        n_out = max(2, round(out_tokens / _TOKENS_PER_WORD))
        n_prompt = max(3, round((body - out_tokens) / _TOKENS_PER_WORD))
        n_inp = round(n_prompt * rng.uniform(0.4, 0.8)) if has_input else 0
        rows.append(
            {
                "instruction": words.text(max(2, n_prompt - n_inp), rng, end=rng.choice([".", "?", ":"])),
                "input": words.text(n_inp, rng) if n_inp else "",
                "output": words.text(n_out, rng),
            }
        )
    return rows


# --- model and tokenizer ----------------------------------------------------------------


def build_model_dir(spec: BenchSpec, rows: list[dict[str, str]], out: Path) -> None:
    """Tokenizer (byte-level BPE, trained on the rows and the template) and a random-init Llama."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    from loradoc.train.data.prompts import AlpacaFormat
    from loradoc.train.model.tinybase import train_tokenizer

    fmt = AlpacaFormat()
    documents = [fmt.render(r, train_on_inputs=True).text for r in rows]
    tokenizer = train_tokenizer(documents, spec.vocab)
    tokenizer.model_max_length = spec.sequence_len
    config = LlamaConfig(
        vocab_size=spec.vocab,
        hidden_size=spec.hidden,
        intermediate_size=spec.intermediate,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.kv_heads,
        max_position_embeddings=spec.sequence_len,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(spec.seed)
    model = LlamaForCausalLM(config)
    hf_logging.disable_progress_bar()
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


def config_doc(spec: BenchSpec, workdir: Path) -> dict[str, Any]:
    """The loradoc config of the packed run (also the baselines' shared settings)."""
    return {
        "base_model": str(workdir / "model"),
        "datasets": [{"path": str(workdir / "data" / "train.jsonl"), "type": "alpaca"}],
        "dataset_prepared_path": str(workdir / "prepared"),
        "val_set_size": 0,
        "train_on_inputs": False,
        "sequence_len": spec.sequence_len,
        "sample_packing": True,
        "adapter": "lora",
        "lora_r": spec.lora_r,
        "lora_alpha": spec.lora_alpha,
        "lora_dropout": 0.0,
        "lora_target_modules": list(LORA_TARGETS),
        "micro_batch_size": spec.packed_mbs,
        "gradient_accumulation_steps": 1,
        "num_epochs": 1,
        "learning_rate": spec.learning_rate,
        "optimizer": "adamw_torch",
        "lr_scheduler": "cosine",
        "weight_decay": 0.0,
        "gradient_checkpointing": False,
        "bf16": spec.bf16,
        "logging_steps": spec.logging_steps,
        "seed": spec.seed,
        "output_dir": str(workdir / "out"),
    }


def build_workload(workdir: Path, spec: BenchSpec) -> Path:
    """Write model, data, config and ``spec.json`` under ``workdir``.

    Model and data are reused when a previous build had the same ``build_key``; the
    config and ``spec.json`` (which the per-mode processes read) are always rewritten.
    """
    import yaml

    workdir.mkdir(parents=True, exist_ok=True)
    marker = workdir / BUILD_FILE
    if not (marker.is_file() and json.loads(marker.read_text()).get("key") == spec.build_key()):
        rows = synthetic_rows(spec)
        (workdir / "data").mkdir(exist_ok=True)
        (workdir / "data" / "train.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
        )
        build_model_dir(spec, rows, workdir / "model")
        marker.write_text(json.dumps({"key": spec.build_key()}))
    (workdir / "config.yml").write_text(yaml.safe_dump(config_doc(spec, workdir), sort_keys=False))
    (workdir / SPEC_FILE).write_text(json.dumps({"spec": asdict(spec)}, indent=2))
    return workdir / "config.yml"


def load_bench_config(path: Path, **overrides: Any) -> Any:
    """The workload's config through loradoc's own loader (the real schema, defaults, checks)."""
    from loradoc.config.load import load_config

    return load_config(path, overrides or None, echo=False)
