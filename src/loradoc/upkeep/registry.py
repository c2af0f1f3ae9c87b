"""Ask a package index about releases through pip, without downloading wheels.

Every answer comes from the pip client itself:

* ``pip install --dry-run --no-deps --ignore-installed --only-binary=:all: --report``
  for one requirement and one target (Python version, platform). pip reads the
  wheel's metadata (PEP 658 ``.metadata`` files on PyPI, so no multi-GB torch
  wheel is fetched) and writes it into a JSON report.
* ``pip index versions NAME`` for the list of releases a target can install.

pip's local configuration is switched off (``--isolated`` and
``PIP_CONFIG_FILE=/dev/null``), so a site-wide constraint file, ``find-links``
folder or extra index cannot change what the registry appears to say.

Answers are cached on disk for a day (``$LORADOC_CACHE_DIR/registry``, default
``~/.cache/loradoc/registry``); an unreachable index is never cached.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from loradoc.fsutil import write_atomic
from loradoc.upkeep.pip_run import STOPPED_DOWNLOAD, run_pip, too_big_reason, unreachable_reason
from loradoc.upkeep.registry_types import (
    ERROR,
    FOUND,
    NOT_FOUND,
    PYPI_SIMPLE,
    TOO_BIG,
    UNREACHABLE,
    Index,
    Lookup,
    Release,
    Target,
    VersionList,
    default_cache_dir,
)

__all__ = [
    "ERROR",
    "FOUND",
    "NOT_FOUND",
    "PYPI_SIMPLE",
    "TOO_BIG",
    "UNREACHABLE",
    "Index",
    "Lookup",
    "Registry",
    "Release",
    "Target",
    "VersionList",
    "default_cache_dir",
]

CACHE_MAX_AGE_S = 24 * 3600
CACHE_FORMAT = 1


_FROM_VERSIONS = re.compile(r"\(from versions: ([^)]*)\)")


@dataclass
class Registry:
    """pip-backed metadata lookups, cached on disk and run in parallel."""

    index: Index = field(default_factory=Index)
    cache_dir: Path | None = None
    max_age_s: float = CACHE_MAX_AGE_S
    workers: int = 8
    timeout_s: float = 20.0
    use_cache: bool = True
    python_exe: str = sys.executable
    fast_deps: bool = True
    calls: int = 0  # pip processes started (for reporting)

    def __post_init__(self) -> None:
        if self.cache_dir is None:
            self.cache_dir = default_cache_dir()

    # -- public ---------------------------------------------------------
    def lookup(self, requirement: str, target: Target) -> Lookup:
        """Resolve ``requirement`` (usually ``name==version``) for ``target`` and read its metadata."""
        key = self._key("lookup", requirement, target)
        hit = self._cache_get(key)
        if hit is not None:
            return _lookup_from_json(hit, cached=True)
        answer = self._run_lookup(requirement, target)
        if answer.status in (FOUND, NOT_FOUND):
            self._cache_put(key, _lookup_to_json(answer))
        return answer

    def lookup_many(self, items: Iterable[tuple[str, Target]]) -> list[Lookup]:
        """Many lookups at once, in a thread pool; answers in the order asked."""
        todo = list(dict.fromkeys(items))
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            answers = list(pool.map(lambda it: self.lookup(it[0], it[1]), todo))
        return answers

    def versions(
        self,
        name: str,
        target: Target,
        *,
        binary_only: bool = True,
        ignore_requires_python: bool = False,
        pre: bool = False,
    ) -> VersionList:
        """Releases of ``name`` installable on ``target``, newest first (pip's order).

        ``binary_only``: only releases with a wheel for the target (sdists ignored).
        """
        flags = (binary_only, ignore_requires_python, pre)
        key = self._key("versions", f"{name} {flags}", target)
        hit = self._cache_get(key)
        if hit is not None:
            return _versions_from_json(hit, cached=True)
        answer = self._run_versions(name, target, *flags)
        if answer.status in (FOUND, NOT_FOUND):
            self._cache_put(key, _versions_to_json(answer))
        return answer

    # -- pip ------------------------------------------------------------
    def _pip(self, args: Sequence[str]) -> tuple[int, str, str, str]:
        """Run pip (see ``pip_run``); returns (rc, stdout, stderr, verbose log)."""
        self.calls += 1
        run = run_pip(self.python_exe, args, self.timeout_s)
        return run.rc, run.out, run.err, run.log

    def _fast_deps(self) -> list[str]:
        """``--use-feature=fast-deps``: read metadata with HTTP range requests when the
        index has no PEP 658 metadata file (PyPI lacks it for old torch wheels)."""
        return ["--use-feature=fast-deps"] if self.fast_deps else []  # an install option

    def _target_args(self, target: Target) -> list[str]:
        args = ["--python-version", target.python, "--implementation", target.implementation]
        if target.abi:
            args += ["--abi", target.abi]
        for platform in target.platforms():
            args += ["--platform", platform]
        return [*args, "--only-binary=:all:"]

    def _run_lookup(self, requirement: str, target: Target) -> Lookup:
        with tempfile.TemporaryDirectory(prefix="loradoc-report-") as tmp:
            report = Path(tmp) / "report.json"
            args = [
                "install",
                "--dry-run",
                "--no-deps",
                "--ignore-installed",
                "--quiet",
                "--report",
                str(report),
                # pip < 23.3 allows --platform/--python-version only with --target;
                # with --dry-run nothing is written there
                "--target",
                str(Path(tmp) / "target"),
                *self._target_args(target),
                *self.index.pip_args(),
                requirement,
            ]
            rc, _out, err, debug = self._pip([*self._fast_deps(), *args])
            if rc != 0 and "fast-deps" in err and "invalid choice" in err:
                self.fast_deps = False  # a pip that dropped the feature: the watchdog still guards
                rc, _out, err, debug = self._pip(args)
            text = report.read_text(encoding="utf-8") if rc == 0 and report.exists() else ""
        base = partial(Lookup, requirement, target, self.index.label)
        if rc == STOPPED_DOWNLOAD:
            return base(TOO_BIG, detail=too_big_reason(debug))
        if rc == 0 and text:
            try:
                release = _release_from_report(json.loads(text), requirement)
            except (ValueError, KeyError) as exc:
                return base(ERROR, detail=f"unreadable pip report: {exc}")
            if release is None:
                return base(ERROR, detail="pip's report lists no install")
            return base(FOUND, release=release)
        unreachable = unreachable_reason(debug)
        if unreachable:
            return base(UNREACHABLE, detail=unreachable)
        match = _FROM_VERSIONS.search(err)
        if match or "No matching distribution" in err or "requires a different Python" in err:
            available = _split_versions(match.group(1)) if match else ()
            return base(NOT_FOUND, available=available, detail=_last_error(err))
        return base(ERROR, detail=_last_error(err) or f"pip exited {rc}")

    def _run_versions(
        self, name: str, target: Target, binary_only: bool, ignore_requires_python: bool, pre: bool
    ) -> VersionList:
        common = [*self._target_args(target)[:-1], *self.index.pip_args()]
        if binary_only:
            common.append("--only-binary=:all:")
        if ignore_requires_python:
            common.append("--ignore-requires-python")
        if pre:
            common.append("--pre")
        rc, out, err, debug = self._pip(["index", "versions", name, "--json", *common])
        if rc != 0 and "no such option: --json" in err:  # pip < 24: text output only
            rc, out, err, debug = self._pip(["index", "versions", name, *common])
        base = partial(VersionList, name, target, self.index.label)
        if rc == 0:
            versions = _parse_versions_output(out)
            if versions is not None:
                return base(FOUND, versions=versions)
            return base(ERROR, detail="unreadable `pip index versions` output")
        unreachable = unreachable_reason(debug)
        if unreachable:
            return base(UNREACHABLE, detail=unreachable)
        if "No matching distribution" in err:
            return base(NOT_FOUND, detail=_last_error(err))
        return base(ERROR, detail=_last_error(err) or f"pip exited {rc}")

    # -- cache ----------------------------------------------------------
    def _key(self, kind: str, what: str, target: Target) -> str:
        raw = json.dumps(
            [CACHE_FORMAT, kind, what, asdict(target), self.index.url, list(self.index.find_links)],
            sort_keys=True,
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def _cache_get(self, key: str) -> dict[str, Any] | None:
        if not self.use_cache or self.cache_dir is None:
            return None
        path = self.cache_dir / f"{key}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or time.time() - float(data.get("created", 0)) > self.max_age_s:
            return None
        answer = data.get("answer")
        return answer if isinstance(answer, dict) else None

    def _cache_put(self, key: str, answer: dict[str, Any]) -> None:
        if not self.use_cache or self.cache_dir is None:
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(
                self.cache_dir / f"{key}.json", json.dumps({"created": time.time(), "answer": answer})
            )
        except OSError:
            pass  # a cache that cannot be written only costs time


# -- parsing helpers ------------------------------------------------------


def _release_from_report(report: dict[str, Any], requirement: str) -> Release | None:
    wanted = canonicalize_name(Requirement(requirement).name)
    for item in report.get("install", []):
        meta = item.get("metadata", {})
        if canonicalize_name(str(meta.get("name", ""))) != wanted:
            continue
        return Release(
            name=str(meta["name"]),
            version=str(meta["version"]),
            requires_dist=tuple(meta.get("requires_dist") or ()),
            requires_python=meta.get("requires_python"),
            url=(item.get("download_info") or {}).get("url"),
        )
    return None


def _split_versions(text: str) -> tuple[str, ...]:
    text = text.strip()
    if not text or text == "none":
        return ()
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR:")]
    return (errors[-1] if errors else (lines[-1] if lines else ""))[:300]


def _parse_versions_output(out: str) -> tuple[str, ...] | None:
    out = out.strip()
    if out.startswith("{"):
        try:
            data = json.loads(out)
        except ValueError:
            return None
        return tuple(str(v) for v in data.get("versions", []))
    for line in out.splitlines():
        if line.startswith("Available versions:"):
            return _split_versions(line.split(":", 1)[1])
    return None


def _lookup_to_json(answer: Lookup) -> dict[str, Any]:
    data = asdict(answer)
    data.pop("cached", None)
    return data


def _lookup_from_json(data: dict[str, Any], *, cached: bool) -> Lookup:
    release = data.get("release")
    return Lookup(
        requirement=data["requirement"],
        target=Target(**data["target"]),
        index=data["index"],
        status=data["status"],
        release=Release(
            name=release["name"],
            version=release["version"],
            requires_dist=tuple(release.get("requires_dist") or ()),
            requires_python=release.get("requires_python"),
            url=release.get("url"),
        )
        if release
        else None,
        available=tuple(data.get("available") or ()),
        detail=data.get("detail", ""),
        cached=cached,
    )


def _versions_to_json(answer: VersionList) -> dict[str, Any]:
    data = asdict(answer)
    data.pop("cached", None)
    return data


def _versions_from_json(data: dict[str, Any], *, cached: bool) -> VersionList:
    return VersionList(
        name=data["name"],
        target=Target(**data["target"]),
        index=data["index"],
        status=data["status"],
        versions=tuple(data.get("versions") or ()),
        detail=data.get("detail", ""),
        cached=cached,
    )
