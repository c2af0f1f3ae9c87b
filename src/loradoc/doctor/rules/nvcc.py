"""nvcc (the CUDA toolkit that builds extensions) against torch's CUDA and against the GPUs."""

from __future__ import annotations

from loradoc.compat.choose import TorchChoice
from loradoc.compat.versions import cuda_tuple
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import choice_details, gpu_labels
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import rule, warning


def torch_for_nvcc(ctx: Context, nvcc: str | None) -> TorchChoice | None:
    """The best torch build (the installed release when one fits) whose CUDA major is nvcc's."""
    have = cuda_tuple(nvcc)
    if have is None:
        return None
    t = ctx.torch
    same_major = ctx.torch_choices_of_major(t.public if t is not None else None, have[0])
    return same_major[0] if same_major else None


def _nvcc_older_than_gpus(
    ctx: Context, have: tuple[int, int], torch_cuda: tuple[int, int] | None
) -> list[Finding]:
    """nvcc older than the first toolkit that compiles for a GPU: every extension build for it
    stops with 'nvcc fatal : Unsupported gpu architecture'. The fix is torch's own toolkit when
    that one knows the GPU."""
    n = ctx.snapshot.nvcc
    assert n is not None
    old, first = ctx.gpus_newer_than(have)
    if not old or first is None:
        return []
    need = cuda_tuple(first) or (0, 0)
    fits = torch_cuda is not None and torch_cuda >= need
    target = torch_cuda if fits and torch_cuda else need
    return [
        warning(
            "nvcc-torch-cuda-mismatch",
            f"nvcc {n.version}{f' ({n.path})' if n.path else ''} predates {gpu_labels(old)}, first compiled "
            f"by CUDA {first}: extension builds for it stop with 'nvcc fatal : Unsupported gpu architecture'",
            f"export CUDA_HOME=/usr/local/cuda-{target[0]}.{target[1]}",
        )
    ]


@rule("nvcc-torch-cuda-mismatch")
def nvcc_vs_torch(ctx: Context) -> list[Finding]:
    n, t, torch_cuda = ctx.snapshot.nvcc, ctx.torch, ctx.torch_cuda
    if n is None or not n.version:
        return []
    have, want = cuda_tuple(n.version), cuda_tuple(torch_cuda)
    if have is not None and (want is None or have[0] == want[0]):
        return _nvcc_older_than_gpus(ctx, have, want)
    if have is None or want is None:
        return []
    choice = torch_for_nvcc(ctx, n.version)
    label = t.label if t is not None else "(version unknown)"
    where = f" ({n.path})" if n.path else ""
    toolkit = f"export CUDA_HOME=/usr/local/cuda-{want[0]}.{want[1]}"
    return [
        warning(
            "nvcc-torch-cuda-mismatch",
            f"nvcc {n.version}{where} and torch {label} (CUDA {torch_cuda}) differ in CUDA major: building "
            f"flash-attn, xformers or other extensions fails with 'The detected CUDA version ({n.version}) "
            f"mismatches the version that was used to compile PyTorch ({torch_cuda})'; point CUDA_HOME at a CUDA "
            f"{want[0]}.x toolkit",
            toolkit,
            alternative=choice.command if choice else None,
            **choice_details(choice),
        )
    ]
