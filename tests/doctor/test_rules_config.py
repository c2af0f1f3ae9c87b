"""The checks a training config implies, on a config loaded the way ``--config`` and ``train`` load it.

A loaded TrainConfig holds only ``attn_implementation`` (the legacy ``*_attention: true`` keys are
folded into it and unset), so every rule must read that; plain namespaces with the legacy keys
(``doctor explain``, bug reports) must keep working too.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from doctor_helpers import SNAPSHOTS, by_code, codes, one, run, snap

from loradoc.compat import load_matrix
from loradoc.config.load import config_from_dict
from loradoc.config.vocab import LEGACY_ATTENTION
from loradoc.doctor.findings import Finding, Severity
from loradoc.doctor.snapshot import Snapshot

LEGACY_SUGGESTION = re.compile(rf"\b(?:{'|'.join(LEGACY_ATTENTION)}): (?:true|false)\b")
CUDA_TORCH_NO_XFORMERS: dict[str, Any] = {
    "complete": True,
    "os": "Linux",
    "python": "3.11.4",
    "packages": {"torch": {"version": "2.5.1+cu124", "cuda": "12.4"}},
}


def cfg(**keys: Any) -> Any:
    doc = {"base_model": "org/model", "adapter": "lora", "datasets": [{"path": "org/d", "type": "alpaca"}]}
    doc.update(keys)
    return config_from_dict(doc, echo=False)


def without(name: str, package: str) -> Snapshot:
    s = snap(name)
    assert s.packages is not None and package in s.packages
    del s.packages[package]
    return s


# -- attention: attn_implementation is what a loaded config holds --------------------------------
@pytest.mark.parametrize("keys", [{"xformers_attention": True}, {"attn_implementation": "xformers"}])
def test_xformers_asked_through_a_loaded_config(keys: dict[str, Any]) -> None:
    loaded = cfg(**keys)
    assert loaded.attn_implementation == "xformers" and loaded.xformers_attention is None
    f = one(run(CUDA_TORCH_NO_XFORMERS, loaded), "xformers-unavailable")
    assert f.severity is Severity.WARNING and "falls back to loradoc_varlen" in f.message
    assert "xformers" in f.message and f.fix and f.fix.startswith("pip install xformers==0.0.29.post1")


def test_xformers_asked_on_a_cpu_machine_is_not_a_pip_install() -> None:
    f = one(run("cpu_laptop", cfg(xformers_attention=True)), "xformers-unavailable")
    assert "CPU" in f.message
    assert f.fix == (
        "replace xformers_attention: true with attn_implementation: sdpa in the training config "
        "(sdpa works on the CPU)"
    )


def test_xformers_not_asked_is_not_missing() -> None:
    assert not by_code(run(CUDA_TORCH_NO_XFORMERS, cfg(attn_implementation="sdpa")), "xformers-unavailable")
    assert not by_code(run(CUDA_TORCH_NO_XFORMERS, cfg()), "xformers-unavailable")


def test_xformers_mismatch_is_an_error_when_the_loaded_config_asks_for_it() -> None:
    s = snap("xformers_wrong_torch")
    assert (
        one(run(s, cfg(attn_implementation="xformers")), "xformers-torch-mismatch").severity is Severity.ERROR
    )


def test_flash_attention_fix_names_the_canonical_key() -> None:
    canonical = one(run("t4_colab", cfg(attn_implementation="flash_attention_2")), "flash-attn-gpu-too-old")
    assert canonical.severity is Severity.WARNING
    assert canonical.fix == "set attn_implementation: sdpa in the training config"
    legacy = one(run("t4_colab", cfg(flash_attention=True)), "flash-attn-gpu-too-old")
    assert legacy.fix == "replace flash_attention: true with attn_implementation: sdpa in the training config"
    plain = one(run("t4_colab", SimpleNamespace(flash_attention=True)), "flash-attn-gpu-too-old")
    assert plain.fix == legacy.fix
    on_cpu = one(run("cpu_laptop", cfg(attn_implementation="flash_attention_2")), "flash-attn-gpu-too-old")
    assert on_cpu.fix == "set attn_implementation: sdpa in the training config (sdpa works on the CPU)"


def test_xformers_missing_without_an_install_names_the_canonical_key() -> None:
    # torch 2.0.0 has neither an xformers wheel (0.0.20 pins 2.0.1) nor a source-build pin
    s = dict(CUDA_TORCH_NO_XFORMERS, packages={"torch": {"version": "2.0.0+cu118", "cuda": "11.8"}})
    f = one(run(s, cfg(attn_implementation="xformers")), "xformers-unavailable")
    assert f.fix == "set attn_implementation: sdpa in the training config"


@pytest.mark.parametrize("name", sorted(p.stem for p in SNAPSHOTS.glob("*.json")))
def test_no_fix_suggests_a_legacy_attention_key(name: str) -> None:
    for impl in ("flash_attention_2", "xformers", "sdpa", "eager", "flex_attention"):
        for f in run(name, cfg(attn_implementation=impl, load_in_8bit=True, bf16=True, tf32=True)):
            assert not LEGACY_SUGGESTION.search(f.fix or ""), (f.code, f.fix)


def test_error_table_fixes_name_the_canonical_key() -> None:
    for entry in load_matrix().errors:
        assert not re.search(rf"\b(?:{'|'.join(LEGACY_ATTENTION)})\b", entry.fix), (entry.id, entry.fix)


# -- bitsandbytes: one finding per problem -----------------------------------------------------
def test_quantization_on_a_cpu_machine_is_one_finding() -> None:
    findings = run("cpu_laptop", cfg(adapter="qlora", load_in_4bit=True))
    f = one(findings, "config-quantization-needs-cuda")
    assert f.severity is Severity.ERROR
    assert f.fix == "remove load_in_4bit and set adapter: lora, or run on a GPU machine"
    assert not by_code(findings, "bitsandbytes-missing"), "pip install cannot help without a GPU"


def test_quantization_on_an_unknown_machine_only_warns() -> None:
    findings = run(Snapshot(), cfg(load_in_8bit=True))
    assert one(findings, "config-quantization-needs-cuda").severity is Severity.WARNING
    assert not by_code(findings, "bitsandbytes-missing")


def test_8bit_optimizer_on_a_cpu_machine() -> None:
    findings = run("cpu_laptop", cfg(optimizer="adamw_bnb_8bit"))
    f = one(findings, "config-optimizer-needs-cuda")
    assert f.severity is Severity.ERROR and f.fix == "set optimizer: adamw_torch, or run on a GPU machine"
    assert not by_code(findings, "bitsandbytes-missing")
    assert not by_code(run("cpu_laptop", cfg()), "config-optimizer-needs-cuda")


@pytest.mark.parametrize(
    ("keys", "what"),
    [({"load_in_8bit": True}, "8bit"), ({"optimizer": "paged_adamw_8bit"}, "optimizer paged_adamw_8bit")],
)
def test_bitsandbytes_missing_on_a_gpu_machine(keys: dict[str, Any], what: str) -> None:
    findings = run(without("healthy_a100", "bitsandbytes"), cfg(**keys))
    f = one(findings, "bitsandbytes-missing")
    assert what in f.message and f.fix and f.fix.startswith("pip install -U")
    assert not {c for c in codes(findings) if c.startswith("config-")}


def test_cpu_build_of_torch_on_a_gpu_machine_cannot_quantize() -> None:
    findings = run("windows_pypi_cpu_torch", cfg(load_in_8bit=True))
    assert one(findings, "config-quantization-needs-cuda").severity is Severity.ERROR
    assert not by_code(findings, "bitsandbytes-missing")


# -- the rest of what a config needs from the machine ------------------------------------------
def test_deepspeed_set_but_not_installed(tmp_path: Any) -> None:
    ds = tmp_path / "zero2.json"
    ds.write_text("{}")
    f = one(run("healthy_a100", cfg(deepspeed=str(ds))), "config-deepspeed-missing")
    assert f.severity is Severity.ERROR and f.fix == "pip install deepspeed"
    assert not by_code(run("healthy_a100", cfg()), "config-deepspeed-missing")


def test_more_processes_than_gpus() -> None:
    f = one(run("healthy_a100", cfg(num_processes=4)), "config-too-many-processes")
    assert f.message == "num_processes 4 but the machine has 2 GPUs" and f.fix == (
        "set num_processes: 2 in the training config (or loradoc train --num-processes 2)"
    )
    assert not by_code(run("healthy_a100", cfg(num_processes=2)), "config-too-many-processes")
    assert not by_code(run("cpu_laptop", cfg(num_processes=4)), "config-too-many-processes")


def test_trust_remote_code_warns() -> None:
    f = one(run("healthy_a100", cfg(trust_remote_code=True)), "config-trust-remote-code")
    assert f.severity is Severity.WARNING and "org/model" in f.message


def test_no_config_no_config_findings() -> None:
    for name in ("healthy_a100", "cpu_laptop"):
        found: list[Finding] = run(name)
        assert not [f for f in found if f.code.startswith("config-")]


def test_without_a_training_config_a_pre_ampere_gpu_hears_what_it_cannot_run() -> None:
    """Only the GPU is known (a V100 thread, a T4 notebook): bf16, TF32 and FlashAttention-2 are
    each named as a note with the config change, never as an error or warning; a config that
    does not ask for them silences the notes (hiyouga/LlamaFactory#3347, Dao-AILab/flash-attention#1513)."""
    findings = run({"gpus": [{"name": "V100"}]})
    notes = {f.code: f for f in findings if f.code != "ok"}
    assert set(notes) == {"bf16-unsupported-gpu", "tf32-unsupported-gpu", "flash-attn-gpu-too-old"}
    assert all(f.severity is Severity.INFO for f in notes.values())
    assert notes["bf16-unsupported-gpu"].fix == "set bf16: false and fp16: true in the training config"
    assert notes["flash-attn-gpu-too-old"].fix == "set attn_implementation: sdpa in the training config"
    assert not {f.code for f in run({"gpus": [{"name": "A100"}]})} & set(notes)
    quiet = run({"gpus": [{"name": "V100"}]}, config={"fp16": True, "attn_implementation": "sdpa"})
    assert not {f.code for f in quiet} & set(notes)
    # a probed machine without flash-attn installed hears nothing about it
    probed = {"gpus": [{"name": "V100"}], "complete": True, "packages": {"torch": {"version": "2.7.1+cu126"}}}
    assert not by_code(run(probed), "flash-attn-gpu-too-old")
