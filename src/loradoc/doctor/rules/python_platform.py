"""Python and glibc against the torch wheels."""

from __future__ import annotations

from packaging.version import Version

from loradoc.compat.versions import parse_version
from loradoc.doctor.findings import Finding
from loradoc.doctor.rules.common import torch_fix
from loradoc.doctor.rules.context import Context
from loradoc.doctor.rules.fixes import glibc_fix, python_fix, venv_fix
from loradoc.doctor.rules.registry import error, info, rule, warning


@rule("python-unsupported-by-torch")
def python_vs_torch(ctx: Context) -> list[Finding]:
    py, m, t = ctx.python_mm, ctx.matrix, ctx.torch
    arch = (ctx.snapshot.arch or "").lower()  # stated, not the x86_64 an unknown machine defaults to
    if t is None and ctx.os == "darwin" and arch in ("x86_64", "amd64"):
        intel = [r for r in m.torch if r.macos_x86_64]
        if intel and intel[-1] is not m.torch[-1]:
            last = intel[-1].versions[-1]
            fix, details = torch_fix(ctx)  # the newest build this Mac installs, for its Python
            if fix is None:  # this Python is newer than that release's: a venv of the newest it has
                fix = venv_fix(intel[-1].python[-1], f"pip install torch=={last}", windows=False)
            return [
                warning(
                    "python-unsupported-by-torch",
                    f"macOS on Intel (x86_64): torch {last} is the newest release with wheels for it, so "
                    f"pip finds no newer torch (the matrix lists up to {m.latest_torch()})",
                    fix,
                    **details,
                )
            ]
    if py is None:
        return []
    if t is not None and t.known_release:
        pythons = m.torch_pythons(t.public, ctx.os_or_linux, ctx.machine)
        if not pythons or m.python_supported(t.public, py, ctx.os_or_linux, ctx.machine) is not False:
            return []
        fix, details = torch_fix(ctx)
        return [
            error(
                "python-unsupported-by-torch",
                f"torch {t.version} has wheels for Python {pythons[0]} to {pythons[-1]}, not Python {py}",
                fix or python_fix(ctx) or f"python{pythons[-1]} -m venv .venv",
                **details,
            )
        ]
    if t is None and not any(
        m.python_supported(v, py, ctx.os_or_linux, ctx.machine) for v in m.torch_versions()
    ):
        newest = m.torch[-1]
        return [
            error(
                "python-unsupported-by-torch",
                f"no torch release in the matrix ({m.torch_versions()[0]} to {m.latest_torch()}) has wheels for "
                f"Python {py}",
                python_fix(ctx),
                newest_python=newest.python[-1],
            )
        ]
    return _python_caps_torch(ctx, py)


def _python_caps_torch(ctx: Context, py: str) -> list[Finding]:
    """No torch yet, and a Python older than the newest torch supports: pip quietly installs the
    last release that has wheels for it (torch 2.4.1 on Python 3.8). An installed torch that runs
    on this Python is left alone."""
    m = ctx.matrix
    newest = m.torch[-1]
    if ctx.torch is not None or py in newest.python or Version(py) > Version(newest.python[-1]):
        return []
    fitting = [r for r in m.torch if py in r.python]
    if not fitting:
        return []
    last = fitting[-1]
    dropped = m.torch[m.torch.index(last) + 1]  # the matrix lists releases oldest first
    fix, details = torch_fix(ctx)  # the newest build for this Python
    # the oldest Python the newest torch supports: the smallest step up, the likeliest to be at hand
    newer = venv_fix(newest.python[0], f"pip install torch=={m.latest_torch()}", windows=ctx.os == "windows")
    return [
        warning(
            "python-unsupported-by-torch",
            f"Python {py} is older than torch >= {dropped.versions[0]} supports ({dropped.python[0]}+): torch "
            f"{last.versions[-1]} is the newest pip installs for it; newer torch needs a newer Python",
            fix or newer,
            **({"alternative": newer} if fix else {}),
            **details,
        )
    ]


@rule("glibc-too-old-for-torch")
def glibc_vs_torch(ctx: Context) -> list[Finding]:
    m, t = ctx.matrix, ctx.torch
    have = parse_version(ctx.snapshot.glibc)
    if ctx.os_or_linux != "linux" or have is None:
        return []
    if t is not None and t.known_release:
        floor = m.glibc_floor(t.public)
        if floor and have < Version(floor):
            rel = m.torch_release(t.public)
            fix, details = torch_fix(ctx)
            return [
                error(
                    "glibc-too-old-for-torch",
                    f"torch {t.version} ships {rel.platform_tag if rel else 'a'} wheels that need glibc >= {floor}; "
                    f"this system has glibc {ctx.snapshot.glibc}",
                    fix or glibc_fix(ctx),
                    **details,
                )
            ]
    blocked = [r for r in m.torch if have < Version(r.glibc)]
    if not blocked:
        return []
    first = blocked[0]
    usable = [r for r in m.torch if have >= Version(r.glibc)]
    limit = (
        f"torch {usable[-1].versions[-1]} is the newest it can install"
        if usable
        else "no listed torch installs"
    )
    make = warning if t is None else info
    fix, details = torch_fix(ctx)  # the newest build this glibc installs
    newer = f"a Linux distribution (or container image) with glibc >= {first.glibc}"
    return [
        make(
            "glibc-too-old-for-torch",
            f"glibc {ctx.snapshot.glibc} is below the {first.glibc} that torch >= {first.versions[0]} wheels "
            f"({first.platform_tag}) need: {limit}; newer torch needs {newer}",
            fix or glibc_fix(ctx),
            **details,
        )
    ]
