"""``tokenizer_use_mistral_common``: mistral-common's own tokenizer encodes the data.

The tokenizer is the real tekken file that the mistral-common wheel ships (no hub); the model is
a random-init two-layer Mistral with its 131k vocabulary.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from loradoc.errors import UserError

pytest.importorskip("mistral_common")

IGNORE = -100
CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
]


@pytest.fixture(scope="module")
def mistral_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    out = tmp_path_factory.mktemp("tiny-mistral")
    with resources.as_file(resources.files("mistral_common") / "data" / "tekken_240911.json") as tekken:
        shutil.copyfile(tekken, out / "tekken.json")
    config = MistralConfig(
        vocab_size=131072,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=11,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    MistralForCausalLM(config).save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def tok(mistral_dir: Path) -> Any:
    from loradoc.train.data.mistral_tokens import load_mistral_tokenizer

    return load_mistral_tokenizer(str(mistral_dir), revision=None)


def _chat_format(tok: Any, dataset_spec: Any, **keys: Any) -> Any:
    from loradoc.train.data.mistral_tokens import mistral_format_for

    return mistral_format_for(dataset_spec(type="chat_template", **keys), where="datasets[0]", tokenizer=tok)


def _trained_text(tok: Any, ids: list[int], labels: list[int]) -> list[str]:
    """The decoded runs of trained tokens, in order."""
    runs: list[list[int]] = []
    previous = False
    for t, label in zip(ids, labels, strict=True):
        if label != IGNORE:
            if not previous:
                runs.append([])
            runs[-1].append(t)
        previous = label != IGNORE
    return [tok.decode(run, skip_special_tokens=False) for run in runs]


def test_assistant_replies_and_their_eos_are_the_only_trained_tokens(tok: Any, dataset_spec: Any) -> None:
    ids, labels = _chat_format(tok, dataset_spec).encode({"messages": CHAT}, train_on_inputs=False)
    assert ids == tok.apply_chat_template(CHAT, tokenize=True, return_dict=True)["input_ids"]
    assert _trained_text(tok, ids, labels) == ["Hello!</s>", "4</s>"]
    assert all(label in (IGNORE, t) for t, label in zip(ids, labels, strict=True))
    # mistral-common (v3) puts the system prompt into the last user message: it is not trained
    assert "Be brief." in tok.decode(ids, skip_special_tokens=False)


def test_train_on_inputs_trains_every_token_but_the_first(tok: Any, dataset_spec: Any) -> None:
    ids, labels = _chat_format(tok, dataset_spec).encode({"messages": CHAT}, train_on_inputs=True)
    assert labels[0] == IGNORE and labels[1:] == ids[1:]


def test_a_reply_equal_to_a_user_message_is_labelled_where_the_reply_is(tok: Any, dataset_spec: Any) -> None:
    chat = [{"role": "user", "content": "echo"}, {"role": "assistant", "content": "echo"}]
    ids, labels = _chat_format(tok, dataset_spec).encode({"messages": chat}, train_on_inputs=False)
    assert _trained_text(tok, ids, labels) == ["echo</s>"]
    assert labels[-1] == tok.eos_token_id


def test_sharegpt_rows_and_role_names_are_read_as_for_other_tokenizers(tok: Any, dataset_spec: Any) -> None:
    from loradoc.train.data.mistral_tokens import mistral_format_for

    fmt = mistral_format_for(dataset_spec(type="sharegpt"), where="datasets[0]", tokenizer=tok)
    row = {"conversations": [{"from": "human", "value": "Hi there"}, {"from": "gpt", "value": "Hello!"}]}
    ids, labels = fmt.encode(row, train_on_inputs=False)
    assert _trained_text(tok, ids, labels) == ["Hello!</s>"]


def test_completion_rows_are_bos_text_eos_all_trained(tok: Any, dataset_spec: Any) -> None:
    from loradoc.train.data.mistral_tokens import mistral_format_for

    fmt = mistral_format_for(dataset_spec(type="completion"), where="datasets[0]", tokenizer=tok)
    ids, labels = fmt.encode({"text": "The cat sat."}, train_on_inputs=False)
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert tok.decode(ids[1:-1]) == "The cat sat."
    assert labels[0] == IGNORE and labels[1:] == ids[1:]


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"type": "alpaca"}, "datasets[0].type: 'alpaca' with tokenizer_use_mistral_common"),
        ({"type": "chat_template", "chat_template": "chatml"}, "datasets[0].chat_template"),
        ({"type": "chat_template", "roles_to_train": ["user", "assistant"]}, "datasets[0].roles_to_train"),
        ({"type": "chat_template", "train_on_eot": "all"}, "datasets[0].train_on_eot"),
    ],
)
def test_what_mistral_common_cannot_do_is_one_line(
    tok: Any, dataset_spec: Any, keys: Any, named: str
) -> None:
    from loradoc.train.data.mistral_tokens import mistral_format_for

    with pytest.raises(UserError) as err:
        mistral_format_for(dataset_spec(**keys), where="datasets[0]", tokenizer=tok)
    assert str(err.value).startswith(named) and "\n" not in str(err.value)


def test_a_conversation_mistral_common_refuses_names_the_file_and_row(
    tok: Any, tmp_path: Path, data_config: Any, mistral_dir: Path
) -> None:
    from loradoc.train.data.prepare import prepare_data

    path = tmp_path / "chat.jsonl"
    rows = [{"messages": CHAT}, {"messages": CHAT[:4]}]  # the second ends with a user message
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = data_config(
        tmp_path,
        [{"path": str(path), "type": "chat_template"}],
        base_model=str(mistral_dir),
        tokenizer_use_mistral_common=True,
    )
    with pytest.raises(UserError) as err:
        prepare_data(cfg, tok, say=lambda s: None)
    message = str(err.value)
    assert "chat.jsonl: row 2: mistral-common cannot encode this conversation" in message
    assert "Expected last role Assistant" in message


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"special_tokens": {"pad_token": "<pad>"}}, "special_tokens:"),
        ({"tokens": ["<x>"]}, "tokens:"),
        ({"chat_template": "chatml"}, "chat_template:"),
        ({"eot_tokens": ["</s>"]}, "eot_tokens:"),
    ],
)
def test_config_keys_that_change_the_tokenizer_are_refused(
    train_config: Any, mistral_dir: Path, keys: Any, named: str
) -> None:
    from loradoc.train.model.load import load_tokenizer

    cfg = train_config(base_model=str(mistral_dir), tokenizer_use_mistral_common=True, **keys)
    with pytest.raises(UserError) as err:
        load_tokenizer(cfg)
    assert str(err.value).startswith(named)


def test_a_folder_without_a_mistral_common_tokenizer_is_one_line(train_config: Any, tmp_path: Path) -> None:
    from loradoc.train.model.load import load_tokenizer

    cfg = train_config(base_model=str(tmp_path), tokenizer_use_mistral_common=True)
    with pytest.raises(UserError) as err:
        load_tokenizer(cfg)
    assert str(err.value).startswith(f"base_model: {tmp_path}: cannot load a mistral-common tokenizer")


def test_without_the_package_the_error_names_the_install(
    monkeypatch: pytest.MonkeyPatch, mistral_dir: Path
) -> None:
    from importlib import metadata

    from loradoc.train.data.mistral_tokens import load_mistral_tokenizer

    monkeypatch.setattr(
        metadata, "version", lambda name: "1.8.0"
    )  # an installed release too old for transformers
    with pytest.raises(UserError) as err:
        load_mistral_tokenizer(str(mistral_dir), revision=None)
    assert str(err.value).startswith(
        "tokenizer_use_mistral_common: mistral-common 1.8.0 is installed; transformers needs 1.11.5 or newer: "
        "pip install 'mistral-common>=1.11.5'"
    )


def test_the_data_cache_key_names_the_instruct_version(tok: Any, tmp_path: Path) -> None:
    from loradoc.train.data.cache import tokenizer_identity
    from loradoc.train.data.mistral_tokens import load_mistral_tokenizer

    other = tmp_path / "240718"
    other.mkdir()
    with resources.as_file(resources.files("mistral_common") / "data" / "tekken_240718.json") as tekken:
        shutil.copyfile(tekken, other / "tekken.json")
    first, second = (
        tokenizer_identity(tok),
        tokenizer_identity(load_mistral_tokenizer(str(other), revision=None)),
    )
    assert first["instruct"] == "InstructTokenizerV3"
    # both tekken files are v3 with the same vocabulary (one adds image settings): the same tokens,
    # so prepared data is shared between them
    assert first == second


def test_a_packed_lora_run_trains_with_the_mistral_common_tokenizer(
    mistral_dir: Path, tmp_path: Path, one_torch_thread: Any
) -> None:
    from loradoc.config.load import load_config
    from loradoc.train.run.start import run_training

    data = tmp_path / "chat.jsonl"
    replies = ["Hello!", "Good morning.", "Fine, thanks.", "Yes.", "No.", "Maybe later."]
    rows = [
        {"messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": r}]}
        for i, r in enumerate(replies * 4)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    doc = {
        "base_model": str(mistral_dir),
        "tokenizer_use_mistral_common": True,
        "datasets": [{"path": str(data), "type": "chat_template"}],
        "sequence_len": 64,
        "sample_packing": True,
        "adapter": "lora",
        "lora_r": 4,
        "lora_alpha": 8,
        "lora_target_modules": ["q_proj", "v_proj"],
        "micro_batch_size": 1,
        "max_steps": 2,
        "learning_rate": 0.01,
        "optimizer": "adamw_torch",
        "output_dir": str(tmp_path / "run"),
        "dataset_prepared_path": str(tmp_path / "prepared"),
    }
    path = tmp_path / "cfg.yml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert run_training(load_config(path, {})) == 0
    out = tmp_path / "run"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["train_loss_mean"] > 0
    assert (out / "adapter_model.safetensors").is_file()
    assert (out / "tekken.json").is_file()  # the tokenizer travels with the adapter
