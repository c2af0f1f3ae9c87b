"""A fix that swaps torch's build keeps its release: real pip must then replace the installed one.

pip counts an installed torch 2.7.1 (or 2.7.1+cpu) as satisfying ``torch==2.7.1`` and keeps it,
so the command the doctor prints for a CPU build on a GPU machine would change nothing unless it
forces the reinstall. Here the printed command runs, as printed, in a real venv against a local
index that stands in for download.pytorch.org's: pure-Python wheels named torch and torchvision
whose local tags are the builds.
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from install_helpers import freeze, isolated_pip_env, make_index, make_venv, make_wheel

from loradoc.compat.load import load_matrix
from loradoc.doctor.diagnose import diagnose
from loradoc.doctor.snapshot import Snapshot

TORCH, VISION = "2.7.1", "0.22.1"


def _printed_fix() -> str:
    snapshot = Snapshot.from_dict(
        {
            "os": "Linux",
            "arch": "x86_64",
            "python": "3.11.9",
            "gpus": [{"name": "NVIDIA GeForce RTX 4090", "compute_capability": "8.9"}],
            "driver": {"version": "570.124.06", "cuda_max": "12.8"},
            "packages": {"torch": {"version": f"{TORCH}+cpu"}, "torchvision": {"version": f"{VISION}+cpu"}},
        },
        source="test",
    )
    hits = [f for f in diagnose(snapshot, load_matrix()) if f.code == "torch-cpu-build-on-gpu-machine"]
    assert len(hits) == 1 and hits[0].fix
    return hits[0].fix


def _index(root: Path, tag: str) -> str:
    wheels = [
        make_wheel(root / "w", "torch", f"{TORCH}+{tag}"),
        make_wheel(root / "w", "torchvision", f"{VISION}+{tag}", [f"torch=={TORCH}"]),
    ]
    return make_index(root, wheels)


@pytest.mark.slow
def test_the_printed_fix_replaces_a_cpu_build_of_the_same_release(tmp_path: Path) -> None:
    fix = _printed_fix()
    found = re.fullmatch(r"pip install (.+) --index-url https://download\.pytorch\.org/whl/(cu\d+)", fix)
    assert found, fix
    options, variant = found.groups()
    python = make_venv(tmp_path / "env")
    env = isolated_pip_env()
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run(
        [
            *pip,
            "--index-url",
            _index(tmp_path / "cpu", "cpu"),
            f"torch=={TORCH}+cpu",
            f"torchvision=={VISION}+cpu",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    gpu_index = _index(tmp_path / variant, variant)

    def run(args: str) -> list[str]:
        subprocess.run(
            [*pip, *args.split(), "--index-url", gpu_index], env=env, check=True, capture_output=True
        )
        return [line for line in freeze(python, env) if line.startswith("torch")]

    # without the forced reinstall pip keeps the CPU build: this is what the fix must avoid
    plain = options.replace("--force-reinstall ", "")
    assert run(plain) == [f"torch=={TORCH}+cpu", f"torchvision=={VISION}+cpu"]
    # the command as printed swaps both for the GPU build, torchvision with torch
    assert run(options) == [f"torch=={TORCH}+{variant}", f"torchvision=={VISION}+{variant}"]


@pytest.mark.slow
def test_the_xformers_fix_replaces_a_build_for_another_cuda_and_leaves_torch(tmp_path: Path) -> None:
    # Colab's case (Comfy-Org/ComfyUI-Manager#251): xformers 0.0.23.post1 from the cu118 index
    # beside torch 2.1.2+cu121; PyPI's 0.0.23.post1 is the cu121 build
    snapshot = Snapshot.from_dict(
        {
            "os": "Linux",
            "python": "3.10.12",
            "packages": {
                "torch": {"version": "2.1.2+cu121"},
                "xformers": {
                    "version": "0.0.23.post1+cu118",
                    "built_for_torch": "2.1.2+cu118",
                    "cuda": "11.8",
                },
            },
        },
        source="test",
    )
    fixes = {f.fix for f in diagnose(snapshot, load_matrix()) if f.code == "xformers-torch-mismatch"}
    assert len(fixes) == 1
    fix = fixes.pop() or ""
    found = re.fullmatch(r"pip install (.+ )?xformers==(\S+)", fix)
    assert found, fix
    options, version = (found.group(1) or "").split(), found.group(2)
    python = make_venv(tmp_path / "env")
    env = isolated_pip_env()
    pip = [str(python), "-m", "pip", "install", "-q"]
    cu118 = make_index(
        tmp_path / "cu118",
        [
            make_wheel(tmp_path / "w118", "torch", "2.1.2+cu121"),
            make_wheel(tmp_path / "w118", "xformers", f"{version}+cu118", ["torch==2.1.2"]),
        ],
    )
    subprocess.run(
        [*pip, "--index-url", cu118, "torch==2.1.2+cu121", f"xformers=={version}+cu118"],
        env=env,
        check=True,
        capture_output=True,
    )
    # PyPI stands in: the release's wheel without a local tag, and no torch at all
    pypi = make_index(
        tmp_path / "pypi", [make_wheel(tmp_path / "wpypi", "xformers", version, ["torch==2.1.2"])]
    )

    def run(args: list[str]) -> list[str]:
        subprocess.run(
            [*pip, *args, f"xformers=={version}", "--index-url", pypi],
            env=env,
            check=True,
            capture_output=True,
        )
        return [line for line in freeze(python, env) if line.startswith(("torch", "xformers"))]

    # pip keeps the installed build when asked for its release: what the fix must avoid
    assert run([o for o in options if o not in ("--force-reinstall", "--no-deps")]) == [
        "torch==2.1.2+cu121",
        f"xformers=={version}+cu118",
    ]
    # as printed: the PyPI build replaces it, and torch stays
    assert run(options) == ["torch==2.1.2+cu121", f"xformers=={version}"]


@pytest.mark.slow
def test_the_flash_attn_fix_swaps_the_abi_of_the_installed_release(tmp_path: Path) -> None:
    # flash-attn 2.8.3 built with cxx11abiTRUE beside a pre-cxx11 torch 2.6: the same release's
    # cxx11abiFALSE wheel is the smallest change, and pip keeps 2.8.3 when handed another 2.8.3 wheel
    snapshot = Snapshot.from_dict(
        {
            "os": "Linux",
            "python": "3.11.4",
            "packages": {
                "torch": {"version": "2.6.0+cu124", "cuda": "12.4", "cxx11_abi": False},
                "flash-attn": {
                    "version": "2.8.3",
                    "wheel": "flash_attn-2.8.3+cu12torch2.6cxx11abiTRUE-cp311-cp311-linux_x86_64.whl",
                },
            },
        },
        source="test",
    )
    hits = [f for f in diagnose(snapshot, load_matrix()) if f.code == "flash-attn-abi-or-torch-mismatch"]
    assert len(hits) == 1 and hits[0].fix
    found = re.fullmatch(
        r"pip install (.*)https://\S+/(flash_attn-2\.8\.3\+\S+cxx11abiFALSE\S+\.whl)", hits[0].fix
    )
    assert found, hits[0].fix
    options, filename = found.group(1).split(), found.group(2)
    python = make_venv(tmp_path / "env")
    env = isolated_pip_env(PIP_NO_INDEX="1")
    pip = [str(python), "-m", "pip", "install", "-q"]
    # stand-ins that tell the builds apart by the module they hold; the wheel the fix names keeps its name
    old = make_wheel(tmp_path / "old", "flash-attn", "2.8.3")
    subprocess.run([*pip, str(old)], env=env, check=True, capture_output=True)
    other = make_wheel(tmp_path / "new", "flash-attn", "2.8.3")
    with zipfile.ZipFile(other, "a") as zf:
        zf.writestr("flash_attn/abi.py", "CXX11_ABI = False\n")
    named = other.rename(other.with_name(filename))

    def abi_module() -> bool:
        probe = "import importlib.util; print(importlib.util.find_spec('flash_attn.abi') is not None)"
        out = subprocess.run([str(python), "-c", probe], env=env, check=True, capture_output=True, text=True)
        return out.stdout.strip() == "True"

    plain = [o for o in options if o not in ("--force-reinstall", "--no-deps", "--no-cache-dir")]
    subprocess.run([*pip, *plain, str(named)], env=env, check=True, capture_output=True)
    assert not abi_module()  # pip kept the installed build: what the fix must avoid
    subprocess.run([*pip, *options, str(named)], env=env, check=True, capture_output=True)
    assert abi_module()


@pytest.mark.slow
def test_the_triton_fix_brings_back_the_triton_torch_pins(tmp_path: Path) -> None:
    # on Linux the fix reinstalls nothing: asking for the installed torch build again makes pip
    # install the dependency it pins and lacks (a bare `pip install triton` would take the newest)
    from loradoc.doctor.explain import explain

    snapshot = Snapshot.from_dict(
        {"os": "Linux", "packages": {"torch": {"version": "2.5.1+cu124"}}}, source="t"
    )
    found = [f for f in explain("ModuleNotFoundError: No module named 'triton'", snapshot, load_matrix())]
    assert [f.code for f in found] == ["triton-missing"]
    fix = found[0].fix or ""
    parsed = re.fullmatch(
        r"pip install (torch==2\.5\.1) --index-url https://download\.pytorch\.org/whl/cu124", fix
    )
    assert parsed, fix
    python = make_venv(tmp_path / "env")
    env = isolated_pip_env()
    index = make_index(
        tmp_path / "cu124",
        [
            make_wheel(tmp_path / "w", "torch", "2.5.1+cu124", ["triton==3.1.0"]),
            make_wheel(tmp_path / "w", "triton", "3.1.0"),
            make_wheel(tmp_path / "w", "triton", "3.2.0"),
        ],
    )
    pip = [str(python), "-m", "pip", "install", "-q", "--index-url", index]
    subprocess.run([*pip, "torch==2.5.1+cu124"], env=env, check=True, capture_output=True)
    subprocess.run(
        [str(python), "-m", "pip", "uninstall", "-y", "-q", "triton"],
        env=env,
        check=True,
        capture_output=True,
    )
    subprocess.run([*pip, parsed.group(1)], env=env, check=True, capture_output=True)
    assert [line for line in freeze(python, env) if line.startswith(("torch", "triton"))] == [
        "torch==2.5.1+cu124",
        "triton==3.1.0",
    ]
