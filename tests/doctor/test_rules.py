"""Each rule on hand-written snapshots: healthy boxes, each failure kind, sparse bug reports.

EXPECTED lists, per snapshot file, the codes diagnose() must emit (and nothing else of
severity error/warning). test_every_code_is_exercised checks every registered code appears
in some test here or in test_explain.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from doctor_helpers import SNAPSHOTS, by_code, codes, one, run

from loradoc.compat import load_matrix
from loradoc.compat.queries import spec_contains
from loradoc.doctor.explain import explain
from loradoc.doctor.findings import Severity
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.xformers import xformers_fix
from loradoc.doctor.snapshot import Snapshot

EXPECTED: dict[str, set[str]] = {
    "healthy_a100": {"ok", "pypi-torch-needs-newer-driver"},
    "cpu_laptop": {"ok", "no-nvidia-gpu"},
    "empty": {"ok"},
    "name_only": {"ok"},
    "driver_too_old_cu130": {"driver-too-old-for-torch-cuda", "pypi-torch-needs-newer-driver"},
    "windows_pypi_cpu_torch": {"torch-cpu-build-on-gpu-machine"},
    "rtx5090_torch26": {
        "gpu-arch-unsupported-by-torch-build",
        "pypi-torch-needs-newer-driver",
        "xformers-torch-mismatch",
    },
    "pascal_cu128": {
        "gpu-arch-unsupported-by-torch-build",
        "pypi-torch-needs-newer-driver",
        "xformers-torch-mismatch",
        # what a pre-Ampere GPU cannot run, said when no training config is given
        "bf16-unsupported-gpu",
        "tf32-unsupported-gpu",
        "flash-attn-gpu-too-old",
    },
    "v100_bug_report": {
        "gpu-arch-unsupported-by-torch-build",
        "driver-minor-version-compat",
        "pypi-torch-needs-newer-driver",
        "xformers-torch-mismatch",
        # what a pre-Ampere GPU cannot run, said when no training config is given
        "bf16-unsupported-gpu",
        "tf32-unsupported-gpu",
        "flash-attn-gpu-too-old",
    },
    "xformers_wrong_torch": {"xformers-torch-mismatch", "pypi-torch-needs-newer-driver"},
    "flash_attn_abi": {"flash-attn-abi-or-torch-mismatch", "pypi-torch-needs-newer-driver"},
    "bnb_old_on_cuda13": {"bitsandbytes-cuda-setup"},
    "nvcc_11_torch_12": {
        "nvcc-torch-cuda-mismatch",
        "pypi-torch-needs-newer-driver",
        "xformers-torch-mismatch",
    },
    "torchvision_cu118_on_cu121": {"package-requires-other-torch", "pypi-torch-needs-newer-driver"},
    "transformers_524_torch25": {
        "transformers-disables-torch",
        "pypi-torch-needs-newer-driver",
        "xformers-torch-mismatch",
    },
    "torch215_python310": {"python-unsupported-by-torch"},
    "reboot_needed": {"driver-reboot-needed", "pypi-torch-needs-newer-driver"},
    "torch_missing_a100": {"torch-missing", "pypi-torch-needs-newer-driver"},
    "old_glibc": {
        "glibc-too-old-for-torch",
        "driver-minor-version-compat",
        "pypi-torch-needs-newer-driver",
        "xformers-torch-mismatch",
    },
    "minor_compat_535_cu124": {
        "driver-minor-version-compat",
        "pypi-torch-needs-newer-driver",
        "xformers-torch-mismatch",
    },
    "unknown_gpu_future_torch": {"ok", "gpu-cc-unknown", "torch-not-in-matrix"},
    "t4_colab": {
        "accelerate-config-conflict",
        "pypi-torch-needs-newer-driver",
        "flash-attn-gpu-too-old",
        "bf16-unsupported-gpu",
        "tf32-unsupported-gpu",
    },
}


def test_every_snapshot_file_has_expectations() -> None:
    assert {p.stem for p in SNAPSHOTS.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_snapshot_codes(name: str) -> None:
    findings = run(name)
    assert codes(findings) == EXPECTED[name], [f"{f.code}: {f.message}" for f in findings]
    assert not by_code(findings, "internal-rule-error")
    for f in findings:
        assert f.message and "\n" not in f.message
        if f.severity is Severity.ERROR:
            assert f.fix, f"{f.code} has no fix"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_findings_are_sorted_by_severity(name: str) -> None:
    ranks = [f.severity.rank for f in run(name)]
    assert ranks == sorted(ranks)


# -- precise fixes ------------------------------------------------------------------------------


def test_healthy_box_is_ok() -> None:
    ok = one(run("healthy_a100"), "ok")
    assert "torch 2.5.1+cu124" in ok.message and "A100" in ok.message and "550.54.15" in ok.message


def test_driver_too_old_keeps_the_version_and_picks_a_covered_variant() -> None:
    f = one(run("driver_too_old_cu130"), "driver-too-old-for-torch-cuda")
    assert f.severity is Severity.ERROR
    assert (
        "torch 2.11.0 (cu130)" in f.message and "driver 570.133.20" in f.message and "580.65.06" in f.message
    )
    assert (
        f.fix
        == "pip install --force-reinstall torch==2.11.0 --index-url https://download.pytorch.org/whl/cu128"
    )
    assert f.details["alternative"] == "sudo apt-get install -y nvidia-driver-580 && sudo reboot"


def test_pypi_torch_on_windows_is_cpu_only() -> None:
    f = one(run("windows_pypi_cpu_torch"), "torch-cpu-build-on-gpu-machine")
    assert "PyPI's Windows wheels are CPU-only" in f.message
    assert (
        f.fix
        == "pip install --force-reinstall torch==2.5.1 torchvision --index-url https://download.pytorch.org/whl/cu124"
    )


def test_a_conda_torch_without_a_local_tag_is_not_read_as_pypis_windows_wheel() -> None:
    """Comfy-Org/ComfyUI#4785: conda's torch 2.3.1 (pytorch-cuda=12.1) says its build in the build
    string, not the version, so a bare 2.3.1 from conda is not PyPI's CPU-only Windows wheel."""
    conda = {"os": "Windows", "packages": {"torch": {"version": "2.3.1", "installer": "conda"}}}
    assert not by_code(run(conda), "torch-cpu-build-on-gpu-machine")
    pip = {"os": "Windows", "packages": {"torch": {"version": "2.3.1", "installer": "pip"}}}
    assert by_code(run(pip), "torch-cpu-build-on-gpu-machine")


def test_cpu_build_on_linux_gpu_box() -> None:
    s = {
        "os": "Linux",
        "driver": {"version": "550.54.15"},
        "gpus": [{"name": "NVIDIA L4"}],
        "packages": {"torch": {"version": "2.6.0+cpu"}},
    }
    f = one(run(s), "torch-cpu-build-on-gpu-machine")
    assert (
        f.fix
        == "pip install --force-reinstall torch==2.6.0 --index-url https://download.pytorch.org/whl/cu124"
    )


def test_a_rocm_build_on_an_nvidia_machine_gets_the_cuda_build() -> None:
    """modal-labs/modal-examples#681: a ComfyUI image built from the ROCm index on a T4."""
    s = {
        "os": "Linux",
        "driver": {"version": "550.54.15"},
        "gpus": [{"name": "Tesla T4", "compute_capability": "7.5"}],
        "packages": {"torch": {"version": "2.6.0+rocm6.2.4"}},
    }
    f = one(run(s), "torch-rocm-build-on-nvidia-gpu")
    assert f.severity is Severity.ERROR and "No HIP GPUs are available" in f.message
    assert (
        f.fix
        == "pip install --force-reinstall torch==2.6.0 --index-url https://download.pytorch.org/whl/cu124"
    )
    amd = dict(s, gpus=[{"name": "AMD Instinct MI250X", "vendor": "amd", "gfx": "gfx90a"}], driver=None)
    assert not by_code(run(amd), "torch-rocm-build-on-nvidia-gpu")
    unknown = dict(s, gpus=None, driver=None)  # nothing says which GPUs: no finding
    assert not by_code(run(unknown), "torch-rocm-build-on-nvidia-gpu")
    # the mirror: a CUDA build on an AMD machine (AUTOMATIC1111/stable-diffusion-webui#14462)
    cuda_on_amd = dict(amd, packages={"torch": {"version": "2.6.0+cu124"}})
    f = one(run(cuda_on_amd), "torch-build-without-rocm-on-amd-gpu")
    assert f.fix is not None and "--index-url https://download.pytorch.org/whl/rocm" in f.fix
    assert not by_code(run(amd), "torch-build-without-rocm-on-amd-gpu")


def test_a_package_built_for_another_torch_minor_gets_its_release_for_this_torch() -> None:
    """[[torch_bound_release]]: torchcodec 0.1.1 under torch 2.4 (meta-pytorch/torchcodec#493),
    torchao 0.12 under torch 2.8, triton-windows 3.5 under torch 2.8 (triton-windows#158)."""
    s = {"packages": {"torch": {"version": "2.4.0+cu124"}, "torchcodec": {"version": "0.1.1+cu124"}}}
    f = one(run(s), "package-requires-other-torch")
    assert "built for torch 2.5" in f.message and f.fix == "pip install torchcodec==0.0.3"
    win = {
        "os": "Windows",
        "packages": {
            "torch": {"version": "2.8.0+cu128"},
            "torchao": {"version": "0.12.0"},
            "triton-windows": {"version": "3.5.0.post21"},
        },
    }
    fixes = {f.fix for f in run(win) if f.code == "package-requires-other-torch"}
    assert fixes == {"pip install torchao==0.13.0", 'pip install "triton-windows==3.4.*"'}
    fine = {"packages": {"torch": {"version": "2.9.1"}, "torchcodec": {"version": "0.9.0"}}}
    assert not by_code(run(fine), "package-requires-other-torch")


def test_a_cpu_build_where_the_gpus_are_unknown_is_a_warning() -> None:
    """Facts without GPUs (a thread, a log): a CPU torch is worth a warning, not silence."""
    s = {"os": "Windows", "packages": {"torch": {"version": "2.1.2"}}}  # PyPI's Windows wheel
    f = one(run(s), "torch-cpu-build-on-gpu-machine")
    assert f.severity is Severity.WARNING
    assert "PyPI's Windows wheels are CPU-only" in f.message and "does not say whether" in f.message
    assert f.fix is not None and "--index-url https://download.pytorch.org/whl/cu" in f.fix
    linux = {"os": "Linux", "packages": {"torch": {"version": "2.6.0+cpu"}}}
    assert one(run(linux), "torch-cpu-build-on-gpu-machine").severity is Severity.WARNING
    no_gpu = dict(linux, gpus=[])  # the probe looked and found none: a CPU build is right
    assert not by_code(run(no_gpu), "torch-cpu-build-on-gpu-machine")


def test_pypi_torch_on_linux_aarch64_before_cuda_wheels_is_a_cpu_build() -> None:
    """A GH200 with torch 2.9.0 from PyPI (no local tag): that aarch64 wheel is a CPU build."""
    s = {
        "os": "Linux",
        "arch": "aarch64",
        "driver": {"version": "570.124.06"},
        "gpus": [{"name": "NVIDIA GH200 480GB", "compute_capability": "9.0"}],
        "packages": {"torch": {"version": "2.9.0"}},
    }
    f = one(run(s), "torch-cpu-build-on-gpu-machine")
    assert f.severity is Severity.ERROR
    assert "PyPI's Linux aarch64 wheel of torch 2.9.0 is CPU-only" in f.message
    assert (
        f.fix
        == "pip install --force-reinstall torch==2.9.0 --index-url https://download.pytorch.org/whl/cu128"
    )
    newer = dict(s, packages={"torch": {"version": "2.12.0"}})  # PyPI's aarch64 wheel has CUDA 13.0
    assert not by_code(run(newer), "torch-cpu-build-on-gpu-machine")
    x86 = dict(s, arch="x86_64", gpus=[{"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}])
    assert not by_code(run(x86), "torch-cpu-build-on-gpu-machine")


def test_windows_with_nothing_else_known_notes_the_cpu_only_pypi_wheel() -> None:
    """A report that names only Windows: the commonest reason its GPU goes unused is a note,
    not a warning; once the facts say there is no GPU, or name a CUDA torch, it goes."""
    f = one(run({"os": "Windows"}), "torch-cpu-build-on-gpu-machine")
    assert f.severity is Severity.INFO
    assert "PyPI's torch wheels are CPU-only" in f.message and "if this machine has one" in f.message
    assert f.fix is not None and "--index-url https://download.pytorch.org/whl/cu" in f.fix
    assert not by_code(run({"os": "Windows", "gpus": []}), "torch-cpu-build-on-gpu-machine")
    cuda = {"os": "Windows", "packages": {"torch": {"version": "2.5.1+cu124"}}}
    assert not by_code(run(cuda), "torch-cpu-build-on-gpu-machine")
    assert not by_code(run({"os": "Linux"}), "torch-cpu-build-on-gpu-machine")


def test_blackwell_needs_a_newer_torch() -> None:
    f = one(run("rtx5090_torch26"), "gpu-arch-unsupported-by-torch-build")
    assert "RTX 5090 (sm 12.0)" in f.message and "no kernel image" in f.message
    assert f.fix == "pip install torch==2.11.0 --index-url https://download.pytorch.org/whl/cu128"
    assert f.details["alternative"] == (
        "git clone --recursive --depth 1 --branch v2.6.0 https://github.com/pytorch/pytorch && cd pytorch && "
        'pip install -r requirements.txt && TORCH_CUDA_ARCH_LIST="12.0" pip install --no-build-isolation -v .'
    )


def test_pascal_on_cu128_moves_to_cu126_of_the_same_release() -> None:
    f = one(run("pascal_cu128"), "gpu-arch-unsupported-by-torch-build")
    assert (
        f.fix
        == "pip install --force-reinstall torch==2.7.1 --index-url https://download.pytorch.org/whl/cu126"
    )


def test_sparse_bug_report_fills_cc_from_the_name_table() -> None:
    f = one(run("v100_bug_report"), "gpu-arch-unsupported-by-torch-build")
    assert "Tesla V100-SXM2-16GB (sm 7.0)" in f.message
    assert (
        f.fix
        == "pip install --force-reinstall torch==2.7.1 --index-url https://download.pytorch.org/whl/cu118"
    )
    assert "UNVERIFIED" in " ".join(f.details.get("notes", []))  # cu118's pip arch list is unverified


def test_ptx_only_gpu_is_a_warning() -> None:
    s = {
        "os": "Linux",
        "driver": {"version": "590.48.01"},
        "gpus": [{"name": "NVIDIA Future", "compute_capability": "13.0"}],
        "packages": {"torch": {"version": "2.13.0+cu130"}},
    }
    f = one(run(s), "gpu-arch-ptx-jit")
    assert f.severity is Severity.WARNING and "PTX" in f.message
    windows = dict(s, os="Windows")
    assert by_code(run(windows), "gpu-arch-unsupported-by-torch-build")  # no PTX in Windows cu13x wheels


def test_an_amd_gpu_outside_the_rocm_builds_gfx_list() -> None:
    s = {
        "os": "Linux",
        "rocm": True,
        "gpus": [{"name": "AMD Radeon RX 6700 XT", "vendor": "amd"}],  # gfx1031 by the name table
        "packages": {"torch": {"version": "2.6.0+rocm6.2.4", "hip": "6.2.41134"}},
    }
    f = one(run(s), "rocm-gfx-unsupported-by-torch-build")
    assert f.severity is Severity.ERROR and "AMD Radeon RX 6700 XT (gfx1031)" in f.message
    assert "HIP error: invalid device function" in f.message
    assert f.fix == "export HSA_OVERRIDE_GFX_VERSION=10.3.0"  # RDNA2: gfx1030's kernels run
    covered = dict(s, gpus=[{"name": "AMD Instinct MI250X/MI250", "vendor": "amd"}])
    assert not by_code(run(covered), "rocm-gfx-unsupported-by-torch-build")
    # RDNA3.5 runs gfx1100's kernels (pytorch/pytorch#164346), which this build carries
    rdna35 = one(
        run(dict(s, gpus=[{"name": "x", "vendor": "amd", "gfx": "gfx1150"}])),
        "rocm-gfx-unsupported-by-torch-build",
    )
    assert rdna35.fix == "export HSA_OVERRIDE_GFX_VERSION=11.0.0"
    assert "gfx11x cards run gfx1100's kernels with an override" in rdna35.message
    # RDNA4 has no family target in a ROCm 6.2 build: torch built for it
    probed = dict(s, gpus=[{"name": "x", "vendor": "amd", "gfx": "gfx1201"}])
    g = one(run(probed), "rocm-gfx-unsupported-by-torch-build")
    assert g.fix is not None and g.fix.endswith(
        'PYTORCH_ROCM_ARCH="gfx1201" pip install --no-build-isolation -v .'
    )


def test_xformers_built_for_another_torch() -> None:
    f = one(run("xformers_wrong_torch"), "xformers-torch-mismatch")
    assert "built for torch 2.4.1+cu121" in f.message
    assert f.fix == "pip install xformers==0.0.29.post1"


def test_xformers_pin_without_build_info() -> None:
    s = {
        "os": "Linux",
        "python": "3.11.4",
        "packages": {"torch": {"version": "2.5.1+cu124"}, "xformers": {"version": "0.0.27.post2"}},
    }
    f = one(run(s), "xformers-torch-mismatch")
    assert "requires torch==2.4.0" in f.message


def test_xformers_release_unknown_to_the_matrix_is_read_from_its_metadata() -> None:
    """xformers 0.0.14 (a webui-era build) is not in the matrix; its installed Requires-Dist still names its torch."""
    s = {
        "os": "Linux",
        "packages": {
            "torch": {"version": "2.0.1+cu118"},
            "xformers": {"version": "0.0.14", "requires": ["torch==2.0.0", "numpy"]},
        },
    }
    f = one(run(s), "xformers-torch-mismatch")
    assert "requires torch==2.0.0" in f.message
    assert f.fix == "pip install xformers==0.0.22"  # the newest xformers for torch 2.0.1
    fits = {**s, "packages": {**s["packages"], "xformers": {"version": "0.0.14", "requires": ["torch>=2.0"]}}}
    assert not by_code(run(fits), "xformers-torch-mismatch")


def test_no_xformers_for_the_installed_torch_moves_torch_to_the_newest_xformers() -> None:
    s = {
        "os": "Linux",
        "python": "3.10.9",
        "packages": {
            "torch": {"version": "1.12.1+cu113"},
            "xformers": {"built_for_torch": "1.13.1+cu117", "cuda": "11.7"},
        },
    }
    f = one(run(s), "xformers-torch-mismatch")
    install_torch, install_xformers = f.fix.split(" && ")
    assert install_torch.startswith("pip install torch==") and install_xformers.startswith(
        "pip install xformers=="
    )


def test_xformers_cuda12_wheel_on_cuda13_torch_is_flagged_as_inferred() -> None:
    s = {
        "os": "Linux",
        "python": "3.12.3",
        "packages": {"torch": {"version": "2.11.0", "cuda": "13.0"}, "xformers": {"version": "0.0.35"}},
    }
    f = one(run(s), "xformers-torch-mismatch")
    assert f.severity is Severity.WARNING and "UNVERIFIED" in f.message
    assert (
        f.fix
        == "pip install --force-reinstall --no-deps xformers==0.0.35 --index-url https://download.pytorch.org/whl/cu130"
    )


def test_stable_abi_xformers_accepts_later_torch() -> None:
    s = {
        "os": "Linux",
        "python": "3.12.3",
        "packages": {
            "torch": {"version": "2.12.0+cu126", "cuda": "12.6"},
            "xformers": {"version": "0.0.34", "built_for_torch": "2.10.0+cu128", "cuda": "12.8"},
        },
    }
    assert not by_code(run(s), "xformers-torch-mismatch")


def test_xformers_for_torch_2_1_0_has_a_wheel_and_a_pin() -> None:
    s = {
        "os": "Linux",
        "python": "3.10.12",
        "packages": {"torch": {"version": "2.1.0+cu121"}, "xformers": {"version": "0.0.22"}},
    }
    f = one(run(s), "xformers-torch-mismatch")
    assert f.fix == "pip install xformers==0.0.22.post7"


def test_xformers_requested_but_missing() -> None:
    s = {
        "complete": True,
        "os": "Linux",
        "python": "3.11.4",
        "packages": {"torch": {"version": "2.5.1+cu124", "cuda": "12.4"}},
    }
    f = one(run(s, SimpleNamespace(xformers_attention=True)), "xformers-unavailable")
    assert (
        f.fix == "pip install xformers==0.0.29.post1 --index-url https://download.pytorch.org/whl/cu124"
        or f.fix == "pip install xformers==0.0.29.post1"
    )
    assert not by_code(run(s), "xformers-unavailable")


def test_flash_attn_abi_mismatch_names_the_right_wheel() -> None:
    f = one(run("flash_attn_abi"), "flash-attn-abi-or-torch-mismatch")
    assert "cxx11abiTRUE but torch uses cxx11abiFALSE" in f.message
    # the smallest change: the installed release (2.8.3) with torch's ABI, not the newest release;
    # pip keeps an installed 2.8.3 when handed another 2.8.3 wheel, so the fix forces it, alone
    assert f.fix == (
        "pip install --force-reinstall --no-deps --no-cache-dir https://github.com/Dao-AILab/flash-attention/"
        "releases/download/v2.8.3/flash_attn-2.8.3+cu12torch2.6cxx11abiFALSE-cp311-cp311-linux_x86_64.whl"
    )


def test_flash_attn_built_for_another_torch_minor() -> None:
    s = {
        "os": "Linux",
        "python": "3.11.7",
        "packages": {
            "torch": {"version": "2.7.1+cu126", "cuda": "12.6"},
            "flash-attn": {
                "version": "2.7.4.post1",
                "wheel": "flash_attn-2.7.4.post1+cu12torch2.6cxx11abiTRUE-cp311-cp311-linux_x86_64.whl",
            },
        },
    }
    f = one(run(s), "flash-attn-abi-or-torch-mismatch")
    assert "built for torch 2.6" in f.message
    assert "cu12torch2.7cxx11abiTRUE-cp311" in f.fix  # type: ignore[operator]


def test_flash_attn_old_gpu_without_and_with_config() -> None:
    plain = one(run("t4_colab"), "flash-attn-gpu-too-old")
    assert plain.severity is Severity.WARNING
    wanted = one(run("t4_colab", SimpleNamespace(flash_attention=True)), "flash-attn-gpu-too-old")
    assert wanted.severity is Severity.WARNING and "Tesla T4 (sm 7.5)" in wanted.message
    assert "loradoc train falls back to loradoc_varlen" in wanted.message
    assert wanted.fix == "replace flash_attention: true with attn_implementation: sdpa in the training config"


def test_flash_attn_requested_but_missing() -> None:
    s = {
        "complete": True,
        "os": "Linux",
        "python": "3.12.3",
        "gpus": [{"name": "NVIDIA H100 80GB HBM3"}],
        "driver": {"version": "570.86.10"},
        "packages": {"torch": {"version": "2.7.1+cu126", "cuda": "12.6"}},
    }
    f = one(run(s, SimpleNamespace(attn_implementation="flash_attention_2")), "flash-attn-missing")
    assert f.fix == (
        "pip install https://github.com/Dao-AILab/flash-attention/releases/download/v2.8.3.post1/"
        "flash_attn-2.8.3.post1+cu12torch2.7cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
    )


def _fa3_machine(gpu: str, torch: str, *, fa3: bool = False) -> dict[str, object]:
    packages: dict[str, object] = {"torch": {"version": torch}}
    if fa3:
        packages["flash-attn-3"] = {"version": "3.0.0"}
    return {
        "complete": True,
        "os": "Linux",
        "python": "3.12.3",
        "gpus": [{"name": gpu}],
        "driver": {"version": "570.86.10"},
        "packages": packages,
    }


def test_flash_attention_3_asked_on_hopper_gets_its_install_command() -> None:
    s = _fa3_machine("NVIDIA H100 80GB HBM3", "2.11.0+cu128")
    f = one(run(s, SimpleNamespace(attn_implementation="flash_attention_3")), "flash-attn-3-missing")
    assert f.severity is Severity.WARNING and "flash-attn 2 where it is installed" in f.message
    assert f.fix == (
        "pip install --no-deps --index-url https://download.pytorch.org/whl/cu128 flash-attn-3==3.0.0"
        " && pip install einops packaging ninja"
    )
    # installed: nothing to say; a torch older than its stable ABI: the reason, and flash-attn 2 instead
    assert not by_code(
        run(_fa3_machine("NVIDIA H100 80GB HBM3", "2.11.0+cu128", fa3=True)), "flash-attn-3-missing"
    )
    old = one(
        run(
            _fa3_machine("NVIDIA H100 80GB HBM3", "2.8.0+cu128"),
            SimpleNamespace(attn_implementation="flash_attention_3"),
        ),
        "flash-attn-3-missing",
    )
    assert "need torch >= 2.9" in old.message
    assert old.fix == "set attn_implementation: flash_attention_2 in the training config"


def test_flash_attention_3_off_hopper_is_flagged() -> None:
    installed = one(
        run(_fa3_machine("NVIDIA GeForce RTX 5090", "2.11.0+cu128", fa3=True)), "flash-attn-3-unsupported"
    )
    assert "built for Hopper (sm_90)" in installed.message and "sm 12.0" in installed.message
    assert installed.fix == "pip uninstall -y flash-attn-3"
    asked = one(
        run(
            _fa3_machine("NVIDIA A100-SXM4-80GB", "2.11.0+cu128"),
            SimpleNamespace(attn_implementation="flash_attention_3"),
        ),
        "flash-attn-3-unsupported",
    )
    assert asked.fix == "set attn_implementation: flash_attention_2 in the training config"
    assert not by_code(
        run(_fa3_machine("NVIDIA H100 80GB HBM3", "2.11.0+cu128", fa3=True)), "flash-attn-3-unsupported"
    )


def test_flash_attention_on_a_cpu_machine() -> None:
    f = one(run("cpu_laptop", SimpleNamespace(flash_attention=True)), "flash-attn-gpu-too-old")
    assert "no NVIDIA GPU" in f.message


def test_bf16_and_tf32_on_turing() -> None:
    cfg = SimpleNamespace(bf16=True, tf32=True)
    findings = run("t4_colab", cfg)
    bf16 = one(findings, "bf16-unsupported-gpu")
    assert bf16.severity is Severity.ERROR and bf16.fix.startswith("set bf16: false and fp16: true")  # type: ignore[union-attr]
    assert one(findings, "tf32-unsupported-gpu").severity is Severity.WARNING
    auto = one(run("t4_colab", SimpleNamespace(bf16="auto")), "bf16-unsupported-gpu")
    assert auto.severity is Severity.INFO
    assert not by_code(run("healthy_a100", SimpleNamespace(bf16=True, tf32=True)), "bf16-unsupported-gpu")


def test_bitsandbytes_without_a_library_for_cuda13() -> None:
    f = one(run("bnb_old_on_cuda13"), "bitsandbytes-cuda-setup")
    assert "torch's CUDA 13.0" in f.message and "cuda128" in f.message
    assert f.fix == 'pip install -U "bitsandbytes>=0.50.0"'


def test_old_bitsandbytes_reads_system_cuda() -> None:
    s = {
        "os": "Linux",
        "driver": {"version": "550.54.15"},
        "gpus": [{"name": "NVIDIA A10G"}],
        "packages": {"torch": {"version": "2.1.2+cu121"}, "bitsandbytes": {"version": "0.42.0"}},
    }
    f = one(run(s), "bitsandbytes-cuda-setup")
    assert f.severity is Severity.WARNING and "system's CUDA" in f.message


def test_bitsandbytes_missing_and_gpu_floors() -> None:
    s = {
        "complete": True,
        "os": "Linux",
        "python": "3.11.2",
        "driver": {"version": "550.54.15"},
        "gpus": [{"name": "Tesla P100-PCIE-16GB"}],
        "packages": {"torch": {"version": "2.5.1+cu124", "cuda": "12.4"}},
    }
    missing = one(run(s, SimpleNamespace(load_in_4bit=True)), "bitsandbytes-missing")
    assert missing.fix == 'pip install -U "bitsandbytes>=0.50.0"'
    old = one(run(s, SimpleNamespace(load_in_8bit=True)), "bitsandbytes-gpu-too-old")
    assert "LLM.int8()" in old.message and ">= 7.5" in old.message and "sm 6.0" in old.message
    assert not by_code(
        run(s, SimpleNamespace(load_in_4bit=True)), "bitsandbytes-gpu-too-old"
    )  # 4-bit: 6.0 is enough


def test_bitsandbytes_cuda13_library_needs_turing() -> None:
    s = {
        "os": "Linux",
        "driver": {"version": "580.95.05"},
        "gpus": [{"name": "Tesla V100-SXM2-32GB"}],
        "packages": {"torch": {"version": "2.13.0+cu130"}, "bitsandbytes": {"version": "0.50.1"}},
    }
    f = one(run(s, SimpleNamespace(adapter="qlora")), "bitsandbytes-gpu-too-old")
    assert ">= 7.5 as built for CUDA 13.0" in f.message


def test_nvcc_major_mismatch() -> None:
    f = one(run("nvcc_11_torch_12"), "nvcc-torch-cuda-mismatch")
    assert f.severity is Severity.WARNING
    assert (
        "The detected CUDA version (11.8) mismatches the version that was used to compile PyTorch (12.4)"
        in f.message
    )
    assert f.fix.startswith("export CUDA_HOME=/usr/local/cuda-12.4")  # type: ignore[union-attr]
    assert (
        f.details["alternative"]
        == "pip install --force-reinstall torch==2.5.1 --index-url https://download.pytorch.org/whl/cu118"
    )
    minor = {"packages": {"torch": {"version": "2.5.1+cu124"}}, "nvcc": {"version": "12.1"}}
    assert not by_code(run(minor), "nvcc-torch-cuda-mismatch")


def test_pip_check_blind_spot_for_local_tags() -> None:
    f = one(run("torchvision_cu118_on_cu121"), "package-requires-other-torch")
    assert (
        "torchvision 0.19.1+cu118" in f.message
        and "torch is 2.4.1+cu121" in f.message
        and "pip check" in f.message
    )
    assert (
        f.fix
        == 'pip install torch==2.4.1 "torchvision==0.19.*" --index-url https://download.pytorch.org/whl/cu121'
    )


def test_torchvision_and_torchaudio_of_another_torch_minor_per_the_matrix() -> None:
    """A hand-written snapshot lists no Requires-Dist: the matrix pairs the releases. torchaudio
    2.11.0 declares no torch requirement at all, so pip kept it next to torch 2.6 (ludwig-ai/ludwig#4127)."""
    s = {
        "packages": {
            "torch": {"version": "2.6.0+cu124"},
            "torchaudio": {"version": "2.11.0"},
            "torchvision": {"version": "0.21.0+cu124"},
        }
    }
    f = one(run(s), "package-requires-other-torch")
    assert f.message.startswith("torchaudio 2.11.0 requires torch>=2.11 (per the compat matrix)")
    assert (
        f.fix
        == 'pip install torch==2.6.0 "torchaudio==2.6.*" --index-url https://download.pytorch.org/whl/cu124'
    )
    older = {"packages": {"torch": {"version": "2.8.0"}, "torchvision": {"version": "0.22.1"}}}
    g = one(run(older), "package-requires-other-torch")
    assert "torchvision 0.22.1 requires torch==2.7.* (per the compat matrix)" in g.message
    paired = {
        "packages": {
            "torch": {"version": "2.8.0"},
            "torchvision": {"version": "0.23.0"},
            "torchaudio": {"version": "2.8.0"},
        }
    }
    assert not by_code(run(paired), "package-requires-other-torch")
    # a floor release takes a newer torch; releases the matrix does not pair raise nothing
    newer = {
        "packages": {
            "torch": {"version": "2.15.0"},
            "torchvision": {"version": "0.29.2"},
            "torchaudio": {"version": "1.13.1"},
        }
    }
    assert not by_code(run(newer), "package-requires-other-torch")


def test_requirement_not_met_and_markers() -> None:
    s = {
        "os": "Linux",
        "python": "3.11.7",
        "packages": {
            "torch": {"version": "2.2.2+cu121"},
            "bitsandbytes": {"version": "0.48.2", "requires": ["torch<3,>=2.3"]},
            "transformers": {"version": "4.57.1", "requires": ['torch>=2.2; extra == "torch"']},
            "winonly": {"version": "1.0", "requires": ['torch>=9; sys_platform == "win32"']},
        },
    }
    findings = run(s)
    f = one(findings, "package-requires-other-torch")
    assert "bitsandbytes 0.48.2 requires torch<3,>=2.3" in f.message
    assert f.fix == 'pip install "bitsandbytes>=0.46.0,<=0.47.0"'


def test_matrix_floor_when_requirements_are_unknown() -> None:
    s = {"packages": {"torch": {"version": "1.13.1"}, "accelerate": {"version": "1.15.0"}}}
    f = one(run(s), "package-requires-other-torch")
    assert "per the compat matrix" in f.message


def test_transformers_disables_old_torch() -> None:
    f = one(run("transformers_524_torch25"), "transformers-disables-torch")
    assert "Disabling PyTorch" in f.message
    assert f.fix == 'pip install "transformers<5.20"'


def test_transformers_extra_floor_is_a_warning() -> None:
    s = {"packages": {"torch": {"version": "2.3.1+cu121"}, "transformers": {"version": "5.10.0"}}}
    f = one(run(s), "package-requires-other-torch")
    assert f.severity is Severity.WARNING and "torch extra" in f.message


def test_python_unsupported() -> None:
    f = one(run("torch215_python310"), "python-unsupported-by-torch")
    assert "3.11 to 3.15" in f.message and "Python 3.10" in f.message
    assert f.fix == "pip install torch==2.14.1"
    none = one(run({"python": "3.7.17", "complete": True, "packages": {}}), "python-unsupported-by-torch")
    assert "no torch release" in none.message


def test_glibc() -> None:
    f = one(run("old_glibc"), "glibc-too-old-for-torch")
    assert (
        f.severity is Severity.ERROR
        and f.fix == "pip install torch==2.6.0 --index-url https://download.pytorch.org/whl/cu124"
    )
    limit = one(
        run({"os": "Linux", "glibc": "2.17", "complete": True, "packages": {}}), "glibc-too-old-for-torch"
    )
    assert limit.severity is Severity.WARNING and "torch 2.6.0 is the newest" in limit.message


def test_reboot_needed() -> None:
    f = one(run("reboot_needed"), "driver-reboot-needed")
    assert "550.54.15" in f.message and "550.90.07" in f.message


def test_torch_missing_suggests_a_fitting_build() -> None:
    f = one(run("torch_missing_a100"), "torch-missing")
    assert f.fix == "pip install torch==2.14.1 --index-url https://download.pytorch.org/whl/cu126"
    assert f.details["notes"] == [
        "the driver runs CUDA 12.6 through minor-version compatibility (limited features)"
    ]
    assert not by_code(run({"packages": {}}), "torch-missing")  # incomplete snapshot: unknown, not missing


def test_wandb_key() -> None:
    cfg = SimpleNamespace(wandb_project="demo")
    f = one(run("t4_colab", cfg), "wandb-key-missing")
    assert f.severity is Severity.WARNING and "not interactive" in f.message and "offline" in f.message
    assert "ask once" in one(run("cpu_laptop", cfg), "wandb-key-missing").message
    assert not by_code(
        run("t4_colab", SimpleNamespace(wandb_project="demo", wandb_mode="offline")), "wandb-key-missing"
    )
    assert not by_code(run("healthy_a100", cfg), "wandb-key-missing")
    assert one(run("t4_colab", cfg), "wandb-not-installed").fix.startswith('pip install "loradoc[wandb]"')  # type: ignore[union-attr]


def test_accelerate_config_conflicts() -> None:
    findings = by_code(
        run("t4_colab", SimpleNamespace(num_processes=1, fp16=True)), "accelerate-config-conflict"
    )
    messages = " | ".join(f.message for f in findings)
    assert "num_processes: 4 but this machine has 1 GPU" in messages and "GPU(s)" not in messages
    assert "mixed_precision: bf16 but Tesla T4 (sm 7.5) lacks it" in messages
    assert "MULTI_GPU" in messages
    assert "training config sets num_processes: 1" in messages
    assert "asks for fp16 but" in messages
    assert any(
        f.fix == "set mixed_precision: fp16 in /root/.cache/huggingface/accelerate/default_config.yaml "
        "(or run `accelerate config` again)"
        for f in findings
    )
    assert not by_code(
        run("healthy_a100", SimpleNamespace(bf16=True, num_processes=2)), "accelerate-config-conflict"
    )


def test_config_can_be_a_mapping_too() -> None:
    assert by_code(run("t4_colab", {"bf16": True}), "bf16-unsupported-gpu")


def test_torch_not_in_matrix_and_unknown_gpu() -> None:
    findings = run("unknown_gpu_future_torch")
    assert "2.16.0+cu132" in one(findings, "torch-not-in-matrix").message
    assert "NVIDIA Imaginary X1" in one(findings, "gpu-cc-unknown").message


def test_cpu_laptop_says_so_plainly() -> None:
    f = one(run("cpu_laptop"), "no-nvidia-gpu")
    assert f.message.startswith("no NVIDIA GPU found")


def _xformers_box(gpu: str, cc: str, xformers: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "os": "Linux",
        "arch": "x86_64",
        "python": "3.12.3",
        "driver": {"version": "570.133.20", "cuda_max": "12.8"},
        "gpus": [{"index": 0, "name": gpu, "compute_capability": cc}],
        "packages": {"torch": {"version": "2.9.1+cu128", "cuda": "12.8"}, "xformers": xformers},
    }


def test_xformers_without_kernels_for_the_gpu() -> None:
    # 0.0.33.post2's wheels carry 7.5 8.0+PTX 9.0a (matrix, [WHL]): a V100 (7.0) has no kernel
    f = one(
        run(_xformers_box("Tesla V100-SXM2-32GB", "7.0", {"version": "0.0.33.post2"})),
        "xformers-gpu-arch-unsupported",
    )
    assert "sm 7.5 8.0 9.0 +PTX 8.0" in f.message and "Tesla V100-SXM2-32GB (sm 7.0)" in f.message
    assert f.fix == "pip uninstall -y xformers"
    # an A100 runs it; a Blackwell card through the 8.0 PTX
    for gpu, cc in (("NVIDIA A100-SXM4-80GB", "8.0"), ("NVIDIA GeForce RTX 5090", "12.0")):
        found = run(_xformers_box(gpu, cc, {"version": "0.0.33.post2"}))
        assert by_code(found, "xformers-gpu-arch-unsupported") == []
    # the installed wheel's own arch list wins over the matrix
    own = _xformers_box("NVIDIA A100-SXM4-80GB", "8.0", {"version": "0.0.33.post2", "archs": ["9.0a"]})
    assert "its build info" in one(run(own), "xformers-gpu-arch-unsupported").message


def test_xformers_for_a_torch_whose_cuda_pypis_wheel_lacks_comes_from_torchs_index() -> None:
    """torch 2.1.0+cu118 next to the PyPI xformers 0.0.22.post7 (CUDA 12.1): the same release
    went to the cu118 index (its wheels.yml), so the fix keeps the release and names the index.
    torch 2.9.0+cu128: 0.0.33's PyPI wheel was the CUDA 13 one, 0.0.33.post1's is CUDA 12 again,
    so PyPI's wheel fits and no index is named."""
    old = {
        "os": "Linux",
        "python": "3.10.9",
        "packages": {
            "torch": {"version": "2.1.0+cu118"},
            "xformers": {"version": "0.0.22.post7", "built_for_torch": "2.1.0+cu121", "cuda": "12.1"},
        },
    }
    f = one(run(old), "xformers-torch-mismatch")
    assert (
        f.fix
        == "pip install --force-reinstall --no-deps xformers==0.0.22.post7 --index-url https://download.pytorch.org/whl/cu118"
    )
    m = load_matrix()
    rel = m.xformers_release("0.0.33")
    assert rel is not None and m.xformers_pypi_cuda_major(rel) == 13 and "cu128" in rel.index_variants
    new = {"os": "Linux", "python": "3.12.3", "packages": {"torch": {"version": "2.9.0+cu128"}}}
    ctx = Context(Snapshot.from_dict(new), m)
    assert xformers_fix(ctx, ctx.torch) == "pip install xformers==0.0.33.post1"


def test_nccl_older_than_the_gpus_generation() -> None:
    """The NCCL wheel torch loads against the matrix's floor for the GPUs: NCCL 2.25.1 cannot
    run on an RTX 5090 (2.26.2 can); an A100 has no floor to meet."""

    def with_nccl(version: str, gpu: dict[str, str]) -> dict[str, Any]:
        return {
            "os": "Linux",
            "gpus": [gpu],
            "packages": {"torch": {"version": "2.6.0+cu126"}, "nvidia-nccl-cu12": {"version": version}},
        }

    rtx5090 = {"name": "NVIDIA GeForce RTX 5090", "compute_capability": "12.0"}
    f = one(run(with_nccl("2.25.1", rtx5090)), "nccl-too-old-for-gpu")
    assert f.fix == 'pip install -U "nvidia-nccl-cu12>=2.26.2"' and "RTX 5090" in f.message
    assert not by_code(run(with_nccl("2.26.2", rtx5090)), "nccl-too-old-for-gpu")
    a100 = {"name": "NVIDIA A100-SXM4-80GB", "compute_capability": "8.0"}
    assert not by_code(run(with_nccl("2.18.1", a100)), "nccl-too-old-for-gpu")


def test_two_gpus_with_an_nccl_floor_and_nothing_else_known_get_a_note() -> None:
    """Two RTX 5090s, no NCCL and no torch stated (Nerogar/OneTrainer#1020): a note naming the
    floor, fixed by the torch that fits them. One GPU needs no NCCL; a stated torch is judged
    by the architecture rules instead."""
    rtx5090 = {"name": "NVIDIA GeForce RTX 5090", "compute_capability": "12.0"}
    f = one(run({"os": "Linux", "gpus": [rtx5090, rtx5090]}), "nccl-too-old-for-gpu")
    assert (
        f.severity is Severity.INFO
        and "2.26.2" in f.message
        and "neither the NCCL nor the torch" in f.message
    )
    assert f.fix is not None and f.fix.startswith("pip install torch==") and "/whl/cu12" in f.fix
    assert not by_code(run({"os": "Linux", "gpus": [rtx5090]}), "nccl-too-old-for-gpu")
    stated = {"os": "Linux", "gpus": [rtx5090, rtx5090], "packages": {"torch": {"version": "2.8.0+cu128"}}}
    assert not by_code(run(stated), "nccl-too-old-for-gpu")


def test_a_torchvision_pinned_to_another_torch_moves_with_the_installed_torch() -> None:
    """torchvision 0.4.0 pins torch 1.2.0 next to torch 1.1.0 (older than the matrix): the fix keeps
    torch and lets pip pick the torchvision whose pin takes it (pytorch/vision#1257)."""
    s = {
        "packages": {
            "torch": {"version": "1.1.0"},
            "torchvision": {"version": "0.4.0", "requires": ["torch==1.2.0"]},
        }
    }
    f = one(run(s), "package-requires-other-torch")
    assert f.fix == 'pip install "torch==1.1.0" torchvision'


def test_an_intel_mac_hears_which_torch_is_its_last() -> None:
    """PyPI stopped publishing macOS x86_64 torch wheels after 2.2: an Intel Mac without torch is
    told the newest release that installs (TerraLabAI/QGIS_AI-Segmentation#160); Apple silicon is not."""
    f = one(run({"os": "Darwin", "arch": "x86_64"}), "python-unsupported-by-torch")
    assert f.severity is Severity.WARNING and "torch 2.2.2 is the newest release" in f.message
    assert f.fix == "pip install torch==2.2.2"
    assert not by_code(run({"os": "Darwin", "arch": "arm64"}), "python-unsupported-by-torch")
    assert not by_code(run({"os": "Darwin"}), "python-unsupported-by-torch")  # the chip is not known
    newer = one(run({"os": "Darwin", "arch": "x86_64", "python": "3.13.1"}), "python-unsupported-by-torch")
    assert newer.fix == "python3.12 -m venv .venv && . .venv/bin/activate && pip install torch==2.2.2"


def test_geforce_40_pairs_on_an_old_driver_are_told_to_disable_p2p() -> None:
    """Two RTX 4090s: drivers before 550.40.07 still reported P2P, and NCCL hung on it (accelerate
    refuses to start there); the matrix's [[p2p_hang]] says so. A newer driver, one card, or
    workstation cards raise nothing; an unknown driver gets a note."""

    def pair(name: str, driver: str | None) -> dict[str, Any]:
        s: dict[str, Any] = {"os": "Linux", "gpus": [{"name": name}, {"name": name}]}
        if driver:
            s["driver"] = {"version": driver}
        return s

    f = one(run(pair("NVIDIA GeForce RTX 4090", "535.104.05")), "nccl-p2p-unsupported")
    assert f.severity is Severity.WARNING and "predates 550.40.07" in f.message
    assert f.fix == "export NCCL_P2P_DISABLE=1 NCCL_IB_DISABLE=1"
    assert f.details["alternative"] == "sudo apt-get install -y nvidia-driver-550 && sudo reboot"
    assert one(run(pair("RTX4090D", None)), "nccl-p2p-unsupported").severity is Severity.INFO
    assert one(run(pair("4090", "535.104.05")), "nccl-p2p-unsupported")  # a bug report's bare number
    assert not by_code(run(pair("NVIDIA GeForce RTX 4090", "550.54.14")), "nccl-p2p-unsupported")
    assert not by_code(run(pair("NVIDIA RTX 4000 Ada Generation", "535.104.05")), "nccl-p2p-unsupported")
    one_card = {
        "os": "Linux",
        "gpus": [{"name": "NVIDIA GeForce RTX 4090"}],
        "driver": {"version": "535.104.05"},
    }
    assert not by_code(run(one_card), "nccl-p2p-unsupported")


def test_windows_with_a_gpu_and_an_unstated_torch_hears_pypis_wheels_are_cpu_only() -> None:
    """A thread or partial snapshot: Windows, an NVIDIA GPU, no torch build stated. PyPI's Windows
    torch is CPU-only, so the fix installs from the PyTorch index (resemble-ai/chatterbox#95). A
    probed machine without torch is told torch is missing instead; Linux (CUDA on PyPI) hears nothing."""
    partial = {"os": "Windows", "gpus": [{"name": "NVIDIA GeForce RTX 4060"}]}
    f = one(run(partial), "torch-cpu-build-on-gpu-machine")
    assert f.severity is Severity.WARNING and "PyPI's torch wheels are CPU-only" in f.message
    assert f.fix is not None and "--index-url https://download.pytorch.org/whl/cu" in f.fix
    assert not by_code(run({**partial, "os": "Linux"}), "torch-cpu-build-on-gpu-machine")
    unstated = one(run({"os": "Windows"}), "torch-cpu-build-on-gpu-machine")  # no GPU stated
    assert unstated.severity is Severity.INFO
    assert not by_code(run({"os": "Windows", "gpus": []}), "torch-cpu-build-on-gpu-machine")
    toolkit = one(run({"os": "Windows", "nvcc": {"version": "12.1"}}), "torch-cpu-build-on-gpu-machine")
    assert "CUDA toolkit (nvcc 12.1)" in toolkit.message  # an installed toolkit stands for the GPU
    probed = run({**partial, "complete": True, "packages": {}})
    assert by_code(probed, "torch-missing") and not by_code(probed, "torch-cpu-build-on-gpu-machine")


def test_an_unstated_xformers_whose_newest_release_pins_another_torch_is_a_note() -> None:
    """torch 2.4.0 and nothing said about xformers: xformers' newest release requires another torch,
    so a plain `pip install xformers` would replace it (facebookresearch/xformers#1044); the note
    names the release that fits. No note for a probed machine, a CPU torch or the newest torch."""
    thread = {"os": "Linux", "packages": {"torch": {"version": "2.4.0+cu121"}}}
    f = one(run(thread), "xformers-torch-mismatch")
    assert f.severity is Severity.INFO and "would replace torch 2.4.0+cu121" in f.message
    assert f.fix is not None and f.fix.startswith("pip install xformers==0.0.27")
    probed = {**thread, "complete": True}
    assert not by_code(run(probed), "xformers-torch-mismatch")
    cpu = {"os": "Linux", "packages": {"torch": {"version": "2.4.0+cpu"}}}
    assert not by_code(run(cpu), "xformers-torch-mismatch")
    m = load_matrix()
    newest = m.xformers.releases[-1]
    fits = next(v for v in reversed(m.torch_versions()) if spec_contains(newest.torch, v))
    current = {"os": "Linux", "packages": {"torch": {"version": f"{fits}+cu128"}}}
    assert not by_code(run(current), "xformers-torch-mismatch")


def test_a_python_older_than_the_newest_torch_supports_is_told_its_last_torch() -> None:
    """Python 3.8 installs torch 2.4.1 at most (pytorch/pytorch#140798): a warning before torch is
    installed; the fix is that torch, or a venv of a Python the newest torch has."""
    m = load_matrix()
    f = one(run({"os": "Linux", "python": "3.8.10"}), "python-unsupported-by-torch")
    assert f.severity is Severity.WARNING and "torch 2.4.1 is the newest pip installs for it" in f.message
    assert f.fix == "pip install torch==2.4.1"
    newest = m.torch[-1]
    assert f.details["alternative"] == (
        f"python{newest.python[0]} -m venv .venv && . .venv/bin/activate && pip install torch=={m.latest_torch()}"
    )
    installed = {"os": "Linux", "python": "3.8.10", "packages": {"torch": {"version": "2.4.1+cu121"}}}
    assert not by_code(run(installed), "python-unsupported-by-torch")  # it runs: nothing to say
    unlisted = {"os": "Linux", "python": "3.8.10", "packages": {"torch": {"version": "1.0.0"}}}
    assert not by_code(run(unlisted), "python-unsupported-by-torch")  # installed, older than the matrix
    current = {"os": "Linux", "python": newest.python[-1]}
    assert not by_code(run(current), "python-unsupported-by-torch")


def test_bitsandbytes_before_0_50_loads_only_the_exact_cuda_library() -> None:
    """bitsandbytes 0.43.3 ships libraries up to CUDA 12.5 and looks for libbitsandbytes_cuda126
    under a cu126 torch (lllyasviel/stable-diffusion-webui-forge#2610); 0.50 falls back within
    the major."""
    s = {
        "os": "Linux",
        "packages": {"torch": {"version": "2.6.0+cu126"}, "bitsandbytes": {"version": "0.43.3"}},
    }
    f = one(run(s), "bitsandbytes-cuda-setup")
    assert "ships no library for torch's CUDA 12.6" in f.message and f.fix is not None
    newer = {**s, "packages": {**s["packages"], "bitsandbytes": {"version": "0.50.1"}}}
    assert not by_code(run(newer), "bitsandbytes-cuda-setup")


def test_a_driver_below_torchs_cuda_is_judged_from_torchs_cuda_alone() -> None:
    """A bug report that gives torch.version.cuda (11.8) but not torch's version, on a 450 driver
    (CUDA 11.0): minor-version compatibility only, so the PTX of CUDA 11.8 cannot be JIT-compiled
    (huggingface/text-generation-inference#1026); the fix is the driver CUDA 11.8 needs."""
    s = {
        "os": "Linux",
        "gpus": [{"name": "A100-SXM4-40GB"}],
        "driver": {"version": "450.80.02", "cuda_max": "11.0"},
        "packages": {"torch": {"cuda": "11.8"}},
    }
    f = one(run(s), "driver-minor-version-compat")
    assert "torch (version unknown) (CUDA 11.8)" in f.message
    assert f.fix == "sudo apt-get install -y nvidia-driver-520 && sudo reboot"


def test_a_transformers_4_trainer_with_wandb_installed_and_no_key_is_warned() -> None:
    """Before transformers 5, a Trainer whose script leaves report_to unset reports to every
    installed tracker: with wandb installed and no key, W&B asks for one and a headless job waits
    (hiyouga/LlamaFactory#5492). transformers 5 defaults to none; a loradoc config sets report_to."""
    s: dict[str, Any] = {
        "os": "Linux",
        "env": {"wandb_api_key": False, "interactive": False},
        "packages": {"transformers": {"version": "4.46.0"}, "wandb": {"version": "0.18.0"}},
    }
    f = one(run(s), "wandb-key-missing")
    assert f.severity is Severity.WARNING and "waits there" in f.message
    assert f.fix == "export WANDB_MODE=disabled"
    assert f.details["alternative"] == "set report_to: none in the training arguments"
    at_a_terminal = {**s, "env": {"wandb_api_key": False}}
    assert one(run(at_a_terminal), "wandb-key-missing").severity is Severity.INFO
    v5 = {**s, "packages": {**s["packages"], "transformers": {"version": "5.25.0"}}}
    assert not by_code(run(v5), "wandb-key-missing")
    keyed = {**s, "env": {"wandb_api_key": True, "interactive": False}}
    assert not by_code(run(keyed), "wandb-key-missing")
    off = {**s, "env": {"wandb_api_key": False, "interactive": False, "wandb_mode": "disabled"}}
    assert not by_code(run(off), "wandb-key-missing")
    unstated = {**s, "packages": {"transformers": {"version": "4.46.0"}}}  # wandb: unknown, a note
    assert one(run(unstated), "wandb-key-missing").severity is Severity.INFO
    absent = {**unstated, "complete": True}  # a probe that found no wandb: nothing to say
    assert not by_code(run(absent), "wandb-key-missing")


def test_a_torch_built_with_a_cuda_older_than_the_gpu_has_no_code_for_it() -> None:
    """torch 1.5.1+cu101 (older than the matrix) on an RTX 3080 Ti: CUDA 10.1 predates sm_86
    (CUDA 11.1), so its kernels and cuDNN fail (zzhang1987/Factor-Graph-Neural-Network#4)."""
    s = {"gpus": [{"name": "GeForce RTX 3080 Ti"}], "packages": {"torch": {"version": "1.5.1+cu101"}}}
    f = one(run(s), "gpu-arch-unsupported-by-torch-build")
    assert "CUDA 10.1" in f.message and "CUDA 11.1" in f.message and "sm 8.6" in f.message
    assert f.fix is not None and f.fix.startswith("pip install torch==")
    turing = {"gpus": [{"name": "RTX 2080 Ti"}], "packages": {"torch": {"version": "1.5.1+cu101"}}}
    assert not by_code(run(turing), "gpu-arch-unsupported-by-torch-build")  # CUDA 10.0 compiles sm_75


def test_gpus_no_listed_torch_runs_on_get_the_cpu_build() -> None:
    """Two GTX 760s (Kepler, sm 3.0) and torch unknown: no build from 2.0 on carries sm_30."""
    gtx760 = {"name": "NVIDIA GeForce GTX 760"}
    f = one(run({"os": "Linux", "gpus": [gtx760, gtx760]}), "gpu-arch-unsupported-by-torch-build")
    assert f.severity is Severity.WARNING and "sm 3.0" in f.message
    assert f.fix is not None and f.fix.endswith("--index-url https://download.pytorch.org/whl/cpu")
    assert not by_code(
        run({"os": "Linux", "gpus": [{"name": "Tesla K80"}]}), "gpu-arch-unsupported-by-torch-build"
    )


def test_pypi_xformers_without_a_local_tag_is_judged_by_its_pypi_build() -> None:
    """xformers 0.0.23.post1 from PyPI (a CUDA 12.1 build) beside torch 2.1.2+cu118: the pin
    matches, the CUDA major does not (unslothai/unsloth#422); the cu118 index has the right one."""
    s = {
        "gpus": [{"name": "A6000"}],
        "packages": {"torch": {"version": "2.1.2+cu118"}, "xformers": {"version": "0.0.23.post1"}},
    }
    f = one(run(s), "xformers-torch-mismatch")
    assert f.severity is Severity.ERROR and "links CUDA 12" in f.message
    assert (
        f.fix
        == "pip install --force-reinstall --no-deps xformers==0.0.23.post1 --index-url https://download.pytorch.org/whl/cu118"
    )


def test_bitsandbytes_before_its_windows_builds_fails_on_windows() -> None:
    """bitsandbytes 0.41.0 on Windows: its wheel has only Linux libraries (bitsandbytes#1313)."""
    s = {"os": "Windows", "python": "3.10.14", "packages": {"bitsandbytes": {"version": "0.41.0"}}}
    f = one(run(s), "bitsandbytes-cuda-setup")
    assert "no Windows build" in f.message and "0.43.0" in f.message
    assert f.fix == 'pip install -U "bitsandbytes>=0.43.0"'
    assert not by_code(run({**s, "os": "Linux"}), "bitsandbytes-cuda-setup")
    newer = {**s, "packages": {"bitsandbytes": {"version": "0.43.3"}}}
    assert not by_code(run(newer), "bitsandbytes-cuda-setup")


def test_a_compiled_package_built_for_another_torch() -> None:
    """pytorch3d 0.7.6 built for torch 2.1.0 beside torch 2.2.2 on Windows (pytorch3d#1792): its
    extension fails to load; the fix puts back the torch it was built for."""
    s = {
        "os": "Windows",
        "python": "3.9",
        "packages": {
            "torch": {"version": "2.2.2+cu121"},
            "pytorch3d": {"version": "0.7.6+pt2.1.0cu121", "built_for_torch": "2.1.0"},
        },
    }
    f = one(run(s), "package-requires-other-torch")
    assert "built for torch 2.1.0" in f.message
    assert f.fix == "pip install torch==2.1.0 --index-url https://download.pytorch.org/whl/cu121"
    same = {**s, "packages": {**s["packages"], "torch": {"version": "2.1.0+cu121"}}}
    assert not by_code(run(same), "package-requires-other-torch")


def test_an_nvcc_older_than_the_gpu_stops_extension_builds() -> None:
    """nvcc 11.0 with an RTX 3090 (sm_86 came with CUDA 11.1): builds stop with 'Unsupported gpu
    architecture'; torch's own CUDA 11.8 toolkit knows the GPU. Same major as torch, so only this."""
    s = {
        "gpus": [{"name": "NVIDIA GeForce RTX 3090"}],
        "nvcc": {"version": "11.0", "path": "/usr/local/cuda-11.0/bin/nvcc"},
        "packages": {"torch": {"version": "2.1.2+cu118"}},
    }
    f = one(run(s), "nvcc-torch-cuda-mismatch")
    assert "predates" in f.message and "CUDA 11.1" in f.message
    assert f.fix == "export CUDA_HOME=/usr/local/cuda-11.8"
    no_torch = {k: v for k, v in s.items() if k != "packages"}
    assert one(run(no_torch), "nvcc-torch-cuda-mismatch").fix == "export CUDA_HOME=/usr/local/cuda-11.1"
    turing = {**s, "gpus": [{"name": "NVIDIA GeForce RTX 2080 Ti"}]}
    assert not by_code(run(turing), "nvcc-torch-cuda-mismatch")


def test_a_missing_wandb_key_with_the_tracker_unknown_is_a_note() -> None:
    """Facts that state only 'no W&B key' (hiyouga/LlamaFactory#5492): a note with the login and
    the switches; a probed machine, which knows whether wandb is installed, gets no such note."""
    f = one(run({"env": {"wandb_api_key": False, "interactive": False}}), "wandb-key-missing")
    assert f.severity is Severity.INFO and "without a terminal" in f.message
    assert (
        f.fix is not None
        and "WANDB_API_KEY" in f.fix
        and f.details["alternative"] == "export WANDB_MODE=disabled"
    )
    probed = {"complete": True, "packages": {}, "env": {"wandb_api_key": False}}
    assert not by_code(run(probed), "wandb-key-missing")
    assert not by_code(run({"env": {"wandb_api_key": True}}), "wandb-key-missing")


def test_a_cuda_older_than_every_listed_toolkit_runs_on_a_newer_driver() -> None:
    """torch 1.6.0+cu101 on driver 460: the driver runs CUDA 10.1 (open-mmlab/mmcv#1413 was called
    'driver too old' before). A CUDA older than the matrix's toolkit table (CUDA 8.0 GA2 is its
    oldest row) runs on a driver that runs the oldest listed toolkit; below that it is unknown,
    never an error."""
    s = {
        "gpus": [{"name": "V100"}],
        "driver": {"version": "460.32.03"},
        "packages": {"torch": {"version": "1.6.0", "cuda": "10.1"}},
    }
    assert not by_code(run(s), "driver-too-old-for-torch-cuda")
    m = load_matrix()
    assert m.coverage("10.1", "linux", driver="460.32.03").ok is True  # CUDA 10.1 GA needs 418.39
    assert m.coverage("10.1", "linux", driver="410.48").ok is False
    assert m.coverage("7.5", "linux", driver="375.26").ok is True  # runs the oldest listed (8.0)
    assert m.coverage("7.5", "linux", driver="352.31").ok is None  # below the table: unknown


def test_a_container_with_dockers_default_shared_memory() -> None:
    """64 MiB of /dev/shm (docker's default, the matrix's [shm]) in a container: a warning with
    --ipc=host; more of it, or a machine not in a container, raises nothing."""
    small = {"env": {"in_container": True, "shm_mib": 64}}
    f = one(run(small), "container-shm-too-small")
    assert f.severity is Severity.WARNING and "/dev/shm in this container is 64 MiB" in f.message
    assert f.fix is not None and "--ipc=host" in f.fix and "--shm-size" in f.fix
    assert not by_code(run({"env": {"in_container": True, "shm_mib": 16384}}), "container-shm-too-small")
    assert not by_code(run({"env": {"in_container": False, "shm_mib": 64}}), "container-shm-too-small")
    assert not by_code(run({"env": {"in_container": True}}), "container-shm-too-small")  # size unknown


def test_ollamas_lost_device_in_a_container_is_the_cgroup_reset() -> None:
    """ollama in Docker falls back to the CPU after idle time with CUDA error 800 (ollama/ollama#4604):
    the container lost its device cgroup; outside a container the line says nothing of the kind."""
    line = 'msg="error looking up nvidia GPU memory" error="nvcuda failed to get primary device context 800"'
    m = load_matrix()
    inside = explain(line, Snapshot.from_dict({"env": {"in_container": True}}, source="t"), m)
    assert "cgroupfs" in (one(inside, "container-lost-gpu-access").fix or "")
    assert not by_code(
        explain(line, Snapshot.from_dict({"os": "Linux"}, source="t"), m), "container-lost-gpu-access"
    )


def test_packages_that_do_not_work_together_are_found_from_their_versions() -> None:
    """The matrix's [[package_conflict]] rows: pip installs both, the import fails later."""
    cases = [
        ({"numpy": "2.0.2", "torch": "2.2.2+cu121"}, "numpy-abi-mismatch", 'pip install "numpy<2"'),
        (
            {"bitsandbytes": "0.44.1", "triton": "3.2.0"},
            "package-version-conflict",
            'pip install -U "bitsandbytes>=0.45.1"',
        ),
        (
            {"peft": "0.14.0", "transformers": "4.42.4"},
            "package-version-conflict",
            "pip install -U transformers",
        ),
        (
            {"huggingface_hub": "0.26.2", "diffusers": "0.28.2"},
            "package-version-conflict",
            'pip install -U "diffusers>=0.29"',
        ),
    ]
    for versions, code, fix in cases:
        f = one(run({"packages": {n: {"version": v} for n, v in versions.items()}}), code)
        assert f.severity is Severity.ERROR and f.fix == fix
        assert all(f"{n.replace('_', '-')} {v}" in f.message for n, v in versions.items()), f.message
    # one release past the boundary, or a package the row names absent: nothing
    for versions in (
        {"numpy": "2.0.2", "torch": "2.3.0"},
        {"numpy": "1.26.4", "torch": "2.2.2"},
        {"bitsandbytes": "0.45.1", "triton": "3.2.0"},
        {"peft": "0.14.0", "transformers": "4.43.0"},
        {"peft": "0.14.0"},
        {"huggingface_hub": "0.26.2", "diffusers": "0.29.0"},
    ):
        found = codes(run({"packages": {n: {"version": v} for n, v in versions.items()}}))
        assert "numpy-abi-mismatch" not in found and "package-version-conflict" not in found, versions


def test_each_package_conflict_row_is_a_code_its_rule_declares() -> None:
    from loradoc.doctor.rules import RULES

    declared = {c for r in RULES if r.name.startswith("package_conflicts.") for c in r.codes}
    rows = load_matrix().package_conflicts
    assert rows and {row.code for row in rows} <= declared


def test_a_cuda_build_whose_every_release_lacks_the_gpu_is_named_without_the_release() -> None:
    """karpathy/nanochat#178: torch.version.cuda 12.8 on a GTX 1070, the release not stated. No cu128
    build the matrix lists carries sm_61, so whichever is installed fails; the fix offers builds
    that do (cu126 among them)."""
    s = {
        "os": "Linux",
        "gpus": [{"name": "GTX 1070", "compute_capability": "6.1"}],
        "packages": {"torch": {"cuda": "12.8"}},
    }
    f = one(run(s), "gpu-arch-unsupported-by-torch-build")
    assert "cu128 builds (every release the matrix lists) carry no code" in f.message
    assert "download.pytorch.org/whl/cu126" in f.printed_fix()
    ampere = {**s, "gpus": [{"name": "RTX 3090", "compute_capability": "8.6"}]}
    assert not by_code(run(ampere), "gpu-arch-unsupported-by-torch-build")
