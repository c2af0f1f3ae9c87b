"""A ``conda install`` command line that pins a torch 1.x release together with a ``cudatoolkit``
it was never built for: conda's pytorch channel then resolves the CPU build without a word. The
CUDA builds of each 1.x release are the matrix's ``[torch_legacy]`` variants (the pytorch
channel's cudatoolkit builds of a release are among its pip CUDA builds); torch 1.13 and later
select CUDA through ``pytorch-cuda`` instead, which this does not judge.
"""

from __future__ import annotations

from loradoc.compat.queries import Matrix
from loradoc.compat.versions import cuda_tuple, parse_version, variant_cuda


def _builds(groups: dict[str, str], matrix: Matrix) -> tuple[str, str, list[str]] | None:
    release, toolkit = groups.get("conda_torch"), groups.get("conda_cudatoolkit")
    legacy = matrix.legacy_torch(release)
    v = parse_version(release)
    if legacy is None or v is None or (v.major, v.minor) >= (1, 13) or not toolkit:
        return None
    cudas = [c for c in (variant_cuda(x) for x in legacy.variants) if c]
    return str(release), toolkit, cudas


def conda_build_missing(groups: dict[str, str], matrix: Matrix) -> bool:
    """Whether the command asks for a cudatoolkit the pinned release has no CUDA build of."""
    found = _builds(groups, matrix)
    return found is not None and cuda_tuple(found[1]) not in {cuda_tuple(c) for c in found[2]}


def conda_fix(groups: dict[str, str], matrix: Matrix) -> str | None:
    """The same release with its newest CUDA build the requested toolkit's driver runs (not
    newer than the request), from the pytorch channel with conda-forge for the toolkit."""
    found = _builds(groups, matrix)
    if found is None:
        return None
    release, toolkit, cudas = found
    want = cuda_tuple(toolkit) or (0, 0)
    fitting = [c for c in cudas if (cuda_tuple(c) or (99, 0)) <= want]
    if not fitting:
        return None
    return f"conda install pytorch=={release} cudatoolkit={fitting[-1]} -c pytorch -c conda-forge"
