"""Extensions whose release wheels name the torch they were built against in their local version
tag (the matrix's [[torch_tagged_wheel]] rows: causal-conv1d, mamba-ssm): the installed wheel must
match torch's major.minor, its CUDA major and its C++ ABI, and it fits only PyPI's release of that
torch, not a pre-release or source build that shares the version (NGC's 2.1.0a0+4136153)."""

from __future__ import annotations

import re

from loradoc.compat.versions import cuda_tuple, local_tag, parse_version, public, series
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import error, rule

_TAG = re.compile(r"\+cu(?P<cuda>\d+)torch(?P<torch>\d+\.\d+)cxx11abi(?P<abi>TRUE|FALSE)$")
_RELEASE_BUILD = re.compile(r"^(?:cu\d+|cpu|rocm[\d.]+|xpu)$")  # the local tags of PyTorch's own wheels


@rule("package-requires-other-torch")
def torch_tagged_wheels(ctx: Context) -> list[Finding]:
    t = ctx.torch
    if t is None:
        return []
    out: list[Finding] = []
    for row in ctx.matrix.torch_tagged_wheels:
        p = ctx.pkg(row.package)
        m = _TAG.search(p.version or "") if p is not None else None
        if p is None or m is None:
            continue
        problems = _mismatches(t.version, t.public, t.cuda, t.cxx11_abi, m)
        if not problems:
            continue
        fix = (
            f"{row.force_build}=TRUE MAX_JOBS=4 pip install --force-reinstall --no-deps --no-cache-dir "
            f"--no-build-isolation {row.package}=={public(p.version)}"
        )
        out.append(
            error(
                "package-requires-other-torch",
                f"{row.package} {p.version} does not fit torch {t.label}: {'; '.join(problems)}; "
                "a build from source against this torch does",
                fix,
                source=row.source,
            )
        )
    return out


def _mismatches(
    version: str, public: str, cuda: str | None, abi: bool | None, tag: re.Match[str]
) -> list[str]:
    built = tag["torch"]
    if built != series(public):
        return [f"its wheel was built for torch {built}"]
    parsed, local = parse_version(version), local_tag(version)
    if (parsed is not None and parsed.is_prerelease) or (
        local is not None and not _RELEASE_BUILD.match(local)
    ):  # its CUDA and C++ ABI are its builder's, not what loradoc infers for PyPI's wheels
        return [
            f"its wheel was built against PyPI's torch {built} release, and {version} is another build of "
            "that version (a pre-release, NGC or source build) whose C++ symbols differ"
        ]
    problems = []
    have = cuda_tuple(cuda)
    if have is not None and int(tag["cuda"][:2]) != have[0]:
        problems.append(f"its wheel was built for CUDA {tag['cuda'][:2]} and torch uses CUDA {cuda}")
    wheel_abi = tag["abi"] == "TRUE"
    if abi is not None and wheel_abi != abi:
        problems.append(f"its wheel uses cxx11abi{tag['abi']} and torch the other C++ ABI")
    return problems
