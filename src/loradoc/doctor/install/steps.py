"""InstallPlan: what ``loradoc doctor install`` will do, and why.

Plain data, JSON round-trip. ``plan()`` (in ``plan.py``) builds it from a
Snapshot, the Matrix and the user's Wants; ``install.py`` runs it; ``lock.py``
turns it into a pip-compile'd lock; ``--dry-run`` prints it.

An InstallPlan is an ordered list of pip steps. Every step after the torch step
runs with torch pinned by a constraint file, so nothing can replace the build
the plan chose.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass, field
from typing import Any

PLAN_SCHEMA_VERSION = 1
TORCH_CONSTRAINT_FILE = "torch-constraint.txt"  # the name shown in --dry-run; apply writes a temp file


@dataclass
class Decision:
    """One choice the plan made (or declined to make), with its reason.

    ``value`` is None when the item is skipped; ``reason`` then says why.
    """

    item: str  # "variant", "torch", "index", "xformers", "flash-attn", "bitsandbytes", "transformers", ...
    value: str | None
    reason: str


@dataclass
class Need:
    """A precondition a step checks before it runs (a source build needs nvcc, for example)."""

    kind: str  # "nvcc": a CUDA toolkit whose major equals ``value``
    value: str
    reason: str


@dataclass
class PipStep:
    """One ``python -m pip install`` run."""

    name: str  # "torch", "xformers", "flash-attn", "build-tools", "stack"
    requirements: list[str]
    reason: str
    index_url: str | None = None  # --index-url; None means pip's configured sources
    # What to ask pip's configured sources for when ``index_url`` cannot be reached.
    # None: no fallback (the step fails, and the environment is restored).
    fallback_requirements: list[str] | None = None
    fallback_note: str | None = None  # what the fallback gives up, printed when it is used
    pip_args: list[str] = field(default_factory=list)  # --no-build-isolation, -v, --no-deps
    env: dict[str, str] = field(default_factory=dict)  # build environment (TORCH_CUDA_ARCH_LIST, MAX_JOBS)
    pin_torch: bool = True  # run with the torch constraint file
    needs: list[Need] = field(default_factory=list)

    def argv(self, python: str, *, constraint: str | None, fallback: bool = False) -> list[str]:
        """The exact pip command line (without the environment variables)."""
        out = [python, "-m", "pip", "install", "--no-input"]
        if fallback:
            reqs = list(self.fallback_requirements or [])
        else:
            reqs = list(self.requirements)
            if self.index_url:
                # Fail fast on an index that stops answering: no retries, short socket timeout.
                out += ["--timeout", "15", "--retries", "0", "--index-url", self.index_url]
        out += self.pip_args
        if self.pin_torch and constraint:
            out += ["-c", constraint]
        return out + reqs

    def shell(self, python: str, *, constraint: str | None, fallback: bool = False) -> str:
        """The command as one line a user can paste (environment variables first)."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        cmd = shlex.join(self.argv(python, constraint=constraint, fallback=fallback))
        return f"{env} {cmd}" if env else cmd


@dataclass
class InstallPlan:
    schema_version: int = PLAN_SCHEMA_VERSION
    python: str | None = None  # "3.11" the plan is for
    platform: str | None = None  # "Linux x86_64"
    variant: str | None = None  # "cpu", "cu124", "rocm6.2"
    torch: str | None = None  # the torch the environment ends with, with its local tag: "2.5.1+cu124"
    keep_torch: bool = False  # the installed torch already fits: no torch step
    index_url: str | None = None  # the variant's wheel index
    decisions: list[Decision] = field(default_factory=list)
    steps: list[PipStep] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)  # modules the smoke test imports afterwards
    # Where builds replaced by the plan came from (the installed torch's variant index), for a restore.
    restore_index_urls: list[str] = field(default_factory=list)
    # "stable", or a pre-release channel ("test", "nightly"): torch is then the channel's newest
    # build, known only once installed (``torch`` is None; later steps pin what was installed)
    channel: str = "stable"

    # -- queries ------------------------------------------------------------------------
    def decision(self, item: str) -> Decision | None:
        for d in self.decisions:
            if d.item == item:
                return d
        return None

    def chosen(self, item: str) -> str | None:
        d = self.decision(item)
        return d.value if d else None

    def torch_constraint(self) -> str | None:
        """The constraint line that keeps torch in place (``torch==2.5.1+cu124``)."""
        return f"torch=={self.torch}" if self.torch else None

    def commands(self, python: str = "python") -> list[str]:
        """Every step as a pasteable shell line, in order."""
        return [
            s.shell(python, constraint=TORCH_CONSTRAINT_FILE if self._pinned(s) else None) for s in self.steps
        ]

    def _pinned(self, step: PipStep) -> bool:
        return (
            step.pin_torch and step.name != "torch" and (self.torch is not None or self.channel != "stable")
        )

    @property
    def torch_label(self) -> str:
        """The torch the plan ends with, in words: "2.5.1+cu124", "the newest nightly build"."""
        return self.torch or (f"the newest {self.channel} build" if self.channel != "stable" else "unknown")

    # -- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if self.channel == "stable":
            del out["channel"]  # the usual case stays out of the JSON (and of the golden plans)
        out["commands"] = self.commands()
        if self.torch:
            out["constraints"] = {TORCH_CONSTRAINT_FILE: [self.torch_constraint()]}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstallPlan:
        data = {k: v for k, v in data.items() if k not in ("commands", "constraints")}
        data["decisions"] = [Decision(**d) for d in data.get("decisions", [])]
        steps = []
        for s in data.get("steps", []):
            s = dict(s)
            s["needs"] = [Need(**n) for n in s.get("needs", [])]
            steps.append(PipStep(**s))
        data["steps"] = steps
        return cls(**data)
