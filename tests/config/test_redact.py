"""Values shaped like keys or tokens are never printed back: the message says what they were and how long."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loradoc.redact import redacted

SECRETS = [
    "sk-test-abcdef123456",  # known prefix with a separator inside
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "0123456789abcdef0123456789abcdef01234567",  # the shape of a W&B key
    "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "xoxb-123456789012-abcdefghijkl",
    "AKIAIOSFODNN7EXAMPLE",
    "aGVsbG8gd29ybGQgdGhpcyBpcyBhIHRlc3Qgc3RyaW5n",
]
ORDINARY = [
    "meta-llama/Meta-Llama-3-8B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "/data/runs/2024-01-01/checkpoint-1200",
    "hf_datasets",
    "token_classification",
    "adamw_torch_fused",
    "sk-learn",
    "cosine_with_min_lr",
]


@pytest.mark.parametrize("text", SECRETS)
def test_secret_shapes_are_recognised(text: str) -> None:
    hidden = redacted(text)
    assert hidden and f"{len(text)} characters" in hidden and text not in hidden


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_values_are_shown(text: str) -> None:
    assert redacted(text) is None


@pytest.mark.parametrize("secret", SECRETS)
def test_config_errors_never_echo_a_secret(tmp_path: Path, secret: str) -> None:
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(
        "base_model: m\nadapter: lora\ndatasets:\n  - path: d\n    type: alpaca\n"
        f"seed: {secret}\nwandb_project: {secret}\n"
    )
    for extra in ([], ["--lora_r", secret], [secret], [f"--{secret}.x"]):
        out = subprocess.run(
            [sys.executable, "-m", "loradoc", "train", str(cfg), "--dry-run", *extra],
            capture_output=True,
            text=True,
        )
        assert out.returncode != 0
        assert secret not in out.stdout + out.stderr
        assert "not shown" in out.stderr
