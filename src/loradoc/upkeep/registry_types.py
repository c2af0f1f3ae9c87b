"""What the registry is asked about and what it answers: targets, indexes, releases.

Plain frozen data, shared by the pip runner (``registry.py``) and the checks.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

PYPI_SIMPLE = "https://pypi.org/simple"

FOUND = "found"
NOT_FOUND = "not-found"
UNREACHABLE = "unreachable"
ERROR = "error"
TOO_BIG = "too-big"  # metadata only inside a large wheel: not fetched


def default_cache_dir() -> Path:
    """``$LORADOC_CACHE_DIR/registry``, else ``$XDG_CACHE_HOME/loradoc/registry`` or ``~/.cache/...``."""
    root = os.environ.get("LORADOC_CACHE_DIR")
    if root:
        return Path(root) / "registry"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "loradoc" / "registry"


@dataclass(frozen=True)
class Target:
    """The machine a question is asked for: pip's ``--python-version/--platform/--implementation``."""

    python: str = "3.11"
    platform: str = "manylinux_2_28_x86_64"
    implementation: str = "cp"
    abi: str | None = None  # "cp313t" for a free-threaded build; None: pip's default for the version
    exact: bool = False  # only wheels tagged with exactly this platform (no older manylinux)

    @classmethod
    def for_python(
        cls, python: str, platform: str = "manylinux_2_28_x86_64", *, exact: bool = False
    ) -> Target:
        """``"3.13"`` or the free-threaded ``"3.13t"``."""
        if python.endswith("t"):
            base = python[:-1]
            return cls(python=base, platform=platform, abi="cp" + base.replace(".", "") + "t", exact=exact)
        return cls(python=python, platform=platform, exact=exact)

    @property
    def label(self) -> str:
        return self.python + ("t" if self.abi and self.abi.endswith("t") else "")

    def platforms(self) -> list[str]:
        """Every platform tag a machine of this kind accepts.

        pip does not widen ``manylinux_2_28_x86_64`` to the older manylinux tags
        such a machine also runs (``manylinux1`` torch 2.0 wheels, say), so the
        list is spelled out here: ``manylinux_2_X`` down to ``2_5`` and the
        legacy aliases.
        """
        m = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", self.platform)
        if self.exact or not m:
            return [self.platform]
        glibc, arch = int(m.group(1)), m.group(2)
        tags = [f"manylinux_2_{minor}_{arch}" for minor in range(glibc, 4, -1)]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        tags += [f"{name}_{arch}" for minor, name in legacy.items() if minor <= glibc]
        return tags

    def marker_env(self) -> dict[str, str]:
        """Environment for evaluating PEP 508 markers of this target (Linux x86_64 style)."""
        linux = "linux" in self.platform
        windows = self.platform.startswith("win")
        machine = "x86_64"
        if "aarch64" in self.platform or "arm64" in self.platform:
            machine = "aarch64" if linux else "arm64"
        return {
            "python_version": self.python,
            "python_full_version": self.python + ".0",
            "implementation_name": "cpython" if self.implementation == "cp" else self.implementation,
            "platform_python_implementation": "CPython" if self.implementation == "cp" else "",
            "sys_platform": "linux" if linux else ("win32" if windows else "darwin"),
            "platform_system": "Linux" if linux else ("Windows" if windows else "Darwin"),
            "platform_machine": machine,
            "os_name": "nt" if windows else "posix",
            "platform_release": "",
            "platform_version": "",
        }


@dataclass(frozen=True)
class Index:
    """Where pip looks: one index URL (PEP 503/691, ``https://`` or ``file://``) and find-links."""

    url: str = PYPI_SIMPLE
    find_links: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        if self.url == PYPI_SIMPLE and not self.find_links:
            return "PyPI"
        return self.url or ",".join(self.find_links)

    def pip_args(self) -> list[str]:
        args = ["--index-url", self.url] if self.url else ["--no-index"]
        for link in self.find_links:
            args += ["--find-links", link]
        return args


@dataclass(frozen=True)
class Release:
    """The metadata of one release as pip's report gives it."""

    name: str
    version: str
    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    url: str | None = None

    @property
    def filename(self) -> str | None:
        return self.url.rsplit("/", 1)[-1] if self.url else None

    def requirements(self, target: Target, extra: str = "") -> list[Requirement]:
        """Requirements that apply on ``target`` (and with ``extra``, if given)."""
        env = target.marker_env()
        out: list[Requirement] = []
        for line in self.requires_dist:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not _marker_applies(req.marker, env, extra):
                continue
            out.append(req)
        return out

    def requirement_for(self, name: str, target: Target, extra: str = "") -> Requirement | None:
        """The requirement on ``name`` (canonical comparison), or None when there is none."""
        wanted = canonicalize_name(name)
        for req in self.requirements(target, extra):
            if canonicalize_name(req.name) == wanted:
                return req
        return None


@dataclass(frozen=True)
class Lookup:
    """pip's answer to one requirement on one target."""

    requirement: str
    target: Target
    index: str
    status: str
    release: Release | None = None
    available: tuple[str, ...] = ()
    detail: str = ""
    cached: bool = False


@dataclass(frozen=True)
class VersionList:
    """pip's list of releases a target can install."""

    name: str
    target: Target
    index: str
    status: str
    versions: tuple[str, ...] = ()
    detail: str = ""
    cached: bool = False


def _marker_applies(marker: Marker, env: dict[str, str], extra: str) -> bool:
    return bool(marker.evaluate({**env, "extra": extra}))
