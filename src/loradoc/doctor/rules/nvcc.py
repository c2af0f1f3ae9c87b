"""nvcc (the CUDA toolkit that builds extensions) against torch's CUDA."""

from __future__ import annotations

from loradoc.compat.choose import TorchChoice
from loradoc.compat.versions import cuda_tuple, variant_cuda
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import choice_details
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import rule, warning


def torch_for_nvcc(ctx: Context, nvcc: str | None) -> TorchChoice | None:
    """The best torch build (the installed release when one fits) whose CUDA major is nvcc's."""
    have = cuda_tuple(nvcc)
    if have is None:
        return None
    t = ctx.torch
    same_major = [
        c
        for c in ctx.torch_choices(t.public if t is not None else None, gpu=True)
        if (cuda_tuple(variant_cuda(c.variant)) or (0, 0))[0] == have[0]
    ]
    return same_major[0] if same_major else None


@rule("nvcc-torch-cuda-mismatch")
def nvcc_vs_torch(ctx: Context) -> list[Finding]:
    n, t = ctx.snapshot.nvcc, ctx.torch
    # torch's CUDA decides, even when its version is unknown (a snapshot that only has torch.cuda)
    pkg = ctx.pkg("torch")
    torch_cuda = t.cuda if t is not None else (pkg.cuda if pkg is not None else None)
    if n is None or not n.version or not torch_cuda:
        return []
    have, want = cuda_tuple(n.version), cuda_tuple(torch_cuda)
    if have is None or want is None or have[0] == want[0]:
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
