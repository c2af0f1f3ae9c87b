"""``doctor install --lock``: the resolved set of an install plan, as a pip-compile lock.

``plan_lock()`` turns an InstallPlan into the inputs of ``loradoc.lockfile.compile_lock``
(the pip-compile engine ``loradoc matrix lock`` shares):

- each variant index of the plan becomes an ``--extra-index-url`` of the lock;
- an index that does not answer falls back to the step's PyPI requirements, or stops the lock;
- source builds (``--no-build-isolation``) cannot be resolved in an isolated
  resolver: they are listed after the lock as comments with their command.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from loradoc import __version__
from loradoc.doctor.install.steps import InstallPlan
from loradoc.errors import UserError
from loradoc.lockfile import LockResult, compile_lock


def plan_lock(
    plan: InstallPlan,
    out: str | os.PathLike[str],
    *,
    unreachable: Mapping[str, str] | None = None,
    python: str | None = None,
    python_version: str | None = None,
    command: str | None = None,
    env: Mapping[str, str] | None = None,
    generate_hashes: bool | None = None,
) -> LockResult:
    """Lock what ``plan`` installs. ``unreachable`` maps index URLs that did not answer to why."""
    unreachable = dict(unreachable or {})
    requirements: list[str] = []
    extra: list[str] = []
    trailer: list[str] = []
    header = [
        f"Made by loradoc {__version__} `doctor install` with pip-compile: the resolved set for this plan.",
        f"torch {plan.torch} ({plan.variant}) for Python {python_version or plan.python} on {plan.platform}.",
        "Install with: pip install -r THIS_FILE  (torch comes from the sources named below).",
    ]
    if plan.keep_torch and plan.torch:
        requirements.append(f"torch=={plan.torch}")
        header.append(f"torch {plan.torch} is the build already installed; it is pinned, not changed.")
    for step in plan.steps:
        if "--no-build-isolation" in step.pip_args:
            trailer.append(
                f"# built from source after this lock is installed (not resolved here), step {step.name}:"
            )
            trailer.append("#   " + step.shell("python", constraint=None))
            continue
        if step.index_url and step.index_url in unreachable:
            if step.fallback_requirements is None:
                raise UserError(
                    f"--lock: {step.index_url} cannot be reached ({unreachable[step.index_url]}) and the plan "
                    f"allows no other source for {step.name}; lock again when it answers"
                )
            header.append(f"{step.index_url} could not be reached ({unreachable[step.index_url]}): "
                          f"{step.name} resolved from pip's configured sources.")  # fmt: skip
            requirements += step.fallback_requirements
            continue
        if step.index_url and step.index_url not in extra:
            extra.append(step.index_url)
        requirements += step.requirements
    if python_version and plan.python and not python_version.startswith(plan.python):
        header.append(f"Resolved with Python {python_version}; the plan is for {plan.python}.")
    cmd = command or "loradoc doctor install --lock " + shlex.quote(Path(out).name)
    return compile_lock(
        list(dict.fromkeys(requirements)),
        out,
        extra_index_urls=extra,
        header=header,
        trailer=trailer,
        python=python,
        compile_command=cmd,
        env=env,
        generate_hashes=generate_hashes,
    )
