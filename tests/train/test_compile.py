"""torch_compile: the model is compiled through transformers' Trainer on a GPU, not with
loradoc_varlen (which recompiles per set of example lengths) and not on the CPU (measured: no
gain); the plan says which and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from config_cli_helpers import A100, CPU, run_cli

from loradoc.errors import UserError
from loradoc.train.model.compile import (
    CPU_NO_GAIN,
    VARLEN_RECOMPILES,
    compile_arguments,
    compile_asked,
    compile_blocker,
    compile_plan,
    resolve_compile,
)


def test_the_keys_ask_for_compiling(train_config: Any) -> None:
    assert compile_asked(train_config(torch_compile=True)) and compile_asked(
        train_config(torch_compile="auto")
    )
    assert compile_asked(train_config(torch_compile_mode="max-autotune"))  # as in transformers
    assert not compile_asked(train_config()) and not compile_asked(train_config(torch_compile=False))


def test_a_mode_outside_torchs_list_is_one_error(train_config: Any) -> None:
    with pytest.raises(UserError, match="torch_compile_mode"):
        train_config(torch_compile_mode="fastest")


def test_varlen_is_not_compiled_and_the_config_records_why(train_config: Any) -> None:
    cfg = train_config(torch_compile=True, torch_compile_mode="default", attn_implementation="loradoc_varlen")
    resolve_compile(cfg, device="cuda")
    assert cfg.torch_compile is False and cfg.torch_compile_mode is None
    change = next(c for c in cfg.auto_changes if c.key == "torch_compile")
    assert change.reason == VARLEN_RECOMPILES and "attn_implementation: sdpa" in change.reason
    assert compile_plan(cfg) == f"not compiled: {VARLEN_RECOMPILES}"
    assert compile_arguments(cfg, "loradoc_varlen", device="cuda") == {}


def test_the_cpu_is_never_compiled(train_config: Any) -> None:
    cfg = train_config(torch_compile=True, attn_implementation="sdpa")
    assert compile_blocker("sdpa", device="cpu") == CPU_NO_GAIN and "1.01x" in CPU_NO_GAIN
    resolve_compile(cfg, device="cpu")
    assert cfg.torch_compile is False and compile_arguments(cfg, "sdpa", device="cpu") == {}


def test_sdpa_on_a_gpu_is_compiled_with_the_backend_and_mode_asked(train_config: Any) -> None:
    cfg = train_config(torch_compile=True, torch_compile_mode="max-autotune", attn_implementation="sdpa")
    resolve_compile(cfg, device="cuda")
    assert cfg.torch_compile is True and not cfg.auto_changes
    assert compile_arguments(cfg, "sdpa", device="cuda") == {
        "torch_compile": True,
        "torch_compile_mode": "max-autotune",
    }
    assert compile_plan(cfg) == "torch.compile (mode max-autotune); the first steps include compiling"
    assert compile_plan(train_config()) is None
    assert compile_blocker("flash_attention_2", device="cuda") is None


def test_transformers_gets_the_compile_arguments(train_config: Any, tmp_path: Path) -> None:
    from loradoc.train.run.train_args import training_arguments

    cfg = train_config(torch_compile=True, torch_compile_backend="inductor", output_dir=str(tmp_path / "out"))
    common: dict[str, Any] = {"precision": "fp32", "steps_per_epoch": 4, "has_eval": False, "report_to": []}
    args = training_arguments(cfg, world_size=1, attention="sdpa", **common)
    assert args.torch_compile is True and args.torch_compile_backend == "inductor"
    on_cpu = training_arguments(cfg, world_size=1, attention="sdpa", use_cpu=True, **common)
    assert on_cpu.torch_compile is False


def test_the_dry_run_shows_the_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], minimal_config_doc: Any
) -> None:
    path = tmp_path / "cfg.yml"
    doc = {**minimal_config_doc, "torch_compile": True, "attn_implementation": "sdpa"}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    cpu = run_cli(capsys, "train", path, "--dry-run", "--from", CPU)
    assert (
        "torch_compile: true -> false" in cpu.err and f"compile      not compiled: {CPU_NO_GAIN}" in cpu.out
    )
    gpu = run_cli(capsys, "train", path, "--dry-run", "--from", A100)
    assert "compile      torch.compile; the first steps include compiling" in gpu.out
    path.write_text(yaml.safe_dump({**doc, "attn_implementation": "loradoc_varlen", "sample_packing": True}))
    varlen = run_cli(capsys, "train", path, "--dry-run", "--from", A100)
    assert "not compiled: loradoc_varlen runs attention once per packed example" in varlen.out
