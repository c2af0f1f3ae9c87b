"""``loradoc train CFG --dry-run``: resolve for a machine, preflight, plan; and the hand-off to training."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from config_cli_helpers import A100, CPU, REPO, run_cli

from loradoc.config.load import config_from_dict
from loradoc.doctor.findings import Severity
from loradoc.doctor.snapshot import Snapshot
from loradoc.train.preflight import path_checks, resolve, run_preflight


def facts_of(snapshot: Any) -> Any:
    from loradoc.compat.load import load_matrix
    from loradoc.doctor.facts import machine_facts

    return machine_facts(snapshot, load_matrix())


def write_cfg(tmp_path: Path, **extra: Any) -> Path:
    doc: dict[str, Any] = {
        "base_model": "org/model",
        "adapter": "lora",
        "datasets": [{"path": "org/data", "type": "alpaca"}],
        "sample_packing": True,
        "val_set_size": 0.1,
        "output_dir": "out",
    }
    doc.update(extra)
    path = tmp_path / "cfg.yml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def snapshot_like(tmp_path: Path, base: Path, **gpu: Any) -> Path:
    """A copy of a snapshot fixture with the GPU fields changed (e.g. a T4)."""
    data = json.loads(base.read_text())
    data["gpus"][0].update(gpu)
    out = tmp_path / "snap.json"
    out.write_text(json.dumps(data))
    return out


# -- resolving for a machine -------------------------------------------------------------------
def test_gpu_plan_resolves_bf16_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snap = json.loads(A100.read_text())
    snap["env"]["wandb_api_key"] = True
    (tmp_path / "snap.json").write_text(json.dumps(snap))
    result = run_cli(
        capsys,
        "train",
        write_cfg(tmp_path, wandb_project="demo"),
        "--dry-run",
        "--from",
        tmp_path / "snap.json",
    )
    assert result.code == 0, result.err
    assert "changed: bf16: auto -> true (" in result.err and "8.0" in result.err
    assert "changed: attn_implementation: unset -> flash_attention_2" in result.err
    assert "bf16 mixed precision" in result.out
    assert "eval packing on unless the eval split is too small (decided at data load)" in result.out
    assert "W&B          on: project demo" in result.out
    assert "output       " + str(tmp_path / "out") not in result.out  # nothing named out beside the config
    assert "nothing was downloaded or trained" in result.out


def test_older_gpu_gets_fp16(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t4 = snapshot_like(tmp_path, A100, name="Tesla T4", compute_capability="7.5", memory_mib=15360)
    result = run_cli(capsys, "train", write_cfg(tmp_path), "--dry-run", "--from", t4)
    assert result.code == 0, result.err
    assert "changed: bf16: auto -> false" in result.err and "changed: fp16: false -> true" in result.err
    assert "fp16 mixed precision" in result.out
    assert "flash_attention_2" not in result.out  # flash-attn is installed, but a T4 is too old for it


def test_explicit_bf16_on_an_older_gpu_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t4 = snapshot_like(tmp_path, A100, name="Tesla T4", compute_capability="7.5")
    result = run_cli(capsys, "train", write_cfg(tmp_path, bf16=True), "--dry-run", "--from", t4)
    assert result.code != 0 and len(result.error_lines) == 1
    assert "bf16" in result.error_lines[0] and "7.5" in result.error_lines[0]


def test_cpu_machine_trains_in_fp32_with_per_example_attention(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = run_cli(capsys, "train", write_cfg(tmp_path, tf32=True), "--dry-run", "--from", CPU)
    assert result.code == 0, result.err
    assert "changed: bf16: auto -> false (" in result.err and "fp32" in result.err
    assert "changed: tf32: true -> false" in result.err
    assert "changed: attn_implementation: unset -> loradoc_varlen" in result.err
    assert "precision    fp32; tf32 off" in result.out


def test_4bit_on_a_cpu_machine_is_a_preflight_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_cfg(tmp_path, adapter="qlora", load_in_4bit=True)
    result = run_cli(capsys, "train", cfg, "--dry-run", "--from", CPU)
    assert result.code == 1
    assert result.error_lines == [  # only this: installing bitsandbytes cannot help on a CPU machine
        "error: load_in_4bit needs a CUDA GPU with bitsandbytes; run on a GPU machine or remove load_in_4bit "
        "[config-quantization-needs-cuda]"
    ]
    assert "plan for" in result.out and "dry run:" not in result.out


def test_too_many_processes_for_the_gpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys, "train", write_cfg(tmp_path), "--dry-run", "--from", A100, "--num-processes", "4"
    )
    assert result.code == 1
    assert result.error_lines == [
        "error: num_processes 4 but the machine has 1 GPU [config-too-many-processes]"
    ]


def test_num_processes_on_a_cpu_machine_scales_the_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli(
        capsys,
        "train",
        write_cfg(tmp_path, micro_batch_size=2),
        "--dry-run",
        "--from",
        CPU,
        "--num_processes",
        "2",
    )
    assert result.code == 0, result.err
    # on the CPU the packed rows go one per forward (preflight._one_row_per_forward_on_cpu)
    assert "1 micro x 2 accumulation x 2 processes = 4 packed rows per optimizer step" in result.out
    assert "changed: micro_batch_size: 2 -> 1" in result.err


def test_one_packed_row_per_forward_only_on_the_cpu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_cfg(tmp_path, micro_batch_size=4, gradient_accumulation_steps=2)
    cpu = run_cli(capsys, "train", cfg, "--dry-run", "--from", CPU)
    assert cpu.code == 0, cpu.err
    assert "1 micro x 8 accumulation x 1 process = 8 packed rows per optimizer step" in cpu.out
    assert "changed: gradient_accumulation_steps: 2 -> 8" in cpu.err
    gpu = run_cli(capsys, "train", cfg, "--dry-run", "--from", A100)
    assert gpu.code == 0, gpu.err
    assert "4 micro x 2 accumulation x 1 process = 8 packed rows per optimizer step" in gpu.out
    assert "micro_batch_size" not in gpu.err


def test_overrides_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--learning-rate", "1e-4", "--num_epochs=2", "--warmup_steps", "5", "--wandb_project="]
    result = run_cli(
        capsys, "train", write_cfg(tmp_path, wandb_project="x"), "--dry-run", "--from", CPU, *args
    )
    assert result.code == 0, result.err
    assert "2 epoch(s)" in result.out and "lr 0.0001" in result.out and "warmup 5 steps" in result.out
    assert "W&B          off" in result.out


def test_unknown_override_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys, "train", write_cfg(tmp_path), "--dry-run", "--from", CPU, "--lerning_rate", "1e-4"
    )
    assert result.code == 2
    assert result.error_lines == [
        f"error: {tmp_path / 'cfg.yml'}: unknown option --lerning_rate (did you mean --learning_rate?)"
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ('{"schema_version": 99}', "schema_version 99 is not supported"),
        ("[]", "a snapshot is a JSON object"),
    ],
)
def test_a_corrupt_snapshot_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text(content)
    result = run_cli(capsys, "train", write_cfg(tmp_path), "--dry-run", "--from", snap)
    assert result.code != 0 and len(result.error_lines) == 1 and expected in result.error_lines[0]


# -- local paths -------------------------------------------------------------------------------
def test_missing_local_paths_warn_when_planning_for_another_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_cfg(tmp_path, datasets=[{"path": "data/train.jsonl", "type": "alpaca"}], base_model="./model")
    result = run_cli(capsys, "train", cfg, "--dry-run", "--from", CPU)
    assert result.code == 0, result.err
    assert "warning: datasets[0].path: no such file or folder on this machine: data/train.jsonl" in result.err
    assert "warning: base_model: no such file or folder on this machine: ./model" in result.err


def test_missing_local_paths_are_errors_on_this_machine(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    cfg = config_from_dict(
        {
            "base_model": str(tmp_path / "model"),
            "adapter": "lora",
            "datasets": [{"path": "./nope.jsonl", "type": "alpaca"}],
            "deepspeed": "ds.json",
        },
        echo=False,
    )
    found = {(f.code, f.severity, f.message) for f in path_checks(cfg)}
    assert found == {
        ("config-path-missing", Severity.ERROR, "datasets[0].path: no such file or folder: ./nope.jsonl"),
        ("config-path-missing", Severity.ERROR, "deepspeed: no such file or folder: ds.json"),
        (
            "config-base-model-incomplete",
            Severity.ERROR,
            f"base_model folder {tmp_path / 'model'} has no weights (*.safetensors)",
        ),
    }


def test_probe_of_this_machine_refuses_a_missing_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("loradoc.doctor.probe.machine", reason="the doctor's probe is not in this tree yet")
    cfg = write_cfg(tmp_path, datasets=[{"path": "missing.jsonl", "type": "alpaca"}])
    result = run_cli(capsys, "train", cfg, "--dry-run")
    assert result.code == 1
    assert (
        "error: datasets[0].path: no such file or folder: missing.jsonl [config-path-missing]"
        in result.error_lines
    )


# -- resolve and preflight as functions --------------------------------------------------------
def test_resolve_on_a_gpu_machine_with_a_cpu_build_of_torch() -> None:
    snap = Snapshot.load(A100)
    assert snap.packages is not None
    snap.packages["torch"].version, snap.packages["torch"].cuda = "2.5.1+cpu", None
    cfg = config_from_dict(
        {"base_model": "a/b", "adapter": "lora", "datasets": [{"path": "a/d", "type": "alpaca"}]}, echo=False
    )
    resolve(cfg, facts_of(snap))
    assert cfg.mixed_precision() == "no" and cfg.attn_implementation == "sdpa"


def test_unknown_machine_warns_instead_of_stopping() -> None:
    cfg = config_from_dict(
        {
            "base_model": "a/b",
            "adapter": "qlora",
            "load_in_4bit": True,
            "datasets": [{"path": "a/d", "type": "alpaca"}],
        },
        echo=False,
    )
    findings = run_preflight(cfg, Snapshot(), this_machine=False)
    quant = [f for f in findings if f.code == "config-quantization-needs-cuda"]
    assert quant and quant[0].severity is Severity.WARNING


def test_bitsandbytes_missing_on_a_gpu_machine() -> None:
    snap = Snapshot.load(A100)
    assert snap.packages is not None
    del snap.packages["bitsandbytes"]
    cfg = config_from_dict(
        {
            "base_model": "a/b",
            "adapter": "lora",
            "optimizer": "adamw_bnb_8bit",
            "datasets": [{"path": "a/d", "type": "alpaca"}],
        },
        echo=False,
    )
    findings = run_preflight(cfg, snap)
    missing = [f for f in findings if "bitsandbytes" in f.message and f.severity is Severity.ERROR]
    assert [f.code for f in missing] == ["bitsandbytes-missing"]  # reported once, by the doctor's rule
    assert missing[0].fix is not None and missing[0].fix.startswith("pip install -U")


def test_packing_masks_threshold_comes_from_the_matrix(tmp_path: Path) -> None:
    from loradoc.compat import load_matrix
    from loradoc.errors import UserError

    floor = load_matrix().transformers.packed_sequence_detection_min
    snap = Snapshot.load(CPU)
    assert snap.packages is not None
    cfg = config_from_dict(
        {
            "base_model": "a/b",
            "adapter": "lora",
            "sample_packing": True,
            "attn_implementation": "sdpa",
            "datasets": [{"path": "a/d", "type": "alpaca"}],
        },
        echo=False,
    )
    snap.packages["transformers"].version = floor
    resolve(cfg, facts_of(snap))
    assert cfg.attn_implementation == "sdpa"
    below = floor.rsplit(".", 2)[0] + "." + str(int(floor.split(".")[1]) - 1) + ".0"
    snap.packages["transformers"].version = below
    with pytest.raises(UserError, match="cannot keep packed examples apart"):
        resolve(cfg, facts_of(snap))


# -- training hand-off -------------------------------------------------------------------------
def _fake_run_module(monkeypatch: pytest.MonkeyPatch, code: int) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def run_training(cfg: Any, *, snapshot: Any, **_: Any) -> int:
        calls.append({"cfg": cfg, "snapshot": snapshot})
        return code

    module = types.ModuleType("loradoc.train.run.start")
    module.run_training = run_training  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "loradoc.train.run.start", module)
    return calls


def test_without_dry_run_the_resolved_config_goes_to_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_run_module(monkeypatch, 3)
    result = run_cli(capsys, "train", write_cfg(tmp_path), "--from", CPU, "--max_steps", "7")
    assert result.code == 3
    (call,) = calls
    assert call["cfg"].max_steps == 7 and call["cfg"].bf16 is False
    # a saved snapshot describes the machine planned for, not this one: the run probes its own
    assert call["snapshot"] is None


def test_preflight_errors_stop_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake_run_module(monkeypatch, 0)
    result = run_cli(capsys, "train", write_cfg(tmp_path, adapter="qlora", load_in_4bit=True), "--from", CPU)
    assert result.code == 1 and calls == []


def test_dry_run_imports_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from loradoc.cli import main\n"
        "try:\n"
        f"    main(['train', {str(write_cfg(tmp_path))!r}, '--dry-run', '--from', {str(CPU)!r}])\n"
        "except SystemExit as e:\n"
        "    heavy = sorted(m for m in ('torch', 'transformers', 'datasets', 'peft', 'accelerate', 'wandb') if m in sys.modules)\n"
        "    print('EXIT', e.code, heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "EXIT 0 []" in done.stdout, done.stdout + done.stderr


def test_a_vision_language_base_model_is_refused_before_any_download(tmp_path: Path) -> None:
    model = tmp_path / "vlm"
    model.mkdir()
    (model / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["Mistral3ForConditionalGeneration"],
                "vision_config": {"model_type": "pixtral"},
            }
        )
    )
    (model / "model.safetensors").write_bytes(b"")
    cfg = config_from_dict(
        {"base_model": str(model), "adapter": "lora", "datasets": [{"path": "org/d", "type": "alpaca"}]},
        echo=False,
    )
    (finding,) = [f for f in run_preflight(cfg, Snapshot.load(CPU)) if f.severity is Severity.ERROR]
    assert finding.code == "config-model-not-causal-lm"
    assert "vision-language model (Mistral3ForConditionalGeneration" in finding.message


LLAMA_3_8B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
}


def test_the_dry_run_says_whether_an_8b_run_fits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "llama-3-8b"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(LLAMA_3_8B))
    (model / "model.safetensors").write_bytes(b"")
    cfg = write_cfg(
        tmp_path, base_model=str(model), sequence_len=4096, micro_batch_size=2, gradient_checkpointing=True
    )
    on_cpu = run_cli(capsys, "train", cfg, "--dry-run", "--from", CPU)
    assert on_cpu.code == 1 and "[memory-does-not-fit]" in on_cpu.err
    assert "of RAM" in on_cpu.err and "memory  ~" in on_cpu.out and "does not fit" in on_cpu.out
    on_a100 = run_cli(capsys, "train", cfg, "--dry-run", "--from", A100)
    assert on_a100.code == 0, on_a100.err
    assert "per process of 80.00 GiB: fits" in on_a100.out and "memory-does-not-fit" not in on_a100.err
    assert "memory-tight" not in on_a100.err


def test_dry_run_json_carries_the_estimate_for_ci(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "llama-3-8b"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(LLAMA_3_8B))
    (model / "model.safetensors").write_bytes(b"")
    cfg = write_cfg(tmp_path, base_model=str(model), gradient_checkpointing=True)
    result = run_cli(capsys, "train", cfg, "--dry-run", "--json", "--from", CPU)
    doc = json.loads(result.out)
    assert result.code == 1 and doc["valid"] is False
    assert doc["memory"]["verdict"] == "does not fit" and doc["memory"]["total_bytes"] > 16 * 2**30
    assert [f["code"] for f in doc["findings"] if f["severity"] == "error"] == ["memory-does-not-fit"]
    assert doc["resolved_config"]["base_model"] == str(model)
    assert run_cli(capsys, "train", cfg, "--json").code == 2  # a plan needs --dry-run


def test_the_shipped_8b_example_is_estimated_from_the_known_shapes_offline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """NousResearch/Meta-Llama-3-8B is neither local nor cached here: its shape comes from
    compat/models.toml, so the dry run still answers 'will it fit'."""
    cfg = REPO / "examples" / "llama-3" / "lora-8b.yml"
    on_cpu = run_cli(capsys, "train", cfg, "--dry-run", "--from", CPU)
    assert on_cpu.code == 1 and "[memory-does-not-fit]" in on_cpu.err
    assert "8.03B params x 4 bytes" in on_cpu.out  # fp32 on the CPU
    assert "table of known models (https://huggingface.co/meta-llama/Meta-Llama-3-8B/" in on_cpu.out
    on_a100 = run_cli(capsys, "train", cfg, "--dry-run", "--from", A100, "--max_steps", "200")
    assert on_a100.code == 0, on_a100.err
    assert "8.03B params x 2 bytes" in on_a100.out and "of 80.00 GiB: fits" in on_a100.out
    time_line = next(ln for ln in on_a100.out.splitlines() if ln.strip().startswith("time"))
    assert "min" in time_line and "312 TFLOPS peak" in time_line


def test_time_is_estimated_only_when_the_tokens_are_known(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "llama-3-8b"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(LLAMA_3_8B))
    (model / "model.safetensors").write_bytes(b"")
    cfg = write_cfg(tmp_path, base_model=str(model), gradient_checkpointing=True)
    unknown = run_cli(capsys, "train", cfg, "--dry-run", "--json", "--from", A100)
    assert json.loads(unknown.out)["time"].startswith("time    not estimated before the data is read")
    known = run_cli(capsys, "train", cfg, "--dry-run", "--json", "--from", A100, "--max_steps", "50")
    doc = json.loads(known.out)
    t, r = doc["time"], doc["resolved_config"]
    # 50 steps x micro x accumulation x sequence_len, full packed rows: an upper bound
    assert t["tokens"] == 50 * r["micro_batch_size"] * r["gradient_accumulation_steps"] * r["sequence_len"]
    assert 0 < t["seconds_low"] < t["seconds_high"] and "A100" in t["basis"]
    other_cpu = run_cli(capsys, "train", cfg, "--dry-run", "--json", "--from", CPU, "--max_steps", "50")
    assert "CPU rate of that machine is unknown" in json.loads(other_cpu.out)["time"]


def test_plan_shows_lora_init_loraplus_and_unfrozen_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_cfg(
        tmp_path,
        lora_r=8,
        peft_init_lora_weights="pissa",
        loraplus_lr_ratio=16,
        unfrozen_parameters=["^model.norm.weight$"],
    )
    result = run_cli(capsys, "train", cfg, "--dry-run", "--from", A100)
    assert result.code == 0, result.err
    assert "pissa init (saved converted to a rank-16 LoRA for the unchanged base)" in result.out
    assert "; LoRA+: lora_B at 16 x learning_rate" in result.out
    assert "base parameters in full (saved with the adapter): ^model.norm.weight$" in result.out


def test_the_dry_run_reports_a_missing_logger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if importlib.util.find_spec("comet_ml") is not None:
        pytest.skip("comet_ml is installed here")
    cfg = write_cfg(tmp_path, use_comet=True)
    res = run_cli(capsys, "train", cfg, "--dry-run")
    assert res.code == 1
    assert "config-tracker-missing" in res.out + res.err
    assert "pip install comet_ml" in res.out + res.err


def test_the_dry_run_reports_a_missing_mistral_common(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib import metadata

    real = metadata.version

    def version(name: str) -> str:  # what the metadata says where mistral-common is not installed
        if name == "mistral-common":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    cfg = write_cfg(tmp_path, tokenizer_use_mistral_common=True)
    res = run_cli(capsys, "train", cfg, "--dry-run")
    assert res.code == 1
    out = res.out + res.err
    assert "config-mistral-common-missing" in out
    assert "tokenizer_use_mistral_common: the mistral-common package is not installed" in out
    assert "pip install 'mistral-common>=1.11.5'" in out
