"""``probe()`` end to end: the real machine, a stand-in GPU machine, privacy, JSON round trip."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from probe_fakes import env_with, fake_nvcc, fake_nvidia_smi, fake_root

from loradoc.doctor.probe.machine import probe
from loradoc.doctor.snapshot import Snapshot

HEAVY = (
    "torch",
    "transformers",
    "datasets",
    "peft",
    "accelerate",
    "wandb",
    "xformers",
    "flash_attn",
    "bitsandbytes",
)


def test_real_probe_on_this_machine() -> None:
    snap = probe()
    assert snap.complete is True
    assert snap.schema_version == 1
    assert snap.python and snap.python_executable == sys.executable
    assert snap.os and snap.arch and snap.cpu_count
    assert snap.packages is not None
    assert snap.env is not None
    driver_here = Path("/sys/module/nvidia/version").exists() or shutil.which("nvidia-smi") is not None
    if driver_here:
        assert snap.driver is not None and snap.driver.version
    else:
        # no GPU here: say so plainly, and still report the rest
        assert snap.gpus == []
        assert snap.driver is None
        assert snap.notes[0].startswith("no NVIDIA driver found: /sys/module/nvidia/version absent")
        assert "nvidia-smi not on PATH" in snap.notes[0]
    torch = snap.package("torch")
    assert torch is not None and torch.version == importlib.metadata.version("torch")


def test_probe_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from loradoc.doctor.probe.machine import probe\n"
        "probe()\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_stand_in_gpu_machine(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, "535-a100x8")
    fake_nvcc(bin_dir, "12.4")
    root = fake_root(tmp_path, {"/sys/module/nvidia/version": "535.104.05\n"})
    home = tmp_path / "home"
    home.mkdir()
    snap = probe(env=env_with(bin_dir, HOME=str(home), CUDA_VISIBLE_DEVICES="0,1"), root=root)
    assert snap.driver is not None
    assert (snap.driver.version, snap.driver.cuda_max, snap.driver.kernel_module_version) == (
        "535.104.05",
        "12.2",
        "535.104.05",
    )
    assert snap.gpus is not None and len(snap.gpus) == 8
    assert {g.compute_capability for g in snap.gpus} == {"8.0"}
    assert snap.nvcc is not None and snap.nvcc.version == "12.4"
    assert snap.rocm is False
    assert any("CUDA_VISIBLE_DEVICES='0,1'" in n for n in snap.notes)
    assert not any("reboot" in n for n in snap.notes)


def test_secrets_never_enter_the_snapshot(tmp_path: Path) -> None:
    hf = "hf_PLANTEDtokenVALUE0123456789abcdef"
    wb = "wandbPLANTEDkey0123456789abcdef0123456789"
    netrc_secret = "netrcPLANTEDpassword42"
    hf_file_secret = "hf_FILEplanted987654321"
    home = tmp_path / "home"
    (home / ".cache" / "huggingface").mkdir(parents=True)
    (home / ".cache" / "huggingface" / "token").write_text(hf_file_secret)
    (home / ".netrc").write_text(f"machine api.wandb.ai login user password {netrc_secret}\n")
    env = env_with(
        tmp_path / "bin",
        HOME=str(home),
        HF_TOKEN=hf,
        HUGGING_FACE_HUB_TOKEN=hf,
        WANDB_API_KEY=wb,
    )
    snap = probe(env=env, root=fake_root(tmp_path, {}))
    assert snap.env is not None and snap.env.hf_token is True and snap.env.wandb_api_key is True
    text = snap.to_json() + repr(snap) + json.dumps(snap.to_dict())
    for secret in (hf, wb, netrc_secret, hf_file_secret):
        assert secret not in text
    # and from the files alone (no variables set)
    snap = probe(env=env_with(tmp_path / "bin", HOME=str(home)), root=fake_root(tmp_path, {}))
    assert snap.env is not None and snap.env.hf_token is True and snap.env.wandb_api_key is True
    text = snap.to_json() + repr(snap)
    assert netrc_secret not in text and hf_file_secret not in text


def test_json_round_trip(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, "610-b200x2")
    snap = probe(env=env_with(bin_dir, HOME=str(tmp_path)), root=fake_root(tmp_path, {}))
    path = tmp_path / "snap.json"
    snap.save(path)
    again = Snapshot.load(path)
    assert again == snap
    assert again.gpus is not None and [g.compute_capability for g in again.gpus] == ["10.0", "10.0"]


def test_a_failing_step_becomes_a_note(tmp_path: Path) -> None:
    snap = probe(env=env_with(HOME=str(tmp_path)), root=fake_root(tmp_path, {}), paths=[42])  # type: ignore[list-item]
    assert snap.complete is True
    assert snap.packages is None
    assert any(n.startswith("packages: probe step failed (TypeError") for n in snap.notes)
    assert snap.python is not None  # the other steps still ran


def test_another_interpreter_describes_its_own_environment(tmp_path: Path) -> None:
    """``PATH/python -m ...`` probes that interpreter's packages: the search is its sys.path."""
    site = tmp_path / "site"
    meta = site / "torch-2.4.1+cu121.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.4.1+cu121\n")
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(site)!r})\n"
        "from loradoc.doctor.probe.machine import probe\n"
        "print(probe().package('torch').version)\n"
    )
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "2.4.1+cu121"


def test_a_driver_version_override_plans_for_another_machine(tmp_path: Path) -> None:
    from loradoc.compat.load import load_matrix
    from loradoc.doctor.install.plan import plan
    from loradoc.doctor.install.wants import from_options
    from loradoc.errors import UserError

    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, "535-a100x8")
    root = fake_root(tmp_path, {"/sys/module/nvidia/version": "535.104.05\n"})
    env = env_with(bin_dir, HOME=str(tmp_path), LORADOC_CUDA_DRIVER_VERSION="580.65.06")
    snap = probe(env=env, root=root)
    assert snap.driver is not None and snap.driver.version == "580.65.06"
    assert snap.driver.source == "LORADOC_CUDA_DRIVER_VERSION"
    assert any("planning for NVIDIA driver 580.65.06 (probed: 535.104.05)" in n for n in snap.notes)
    assert snap.gpus is not None and len(snap.gpus) == 8  # the GPUs found are kept
    # a 580 driver runs CUDA 13: the plan takes a cu13x build the probed 535 driver could not run
    the_plan = plan(snap, load_matrix(), from_options(minimal=True))
    assert the_plan.variant.startswith("cu13")
    # on a machine without GPUs the other machine's GPUs are unknown, not absent
    cpu_root = fake_root(tmp_path / "cpu", {})
    cpu = probe(
        env=env_with(tmp_path / "nobin", HOME=str(tmp_path), LORADOC_CUDA_DRIVER_VERSION="570.133.20"),
        root=cpu_root,
    )
    assert cpu.gpus is None and cpu.driver is not None and cpu.driver.version == "570.133.20"
    with pytest.raises(
        UserError, match="LORADOC_CUDA_DRIVER_VERSION='latest' is not an NVIDIA driver version"
    ):
        probe(env=env_with(bin_dir, HOME=str(tmp_path), LORADOC_CUDA_DRIVER_VERSION="latest"), root=root)
