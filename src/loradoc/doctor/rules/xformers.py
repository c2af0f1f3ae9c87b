"""xformers binds to one torch release (before its stable-ABI releases) and one CUDA major."""

from __future__ import annotations

from loradoc.compat.queries import spec_contains
from loradoc.compat.versions import cuda_tuple, local_tag, parse_version, public, python_mm, variant_cuda
from loradoc.doctor.facts import TorchFact
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import FALLBACK
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import error, info, rule, warning
from loradoc.doctor.rules.requirements import torch_requirements


def xformers_fix(ctx: Context, t: TorchFact | None) -> str | None:
    """Install the xformers matching the installed torch, or build it at a pinned commit."""
    m = ctx.matrix
    if t is None:
        return "pip install xformers"
    rel = m.xformers_for_torch(t.public, ctx.snapshot.python)
    if rel is not None:
        # PyPI's wheel when it is built for torch's CUDA major, else torch's index (where it has one)
        torch_major = (cuda_tuple(t.cuda) or (None,))[0]
        needs_index = torch_major is not None and m.xformers_pypi_cuda_major(rel) != torch_major
        installed = ctx.pkg("xformers")
        # the same release of another build (or one whose version the facts do not give)
        replace = installed is not None and public(installed.version) in (None, rel.version)
        return m.xformers_install_command(rel, t.variant if needs_index else None, replace=replace)
    pin = m.xformers_git_pin(t.public)
    archs = ";".join(sorted(set(ctx.ccs)))
    prefix = f'TORCH_CUDA_ARCH_LIST="{archs}" ' if archs else ""
    if pin is not None:
        return prefix + m.xformers_source_build_command(pin)
    return None


def _xformers_cuda_major(ctx: Context) -> tuple[int | None, bool]:
    """The CUDA major xformers was built for, and whether that is only an inference."""
    p = ctx.pkg("xformers")
    if p is None:
        return None, False
    if p.cuda and cuda_tuple(p.cuda):
        return cuda_tuple(p.cuda)[0], False  # type: ignore[index]
    tag = variant_cuda(local_tag(p.version))
    if tag:
        return cuda_tuple(tag)[0], False  # type: ignore[index]
    rel = ctx.matrix.xformers_release(p.version)
    major = ctx.matrix.xformers_pypi_cuda_major(rel) if rel is not None else None
    if rel is None or major is None:
        return None, False
    # no local tag: PyPI's wheel (the PyTorch index's carry +cuXYZ), whose build info is verified
    recorded = bool(cuda_tuple(rel.built_with_cuda)) or rel.cuda_major is not None
    verified = recorded and rel.cuda_major_verified
    return major, not verified


@rule("xformers-torch-mismatch", "xformers-unavailable")
def xformers_vs_torch(ctx: Context) -> list[Finding]:
    m, t, p = ctx.matrix, ctx.torch, ctx.pkg("xformers")
    requested = ctx.attention == "xformers"
    if p is None:
        if requested and ctx.gpu_training is False:
            return [
                warning(
                    "xformers-unavailable",
                    "the training config asks for xformers attention, whose kernels need a CUDA GPU, "
                    "but this machine trains on the CPU" + FALLBACK,
                    ctx.attention_fix("sdpa") + " (sdpa works on the CPU)",
                )
            ]
        if requested and ctx.installed("xformers") is False:
            return [
                warning(
                    "xformers-unavailable",
                    "the training config asks for xformers attention but xformers is not installed"
                    + FALLBACK,
                    xformers_fix(ctx, t) or ctx.attention_fix("sdpa"),
                )
            ]
        return _plain_install_replaces_torch(ctx)
    if t is None or t.variant == "cpu":  # an unknown build still has a version to compare
        return []
    problems: list[str] = []
    inferred = False
    rel = m.xformers_release(p.version)
    if p.built_for_torch:
        built = public(p.built_for_torch) or p.built_for_torch
        if m.xformers_stable_abi(p.version):
            have, need = parse_version(t.public), parse_version(built)
            if have is not None and need is not None and have < need:
                problems.append(f"it was built for torch {p.built_for_torch} and needs that or later")
        elif built != t.public:
            problems.append(f"it was built for torch {p.built_for_torch}")
    elif rel is not None and not spec_contains(rel.torch, t.public):
        problems.append(f"it requires torch{rel.torch}")
    else:  # a release the matrix does not know: its installed metadata still names its torch
        pins = [str(r.specifier) for r in torch_requirements(ctx, p) if str(r.specifier)]
        problems += [f"it requires torch{spec}" for spec in pins if not spec_contains(spec, t.public)]
    xf_major, guessed = _xformers_cuda_major(ctx)
    torch_major = (cuda_tuple(t.cuda) or (None,))[0]
    if xf_major is not None and torch_major is not None and xf_major != torch_major:
        problems.append(f"it links CUDA {xf_major} but torch uses CUDA {t.cuda}")
        inferred = guessed
    abi3 = rel.abi3 if rel else False
    if p.built_for_python and ctx.python_mm and not abi3 and python_mm(p.built_for_python) != ctx.python_mm:
        problems.append(f"it was built for Python {p.built_for_python}, not {ctx.python_mm}")
    if not problems:
        return []
    make = warning if inferred and len(problems) == 1 and not requested else error
    suffix = " (inferred from the wheel's libcudart, UNVERIFIED at runtime)" if inferred else ""
    return [
        make(
            "xformers-torch-mismatch",
            f"xformers {p.version or '(version unknown)'} does not fit torch {t.label}: {'; '.join(problems)}{suffix}; its C++/CUDA "
            "extensions will not load",
            xformers_fix(ctx, t) or _torch_for_newest_xformers(ctx),
            built_for_torch=p.built_for_torch,
        )
    ]


def _plain_install_replaces_torch(ctx: Context) -> list[Finding]:
    """The facts (a thread, a log, a partial snapshot) do not say whether xformers is installed,
    and its newest release requires another torch than the installed one: a plain ``pip install
    xformers`` (or a requirements file or front-end that lists it unpinned) would replace torch.
    Said as a note, with the release that fits. A probed machine without xformers gets no note:
    it may never want xformers, and `loradoc doctor install` picks the release that fits."""
    m, t = ctx.matrix, ctx.torch
    if t is None or t.variant == "cpu" or ctx.os == "darwin" or ctx.has_nvidia_gpu is False:
        return []
    if ctx.installed("xformers") is not None or not m.xformers.releases:
        return []
    newest = next(
        (
            r
            for r in reversed(m.xformers.releases)
            if not ctx.python_mm or spec_contains(r.python, ctx.python_mm)
        ),
        None,
    )
    if newest is None or spec_contains(newest.torch, t.public):
        return []
    return [
        info(
            "xformers-torch-mismatch",
            f"the facts do not say whether xformers is installed: a plain `pip install xformers` would replace "
            f"torch {t.label}, because its newest release "
            f"({newest.version}) requires torch{newest.torch}; install the release that fits this torch",
            xformers_fix(ctx, t) or _torch_for_newest_xformers(ctx),
        )
    ]


def _torch_for_newest_xformers(ctx: Context) -> str | None:
    """No xformers release fits the installed torch: the newest xformers that has a torch build
    fitting this machine (its Python included), with that torch (torchvision, torchaudio move with it)."""
    m = ctx.matrix
    choices = ctx.torch_choices(gpu=True)
    py = ctx.python_mm
    for rel in reversed(m.xformers.releases):
        if py and not spec_contains(rel.python, py):
            continue
        fitting = [c for c in choices if spec_contains(rel.torch, c.version)]
        if fitting:
            choice = fitting[0]
            return f"{choice.command} && {m.xformers_install_command(rel, choice.variant)}"
    return None


@rule("xformers-gpu-arch-unsupported")
def xformers_archs(ctx: Context) -> list[Finding]:
    """An installed xformers whose CUDA kernels skip a GPU's architecture: its own recorded arch
    list (the wheel's build info) when the probe read it, else the matrix's for its release."""
    m, p = ctx.matrix, ctx.pkg("xformers")
    if p is None or not ctx.gpus:
        return []
    if p.archs:
        entry = m.parse_arch_list(" ".join(p.archs), "the installed wheel's build info")
        whose = "its build info"
    else:
        rel = m.xformers_release(p.version)
        known = m.xformers_archs(rel) if rel is not None else None
        if known is None:
            return []
        entry, read_from = known
        whose = (
            "the matrix"
            if read_from == (rel.version if rel else None)
            else f"xformers {read_from}'s build info"
        )
    missing = sorted(
        {g.label for g in ctx.gpus if g.cc and m.arch_support(entry, g.cc, ctx.os_or_linux) is None}
    )
    if not missing:
        return []
    built = " ".join(entry.sass) + (f" +PTX {' '.join(entry.ptx)}" if entry.ptx else "")
    fix = ctx.attention_fix("sdpa") if ctx.attention == "xformers" else "pip uninstall -y xformers"
    return [
        error(
            "xformers-gpu-arch-unsupported",
            f"xformers {p.version or '(version unknown)'} carries code for sm {built} ({whose}), not for "
            f"{', '.join(missing)}: its kernels fail with 'no kernel image is available' or find no operator",
            fix,
        )
    ]
