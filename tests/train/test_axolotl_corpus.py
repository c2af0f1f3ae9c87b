"""Every real Axolotl config in the shared corpus, and every config loradoc ships, dry-runs.

``loradoc train CFG --dry-run --from a100.json`` must either plan the run (exit 0)
or refuse it with one ``error:`` line naming the unsupported key. The table below
records which corpus configs are accepted and why the others are not, so a change
in either direction shows up here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from config_cli_helpers import A100, CPU, REPO, run_cli

CORPUS = REPO.parent / "shared" / "corpora" / "axolotl-examples"

ACCEPT = None
# file -> None (accepted on the A100 snapshot) or (key named in the one error line, why it is refused)
EXPECTED: dict[str, tuple[str, str] | None] = {
    "code-llama__7b__lora.yml": ACCEPT,
    "cohere__command-r-7b-qlora.yml": ACCEPT,
    "deepcogito__cogito-v1-preview-llama-3B-lora.yml": ACCEPT,
    "devstral__devstral-small-qlora.yml": ACCEPT,  # tokenizer_use_mistral_common: mistral-common encodes
    "falcon__config-7b-lora.yml": ACCEPT,  # alpaca:chat; batch_size 2 -> gradient_accumulation_steps 2
    "gemma2__qlora.yml": ACCEPT,  # eot_tokens: the template's end-of-turn tokens, trained per train_on_eot
    # unfrozen_parameters is matched against the model's parameter names when it loads: on these
    # text-only Gemma 3 models (Gemma3ForCausalLM: model.layers.*) '^model.language_model.*' names
    # nothing, so a real run stops there with one line (Axolotl freezes everything, LoRA included)
    "gemma3__gemma-3-1b-qlora.yml": ACCEPT,
    "gemma3__gemma-3-270m-qlora.yml": ACCEPT,
    "llama-2__lora.yml": ACCEPT,
    "llama-2__qlora.yml": ACCEPT,
    "llama-3__instruct-lora-8b.yml": ACCEPT,
    "llama-3__lora-1b.yml": ACCEPT,  # loss_watchdog_* ignored with a note
    "llama-3__lora-8b.yml": ACCEPT,
    "llama-3__qlora-1b.yml": ACCEPT,
    "llama-3__qlora.yml": ACCEPT,
    "mistral__lora.yml": ACCEPT,
    "mistral__mps__lora-mps.yml": ACCEPT,  # sdpa packing: transformers >= 4.54 on the snapshot
    "mistral__qlora.yml": ACCEPT,
    "nemotron__nemotron-mini-4b-qlora.yaml": ACCEPT,
    "olmo3__olmo3-7b-qlora.yaml": ACCEPT,  # CutCrossEntropyPlugin ignored: same loss
    "openllama-3b__lora.yml": ACCEPT,  # fp16
    "phi__lora-3.5.yaml": ACCEPT,  # bfloat16 with bf16: ignored
    "phi__phi-qlora.yml": ACCEPT,  # adam_beta2/adam_epsilon supported
    "pythia__lora.yml": ACCEPT,  # lora_fan_in_fan_out ignored: peft sets it
    "qwen3__32b-qlora.yaml": ACCEPT,  # lora_*_kernel ignored; gradient_checkpointing offload -> true
    "qwen3__8b-lora-fused-attn.yaml": ACCEPT,  # legacy flash_attention: true
    "qwen__lora.yml": ACCEPT,
    "stablelm-2__1.6b__lora.yml": ACCEPT,
    "tiny-llama__lora.yml": ACCEPT,
    "tiny-llama__qlora.yml": ACCEPT,
}


def _corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".yml", ".yaml"))


needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the Axolotl config corpus is not at {CORPUS}")


@needs_corpus
def test_the_table_covers_the_corpus() -> None:
    assert sorted(EXPECTED) == _corpus_files()
    assert sum(v is ACCEPT for v in EXPECTED.values()) >= 30


@needs_corpus
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_config_dry_runs_or_names_what_is_unsupported(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, "train", CORPUS / name, "--dry-run", "--from", A100)
    expected = EXPECTED[name]
    if expected is ACCEPT:
        assert result.code == 0, result.err
        assert result.error_lines == []
        assert "plan for" in result.out and "dry run:" in result.out
        assert (
            "fp16 mixed precision" in result.out or "bf16 mixed precision" in result.out
        )  # resolved for an A100
    else:
        key, _why = expected
        assert result.code != 0
        assert len(result.error_lines) == 1, result.err
        assert f"not supported: {key} (" in result.error_lines[0]
        assert name in result.error_lines[0]
        assert "plan for" not in result.out


def _examples() -> list[Path]:
    return sorted(p for p in (REPO / "examples").rglob("*") if p.suffix in (".yml", ".yaml"))


@pytest.mark.parametrize("path", _examples(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_example_dry_runs_on_a_gpu_machine(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(capsys, "train", path, "--dry-run", "--from", A100)
    assert result.code == 0, result.err
    assert result.error_lines == [] and "dry run:" in result.out


@pytest.mark.parametrize(
    "path", [p for p in _examples() if "tiny" in p.parts], ids=lambda p: str(p.relative_to(REPO))
)
def test_cpu_examples_dry_run_on_a_cpu_machine(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "train", path, "--dry-run", "--from", CPU)
    assert result.code == 0, result.err
    assert "precision    fp32" in result.out


def test_the_8b_example_plans_what_its_comments_promise(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys, "train", REPO / "examples" / "llama-3" / "lora-8b.yml", "--dry-run", "--from", A100
    )
    assert result.code == 0, result.err
    for text in (
        "NousResearch/Meta-Llama-3-8B (hub)",
        "LoRA on every linear layer except the output head",
        "tatsu-lab/alpaca (alpaca, hub)",
        "on, flash_attention_2",
        "bf16 mixed precision; tf32 on; gradient checkpointing",
        "2 micro x 4 accumulation x 1 process = 8 packed rows per optimizer step",
    ):
        assert text in result.out, text
