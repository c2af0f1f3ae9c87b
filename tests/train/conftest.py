"""Shared fixtures for the trainer tests: a tiny Llama, its tokenizer, tiny datasets.

Everything is built locally (no hub): a byte-level BPE tokenizer trained on the
fixture text, wrapped in ``PreTrainedTokenizerFast`` with a ChatML-style chat
template, and a 2-layer ``LlamaForCausalLM`` (hidden 64) from a fixed seed.
All fixtures are session-scoped and take well under a second to build.

Fixtures:
- ``tiny_model_dir``: a folder with the model *and* its tokenizer (use as ``base_model``).
- ``tiny_tokenizer``: the tokenizer loaded back with ``AutoTokenizer``.
- ``tiny_data_dir``: ``alpaca.jsonl``, ``completion.jsonl``, ``chat.jsonl`` (OpenAI roles),
  ``sharegpt.jsonl`` (from/value, human/gpt).
- ``tiny_config_doc``: that config as a dict, for tests that write their own YAML.
- ``make_train_config``: writes a YAML for the tiny model + data into a folder and loads it
  with ``loradoc.config.load.load_config`` (any key can be overridden).
- ``train_config``: ``train_config(**keys)`` -> a TrainConfig built through the schema from a
  minimal valid document (no files needed); ``dataset_spec(**keys)`` -> one ``datasets[]``
  entry the same way; ``data_config`` is ``train_config`` with the data keys set.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from loradoc.config.schema import DatasetSpec, TrainConfig

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]

COLOURS = ["red", "green", "blue", "yellow", "black", "white", "orange", "purple"]
ANIMALS = ["cat", "dog", "fox", "owl", "horse", "sheep", "goat", "mouse"]


def _alpaca_rows(n: int = 48) -> list[dict[str, str]]:
    rng = random.Random(1)
    rows: list[dict[str, str]] = []
    for i in range(n):
        words = rng.sample(COLOURS, rng.randint(2, 5))
        if i % 3 == 0:
            animal = rng.choice(ANIMALS)
            rows.append(
                {
                    "instruction": f"Name the animal {animal} twice.",
                    "input": "",
                    "output": f"{animal} {animal}",
                }
            )
        else:
            rows.append(
                {
                    "instruction": "Reverse the words.",
                    "input": " ".join(words),
                    "output": " ".join(reversed(words)),
                }
            )
    return rows


def _completion_rows(n: int = 24) -> list[dict[str, str]]:
    rng = random.Random(2)
    return [
        {
            "text": f"the {rng.choice(COLOURS)} {rng.choice(ANIMALS)} sees the {rng.choice(COLOURS)} {rng.choice(ANIMALS)}."
        }
        for _ in range(n)
    ]


def _chat_rows(n: int = 16) -> list[dict[str, Any]]:
    rng = random.Random(3)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        words = rng.sample(COLOURS, 3)
        messages: list[dict[str, str]] = []
        if i % 2 == 0:
            messages.append({"role": "system", "content": "You reverse words."})
        messages += [
            {"role": "user", "content": " ".join(words)},
            {"role": "assistant", "content": " ".join(reversed(words))},
        ]
        if i % 4 == 1:
            more = rng.sample(ANIMALS, 2)
            messages += [
                {"role": "user", "content": " ".join(more)},
                {"role": "assistant", "content": " ".join(reversed(more))},
            ]
        rows.append({"messages": messages})
    return rows


def _sharegpt_rows(chat: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {"system": "system", "user": "human", "assistant": "gpt"}
    return [
        {"conversations": [{"from": names[m["role"]], "value": m["content"]} for m in row["messages"]]}
        for row in chat
    ]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _tokenizer_corpus() -> list[str]:
    lines = [
        "Below is a task instruction, together with input that gives it context.",
        "Below is a task instruction. Write a response that fulfils the request.",
        "### Instruction:\n### Input:\n### Response:\n",
        "USER: ASSISTANT: system user assistant",
        "You reverse words. Reverse the words. Name the animal twice.",
        " ".join(COLOURS),
        " ".join(ANIMALS),
        "the sees the.",
    ]
    for row in _alpaca_rows():
        lines.append(f"{row['instruction']} {row['input']} {row['output']}")
    for crow in _completion_rows():
        lines.append(crow["text"])
    return lines * 4


def _build_tokenizer(out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_tokenizer_corpus(), trainer)
    bos_id = backend.token_to_id("<s>")
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos_id)]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(str(out))


def _build_model(out: Path) -> None:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(out))
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(out))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-llama")
    _build_tokenizer(out)
    _build_model(out)
    return out


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-data")
    _write_jsonl(out / "alpaca.jsonl", _alpaca_rows())
    _write_jsonl(out / "completion.jsonl", _completion_rows())
    chat = _chat_rows()
    _write_jsonl(out / "chat.jsonl", chat)
    _write_jsonl(out / "sharegpt.jsonl", _sharegpt_rows(chat))
    return out


def tiny_config_dict(model_dir: Path, data_dir: Path, out_dir: Path) -> dict[str, Any]:
    """A small, fast config for the tiny model (CPU, packing on, ~4 optimizer steps)."""
    return {
        "base_model": str(model_dir),
        "datasets": [{"path": str(data_dir / "alpaca.jsonl"), "type": "alpaca"}],
        "val_set_size": 0,
        "sequence_len": 128,
        "sample_packing": True,
        "adapter": "lora",
        "lora_r": 4,
        "lora_alpha": 8,
        "lora_dropout": 0.0,
        "lora_target_linear": True,
        "micro_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "num_epochs": 1,
        "max_steps": 4,
        "learning_rate": 0.01,
        "optimizer": "adamw_torch",
        "lr_scheduler": "constant",
        "logging_steps": 1,
        "seed": 7,
        "output_dir": str(out_dir / "run"),
        "dataset_prepared_path": str(out_dir / "prepared"),
    }


@pytest.fixture
def tiny_config_doc(tiny_model_dir: Path, tiny_data_dir: Path, tmp_path: Path) -> dict[str, Any]:
    """The tiny config as a dict (outputs under ``tmp_path``), to edit and write as YAML."""
    return tiny_config_dict(tiny_model_dir, tiny_data_dir, tmp_path)


@pytest.fixture
def make_train_config(tiny_model_dir: Path, tiny_data_dir: Path, tmp_path: Path) -> Callable[..., Any]:
    """``make_train_config(**overrides)`` -> a loaded TrainConfig for the tiny model in ``tmp_path``."""

    def make(**overrides: Any) -> Any:
        from loradoc.config.load import load_config

        doc = tiny_config_dict(tiny_model_dir, tiny_data_dir, tmp_path)
        doc.update(overrides)
        path = tmp_path / "cfg.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return load_config(path, {})

    return make


# the least a config must say to load: everything else is the schema's default
MINIMAL_CONFIG: dict[str, Any] = {
    "base_model": "tiny-base",
    "adapter": "lora",
    "datasets": [{"path": "data.jsonl", "type": "alpaca"}],
}


def train_config(**keys: Any) -> TrainConfig:
    """A real TrainConfig, built and validated by ``config_from_dict`` from ``MINIMAL_CONFIG`` + ``keys``."""
    from loradoc.config.load import config_from_dict

    return config_from_dict({**MINIMAL_CONFIG, **keys}, echo=False)


def dataset_spec(**keys: Any) -> DatasetSpec:
    """One ``datasets[]`` entry built through the schema (``path`` defaults to ``data.jsonl``)."""
    return train_config(datasets=[{"path": "data.jsonl", **keys}]).datasets[0]


@pytest.fixture(name="train_config")
def train_config_fixture() -> Callable[..., TrainConfig]:
    """``train_config(**keys)``: a TrainConfig from a minimal valid document plus ``keys``."""
    return train_config


@pytest.fixture
def minimal_config_doc() -> dict[str, Any]:
    """A copy of ``MINIMAL_CONFIG`` (for configs built in another process)."""
    return json.loads(json.dumps(MINIMAL_CONFIG))


@pytest.fixture(name="dataset_spec")
def dataset_spec_fixture() -> Callable[..., DatasetSpec]:
    """``dataset_spec(**keys)``: one DatasetSpec built through the schema."""
    return dataset_spec


def data_config(tmp_path: Path, datasets: list[dict[str, Any]], **kw: Any) -> TrainConfig:
    """A TrainConfig for ``prepare_data``: these datasets, data cache and output under ``tmp_path``."""
    keys: dict[str, Any] = {
        "datasets": datasets,
        "seed": 3,
        "sequence_len": 128,
        "dataset_prepared_path": str(tmp_path / "prepared"),
        "output_dir": str(tmp_path / "out"),
    }
    return train_config(**{**keys, **kw})


@pytest.fixture(name="data_config")
def data_config_fixture() -> Callable[..., TrainConfig]:
    """``data_config(tmp_path, [{"path": ..., "type": ...}], **keys)``."""
    return data_config


@pytest.fixture
def one_torch_thread() -> Any:
    """Run torch on one thread for the test (restored after): on a shared 2-core machine a second
    OpenMP thread that spins waiting for a busy core makes tiny-model steps ~20x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# A loradoc subprocess of a test must not inherit what would change its run: a launcher's rank
# variables (it would take itself for a worker of the test's own launcher), the developer's W&B,
# TensorBoard or netrc settings.
_LAUNCHER_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NETRC")
_USER_PREFIXES = ("WANDB_", "TENSORBOARD_")


@pytest.fixture
def cli_env(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """``cli_env(**extra)``: the environment of a ``loradoc`` subprocess (its own HOME under
    ``tmp_path``, no progress bars), with ``extra`` variables set."""

    def make(**extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in _LAUNCHER_VARS and not k.startswith(_USER_PREFIXES)
        }
        env.update(HOME=str(tmp_path / "home"), TQDM_DISABLE="1", **extra)
        return env

    return make
