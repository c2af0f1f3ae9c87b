"""Installed packages' requirements on torch, including what `pip check` cannot see.

PEP 440 lets ``torch==2.4.1`` match ``2.4.1+cu121``, so a torchvision built for cu118 next to
a cu121 torch passes ``pip check``; the local tags (or the build's recorded CUDA) tell.
Packages whose requirements the snapshot does not list fall back to the matrix's floors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from loradoc.compat.queries import spec_contains
from loradoc.compat.versions import cuda_variant, local_tag, parse_version, public, variant_cuda
from loradoc.doctor.facts import TorchFact
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.registry import error, rule, warning
from loradoc.doctor.snapshot import Package

if TYPE_CHECKING:
    from packaging.requirements import Requirement

# Packages with a rule of their own for their torch binding.
_OWN_RULE = {"torch", "xformers", "flash-attn"}
_PLATFORM = {"linux": ("Linux", "linux"), "windows": ("Windows", "win32"), "darwin": ("Darwin", "darwin")}


def _marker_env(ctx: Context) -> dict[str, str]:
    system, platform = _PLATFORM.get(ctx.os_or_linux, ("Linux", "linux"))
    env = {"platform_system": system, "sys_platform": platform, "extra": "", "platform_machine": ctx.machine}
    if ctx.snapshot.python:
        env["python_full_version"] = ctx.snapshot.python
    if ctx.python_mm:
        env["python_version"] = ctx.python_mm
    return env


def torch_requirements(ctx: Context, p: Package) -> list[Requirement]:
    """The torch requirements in ``p``'s installed metadata that apply on this machine."""
    from packaging.requirements import InvalidRequirement, Requirement

    env = _marker_env(ctx)
    out = []
    for line in p.requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != "torch":
            continue
        try:
            if req.marker is not None and not req.marker.evaluate(env):
                continue  # an extra's requirement, or another platform's
        except Exception:  # noqa: BLE001 - an unknown marker variable: skip the line
            continue
        out.append(req)
    return out


def _build_variant(p: Package) -> str | None:
    tag = local_tag(p.version)
    if tag and (tag == "cpu" or variant_cuda(tag)):
        return tag
    return cuda_variant(p.cuda) if p.cuda else None


def _fix(ctx: Context, name: str, req: str, t: TorchFact) -> str | None:
    m = ctx.matrix
    if name in ("torchvision", "torchaudio"):  # they move with torch: the release for the installed one
        # pinned to the line built for this torch where the matrix pairs them (a release asking only
        # for a floor, or nothing, would otherwise stay); else pip picks the newest whose pin takes it
        line = m.companion_for_torch(name, t.public)
        want = f'"{line}"' if line else name
        legacy = m.legacy_torch(t.public) is not None
        if (
            legacy and t.variant and t.variant != "cpu" and not t.inferred
        ):  # a 1.x CUDA build, as it was published
            command = m.legacy_install_command(t.public, t.variant, ctx.os_or_linux)
            if command:
                return f"{command} {want}"
        if t.variant and t.variant != "cpu" and not (legacy and t.inferred):
            return f"pip install torch=={t.public} {want} --index-url {m.index_url(t.variant)}"
        if t.public and (t.variant is None or legacy):  # PyPI's own build of an old release: pip finds it
            return f'pip install "torch=={t.public}" {want}'
    if any(r.package == name for r in m.hf):
        row = m.hf_compatible(name, t.public)
        pin = m.hf_pin_below(row) if row else None
        if pin:
            return f'pip install "{pin}"'
    if name == "bitsandbytes":
        rel = next(
            (r for r in reversed(m.bitsandbytes.releases) if r.torch and spec_contains(r.torch, t.public)),
            None,
        )
        if rel is not None:
            return f'pip install "bitsandbytes{rel.versions}"'
    fitting = [c for c in ctx.torch_choices() if spec_contains(req, c.version)]
    return fitting[0].command if fitting else None


def _built_for_other_torch(ctx: Context, name: str, p: Package, t: TorchFact) -> Finding | None:
    """A compiled package (pytorch3d, a custom extension) whose build records another torch
    release than the installed one: its C++ extension links torch's ABI of that release. The fix
    puts back the torch it was built for (the smallest change; rebuilding it is the other)."""
    built = public(p.built_for_torch) if p.built_for_torch else None
    if not built or not t.public or built == t.public:
        return None
    choices = ctx.torch_choices(built, gpu=None if t.variant is None else t.variant != "cpu")
    choice = next((c for c in choices if c.variant == t.variant), choices[0] if choices else None)
    return error(
        "package-requires-other-torch",
        f"{name} {p.version or ''} was built for torch {p.built_for_torch} but torch {t.version} is installed: "
        "its compiled extension fails to load ('undefined symbol', 'DLL load failed')".replace("  ", " "),
        choice.command if choice is not None and choice.version == built else None,
    )


@rule("package-requires-other-torch")
def requirements_vs_torch(ctx: Context) -> list[Finding]:
    t, m = ctx.torch, ctx.matrix
    if t is None or not ctx.snapshot.packages:
        return []
    out: list[Finding] = []
    installed = parse_version(t.version)
    for name, p in sorted(ctx.snapshot.packages.items()):
        if name in _OWN_RULE:
            continue
        built = _built_for_other_torch(ctx, name, p, t)
        if built is not None:
            out.append(built)
            continue
        if not p.version:
            continue
        reqs = torch_requirements(ctx, p)
        specs = [str(r.specifier) for r in reqs]
        from_matrix = False
        if not p.requires:
            row = m.hf_floor(name, p.version)
            if row and row.torch and not row.torch_extra:
                specs, from_matrix = [row.torch], True
            elif companion := m.companion_torch_spec(name, p.version):  # torchvision, torchaudio
                specs, from_matrix = [companion], True
        for spec in specs:
            if not spec:
                continue
            try:
                ok = SpecifierSet(spec).contains(installed, prereleases=True)  # type: ignore[arg-type]
            except InvalidSpecifier:
                continue
            source = " (per the compat matrix)" if from_matrix else ""
            if not ok:
                out.append(
                    error(
                        "package-requires-other-torch",
                        f"{name} {p.version} requires torch{spec}{source} but torch {t.version} is installed",
                        _fix(ctx, name, spec, t),
                    )
                )
                continue
            dep = _build_variant(p)
            pinned = "==" in spec or "===" in spec
            if pinned and dep and t.variant and not t.inferred and dep != t.variant:
                out.append(
                    error(
                        "package-requires-other-torch",
                        f"{name} {p.version} was built for torch{spec}+{dep} but torch is {t.version}: "
                        f"pip check misses this because torch{spec} also matches any +cuXXX local tag",
                        _fix(ctx, name, spec, t),
                    )
                )
    return out


@rule("transformers-disables-torch")
def transformers_runtime_floor(ctx: Context) -> list[Finding]:
    t, m, p = ctx.torch, ctx.matrix, ctx.pkg("transformers")
    if t is None or p is None or not p.version:
        return []
    row = m.hf_floor("transformers", p.version)
    if row is None or not row.torch or spec_contains(row.torch, t.public):
        return []
    compat = m.hf_compatible("transformers", t.public)
    pin = m.hf_pin_below(compat) if compat else None
    fix = f'pip install "{pin}"' if pin else None
    if row.runtime_torch_floor:
        return [
            error(
                "transformers-disables-torch",
                f"transformers {p.version} needs torch{row.torch} and disables torch {t.version} at import "
                f"('Disabling PyTorch because PyTorch {row.torch} is required'): models and Trainer act as if "
                "torch were missing",
                fix,
            )
        ]
    return [
        warning(
            "package-requires-other-torch",
            f"transformers {p.version} declares torch{row.torch} (its torch extra) but torch {t.version} is "
            "installed",
            fix,
        )
    ]
