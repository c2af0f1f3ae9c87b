"""The doctor's rules: one small module per kind of problem.

Each rule is a function ``(ctx: Context) -> list[Finding]`` registered with ``@rule(codes...)``
in ``registry.py``; importing this package registers them all in ``RULES`` (run in this
order). Adding a rule never touches another: write a module, import it below, document its
codes in docs/findings.md.
"""

from __future__ import annotations

from loradoc.doctor.rules import (  # noqa: F401 - imported to register their rules
    accelerate,
    bitsandbytes,
    container,
    driver,
    flash_attn,
    gpu_arch,
    nccl,
    nvcc,
    package_conflicts,
    prebuilt_extensions,
    precision,
    python_platform,
    requirements,
    torch_bound,
    torch_install,
    train_config,
    visibility,
    wandb,
    xformers,
)
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import RULES, Rule

# Codes emitted outside the rules: by diagnose() itself, by `doctor explain` for errors that
# no snapshot fact predicts, and by `loradoc train`'s preflight for local paths (checked on the
# machine that runs it, so not a function of the snapshot). tests/doctor/test_findings_docs.py
# reads the source to keep these lists whole.
DIAGNOSE_CODES = ("ok", "internal-rule-error")
PREFLIGHT_CODES = (
    "config-path-missing",
    "config-base-model-incomplete",
    "config-model-not-causal-lm",
    "config-tracker-missing",
    "config-mistral-common-missing",
    "memory-does-not-fit",
    "memory-tight",
)
EXPLAIN_CODES = (
    "eval-split-too-small-for-packing",
    "triton-gpu-too-old",
    "fp8-unsupported-gpu",
    "cuda-forward-compat-unsupported-gpu",
    "driver-cuda-combination-unsupported",
    "wsl-libcuda-not-on-loader-path",
    "libcuda-not-in-loader-cache",
    "openblas-coretype-misdetected",
    "python-under-rosetta",
    "triton-cache-stale",
    "flash-attn-gpu-arch-unsupported",
    "mps-mixed-precision-unsupported",
    "nvidia-uvm-hmm-init-failure",
    "gpu-persistence-mode-off",
    "wsl-gpu-in-tcc-mode",
    "notebook-locale-not-utf8",
    "rocm-device-permission",
    "package-shadowed-by-source-tree",
    "launcher-local-rank-argument",
    "ddp-model-split-across-gpus",
    "ddp-reentrant-checkpointing",
    "ddp-unused-parameters",
    "deepspeed-zero3-with-device-map",
    "distributed-collective-timeout",
    "torch-cuda-wheels-missing",
    "extension-source-submodule-missing",
    "flash-attn-needs-half-precision",
    "glibc-refuses-executable-stack",
    "mps-macos-too-old",
    "mps-float64-unsupported",
    "device-backend-not-in-torch-build",
    "nvcc-missing",
    "build-isolation-hides-torch",
    "extension-cuda-major-mismatch",
    "cuda-library-path-shadows-torch",
    "fabric-manager-not-running",
    "container-lost-gpu-access",
    "wsl-driver-container-incompatible",
    "nvcc-host-compiler-unsupported",
    "windows-vc-runtime-missing",
    "c-compiler-missing",
    "python-dev-headers-missing",
    "windows-msvc-missing",
    "ninja-missing",
    "setuptools-version-conflict",
    "windows-long-paths-disabled",
    "numpy-abi-mismatch",
    "triton-missing",
    "package-version-conflict",
    "python-package-missing",
    "distributed-port-in-use",
    "mps-op-not-implemented",
    "openmp-runtime-duplicate",
    "open-files-limit-too-low",
    "memlock-limit-too-low",
    "torch-extensions-lock-stale",
    "extension-build-out-of-memory",
    "deepspeed-op-build-failed",
    "cuda-initialized-before-fork",
    "multiprocessing-main-guard-missing",
    "spawn-worker-not-picklable",
    "firewall-blocks-distributed-ports",
    "nccl-ib-roce-unreachable",
    "static-tls-exhausted",
    "thread-limit-too-low",
    "gpu-exclusive-compute-mode",
    "windows-cuda-ipc-unsupported",
    "cublas-gpu-too-old",
    "gpu-hardware-fault",
    "gpu-display-watchdog-timeout",
    "alloc-conf-option-unsupported",
    "cuda-malloc-async-unsupported",
    "nccl-unavailable-on-platform",
    "windows-torch-libuv-unsupported",
    "network-interface-mismatch",
    "master-addr-unresolvable",
    "nccl-graph-file-set",
    "deepspeed-hostfile-ssh-unreachable",
    "triton-cache-dir-unusable",
    "model-lacks-flash-attn-2",
    "deepspeed-launched-without-launcher",
    "hf-gated-repo-access",
    "tls-interception-ca-missing",
    "disk-space-exhausted",
    "wandb-run-init-failed",
    "wandb-too-old-for-api-key",
    "transformers-too-old-for-model",
    "vllm-unsupported-platform",
    "bitsandbytes-gpu-arch-unsupported",
    "quantization-kernel-gpu-too-old",
    "libstdcxx-too-old",
    "pytorch-index-misconfigured",
    "wheel-download-incomplete",
    "windows-pagefile-too-small",
    "pypi-package-is-another-project",
    "cuda-link-library-missing",
    "pip-too-new-for-package-metadata",
    "python-venv-module-missing",
    "python-unsupported-by-package",
    "system-library-missing",
    "libcuda-stub-needed-at-link",
    "cuda-native-arch-without-gpu",
    "hf-hub-unreachable",
    "package-has-no-wheel-for-python",
    "trainer-single-gpu-only",
    "no-known-error",
)

__all__ = ["DIAGNOSE_CODES", "EXPLAIN_CODES", "PREFLIGHT_CODES", "RULES", "Context", "Rule", "all_codes"]


def all_codes() -> list[str]:
    """Every finding code loradoc can emit (each documented in docs/findings.md)."""
    codes = [c for r in RULES for c in r.codes] + [*DIAGNOSE_CODES, *EXPLAIN_CODES, *PREFLIGHT_CODES]
    return list(dict.fromkeys(codes))
