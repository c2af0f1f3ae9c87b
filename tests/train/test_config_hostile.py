"""Broken configs, through the CLI: each gets one ``error:`` line naming the file and the key
(or line), a non-zero exit, no traceback, and no echo of a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_cli_helpers import CPU, run_cli

BAD = Path(__file__).parent / "configs" / "bad"

# file -> fragments the one error message must contain
EXPECTED: dict[str, tuple[str, ...]] = {
    "malformed_yaml.yml": ("line 6, column 3: invalid YAML",),
    "tab_indent.yml": ("line 4, column 1: invalid YAML", "'\\t'"),
    "wrong_types.yml": (
        "4 problems",
        "line 6: micro_batch_size: expected a whole number, got 'two'",
        "line 7: sample_packing: expected true or false, got 'yes please'",
        "line 8: lora_r: expected a whole number, got 8.5",
        "line 9: learning_rate: expected a number, got 'fast'",
    ),
    "misspelled_keys.yml": (
        "line 6: unknown key 'lerning_rate' (did you mean 'learning_rate'?)",
        "line 7: unknown key 'wandb_projct' (did you mean 'wandb_project'?)",
        "line 8: unknown key 'sequence_length' (did you mean 'sequence_len'?)",
    ),
    "unknown_key.yml": ("line 6: unknown key 'make_it_good'",),
    "contradictions.yml": (
        "warmup_steps and warmup_ratio are both set",
        "bf16 and fp16 are both true",
        "load_in_4bit needs adapter: qlora",
    ),
    "qlora_without_4bit.yml": ("adapter: qlora needs load_in_4bit: true",),
    "full_finetune.yml": ("adapter is unset", "full fine-tuning: not supported"),
    "rl_dpo.yml": ("line 3: not supported: rl (", "datasets[0].type 'chatml.intel'"),
    "top_level_list.yml": ("must be a mapping of keys to values", "not a list"),
    "top_level_scalar.yml": ("must be a mapping of keys to values", "not a string"),
    "empty.yml": ("the config is empty",),
    "comments_only.yml": ("the config is empty",),
    "duplicate_key.yml": ("line 7: key 'lora_r' is given twice (also on line 3)",),
    "secrets.yml": (
        "line 7: wandb_api_key: put secrets in the environment (WANDB_API_KEY/HF_TOKEN), not the config",
        "line 8: hf_token: put secrets in the environment",
    ),
    "alias_bomb.yml": ("more than 100 aliases",),
    "python_tag.yml": ("line 1, column 13: invalid YAML", "python/object/apply"),
    "bad_dataset_entries.yml": (
        "datasets[0]: expected a mapping with path and type, got 'org/data'",
        "datasets[1].type is required",
    ),
    "huge_number.yml": ("a number too long to read",),
    "not_utf8.yml": ("line 3: not UTF-8 text (byte 0xe9); save the file as UTF-8",),
}
SECRETS = ("0123456789abcdef0123456789abcdef01234567", "hf_PlantedSecretTokenValue0123456789")


def test_every_bad_config_is_in_the_table() -> None:
    assert sorted(p.name for p in BAD.glob("*.yml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_config_gets_one_clear_error(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD / name
    result = run_cli(capsys, "train", path, "--dry-run", "--from", CPU)
    assert result.code == 2, result.err
    assert len(result.error_lines) == 1, result.err
    assert result.error_lines[0].startswith(f"error: {path}: ")
    for fragment in EXPECTED[name]:
        assert fragment in result.err, (fragment, result.err)
    assert "Traceback" not in result.err and result.out == ""
    for secret in SECRETS:
        assert secret not in result.err


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "train", tmp_path / "nope.yml", "--dry-run", "--from", CPU)
    assert result.code == 2 and result.error_lines == [
        f"error: {tmp_path / 'nope.yml'}: config file not found"
    ]


def test_config_path_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "train", tmp_path, "--dry-run", "--from", CPU)
    assert result.code == 2 and "is a folder" in result.error_lines[0]


def test_unreadable_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    path = tmp_path / "locked.yml"
    path.write_text("base_model: a/b\n")
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("running as a user who can read any file (root)")
    result = run_cli(capsys, "train", path, "--dry-run", "--from", CPU)
    assert result.code == 2 and "cannot read the config" in result.error_lines[0]
