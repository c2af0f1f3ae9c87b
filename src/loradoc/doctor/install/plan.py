"""``plan(snapshot, matrix, wants)``: the stack to install on a machine, as an InstallPlan.

A pure function: the same Snapshot, Matrix and Wants give the same plan, on any
machine, without a GPU. The steps, in order:

1. torch from its variant's wheel index (none when the installed torch already fits);
2. xformers from the variant's index, or a source build at a pinned commit;
3. build tools, when something is built from source;
4. flash-attn's release wheel (or its source build, when nvcc allows);
5. the rest from pip's configured sources: bitsandbytes matched to torch's CUDA and
   the Hugging Face stack within the floors torch and Python allow.

Every step after the first runs with torch pinned by a constraint file.
"""

from __future__ import annotations

from loradoc.compat.choose import TorchChoice
from loradoc.compat.queries import Matrix
from loradoc.doctor.install.extras import (
    BUILD_TOOLS,
    Extra,
    build_of,
    flash_attn_has_wheel,
    plan_bitsandbytes,
    plan_flash_attn,
    plan_hf,
    plan_xformers,
    xformers_has_wheel,
)
from loradoc.doctor.install.steps import (
    TORCH_CONSTRAINT_FILE,
    Decision,
    InstallPlan,
    Need,
    PipStep,
)
from loradoc.doctor.install.torch_pick import (
    Machine,
    amd_label,
    install_machine,
    pick_torch,
    torch_requirement,
)
from loradoc.doctor.install.wants import EXTENSIONS, Wants
from loradoc.doctor.snapshot import Snapshot

__all__ = ["TORCH_CONSTRAINT_FILE", "Decision", "InstallPlan", "Need", "PipStep", "plan"]

_PLANNERS = {"xformers": plan_xformers, "flash-attn": plan_flash_attn, "bitsandbytes": plan_bitsandbytes}


def plan(snapshot: Snapshot, matrix: Matrix, wants: Wants | None = None) -> InstallPlan:
    """The InstallPlan for this machine. Raises UserError when no torch build fits it."""
    wants = wants or Wants()
    mach = install_machine(snapshot, matrix)

    def missing(choice: TorchChoice) -> list[str]:
        b = build_of(choice)
        out = []
        if "xformers" in wants.extensions and not xformers_has_wheel(matrix, mach, b):
            out.append("xformers")
        if "flash-attn" in wants.extensions and not flash_attn_has_wheel(
            matrix, mach, b, fa3=wants.flash_attn_3
        ):
            out.append("flash-attn")
        return out

    pick = pick_torch(mach, matrix, wants, missing)
    build = build_of(pick.choice)
    out = InstallPlan(
        python=mach.python_mm,
        platform=f"{mach.os_label} {mach.machine}",
        variant=build.variant,
        keep_torch=pick.keep,
        warnings=[*mach.notes, *pick.warnings],
    )
    out.decisions.append(Decision("variant", build.variant, _variant_reason(mach, pick.choice, wants)))
    if wants.channel != "stable":
        _channel_torch(out, matrix, wants.channel, build.variant, pick.choice.version)
    elif pick.keep and mach.torch is not None:
        out.torch = mach.torch.version
        out.decisions.append(Decision("torch", out.torch, pick.reason))
    else:
        req, index, fallback, note = torch_requirement(matrix, mach, build.version, build.variant)
        out.torch = req.split("==", 1)[1]
        out.index_url = index
        out.decisions.append(Decision("torch", out.torch, pick.reason))
        out.decisions.append(
            Decision("index", index or "pip's configured sources", _index_reason(index, note, build.variant))
        )
        out.steps.append(
            PipStep(
                "torch",
                [req],
                f"torch {out.torch} first, from its own index",
                index_url=index,
                fallback_requirements=fallback,
                fallback_note=note or None,
                pin_torch=False,
            )
        )
    out.imports.append("torch")
    if mach.torch is not None and mach.torch.version and "+" in mach.torch.version:
        out.restore_index_urls.append(matrix.index_url(mach.torch.version.split("+", 1)[1]))

    extras: list[Extra] = []
    for name in EXTENSIONS:
        if name in wants.extensions and wants.channel != "stable" and name != "bitsandbytes":
            why = (
                f"no {name} wheel is built for a {wants.channel} torch: build it from source once torch is "
                "installed, or use --channel stable"
            )
            extras.append(Extra(Decision(name, None, why)))
        elif name == "flash-attn" and name in wants.extensions:
            extras.append(
                plan_flash_attn(matrix, mach, build, wants.extensions[name], fa3=wants.flash_attn_3)
            )
        elif name in wants.extensions:
            extras.append(_PLANNERS[name](matrix, mach, build, wants.extensions[name]))
        elif name in wants.dropped:
            extras.append(Extra(Decision(name, None, wants.dropped[name])))
    for name in wants.stack:
        extras.append(plan_hf(matrix, mach, build, name))
    for name in ("transformers", "peft", "accelerate", "datasets", "wandb"):
        if name in wants.dropped and name not in wants.stack:
            extras.append(Extra(Decision(name, None, wants.dropped[name])))
    _assemble(out, extras)
    return out


def _channel_torch(out: InstallPlan, matrix: Matrix, channel: str, variant: str, stable: str) -> None:
    """The torch step for a pre-release channel: the newest build of ``variant`` there, with --pre.
    The matrix knows releases only, so the variant is the one the newest fitting release uses."""
    index = matrix.index_url(variant, channel)
    what = "release candidate" if channel == "test" else "nightly build"
    out.torch = None
    out.channel = channel
    out.keep_torch = False
    out.index_url = index
    out.decisions.append(
        Decision(
            "torch",
            f"newest {what} ({variant})",
            f"--channel {channel}: the newest torch {what} for {variant}, the build torch {stable} uses on this "
            "machine (pip --pre)",
        )
    )
    out.decisions.append(Decision("index", index, f"the PyTorch {channel} index of the {variant} build"))
    out.warnings.append(
        f"--channel {channel}: a pre-release torch is not in the compat matrix; its architectures and the "
        "extensions built for it are unverified"
    )
    out.steps.append(
        PipStep(
            "torch",
            ["torch"],
            f"the newest torch {what} first, from the {channel} index",
            index_url=index,
            pip_args=["--pre"],
            pin_torch=False,
        )
    )


def _assemble(out: InstallPlan, extras: list[Extra]) -> None:
    stack: list[str] = []
    tools_added = False
    for extra in extras:
        out.decisions.append(extra.decision)
        out.warnings.extend(extra.warnings)
        out.imports.extend(i for i in extra.imports if i not in out.imports)
        stack.extend(extra.stack)
        if extra.build_tools and not tools_added:
            tools_added = True
            out.steps.append(
                PipStep(
                    "build-tools", list(BUILD_TOOLS), "what the source builds need without build isolation"
                )
            )
        out.steps.extend(extra.steps)
    if stack:
        out.steps.append(
            PipStep("stack", stack, "the rest from pip's configured sources, with torch pinned so it stays")
        )


def _variant_reason(mach: Machine, c: TorchChoice, wants: Wants) -> str:
    if c.variant == "cpu":
        if wants.cpu:
            return f"cpu: asked for with {wants.asked}"
        if mach.os == "darwin":
            return "cpu: macOS wheels are CPU builds (with MPS)"
        return "cpu: no NVIDIA or AMD GPU on this machine"
    if c.variant.startswith("rocm"):
        if wants.rocm:
            return f"{c.variant}: asked for with {wants.asked}"
        return f"{c.variant}: AMD GPUs ({amd_label(mach.amd)})"
    if mach.has_gpu is None:
        return f"{c.variant}: PyPI's default build; the snapshot says nothing about GPUs or the driver"
    counts: dict[str, int] = {}
    for n, cc in mach.gpus:
        label = f"{n} (sm_{cc.replace('.', '')})" if cc else n
        counts[label] = counts.get(label, 0) + 1
    gpus = ", ".join(f"{k}x {label}" if k > 1 else label for label, k in counts.items())
    driver = f"driver {mach.driver}" if mach.driver else f"a driver for CUDA {mach.cuda_max or '?'}"
    compat = "minor-version compatibility" if c.via_minor_compat else "full compatibility"
    code = "PTX JIT" if c.via_ptx else "native SASS"
    archs = f"{code} for {gpus}" if gpus else "the GPUs are unknown, so their architectures were not checked"
    forced = f"; asked for with {wants.asked}" if wants.cuda else ""
    return f"{c.variant}: {driver} runs CUDA {c.cuda} ({compat}); {archs}{forced}"


def _index_reason(index: str | None, note: str, variant: str) -> str:
    if index is None:
        return "torch's own wheels on PyPI are the right build here"
    tail = f"; if it cannot be reached: {note}" if note else ""
    return f"the PyTorch wheel index of the {variant} build{tail}"
