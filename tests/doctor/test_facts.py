"""MachineFacts: one derivation of GPUs, capabilities, precision and attention, read by every consumer.

The central test builds the same A100 machine with and without probed compute capabilities and
asserts that ``doctor check``, ``train --dry-run`` and the live run's resolver reach the same
decisions (the contradiction this module was written to end).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loradoc.compat.load import load_matrix
from loradoc.doctor.facts import machine_facts
from loradoc.doctor.rules.context import Context
from loradoc.doctor.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[2]
A100 = ROOT / "tests/train/snapshots/a100.json"
LORA_8B = ROOT / "examples/llama-3/lora-8b.yml"


def a100(with_cc: bool) -> dict[str, Any]:
    doc = json.loads(A100.read_text())
    if not with_cc:
        for gpu in doc["gpus"]:
            gpu.pop("compute_capability", None)
    return doc


def facts_of(doc: dict[str, Any], **kw: Any) -> Any:
    return machine_facts(Snapshot.from_dict(doc), load_matrix(), **kw)


@pytest.mark.parametrize("with_cc", [True, False])
def test_a100_with_and_without_capability_gives_the_same_facts(with_cc: bool) -> None:
    facts = facts_of(a100(with_cc))
    assert [g.cc for g in facts.gpus] == ["8.0"]
    assert facts.gpus[0].cc_source == ("probe" if with_cc else "matrix")
    assert facts.gpu_training is True and facts.device == "cuda" and facts.min_cc == "8.0"
    assert (facts.supports("bf16"), facts.supports("tf32"), facts.supports("fp8")) == (True, True, False)
    assert any("looked up by name" in n for n in facts.notes) is not with_cc


def _dry_run(tmp_path: Path, snapshot_doc: dict[str, Any]) -> str:
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps(snapshot_doc))
    out = subprocess.run(
        [sys.executable, "-m", "loradoc", "train", str(LORA_8B), "--dry-run", "--from", str(snap)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    return out.stdout + out.stderr


def _doctor(tmp_path: Path, snapshot_doc: dict[str, Any]) -> str:
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps(snapshot_doc))
    out = subprocess.run(
        [sys.executable, "-m", "loradoc", "doctor", "check", "--from", str(snap)],
        capture_output=True,
        text=True,
    )
    return out.stdout


def make_train_config(**overrides: Any) -> Any:
    """A TrainConfig through the real schema (no files are read until the run)."""
    from loradoc.config.load import config_from_dict

    doc = {
        "base_model": "./model",
        "adapter": "lora",
        "datasets": [{"path": "./data.jsonl", "type": "alpaca"}],
    }
    doc.update(overrides)
    return config_from_dict(doc, echo=False)


def test_doctor_dry_run_and_live_resolver_agree_without_capabilities(tmp_path: Path) -> None:
    from loradoc.train.preflight import resolve, resolve_precision

    runs = {}
    for with_cc in (True, False):
        doc = a100(with_cc)
        doctor = _doctor(tmp_path, doc)
        plan = _dry_run(tmp_path, doc)
        assert "A100-SXM4-80GB (sm 8.0)" in doctor
        assert "bf16: auto -> true" in plan and "no CUDA GPU" not in plan
        # the dry run's resolver and the live run's, fed the same facts
        planned, live = make_train_config(bf16="auto"), make_train_config(bf16="auto")
        resolve(planned, facts_of(doc))
        precision = resolve_precision(live, facts_of(doc, cuda_usable=True), say=lambda _l: None)
        assert (planned.bf16, planned.fp16, precision) == (True, False, "bf16")
        assert live.bf16 is True
        runs[with_cc] = (
            re.search(r"attention\s+(\S+)", plan).group(1),  # type: ignore[union-attr]
            planned.attn_implementation,
            Context(Snapshot.from_dict(doc), load_matrix()).gpus[0].label,
        )
    assert runs[True] == runs[False]


def test_cuda_visible_devices_is_honoured() -> None:
    doc = {
        "gpus": [
            {"index": 0, "name": "NVIDIA A100-SXM4-80GB", "compute_capability": "8.0"},
            {"index": 1, "name": "Tesla V100-SXM2-16GB", "compute_capability": "7.0"},
        ],
        "driver": {"version": "550.54.15"},
    }
    both = facts_of(doc)
    assert both.min_cc == "7.0" and both.supports("bf16") is False
    only_a100 = facts_of({**doc, "env": {"cuda_visible_devices": "0"}})
    assert [g.index for g in only_a100.gpus] == [0] and only_a100.hidden_gpus == 1
    assert only_a100.supports("bf16") is True
    for hide_all in ("", "-1", "NoDevFiles"):
        none = facts_of({**doc, "env": {"cuda_visible_devices": hide_all}})
        assert none.gpus == () and none.gpu_training is False and none.device == "cpu"
        assert none.has_nvidia_gpu is True  # the machine still has them (install plans for them)
    uuid = facts_of({**doc, "env": {"cuda_visible_devices": "GPU-8a2f"}})
    assert len(uuid.gpus) == 2  # UUIDs are not resolved from a snapshot: all count


def test_cpu_torch_on_a_gpu_machine_trains_on_the_cpu() -> None:
    doc = a100(True)
    doc["packages"]["torch"] = {"version": "2.13.0+cpu"}
    facts = facts_of(doc)
    assert facts.has_nvidia_gpu is True and facts.gpu_training is False and facts.device == "cpu"
    assert facts.supports("bf16") is False
    assert "flash_attention_2" not in facts.attention
    assert facts.attention_missing["flash_attention_2"] == "needs a CUDA GPU"


def test_unknown_gpu_has_no_guessed_capability() -> None:
    facts = facts_of({"gpus": [{"name": "NVIDIA Future GPU X1"}], "driver": {"version": "610.1"}})
    assert facts.gpus[0].cc is None and facts.gpus[0].cc_source == "unknown"
    assert facts.gpu_training is True and facts.min_cc is None and facts.supports("bf16") is None
    assert "compute capability unknown" in facts.notes[0]


def test_partial_bug_report_stays_unknown() -> None:
    facts = facts_of({"packages": {"torch": {"version": "2.5.1+cu124"}}})
    assert facts.has_nvidia_gpu is None and facts.gpus == ()
    assert facts.torch is not None and facts.torch.variant == "cu124"
    assert facts.gpu_training is None and facts.supports("bf16") is None


def test_attention_backends_read_the_matrix() -> None:
    matrix = load_matrix()
    doc = a100(True)
    doc["packages"]["flash-attn"] = {"version": "2.8.3"}
    facts = machine_facts(Snapshot.from_dict(doc), matrix)
    assert {"flash_attention_2", "flex_attention", "sdpa", "eager", "loradoc_varlen"} <= facts.attention
    old_torch = {**doc, "packages": {**doc["packages"], "torch": {"version": "2.4.1", "cuda": "12.4"}}}
    facts = machine_facts(Snapshot.from_dict(old_torch), matrix)
    floor = matrix.attention.flex_attention_min_torch
    assert (
        facts.attention_missing["flex_attention"] == f"torch 2.4.1 has no flex attention (needs >= {floor})"
    )
    turing = {**doc, "gpus": [{"index": 0, "name": "Tesla T4", "compute_capability": "7.5"}]}
    facts = machine_facts(Snapshot.from_dict(turing), matrix)
    assert "below flash-attn's floor" in facts.attention_missing["flash_attention_2"]

    # FlashAttention-3 counts only where its kernels run: Hopper
    fa3 = {**doc, "packages": {**doc["packages"], "flash-attn-3": {"version": "3.0.0"}}}
    facts = machine_facts(Snapshot.from_dict(fa3), matrix)
    assert facts.attention_missing["flash_attention_3"].startswith(
        "FlashAttention-3's kernels are built for sm_90, not "
    )
    hopper = {**fa3, "gpus": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}]}
    assert "flash_attention_3" in machine_facts(Snapshot.from_dict(hopper), matrix).attention


def test_the_probe_records_only_what_it_observed(tmp_path: Path) -> None:
    from probe_fakes import env_with, fake_nvidia_smi, fake_root

    from loradoc.doctor.probe.machine import probe

    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, "470-t4")  # a driver whose nvidia-smi cannot report compute_cap
    root = fake_root(tmp_path, {"/sys/module/nvidia/version": "470.182.03\n"})
    snap = probe(env=env_with(bin_dir, HOME=str(tmp_path)), root=root)
    assert snap.gpus and all(g.compute_capability is None for g in snap.gpus)
    facts = machine_facts(snap, load_matrix())
    assert all(g.cc and g.cc_source == "matrix" for g in facts.gpus)


def test_no_module_outside_the_facts_derives_gpu_presence_capability_or_floors() -> None:
    src = ROOT / "src/loradoc"
    allowed = {src / "doctor/facts.py"}
    patterns = re.compile(
        r"\.(bf16_min_cc|tf32_min_cc|fp8_min_cc)\b|\bgpu_cc\(|\.compute_capability\b.*(<|>|cc_tuple)"
        r"|def (has_gpu|trains_on_gpu|_has_nvidia|_min_capability|detect_attention_backends)\b"
        r"|cuda\.get_device_capability"
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted(src.rglob("*.py"))
        if path not in allowed and not path.is_relative_to(src / "compat")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if patterns.search(line)
    ]
    assert offenders == []


def test_wsl_is_the_probes_answer_else_what_the_release_text_says() -> None:
    m = load_matrix()

    def wsl(data: dict[str, Any]) -> bool | None:
        return machine_facts(Snapshot.from_dict(data), m).wsl

    assert wsl({"env": {"wsl": True}}) is True
    assert (
        wsl({"env": {"wsl": False}, "os_release": "Ubuntu (kernel 5.15.90.1-microsoft-standard-WSL2)"})
        is False
    )
    assert wsl({"os_release": "Ubuntu 22.04.4 LTS (kernel 5.15.90.1-microsoft-standard-WSL2)"}) is True
    assert wsl({"os_release": "WSL Ubuntu 22.04.2 LTS"}) is True
    assert wsl({"os_release": "Ubuntu 22.04.4 LTS (kernel 6.8.0-45-generic)"}) is None


@pytest.mark.parametrize(
    ("name", "vendor"),
    [
        ("AMD Radeon RX 7900 XTX", "amd"),
        ("AMD Instinct MI250X", "amd"),
        ("Radeon 890M", "amd"),
        ("NVIDIA GeForce RTX 4090", "nvidia"),
        ("Tesla T4", "nvidia"),
    ],
)
def test_a_gpu_stated_by_name_only_gets_its_vendor_from_the_name(name: str, vendor: str) -> None:
    """Facts written from a report often give only the GPU's name: AMD's product names say so."""
    facts = machine_facts(Snapshot.from_dict({"gpus": [{"name": name}]}), load_matrix())
    assert (len(facts.amd_gpus), len(facts.gpus)) == ((1, 0) if vendor == "amd" else (0, 1))


def test_a_stated_vendor_wins_over_the_name() -> None:
    snap = Snapshot.from_dict({"gpus": [{"name": "Radeon-named card", "vendor": "nvidia"}]})
    assert len(machine_facts(snap, load_matrix()).gpus) == 1


@pytest.mark.parametrize(
    ("name", "cc"),
    [
        ("Jetson Orin", "8.7"),
        ("Orin AGX", "8.7"),
        ("GeForce MX150", "6.1"),
        ("Quadro P5000", "6.1"),
        ("T1000", "7.5"),
        ("p40", "6.1"),
        ("RTX3090", "8.6"),
        ("2080ti", "7.5"),
        ("Tesla V100-PCIE-16GB", "7.0"),
    ],
)
def test_a_gpu_named_as_reports_write_it_gets_its_compute_capability(name: str, cc: str) -> None:
    facts = machine_facts(Snapshot.from_dict({"gpus": [{"name": name}]}), load_matrix())
    assert [g.cc for g in facts.gpus] == [cc]


def test_an_instinct_named_by_its_number_is_an_amd_gpu_with_its_target() -> None:
    facts = machine_facts(Snapshot.from_dict({"gpus": [{"name": "MI300X"}]}), load_matrix())
    assert [g.gfx for g in facts.amd_gpus] == ["gfx942"] and not facts.gpus
