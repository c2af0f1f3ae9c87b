"""The base model's config.json, read before any weights: models loradoc cannot train are refused at
the dry run, and a model it could not read is never called checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from config_cli_helpers import A100, run_cli

from loradoc.train.model_info import read_model_info

VLM = {
    "architectures": ["Gemma3ForConditionalGeneration"],
    "model_type": "gemma3",
    "vision_config": {"model_type": "siglip_vision_model"},
    "text_config": {"model_type": "gemma3_text"},
}
AUDIO = {
    "architectures": ["Qwen2AudioForConditionalGeneration"],
    "audio_config": {"model_type": "qwen2_audio"},
}
SEQ2SEQ = {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5"}
LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}


def _model(tmp_path: Path, config: dict[str, Any]) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"")
    return folder


def _cfg(tmp_path: Path, model: Path) -> Path:
    data = tmp_path / "d.jsonl"
    data.write_text('{"instruction": "hi", "output": "hello"}\n')
    path = tmp_path / "cfg.yml"
    path.write_text(
        f"base_model: {model}\nadapter: lora\ndatasets:\n  - path: {data}\n    type: alpaca\noutput_dir: {tmp_path / 'out'}\n"
    )
    return path


@pytest.mark.parametrize(
    ("config", "words"),
    [(VLM, "vision-language model"), (AUDIO, "audio model"), (SEQ2SEQ, "is not a causal language model")],
)
def test_models_loradoc_cannot_train_are_refused_at_the_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: dict[str, Any], words: str
) -> None:
    result = run_cli(
        capsys, "train", str(_cfg(tmp_path, _model(tmp_path, config))), "--dry-run", "--from", A100
    )
    assert result.code == 1
    assert words in result.err and "[config-model-not-causal-lm]" in result.err
    assert "valid" not in result.out


def test_a_causal_lm_is_checked_and_the_verdict_says_what_was_looked_at(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model(tmp_path, LLAMA)
    result = run_cli(capsys, "train", str(_cfg(tmp_path, model)), "--dry-run", "--from", A100)
    assert result.code == 0, result.err
    assert "config.json read from the local folder: LlamaForCausalLM" in result.out
    assert f"valid for the machine in {A100} (model checked, data found locally)" in result.out


def test_a_hub_model_that_is_not_cached_is_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loradoc.config.load import config_from_dict

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    cfg = config_from_dict(
        {
            "base_model": "org/never-downloaded",
            "adapter": "lora",
            "datasets": [{"path": "o/d", "type": "alpaca"}],
        },
        echo=False,
    )
    info = read_model_info(cfg)
    assert not info.checked and info.refusal() is None
    assert "not in the Hugging Face cache" in info.summary()


def test_a_missing_absolute_path_is_a_local_path_not_the_hub(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _cfg(tmp_path, tmp_path / "nowhere")
    result = run_cli(capsys, "train", str(cfg), "--dry-run")
    assert result.code == 1
    assert "(local path, missing)" in result.out and "(hub)" not in result.out
    assert "base_model: no such file or folder" in result.err
