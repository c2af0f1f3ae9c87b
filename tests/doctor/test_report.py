"""The text and JSON reports."""

from __future__ import annotations

import json

from doctor_helpers import run, snap

from loradoc.compat import load_matrix
from loradoc.doctor.report import exit_code, header_lines, render_json, render_text


def test_text_report_header_groups_and_fixes() -> None:
    s = snap("driver_too_old_cu130")
    findings = run(s)
    text = render_text(findings, s, load_matrix())
    lines = text.splitlines()
    assert lines[0] == "loradoc doctor"
    assert lines[1].split() == ["GPU", "NVIDIA", "GeForce", "RTX", "4090", "(sm", "8.9)"]
    assert "570.133.20 (max CUDA 12.8)" in lines[2]
    assert "2.11.0 (CUDA 13.0)" in lines[3]
    assert "3.12.3 on Linux x86_64" in lines[4]
    assert "1 error" in text
    errors_at, info_at, fixes_at = lines.index("ERRORS"), lines.index("INFO"), lines.index("FIXES")
    assert errors_at < info_at < fixes_at
    assert lines[errors_at + 1].lstrip().startswith("driver-too-old-for-torch-cuda")
    assert (
        "    pip install --force-reinstall torch==2.11.0 --index-url https://download.pytorch.org/whl/cu128"
        in lines
    )
    assert "    or: sudo apt-get install -y nvidia-driver-580 && sudo reboot" in lines


def test_header_for_partial_and_multi_gpu_snapshots() -> None:
    m = load_matrix()
    empty = "\n".join(header_lines(snap("empty"), m))
    assert "GPU     unknown" in empty and "torch   unknown" in empty and "driver  unknown" in empty
    a100 = "\n".join(header_lines(snap("healthy_a100"), m))
    assert "2 x NVIDIA A100-SXM4-80GB (sm 8.0)" in a100
    laptop = "\n".join(header_lines(snap("cpu_laptop"), m))
    assert "no NVIDIA GPU found" in laptop
    estimated = "\n".join(header_lines(snap("rtx5090_torch26"), m))
    assert "570.86.10 (max CUDA 12.8, estimated from the driver version)" in estimated
    assert "(cu124, assumed)" not in estimated and "2.6.0+cu124 (CUDA 12.4)" in estimated
    missing = "\n".join(header_lines(snap("torch_missing_a100"), m))
    assert "torch   not installed" in missing


def test_json_report_round_trips() -> None:
    s = snap("healthy_a100")
    findings = run(s)
    data = json.loads(render_json(findings, s))
    assert set(data) == {"schema_version", "ok", "counts", "findings", "snapshot"}
    assert data["ok"] is True and data["counts"]["error"] == 0
    assert [f["code"] for f in data["findings"]][-1] == "ok"
    assert data["snapshot"]["packages"]["torch"]["version"] == "2.5.1+cu124"
    assert data["snapshot"]["env"] == {"hf_token": True, "wandb_api_key": True, "interactive": False}
    bad = run("pascal_cu128")
    bad_data = json.loads(render_json(bad, snap("pascal_cu128")))
    assert bad_data["ok"] is False
    first = bad_data["findings"][0]
    assert first["code"] == "gpu-arch-unsupported-by-torch-build" and first["severity"] == "error"
    assert first["fix"].startswith("pip install --force-reinstall torch==2.7.1")


def test_exit_code() -> None:
    assert exit_code(run("healthy_a100")) == 0
    assert exit_code(run("minor_compat_535_cu124")) == 0  # warnings only
    assert exit_code(run("driver_too_old_cu130")) == 1


def test_one_command_for_two_findings_is_printed_once() -> None:
    s = snap("torch_missing_a100")
    lines = render_text(run(s), s, load_matrix()).splitlines()
    command = "    pip install torch==2.14.1 --index-url https://download.pytorch.org/whl/cu126"
    assert lines.count(command) == 1
    at = lines.index(command)
    assert lines[at - 1] == "  torch-missing, pypi-torch-needs-newer-driver:"
    assert (
        lines[at + 1]
        == "    note: the driver runs CUDA 12.6 through minor-version compatibility (limited features)"
    )


def test_different_alternatives_keep_their_own_fix() -> None:
    s = snap("v100_bug_report")
    lines = render_text(run(s), s, load_matrix()).splitlines()
    assert "  gpu-arch-unsupported-by-torch-build:" in lines and "  driver-minor-version-compat:" in lines


def test_header_says_when_a_full_probe_found_no_driver() -> None:
    laptop = "\n".join(header_lines(snap("cpu_laptop"), load_matrix()))
    assert "driver  not found" in laptop


def test_several_fixes_of_one_code_share_a_heading() -> None:
    s = snap("t4_colab")
    lines = render_text(run(s), s, load_matrix()).splitlines()
    assert lines.count("  accelerate-config-conflict:") == 1
    at = lines.index("  accelerate-config-conflict:")
    assert [x.split(" in ")[0] for x in lines[at + 1 : at + 4]] == [
        "    set num_processes: 1",
        "    set mixed_precision: fp16",
        "    set distributed_type: NO",
    ]
