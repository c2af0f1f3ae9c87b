"""The training config: defaults, typing, unknown and unsupported keys, contradictions,
overrides, paths, and the resolved record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from loradoc.config.load import TrainConfig, config_from_dict, load_config, parse_overrides
from loradoc.config.problems import ConfigError
from loradoc.config.unsupported import SECRET_HINT
from loradoc.errors import UserError


def base(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "base_model": "org/model",
        "datasets": [{"path": "org/data", "type": "alpaca"}],
        "adapter": "lora",
    }
    doc.update(extra)
    return doc


def build(**extra: Any) -> TrainConfig:
    return config_from_dict(base(**extra), echo=False)


def problems(**extra: Any) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        config_from_dict(base(**extra), echo=False)
    return exc.value.problems


def write(tmp_path: Path, doc: dict[str, Any] | str, name: str = "cfg.yml") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


# -- defaults and typing -----------------------------------------------------------------------
def test_minimal_config_gets_the_documented_defaults() -> None:
    cfg = build()
    assert (cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout) == (8, 16, 0.0)
    assert (cfg.sequence_len, cfg.micro_batch_size, cfg.gradient_accumulation_steps) == (512, 1, 1)
    assert (cfg.learning_rate, cfg.optimizer, cfg.lr_scheduler) == (0.0002, "adamw_torch", "cosine")
    assert (cfg.bf16, cfg.fp16, cfg.tf32) == ("auto", False, False)
    assert cfg.trust_remote_code is False
    assert cfg.sample_packing is False and cfg.pad_to_sequence_len is False
    assert cfg.eval_batch_size == 1 and cfg.excess_length_strategy == "drop"
    assert cfg.seed == 42 and cfg.output_dir == "./model-out" and cfg.max_grad_norm == 1.0
    assert cfg.datasets[0].split == "train"
    assert cfg.explicit_keys == {"base_model", "datasets", "adapter"}
    assert not cfg.wandb_enabled and not cfg.eval_enabled


def test_empty_values_mean_unset() -> None:
    cfg = build(
        wandb_project=None,
        wandb_entity="",
        special_tokens=None,
        lora_model_dir=None,
        evals_per_epoch=None,
        lora_target_modules=[],
        sequence_len=None,
    )
    assert cfg.wandb_project is None and cfg.wandb_entity is None and cfg.special_tokens is None
    assert cfg.sequence_len == 512  # the default, not None
    assert "sequence_len" not in cfg.explicit_keys


def test_values_are_typed_by_the_schema() -> None:
    cfg = build(
        learning_rate="2e-4",
        num_epochs=3,
        micro_batch_size=2.0,
        val_set_size=0,
        bf16=True,
        tf32="auto",
        eval_steps=0.25,
        wandb_run_id=1234,
        lora_target_modules="q_proj|v_proj",
        fsdp="full_shard auto_wrap",
    )
    assert cfg.learning_rate == pytest.approx(2e-4) and isinstance(cfg.learning_rate, float)
    assert cfg.num_epochs == 3.0 and isinstance(cfg.num_epochs, float)
    assert cfg.micro_batch_size == 2 and isinstance(cfg.micro_batch_size, int)
    assert cfg.val_set_size == 0.0 and cfg.bf16 is True and cfg.tf32 == "auto"
    assert cfg.eval_steps == 0.25 and cfg.wandb_run_id == "1234"
    assert cfg.lora_target_modules == "q_proj|v_proj" and cfg.fsdp == ["full_shard", "auto_wrap"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("micro_batch_size", "two", "micro_batch_size: expected a whole number, got 'two'"),
        ("sample_packing", "yes please", "sample_packing: expected true or false"),
        ("lora_r", 8.5, "lora_r: expected a whole number, got 8.5"),
        ("learning_rate", True, "learning_rate: expected a number, got true"),
        ("bf16", "maybe", "bf16: expected true or false or 'auto'"),
        ("lora_modules_to_save", "lm_head", "lora_modules_to_save: expected a list of strings"),
        ("special_tokens", ["<pad>"], "special_tokens: expected a mapping"),
        ("learning_rate", float("nan"), "learning_rate: expected a finite number"),
        ("datasets", "org/data", "datasets: expected a list of datasets"),
    ],
)
def test_type_errors_name_the_key_and_the_expected_type(key: str, value: Any, expected: str) -> None:
    assert any(expected in p for p in problems(**{key: value})), problems(**{key: value})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("lora_dropout", 1.5, "lora_dropout: 1.5 is out of range (must be >= 0 and < 1)"),
        ("micro_batch_size", 0, "micro_batch_size: 0 is out of range (must be >= 1 and <= 65536)"),
        ("learning_rate", 0, "learning_rate: 0 is out of range (must be > 0 and <= 10)"),
        ("seed", -1, "seed: -1 is out of range"),
        ("val_set_size", 2.5, "val_set_size: 2.5 is neither a fraction below 1 nor a whole number"),
        ("eval_steps", 1.5, "eval_steps: 1.5 is neither a whole number of steps nor a fraction below 1"),
        ("fsdp_version", 3, "fsdp_version: 3 is not 1 or 2"),
        ("optimizer", "adamw_torh", "optimizer: unknown value 'adamw_torh' (did you mean 'adamw_torch'?)"),
        (
            "adapter",
            "lroa",
            "adapter: unknown value 'lroa' (did you mean 'lora'?); choose one of lora, qlora",
        ),
        ("lr_scheduler", "one_cycle", "not supported: lr_scheduler (one_cycle: use cosine"),
        ("excess_length_strategy", "split", "excess_length_strategy: unknown value 'split'"),
        ("chat_template", "lama3", "chat_template: unknown value 'lama3' (did you mean 'llama3'?)"),
        ("chat_template", "jinja", "chat_template: jinja needs chat_template_jinja"),
        (
            "model_type",
            "AutoModelForSequenceClassification",
            "model_type: 'AutoModelForSequenceClassification' is not supported",
        ),
        ("special_tokens", {"pad": "<pad>"}, "special_tokens: unknown key 'pad' (did you mean 'pad_token'?)"),
        ("attn_implementation", "sage", "not supported: attn_implementation (sage:"),
    ],
)
def test_values_out_of_range_or_vocabulary(key: str, value: Any, expected: str) -> None:
    found = problems(**{key: value})
    assert any(expected in p for p in found), found


def test_accepted_vocabulary() -> None:
    for name in ("llama3", "tokenizer_default", "tokenizer_default_fallback_chatml", "{{ messages }}"):
        assert build(chat_template=name).chat_template == name
    assert (
        build(chat_template_jinja="{% for m in messages %}{{ m.content }}{% endfor %}").chat_template
        == "jinja"
    )
    assert build(attn_implementation="auto").attn_implementation is None
    assert build(attn_implementation="loradoc_varlen").attn_implementation == "loradoc_varlen"
    assert build(wandb_watch=False).wandb_watch == "false"


def test_problems_read_top_to_bottom_and_a_bad_value_is_not_also_a_contradiction(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "base_model: org/model\nadapter: lora\nlora_rr: 8\nlearning_rate: fast\noptimiser: adamw_torch\n"
        "attn_implementation: flash_attn2\nxformers_attention: true\n"
        "datasets:\n  - path: org/data\n    type: alpacca\n",
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path, echo=False)
    lines = [int(p.split(":")[0].removeprefix("line ")) for p in exc.value.problems]
    assert lines == [3, 4, 5, 6, 10]
    assert not [p for p in exc.value.problems if "contradicts" in p]
    path = write(tmp_path, "attn_implementation: sdpa\nxformers_attention: true\n" + yaml.safe_dump(base()))
    with pytest.raises(ConfigError) as exc:
        load_config(path, echo=False)
    assert exc.value.problems == [
        "line 1: attn_implementation: sdpa contradicts xformers_attention: true (which means xformers); keep one"
    ]


# -- unknown, unsupported, ignored, secret -----------------------------------------------------
def test_unknown_key_suggests_the_nearest_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "base_model: org/model\nadapter: lora\ndatasets:\n  - path: org/data\n    type: alpaca\n"
        "lerning_rate: 0.001\n",
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path, echo=False)
    assert exc.value.problems == ["line 6: unknown key 'lerning_rate' (did you mean 'learning_rate'?)"]
    assert exc.value.message.startswith(f"{path}: line 6: ")


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        lerning_rate=1e-3, micro_batch_size="x", rl="dpo", warmup_steps=5, warmup_ratio=0.1, hf_token="hf_x"
    )
    assert len(found) == 5, found
    for key in ("lerning_rate", "micro_batch_size", "rl", "warmup_steps", "hf_token"):
        assert any(key in p for p in found), key


def test_unsupported_axolotl_key_says_what_to_do() -> None:
    (p,) = problems(rl="dpo")
    assert p.startswith("not supported: rl (") and "supervised fine-tuning only" in p
    build(rl=None, gptq=False, shuffle_merged_datasets=True)  # unset or neutral values change nothing


def test_harmless_axolotl_key_is_ignored_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config_from_dict(base(strict=True, flash_attn_rms_norm=True, dataset_processes=4), echo=True)
    assert [n.split(" (")[0] for n in cfg.ignored] == [
        "ignored: flash_attn_rms_norm",
        "ignored: dataset_processes",
    ]
    assert capsys.readouterr().err.splitlines()[0].startswith("ignored: flash_attn_rms_norm (")


def test_plugins_harmless_ones_ignored_others_refused() -> None:
    cfg = build(plugins=["axolotl.integrations.cut_cross_entropy.CutCrossEntropyPlugin"])
    assert cfg.ignored[0].startswith("ignored: plugins CutCrossEntropyPlugin")
    (p,) = problems(plugins=["axolotl.integrations.spectrum.SpectrumPlugin"])
    assert p.startswith("not supported: plugins ('axolotl.integrations.spectrum.SpectrumPlugin'")


def test_no_autocast_precision_keys() -> None:
    assert build(bfloat16=True, bf16=True).ignored[0].startswith("ignored: bfloat16")
    (p,) = problems(bfloat16=True)
    assert p.startswith("not supported: bfloat16 (pure bf16")


@pytest.mark.parametrize("key", ["hf_token", "wandb_api_key", "comet_api_key", "HF_TOKEN", "my_secret"])
def test_secrets_are_refused_without_echoing_them(key: str) -> None:
    secret = "hf_abcdefghijklmnopqrstuvwxyz012345"
    (p,) = problems(**{key: secret})
    assert p == f"{key}: {SECRET_HINT}"
    assert secret not in p


def test_a_secret_in_a_wrong_place_is_not_echoed() -> None:
    secret = "hf_abcdefghijklmnopqrstuvwxyz012345"
    (p,) = problems(micro_batch_size=secret)
    assert secret not in p and "a token with a known key prefix (35 characters, not shown)" in p


# -- contradictions ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"warmup_steps": 10, "warmup_ratio": 0.1}, "warmup_steps and warmup_ratio are both set"),
        ({"bf16": True, "fp16": True}, "bf16 and fp16 are both true"),
        ({"eval_steps": 10, "evals_per_epoch": 2}, "eval_steps and evals_per_epoch are both set"),
        ({"save_steps": 10, "saves_per_epoch": 2}, "save_steps and saves_per_epoch are both set"),
        ({"load_in_4bit": True}, "load_in_4bit needs adapter: qlora"),
        ({"adapter": "qlora"}, "adapter: qlora needs load_in_4bit: true"),
        (
            {"adapter": "qlora", "load_in_4bit": True, "load_in_8bit": True},
            "load_in_4bit and load_in_8bit are both true",
        ),
        ({"adapter": None}, "adapter is unset, which means full fine-tuning: not supported"),
        (
            {"val_set_size": 0.1, "test_datasets": [{"path": "org/eval", "type": "alpaca"}]},
            "test_datasets and val_set_size",
        ),
        (
            {"deepspeed": {"zero_optimization": {"stage": 2}}, "fsdp": ["full_shard"]},
            "deepspeed and fsdp are both set",
        ),
        ({"eval_sample_packing": True}, "eval_sample_packing: true needs sample_packing: true"),
        ({"use_wandb": True}, "use_wandb: true needs wandb_project"),
        ({"flash_attention": True, "sdp_attention": True}, "flash_attention and sdp_attention are both set"),
        (
            {"flash_attention": True, "attn_implementation": "sdpa"},
            "attn_implementation: sdpa contradicts flash_attention",
        ),
        (
            {"batch_size": 8, "micro_batch_size": 2, "gradient_accumulation_steps": 2},
            "batch_size 8 disagrees",
        ),
        ({"batch_size": 3, "micro_batch_size": 2}, "batch_size 3 is not a multiple"),
    ],
)
def test_contradictions_are_errors(extra: dict[str, Any], expected: str) -> None:
    found = problems(**extra)
    assert any(expected in p for p in found), found


def test_required_keys() -> None:
    with pytest.raises(ConfigError) as exc:
        config_from_dict({"adapter": "lora"}, echo=False)
    assert exc.value.problems == ["base_model is required", "datasets is required"]


# -- datasets ----------------------------------------------------------------------------------
def test_dataset_entries_are_typed_and_legacy_fields_folded() -> None:
    cfg = build(
        datasets=[
            {
                "path": "org/chat",
                "type": "chat_template",
                "field_messages": "conversations",
                "message_field_role": "from",
                "message_field_content": "value",
                "roles": {"user": ["human"]},
                "split": "train[:20%]",
                "roles_to_train": ["assistant"],
                "drop_system_message": True,
            }
        ]
    )
    d = cfg.datasets[0]
    assert d.message_property_mappings == {"role": "from", "content": "value"}
    assert d.roles == {"user": ["human"]} and d.split == "train[:20%]" and d.drop_system_message is True


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"path": "org/data"}, "datasets[0].type is required"),
        ({"type": "alpaca"}, "datasets[0].path is required"),
        (
            {"path": "org/data", "type": "alpcaa"},
            "datasets[0].type: unknown format 'alpcaa' (did you mean 'alpaca'?)",
        ),
        ({"path": "org/data", "type": "oasst"}, "not supported: datasets[0].type 'oasst'"),
        (
            {"path": "org/data", "type": {"field_instruction": "q"}},
            "not supported: datasets[0].type as a mapping",
        ),
        (
            {"path": "org/data", "type": "alpaca", "feild": "text"},
            "unknown key 'datasets[0].feild' (did you mean 'datasets[0].field'?)",
        ),
        ({"path": "org/data", "type": "alpaca", "shards": 4}, "not supported: datasets[0].shards"),
        (
            {"path": "org/data", "type": "alpaca", "ds_type": "jsonl"},
            "datasets[0].ds_type: unknown value 'jsonl' (did you mean 'json'?)",
        ),
        ({"path": "org/data", "type": "alpaca", "token": "x"}, f"datasets[0].token: {SECRET_HINT}"),
        ("org/data", "datasets[0]: expected a mapping with path and type, got 'org/data'"),
    ],
)
def test_dataset_entry_problems(entry: Any, expected: str) -> None:
    found = problems(datasets=[entry])
    assert any(expected in p for p in found), found


# -- automatic changes -------------------------------------------------------------------------
def test_legacy_attention_key_becomes_attn_implementation(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config_from_dict(base(flash_attention=True), echo=True)
    assert cfg.attn_implementation == "flash_attention_2"
    (change,) = cfg.auto_changes
    assert (change.key, change.old, change.new) == ("attn_implementation", None, "flash_attention_2")
    assert (
        "changed: attn_implementation: unset -> flash_attention_2 (legacy flash_attention: true)"
        in capsys.readouterr().err
    )


def test_batch_size_derives_gradient_accumulation() -> None:
    cfg = build(batch_size=8, micro_batch_size=2, num_processes=2)
    assert cfg.gradient_accumulation_steps == 2 and cfg.global_batch() == 8
    assert cfg.auto_changes[0].key == "gradient_accumulation_steps"


def test_gradient_checkpointing_offload_is_recorded_as_written() -> None:
    cfg = build(gradient_checkpointing="offload")
    assert cfg.gradient_checkpointing is True
    assert (cfg.auto_changes[0].old, cfg.auto_changes[0].new) == ("offload", True)


def test_note_change_records_and_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config_from_dict(base(), echo=True)
    capsys.readouterr()
    cfg.note_change("eval_sample_packing", False, "eval split too small for 4 bins")
    assert cfg.eval_sample_packing is False
    assert (
        capsys.readouterr().err
        == "changed: eval_sample_packing: unset -> false (eval split too small for 4 bins)\n"
    )
    assert cfg.auto_changes[-1].to_dict() == {
        "key": "eval_sample_packing",
        "from": None,
        "to": False,
        "reason": "eval split too small for 4 bins",
    }


def test_mixed_precision_needs_resolution_first() -> None:
    cfg = build()
    with pytest.raises(ValueError, match="resolve"):
        cfg.mixed_precision()
    assert build(bf16=False, fp16=True).mixed_precision() == "fp16"


# -- the resolved record -----------------------------------------------------------------------
def test_resolved_config_round_trips_and_records_changes(tmp_path: Path) -> None:
    cfg = build(flash_attention=True, dataset_processes=4, special_tokens={"pad_token": "<pad>"})
    cfg.note_change("bf16", False, "no CUDA GPU", echo=False)
    path = cfg.save_resolved(tmp_path / "out" / "resolved_config.yml")
    doc = yaml.safe_load(path.read_text())
    record = doc["_loradoc"]
    assert [c["key"] for c in record["auto_changes"]] == ["attn_implementation", "bf16"]
    assert record["ignored"][0].startswith("ignored: dataset_processes")
    assert doc["bf16"] is False and doc["special_tokens"] == {"pad_token": "<pad>"}
    again = load_config(path, echo=False)
    assert again.to_dict() == cfg.to_dict()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["resolved_config.yml"]  # no temporary left


def test_to_dict_leaves_unset_keys_out_and_lists_datasets_as_mappings() -> None:
    doc = build().to_dict()
    assert "wandb_project" not in doc
    assert doc["datasets"] == [
        {"path": "org/data", "type": "alpaca", "split": "train", "drop_system_message": False}
    ]


# -- paths -------------------------------------------------------------------------------------
def test_relative_paths_resolve_beside_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "conf"
    (conf / "data").mkdir(parents=True)
    (conf / "data" / "train.jsonl").write_text("{}\n")
    (conf / "model").mkdir()
    (conf / "runs").mkdir()
    (conf / "chat.jinja").write_text("{{ messages }}")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write(
        conf,
        base(
            base_model="./model",
            datasets=[
                {"path": "data/train.jsonl", "type": "alpaca"},
                {"path": "org/hub-data", "type": "alpaca"},
            ],
            output_dir="runs",
            dataset_prepared_path="prepared",
            chat_template_jinja="chat.jinja",
        ),
    )
    cfg = load_config(path, echo=False)
    assert cfg.base_model == str(conf / "model")
    assert cfg.datasets[0].path == str(conf / "data" / "train.jsonl")
    assert cfg.datasets[1].path == "org/hub-data"  # not a file beside the config: a hub id, as written
    assert cfg.output_dir == str(conf / "runs")
    assert cfg.dataset_prepared_path == "prepared"  # nothing there: as written (from the working directory)
    assert cfg.chat_template_jinja == str(conf / "chat.jinja") and cfg.chat_template == "jinja"


# -- overrides ---------------------------------------------------------------------------------
def test_overrides_are_typed_by_the_schema() -> None:
    got = parse_overrides(
        [
            "--learning_rate",
            "1e-4",
            "--num-epochs=2",
            "--sample_packing",
            "--wandb_project",
            "true",
            "--lora_target_modules",
            "[q_proj, v_proj]",
            "--wandb_entity=",
            "--max_steps",
            "-1",
        ]
    )
    assert got == {
        "learning_rate": "1e-4",
        "num_epochs": 2,
        "sample_packing": True,
        "wandb_project": "true",
        "lora_target_modules": ["q_proj", "v_proj"],
        "wandb_entity": None,
        "max_steps": -1,
    }
    cfg = config_from_dict(
        base(wandb_entity="me"), overrides={k: v for k, v in got.items() if k != "max_steps"}, echo=False
    )
    assert cfg.learning_rate == pytest.approx(1e-4) and cfg.num_epochs == 2.0 and cfg.sample_packing is True
    assert cfg.wandb_project == "true" and cfg.wandb_entity is None
    assert "num_epochs" in cfg.explicit_keys


def test_override_problems_name_the_option() -> None:
    with pytest.raises(ConfigError) as exc:
        config_from_dict(
            base(), overrides=parse_overrides(["--lerning-rate", "1", "--micro_batch_size", "x"]), echo=False
        )
    assert exc.value.problems == [
        "unknown option --lerning_rate (did you mean --learning_rate?)",
        "--micro_batch_size: expected a whole number, got 'x'",
    ]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["learning_rate", "1"], "unexpected argument 'learning_rate'"),
        (["--max_steps"], "override --max_steps needs a value"),
        (["--datasets.0.path", "x"], "give a top-level key"),
    ],
)
def test_malformed_overrides(words: list[str], expected: str) -> None:
    with pytest.raises(UserError, match=expected):
        parse_overrides(words)


def test_duplicate_keys_are_reported_with_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "base_model: a/b\nadapter: lora\nlora_r: 8\ndatasets: [{path: a/d, type: alpaca}]\nlora_r: 16\n",
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path, echo=False)
    assert exc.value.problems == ["line 5: key 'lora_r' is given twice (also on line 3); keep one"]


def test_a_dataset_template_can_use_the_top_level_jinja() -> None:
    jinja = "{% for m in messages %}{{ m.content }}{% endfor %}"
    ds = [{"path": "org/chat", "type": "chat_template", "chat_template": "jinja"}]
    assert build(datasets=ds, chat_template_jinja=jinja).datasets[0].chat_template == "jinja"
    found = problems(datasets=ds)
    assert found == [
        "datasets[0].chat_template: jinja needs chat_template_jinja (the template text or a file)"
    ]


def test_float32_asks_for_full_precision() -> None:
    cfg = build(float32=True)
    assert cfg.bf16 is False and cfg.auto_changes[0].reason == "float32: true asks for full precision"
    (p,) = problems(float32=True, bf16=True)
    assert p.startswith("not supported: float32 (it contradicts")


def test_a_legacy_attention_switch_does_not_block_reloading_the_resolved_config(tmp_path: Path) -> None:
    cfg = build(flash_attention=True)
    assert cfg.flash_attention is None and "flash_attention" in cfg.explicit_keys
    cfg.note_change("attn_implementation", "loradoc_varlen", "flash-attn is not available on cpu", echo=False)
    again = load_config(cfg.save_resolved(tmp_path / "resolved_config.yml"), echo=False)
    assert again.attn_implementation == "loradoc_varlen"
