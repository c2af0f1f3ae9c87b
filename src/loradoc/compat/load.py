"""Load and validate the compat matrix once.

``load_matrix()`` reads the data shipped inside the wheel (``loradoc.compat_data``:
``matrix.toml`` and ``errors.toml``); ``load_matrix(path)`` reads another matrix file (its
``errors.toml`` sibling when present, else the shipped one). A malformed matrix raises
``MatrixError`` naming the file and the entry, e.g.
``compat/matrix.toml: torch."2.5": cuda variant 'cu999' has no driver floor``.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from loradoc.compat import schema as s
from loradoc.compat.queries import Matrix
from loradoc.compat.versions import (
    cc_tuple,
    cuda_tuple,
    driver_tuple,
    parse_version,
    variant_cuda,
)
from loradoc.compat.versions import (
    series as series_of,
)
from loradoc.errors import MatrixError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

PACKAGED_NAME = "compat/matrix.toml"
PACKAGED_ERRORS = "compat/errors.toml"
T = TypeVar("T")
_CITED = re.compile(r"\[([A-Z][A-Z0-9-]*)\]")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_CODE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_BNB_LIB = re.compile(r"^(cpu|xpu|cuda\d{3})$")
_HF_PACKAGES = ("transformers", "peft", "accelerate", "trl", "datasets")


class Table:
    """One TOML table being read: typed getters, and an error for keys nobody read."""

    def __init__(self, origin: str, where: str, data: Any) -> None:
        self.origin, self.where = origin, where
        if not isinstance(data, dict):
            self.fail(f"expected a table, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.seen: set[str] = set()

    def fail(self, msg: str) -> NoReturn:
        raise MatrixError(f"{self.origin}: {self.where}: {msg}")

    def _get(self, key: str, kind: type | tuple[type, ...], required: bool) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required:
                self.fail(f"missing {key!r}")
            return None
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(f"{key!r} should be {_kind_name(kind)}, got {value!r}")
        return value

    def text(self, key: str) -> str:
        return str(self._get(key, str, True))

    def opt_str(self, key: str) -> str | None:
        value = self._get(key, str, False)
        return None if value is None else str(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, bool, False)
        return default if value is None else bool(value)

    def integer(self, key: str) -> int:
        return int(self._get(key, int, True))

    def strs(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        value = self._get(key, list, required) or []
        if not all(isinstance(v, str) for v in value):
            self.fail(f"{key!r} should be a list of strings")
        return tuple(value)

    def source(self) -> str:
        text = self._get("source", str, False)
        if not text or not str(text).strip():
            self.fail("has no source")
        return str(text)

    def version(self, key: str, value: str | None = None) -> str:
        text = self.text(key) if value is None else value
        if parse_version(text) is None:
            self.fail(f"{key} {text!r} is not a valid version")
        return text

    def spec(self, key: str, *, required: bool = True, allow_empty: bool = False) -> str | None:
        text = self.text(key) if required else self.opt_str(key)
        if text is None or (allow_empty and text == ""):
            return text
        try:
            SpecifierSet(text)
        except InvalidSpecifier:
            self.fail(f"{key} {text!r} is not a valid version specifier")
        return text

    def cc(self, label: str, value: str) -> str:
        if cc_tuple(value) is None or "." not in value:
            self.fail(f"{label} {value!r} is not a compute capability like '8.6'")
        return value

    def sub(self, key: str, where: str | None = None) -> Table:
        return Table(self.origin, where or f"{self.where}.{key}", self._get(key, dict, True))

    def items(self, key: str, required: bool = True) -> list[Any]:
        return list(self._get(key, list, required) or [])

    def done(self) -> None:
        extra = sorted(set(self.data) - self.seen)
        if extra:
            self.fail(f"unknown key {extra[0]!r}")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", bool: "true or false", int: "an integer", list: "a list", dict: "a table"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def _each(origin: str, label: str, items: list[Any], build: Callable[[Table], T]) -> tuple[T, ...]:
    out = []
    for i, raw in enumerate(items):
        t = Table(origin, f"{label}[{i}]", raw)
        out.append(build(t))
        t.done()
    return tuple(out)


def _keyed(top: Table, key: str, build: Callable[[str, Table], T], *, required: bool = True) -> list[T]:
    """A table of named tables (``[torch."2.5"]``): each read by ``build`` with its name."""
    if not required and key not in top.data:
        return []
    table = top.sub(key, key)
    out = []
    for name, raw in table.data.items():
        table.seen.add(name)
        t = Table(top.origin, f'{key}."{name}"', raw)
        out.append(build(name, t))
        t.done()
    return out


def _check_series(series: str, t: Table) -> None:
    if not re.fullmatch(r"\d+\.\d+", series):
        t.fail('key should be a torch major.minor like "2.5"')


# -- sections ---------------------------------------------------------------------------------


def _torch_release(series: str, t: Table) -> s.TorchRelease:
    _check_series(series, t)
    releases = []
    for i, raw in enumerate(t.items("releases")):
        r = Table(t.origin, f"{t.where}.releases[{i}]", raw)
        version = r.version("version")
        if series_of(version) != series:
            t.fail(f"release {version!r} does not belong to series {series}")
        releases.append(
            s.TorchPatch(
                version=version, date=r.opt_str("date"), windows_missing_dll=r.opt_str("windows_missing_dll")
            )
        )
        r.done()
    if not releases:
        t.fail("lists no releases")
    python = t.strs("python", required=True)
    for p in python + t.strs("free_threaded"):
        if not re.fullmatch(r"3\.\d+", p):
            t.fail(f"python {p!r} should look like '3.11'")
    rel = s.TorchRelease(
        series=series,
        releases=tuple(releases),
        requires_python=str(t.spec("requires_python")),
        python=python,
        variants=t.strs("variants", required=True),
        experimental=t.strs("experimental"),
        free_threaded=t.strs("free_threaded"),
        python_linux_x86_64_only=t.strs("python_linux_x86_64_only"),
        variants_verified=t.flag("variants_verified", True),
        pypi_default=t.text("pypi_default"),
        pypi_default_detail=t.opt_str("pypi_default_detail"),
        rocm=t.opt_str("rocm"),
        platform_tag=t.text("platform_tag"),
        glibc=t.version("glibc"),
        cxx11_abi=bool(t._get("cxx11_abi", bool, True)),
        cxx11_abi_variants=t.strs("cxx11_abi_variants"),
        macos_x86_64=t.flag("macos_x86_64", False),
        aarch64_platform_tag=t.opt_str("aarch64_platform_tag"),
        pypi_default_aarch64=t.opt_str("pypi_default_aarch64"),
        note=t.opt_str("note"),
        source=t.source(),
    )
    if stray := [p for p in rel.python_linux_x86_64_only if p not in rel.python]:
        t.fail(f"python_linux_x86_64_only {stray[0]!r} is not in its python list")
    arm_default = (rel.pypi_default_aarch64,) if rel.pypi_default_aarch64 else ()
    for v in rel.all_variants + (rel.pypi_default,) + arm_default + rel.cxx11_abi_variants:
        if v != "cpu" and variant_cuda(v) is None:
            t.fail(f"cuda variant {v!r} is not a name like 'cu124'")
    if rel.pypi_default != "cpu" and rel.pypi_default not in rel.all_variants:
        # PyPI's default build is always also on the PyTorch index
        t.fail(f"pypi_default {rel.pypi_default!r} is not among its variants")
    return rel


def _series_key(series: str) -> tuple[int, ...]:
    return tuple(int(x) for x in series.split("."))


def _legacy_torch(series: str, t: Table) -> s.LegacyTorch:
    _check_series(series, t)
    versions = t.strs("releases", required=True)
    for v in versions:
        if series_of(v) != series:
            t.fail(f"release {v!r} is not in series {series!r}")
    default = t.opt_str("pypi_default")
    variants = t.strs("variants", required=True)
    if default is not None and default not in variants:
        t.fail(f"pypi_default {default!r} is not one of its variants")
    return s.LegacyTorch(
        series=series,
        versions=versions,
        python=t.strs("python", required=True),
        variants=variants,
        pypi_default=default,
        index=t.flag("index", False),
        variant_pages=t.flag("variant_pages", False),
        source=t.source(),
    )


def _toolkit(t: Table) -> s.ToolkitDriver:
    version = t.text("version")
    if cuda_tuple(version) is None:
        t.fail(f"version {version!r} is not a CUDA version like '12.4'")
    linux, windows = t.text("linux"), t.opt_str("windows")
    for d in (linux, windows):
        if d is not None and driver_tuple(d) is None:
            t.fail(f"driver {d!r} is not a driver version")
    return s.ToolkitDriver(
        version=version,
        release=t.text("release"),
        linux=linux,
        windows=windows,
        verified=t.flag("verified", True),
        source=t.source(),
    )


def _minor_compat(major: str, t: Table) -> s.MinorCompat:
    if not major.isdigit():
        t.fail('key should be a CUDA major like "12"')
    return s.MinorCompat(
        major=int(major),
        linux=t.text("linux"),
        windows=t.text("windows"),
        upper=t.opt_str("upper"),
        note=t.opt_str("note"),
        source=t.source(),
    )


def _arch(t: Table) -> s.ArchEntry:
    entry = s.ArchEntry(
        torch=str(t.spec("torch")),
        variant=t.text("variant"),
        machine=t.opt_str("machine") or "x86_64",
        sass=tuple(t.cc("sass", c) for c in t.strs("sass", required=True)),
        ptx=tuple(t.cc("ptx", c) for c in t.strs("ptx")),
        ptx_linux_only=t.flag("ptx_linux_only", False),
        verified=t.flag("verified", True),
        note=t.opt_str("note"),
        source=t.source(),
    )
    if entry.machine not in ("x86_64", "aarch64"):
        t.fail(f"machine {entry.machine!r} should be x86_64 or aarch64")
    return entry


def _amd_gfx(top: Table) -> dict[str, str]:
    if "amd_gfx" not in top.data:
        return {}
    t = top.sub("amd_gfx", "amd_gfx")
    t.source()
    table = t.sub("gfx")
    for name, value in table.data.items():
        table.seen.add(name)
        if not isinstance(value, str) or not re.fullmatch(r"gfx[0-9a-f]{3,4}", value):
            table.fail(f"{name!r} should map to an LLVM target like 'gfx90a'")
    t.done()
    return dict(table.data)


def _rocm_override(t: Table) -> s.RocmOverride:
    family, runs, value = t.text("family"), t.text("runs"), t.text("value")
    if not re.fullmatch(r"gfx[0-9a-f]{1,4}", family) or not runs.startswith(family):
        t.fail(f"family {family!r} should be a gfx prefix ('gfx103') that runs ({runs!r}) starts with")
    if not re.fullmatch(r"\d+\.\d+\.\d+", value):
        t.fail(f"value {value!r} should be a gfx version such as '10.3.0'")
    return s.RocmOverride(family=family, runs=runs, value=value, source=t.source())


def _rocm_arch(t: Table) -> s.RocmArchEntry:
    gfx = t.strs("gfx", required=True)
    for g in gfx:
        if not re.fullmatch(r"gfx[0-9a-f]{3,4}", g):
            t.fail(f"gfx entry {g!r} should look like 'gfx90a'")
    return s.RocmArchEntry(
        rocm=str(t.spec("rocm")),
        gfx=gfx,
        verified=t.flag("verified", True),
        note=t.opt_str("note"),
        source=t.source(),
    )


def _gpu_table(t: Table) -> s.GpuTable:
    cc_table = t.sub("cc")
    for name in cc_table.data:
        cc_table.seen.add(name)
        value = cc_table.data[name]
        if not isinstance(value, str):
            cc_table.fail(f"{name!r} should map to a string like '8.0'")
        cc_table.cc(repr(name), value)
    return s.GpuTable(name=t.text("name"), cc=dict(cc_table.data), source=t.source())


def _precision(t: Table) -> s.PrecisionInfo:
    return s.PrecisionInfo(
        bf16_min_cc=t.cc("bf16_min_cc", t.text("bf16_min_cc")),
        tf32_min_cc=t.cc("tf32_min_cc", t.text("tf32_min_cc")),
        fp8_min_cc=t.cc("fp8_min_cc", t.text("fp8_min_cc")),
        source=t.source(),
    )


def _nccl_floor(t: Table) -> s.NcclFloor:
    ccs = tuple(t.cc("ccs", c) for c in t.strs("ccs", required=True))
    if not ccs:
        t.fail("ccs is empty")
    return s.NcclFloor(
        ccs=ccs, min_version=t.version("min_version"), note=t.opt_str("note"), source=t.source()
    )


def _p2p_hang(t: Table) -> s.P2pHang:
    pattern = t.text("gpu_name")
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        t.fail(f"gpu_name is not a regular expression: {e}")
    return s.P2pHang(
        gpu_name=compiled,
        fixed_in_driver=t.version("fixed_in_driver"),
        note=t.text("note"),
        source=t.source(),
    )


def _attention(t: Table) -> s.AttentionInfo:
    return s.AttentionInfo(
        flex_attention_min_torch=t.version("flex_attention_min_torch"),
        source=t.source(),
    )


def _xformers(t: Table) -> s.XformersInfo:
    def release(r: Table) -> s.XformersRelease:
        major = r.opt_str("cuda_major")
        if major is not None and not major.isdigit():
            r.fail(f"cuda_major {major!r} should be a number like '12'")
        return s.XformersRelease(
            version=r.version("version"),
            date=r.opt_str("date"),
            torch=str(r.spec("torch")),
            python=str(r.spec("python")),
            abi3=r.flag("abi3", False),
            windows=r.flag("windows", True),
            platform_tag=r.opt_str("platform_tag"),
            built_with_torch=r.opt_str("built_with_torch"),
            built_with_cuda=r.opt_str("built_with_cuda"),
            built_with_nvcc=r.opt_str("built_with_nvcc"),
            built_archs=r.opt_str("built_archs"),
            cuda_major=int(major) if major else None,
            cuda_major_verified=r.flag("cuda_major_verified", True),
            note=r.opt_str("note"),
            index_variants=r.strs("index_variants"),
            source=r.source(),
        )

    def pin(r: Table) -> s.XformersGitPin:
        commit = r.text("commit")
        if not _COMMIT.match(commit):
            r.fail(f"commit {commit!r} must be a full 40-hex commit, never a branch or tag")
        return s.XformersGitPin(
            torch=r.version("torch"),
            commit=commit,
            until=r.opt_str("until"),
            verified=r.flag("verified", True),
            note=r.opt_str("note"),
            source=r.source(),
        )

    info = s.XformersInfo(
        stable_abi_since=t.version("stable_abi_since"),
        index_url=t.text("index_url"),
        source_build=t.text("source_build"),
        source_build_needs=t.opt_str("source_build_needs"),
        note=t.opt_str("note"),
        linux_aarch64=t.flag("linux_aarch64", False),
        linux_aarch64_source=t.opt_str("linux_aarch64_source"),
        source=t.source(),
        releases=_each(t.origin, "xformers.release", t.items("release"), release),
        git_pins=_each(t.origin, "xformers.git_pin", t.items("git_pin", required=False), pin),
    )
    if "{commit}" not in info.source_build:
        t.fail("source_build must contain {commit}")
    known = {r.version for r in info.releases}
    for i, p in enumerate(info.git_pins):
        if p.until and p.until not in known:
            raise MatrixError(f"{t.origin}: xformers.git_pin[{i}]: until {p.until!r} is not a listed release")
    return info


def _flash_attn_3(t: Table) -> s.FlashAttn3Info:
    info = s.FlashAttn3Info(
        distribution=t.text("distribution"),
        module=t.text("module"),
        version=t.version("version"),
        index_url=t.text("index_url"),
        variants=t.strs("variants", required=True),
        min_torch=t.version("min_torch"),
        python=str(t.spec("python")),
        platforms=t.strs("platforms", required=True),
        ccs=tuple(t.cc("ccs", c) for c in t.strs("ccs", required=True)),
        dependencies=t.strs("dependencies"),
        verified=t.flag("verified", True),
        note=t.opt_str("note"),
        source=t.source(),
    )
    if "{variant}" not in info.index_url:
        t.fail("index_url must contain {variant}")
    for v in info.variants:
        if not re.fullmatch(r"cu\d{3}", v):
            t.fail(f"variants: {v!r} should be a CUDA variant like 'cu128'")
    return info


def _flash_attn(t: Table) -> s.FlashAttnInfo:
    def release(r: Table) -> s.FlashAttnRelease:
        versions = tuple(r.version("versions", v) for v in r.strs("versions", required=True))
        cuda = r.strs("cuda", required=True)
        tag = r.text("cuda_tag")
        if tag not in ("major_minor", "major"):
            r.fail(f"cuda_tag {tag!r} should be 'major_minor' or 'major'")
        builds = []
        for i, raw in enumerate(r.items("builds")):
            b = Table(r.origin, f"{r.where}.builds[{i}]", raw)
            torch = b.strs("torch", required=True)
            for mm in torch:
                if not re.fullmatch(r"\d+\.\d+", mm):
                    b.fail(f"torch {mm!r} should be a major.minor like '2.4'")
            bcuda = b.strs("cuda") or cuda
            if not set(bcuda) <= set(cuda):
                b.fail(f"cuda {list(bcuda)} is not a subset of the release's {list(cuda)}")
            abi = b._get("abi", list, True)
            if not abi or not all(isinstance(a, bool) for a in abi):
                b.fail("abi should be a non-empty list of true/false")
            builds.append(s.FlashAttnBuild(torch=torch, cuda=bcuda, abi=tuple(abi)))
            b.done()
        return s.FlashAttnRelease(
            versions=versions,
            python=str(r.spec("python")),
            cuda=cuda,
            cuda_tag=tag,
            builds=tuple(builds),
            verified=r.flag("verified", True),
            note=r.opt_str("note"),
            platforms=r.strs("platforms", required=False) or ("linux_x86_64",),
            source=r.source(),
        )

    info = s.FlashAttnInfo(
        min_cc=t.cc("min_cc", t.text("min_cc")),
        wheel_url=t.text("wheel_url"),
        wheel_filename=t.text("wheel_filename"),
        source_build=t.text("source_build"),
        source_build_needs=t.opt_str("source_build_needs"),
        windows=t.flag("windows", False),
        note=t.opt_str("note"),
        source=t.source(),
        releases=_each(t.origin, "flash_attn.release", t.items("release"), release),
    )
    for placeholder in ("{version}", "{cuda}", "{torch}", "{abi}", "{py}"):
        if placeholder not in info.wheel_filename:
            t.fail(f"wheel_filename must contain {placeholder}")
    return info


def _bitsandbytes(t: Table) -> s.BnbInfo:
    def target(r: Table) -> s.BnbTarget:
        return s.BnbTarget(
            cuda=str(r.spec("cuda")),
            min_cc=r.cc("min_cc", r.text("min_cc")),
            max_cc=r.cc("max_cc", r.text("max_cc")),
            source=r.source(),
        )

    def _rocm_libs(r: Table) -> tuple[str, ...]:
        libs = r.strs("rocm_libs")
        for lib in libs:
            if not re.fullmatch(r"rocm\d{2,4}", lib):
                r.fail(f"rocm_libs entry {lib!r} should look like 'rocm64' (ROCm major and minor digits)")
        return libs

    def release(r: Table) -> s.BnbRelease:
        libs = r.strs("cuda_libs") if "cuda_libs" in r.data else None
        for lib in libs or ():
            if not _BNB_LIB.match(lib):
                r.fail(f"cuda_libs entry {lib!r} should look like 'cuda124', 'cpu' or 'xpu'")
        return s.BnbRelease(
            versions=str(r.spec("versions")),
            date=r.opt_str("date"),
            torch=r.spec("torch", required=False, allow_empty=True),
            python=r.spec("python", required=False),
            cuda_libs=libs,
            rocm_libs=_rocm_libs(r),
            pure_python=r.flag("pure_python", False),
            note=r.opt_str("note"),
            source=r.source(),
        )

    return s.BnbInfo(
        torch_cuda_selection_since=t.version("torch_cuda_selection_since"),
        same_major_fallback_since=(
            t.version("same_major_fallback_since") if t.opt_str("same_major_fallback_since") else None
        ),
        windows_since=t.version("windows_since") if t.opt_str("windows_since") else None,
        min_cc=t.cc("min_cc", t.text("min_cc")),
        min_cc_int8=t.cc("min_cc_int8", t.text("min_cc_int8")),
        note=t.opt_str("note"),
        source=t.source(),
        targets=_each(t.origin, "bitsandbytes.targets", t.items("targets"), target),
        releases=_each(t.origin, "bitsandbytes.release", t.items("release"), release),
    )


def _companion(t: Table) -> s.Companion:
    pairs = t._get("torch_of", dict, True)
    out = []
    for mine, torch in pairs.items():
        if not (
            isinstance(torch, str) and re.fullmatch(r"\d+\.\d+", mine) and re.fullmatch(r"\d+\.\d+", torch)
        ):
            t.fail(f"torch_of {mine!r} = {torch!r}: both should be major.minor versions ('0.21' = '2.6')")
        out.append((mine, torch))
    floor_from = t.opt_str("floor_from")
    return s.Companion(
        package=t.text("package"),
        torch_of=tuple(out),
        floor_from=t.version("floor_from", floor_from) if floor_from else None,
        source=t.source(),
    )


def _fabric_manager(t: Table) -> s.FabricManagerInfo:
    package = t.text("apt_package")
    if "{branch}" not in package:
        t.fail(f"apt_package {package!r} should name the driver's {{branch}}")
    return s.FabricManagerInfo(apt_package=package, service=t.text("service"), source=t.source())


def _shm(t: Table) -> s.ShmInfo:
    mib = t.integer("docker_default_mib")
    if mib <= 0:
        t.fail(f"docker_default_mib {mib} should be a size in MiB")
    return s.ShmInfo(docker_default_mib=mib, source=t.source())


def _cudnn_major(t: Table) -> s.CudnnMajor:
    major = t.integer("major")
    if major < 7:
        t.fail(f"major {major} is not a cuDNN major (7, 8, 9, ...)")
    return s.CudnnMajor(
        package=t.text("package"), versions=str(t.spec("versions")), major=major, source=t.source()
    )


def _package_conflict(t: Table) -> s.PackageConflict:
    when = t._get("when", dict, True)
    pairs = []
    for package, specifier in when.items():
        if not isinstance(specifier, str):
            t.fail(f"when.{package} should be a version specifier string")
        try:
            SpecifierSet(specifier)
        except InvalidSpecifier:
            t.fail(f"when.{package} {specifier!r} is not a valid version specifier")
        pairs.append((str(canonicalize_name(package)), specifier))  # as the snapshot names it
    if len(pairs) < 2:
        t.fail("when should name at least two packages")
    code = t.text("code")
    if not _CODE.match(code):
        t.fail(f"code {code!r} should be kebab-case")
    return s.PackageConflict(
        when=tuple(pairs), code=code, message=t.text("message"), fix=t.text("fix"), source=t.source()
    )


_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _torch_tagged_wheel(t: Table) -> s.TorchTaggedWheel:
    force_build = t.text("force_build")
    if not _ENV_NAME.match(force_build):
        t.fail(f"force_build {force_build!r} should be an environment variable name")
    return s.TorchTaggedWheel(
        package=str(canonicalize_name(t.text("package"))), force_build=force_build, source=t.source()
    )


_MINOR = re.compile(r"^\d+\.\d+$")


_API_NAME = re.compile(r"^[A-Za-z_]\w*(?:\.\w+)*(?:\(\w+\))?$")  # name, module.path, Class(keyword)


def _api_change(t: Table) -> s.ApiChange:
    names = t.strs("names", required=True)
    if not names or not all(_API_NAME.match(n) for n in names):
        t.fail("names should list names, module paths or Class(keyword) forms")
    added, removed, restored = (t.opt_str(k) for k in ("added", "removed", "restored"))
    if added is None and removed is None:
        t.fail("give added, removed or both")
    if restored is not None and removed is None:
        t.fail("restored needs removed")
    for key, value in (("added", added), ("removed", removed), ("restored", restored)):
        if value is not None:
            t.version(key, value)
    if added and removed and parse_version(added) >= parse_version(removed):  # type: ignore[operator]
        t.fail(f"added {added} should be before removed {removed}")
    return s.ApiChange(
        package=t.text("package"),
        names=names,
        added=added,
        removed=removed,
        restored=restored,
        model=t.flag("model", False),
        source=t.source(),
    )


def _torch_bound_release(t: Table) -> s.TorchBoundRelease:
    package, version = t.text("package"), t.text("version")
    if parse_version(version) is None:
        t.fail(f"{package} {version!r} is not a valid version")
    torch = t._get("torch", list, True)
    if not torch or not all(isinstance(v, str) and _MINOR.match(v) for v in torch):
        t.fail('torch should list torch major.minor versions ("2.7")')
    return s.TorchBoundRelease(package=package, version=version, torch=tuple(torch), source=t.source())


def _hf(t: Table) -> s.HfFloor:
    package = t.text("package")
    if package not in _HF_PACKAGES:
        t.fail(f"package {package!r} is not one of {', '.join(_HF_PACKAGES)}")
    return s.HfFloor(
        package=package,
        versions=str(t.spec("versions")),
        torch=str(t.spec("torch", allow_empty=True)),
        torch_declared=t.flag("torch_declared", True),
        torch_extra=t.flag("torch_extra", False),
        runtime_torch_floor=t.flag("runtime_torch_floor", False),
        python=str(t.spec("python")),
        requires=t.strs("requires"),
        note=t.opt_str("note"),
        source=t.source(),
    )


def _transformers(t: Table) -> s.TransformersInfo:
    return s.TransformersInfo(
        packed_sequence_detection_min=t.version("packed_sequence_detection_min"),
        report_to_none_since=t.version("report_to_none_since") if t.opt_str("report_to_none_since") else None,
        note=t.opt_str("note"),
        source=t.source(),
    )


def _error(t: Table) -> s.ErrorPattern:
    entry = s.ErrorPattern(
        id=t.text("id"),
        code=t.text("code"),
        related=t.strs("related"),
        pattern_texts=t.strs("patterns", required=True),
        context_texts=t.strs("context"),
        unless_texts=t.strs("unless"),
        facts_only=t.flag("facts_only", False),
        exact_fix=t.flag("exact_fix", False),
        when=t.strs("when"),
        at_end=t.flag("at_end", False),
        warning=t.flag("warning", False),
        api_names=t.opt_str("api_names"),
        needs_driver_cuda=t.opt_str("needs_driver_cuda"),
        meaning=t.text("meaning"),
        fix=t.text("fix"),
        source=t.source(),
    )
    for code in (entry.code, *entry.related):
        if not _CODE.match(code):
            t.fail(f"code {code!r} should be kebab-case")
    if not entry.pattern_texts:
        t.fail("has no patterns")
    if entry.needs_driver_cuda is not None and not _MINOR.match(entry.needs_driver_cuda):
        t.fail(f'needs_driver_cuda {entry.needs_driver_cuda!r} should be a CUDA major.minor ("12.4")')
    if entry.api_names not in (None, "api", "model"):
        t.fail(f"api_names {entry.api_names!r} should be api or model")
    for fact in entry.when:
        if fact.removeprefix("!") not in s.ERROR_WHEN:
            t.fail(f"when {fact!r} is not a machine fact entries may require ({', '.join(s.ERROR_WHEN)})")
    return entry


def check_error_regexes(m: Matrix) -> None:
    """Compile every regex of the error table; MatrixError names the first that fails.
    (Not part of every load: only ``doctor explain`` uses them.)"""
    for i, e in enumerate(m.errors):
        for key, texts in (
            ("patterns", e.pattern_texts),
            ("context", e.context_texts),
            ("unless", e.unless_texts),
        ):
            for text in texts:
                try:
                    s.compile_error_regex(text)
                except re.error as exc:
                    raise MatrixError(
                        f"{m.errors_origin}: error[{i}]: {key} regex {text!r} does not compile ({exc})"
                    ) from None


# -- whole file -------------------------------------------------------------------------------


def parse_matrix(
    data: dict[str, Any],
    origin: str,
    errors: dict[str, Any] | None = None,
    errors_origin: str = PACKAGED_ERRORS,
) -> Matrix:
    """Build and validate a Matrix from parsed TOML (``errors`` is the parsed errors.toml)."""
    top = Table(origin, "matrix", data)
    version = top.integer("schema_version")
    if version != 1:
        top.fail(f"schema_version {version} is not supported (this loradoc reads 1)")
    sources = top.sub("sources", "sources")
    for key, value in sources.data.items():
        sources.seen.add(key)
        if not isinstance(value, str) or not value.strip():
            sources.fail(f"{key!r} needs a description")
    index = top.sub("torch_index", "torch_index")
    pyg = top.sub("pyg_index", "pyg_index") if "pyg_index" in top.data else None
    if pyg is not None:
        pyg.source()
        if "{torch}" not in pyg.text("url") or "{variant}" not in pyg.text("url"):
            pyg.fail("url should name {torch} and {variant}")
    releases = sorted(_keyed(top, "torch", _torch_release), key=lambda r: _series_key(r.series))
    legacy = sorted(
        _keyed(top, "torch_legacy", _legacy_torch, required=False), key=lambda r: _series_key(r.series)
    )
    if legacy and releases and _series_key(legacy[-1].series) >= _series_key(releases[0].series):
        top.fail(f'torch_legacy."{legacy[-1].series}" is not older than torch."{releases[0].series}"')
    minor = _keyed(top, "minor_compat", _minor_compat)
    rules = top.sub("arch_rules", "arch_rules")
    exact_only = tuple(rules.cc("exact_only", c) for c in rules.strs("exact_only"))
    rules.opt_str("note")
    rules.source()
    first_cuda: dict[str, str] = {}
    if "first_cuda" in rules.data:
        table = rules.sub("first_cuda")
        for cc, cuda in table.data.items():
            table.seen.add(cc)
            if not re.fullmatch(r"\d+\.\d+", cc) or not isinstance(cuda, str) or not cuda_tuple(cuda):
                table.fail(f"{cc!r} should map a compute capability like '8.6' to a CUDA version like '11.1'")
            first_cuda[cc] = cuda
    matrix = Matrix(
        origin=origin,
        schema_version=version,
        collected=top.text("collected"),
        sources=dict(sources.data),
        index_url_pattern=index.text("url"),
        index_packages=index.strs("packages"),
        amd_gfx=_amd_gfx(top),
        rocm_archs=_each(origin, "rocm_archs", top.items("rocm_archs", required=False), _rocm_arch),
        rocm_overrides=_each(
            origin, "rocm_override", top.items("rocm_override", required=False), _rocm_override
        ),
        channel_url_pattern=index.opt_str("channel_url") or "",
        legacy_find_links=index.opt_str("legacy_find_links") or "",
        legacy_variant_page=index.opt_str("legacy_variant_page") or "",
        channels=index.strs("channels"),
        torch=tuple(releases),
        torch_legacy=tuple(legacy),
        toolkits=_each(origin, "cuda_toolkit", top.items("cuda_toolkit"), _toolkit),
        minor_compat=tuple(minor),
        exact_only_ccs=exact_only,
        cc_first_cuda=first_cuda,
        pyg_index_pattern=pyg.text("url") if pyg is not None else "",
        pyg_packages=pyg.strs("packages") if pyg is not None else (),
        archs=_each(origin, "archs", top.items("archs"), _arch),
        gpu_tables=_each(origin, "gpu_table", top.items("gpu_table"), _gpu_table),
        precision=_finish(top.sub("precision", "precision"), _precision),
        nccl_floors=_each(origin, "nccl_floor", top.items("nccl_floor", required=False), _nccl_floor),
        p2p_hangs=_each(origin, "p2p_hang", top.items("p2p_hang", required=False), _p2p_hang),
        attention=_finish(top.sub("attention", "attention"), _attention),
        xformers=_finish(top.sub("xformers", "xformers"), _xformers),
        flash_attn=_finish(top.sub("flash_attn", "flash_attn"), _flash_attn),
        flash_attn_3=_finish(top.sub("flash_attn_3", "flash_attn_3"), _flash_attn_3)
        if "flash_attn_3" in top.data
        else None,
        bitsandbytes=_finish(top.sub("bitsandbytes", "bitsandbytes"), _bitsandbytes),
        hf=_each(origin, "hf", top.items("hf"), _hf),
        companions=_each(origin, "companion", top.items("companion", required=False), _companion),
        cudnn_majors=_each(origin, "cudnn_major", top.items("cudnn_major", required=False), _cudnn_major),
        package_conflicts=_each(
            origin, "package_conflict", top.items("package_conflict", required=False), _package_conflict
        ),
        torch_tagged_wheels=_each(
            origin, "torch_tagged_wheel", top.items("torch_tagged_wheel", required=False), _torch_tagged_wheel
        ),
        torch_bound_releases=_each(
            origin,
            "torch_bound_release",
            top.items("torch_bound_release", required=False),
            _torch_bound_release,
        ),
        api_changes=_each(origin, "api_change", top.items("api_change", required=False), _api_change),
        shm=_finish(top.sub("shm", "shm"), _shm) if "shm" in top.data else None,
        fabric_manager=_finish(top.sub("fabric_manager", "fabric_manager"), _fabric_manager)
        if "fabric_manager" in top.data
        else None,
        transformers=_finish(top.sub("transformers", "transformers"), _transformers),
        errors=_errors(errors, errors_origin),
        errors_origin=errors_origin,
    )
    index.source()
    for t in (index, rules):
        t.done()
    top.done()
    _cross_check(matrix, data)
    return matrix


def _finish(t: Table, build: Callable[[Table], T]) -> T:
    out = build(t)
    t.done()
    return out


def _errors(data: dict[str, Any] | None, where: str) -> tuple[s.ErrorPattern, ...]:
    if data is None:
        return ()
    top = Table(where, "errors", data)
    if top.integer("schema_version") != 1:
        top.fail("schema_version should be 1")
    out = _each(where, "error", top.items("error"), _error)
    top.done()
    return out


def _cross_check(m: Matrix, data: dict[str, Any]) -> None:
    """Facts that refer to each other must agree."""
    origin = m.origin

    def fail(where: str, msg: str) -> None:
        raise MatrixError(f"{origin}: {where}: {msg}")

    for where, text in _all_sources(data):
        for key in _CITED.findall(text):
            if key not in m.sources:
                fail(where, f"source cites [{key}], which [sources] does not define")
    majors = {mc.major for mc in m.minor_compat}
    floors = {t.version for t in m.toolkits}
    for rel in m.torch:
        where = f'torch."{rel.series}"'
        for v in rel.all_variants:
            cuda = variant_cuda(v)
            if cuda not in floors:
                fail(where, f"cuda variant {v!r} has no driver floor")
            t = cuda_tuple(cuda)
            if t is None or t[0] not in majors:
                fail(
                    where,
                    f"cuda variant {v!r} has no minor-compatibility floor for CUDA {t[0] if t else '?'}",
                )
            for version in rel.versions:
                if m.archs_for(version, v) is None:
                    fail(where, f"cuda variant {v!r} of {version} has no [[archs]] entry")
    for legacy in m.torch_legacy:
        for v in legacy.variants:
            if variant_cuda(v) not in floors:
                fail(f'torch_legacy."{legacy.series}"', f"cuda variant {v!r} has no driver floor")
    for i, a in enumerate(m.archs):
        if variant_cuda(a.variant) not in floors:
            fail(f"archs[{i}]", f"cuda variant {a.variant!r} has no driver floor")
    for i, xr in enumerate(m.xformers.releases):
        for v in xr.index_variants:
            if variant_cuda(v) not in floors:
                fail(f"xformers.release[{i}]", f"index variant {v!r} has no driver floor")
    for i, fa in enumerate(m.flash_attn.releases):
        for c in fa.cuda:
            if c not in floors:
                fail(f"flash_attn.release[{i}]", f"cuda {c!r} has no driver floor")
    seen: dict[str, str] = {}
    for table in m.gpu_tables:
        for name in table.cc:
            key = " ".join(name.upper().split())
            if key in seen:
                fail(f"gpu_table {table.name!r}", f"{name!r} is listed twice (also in {seen[key]!r})")
            seen[key] = table.name


def _all_sources(data: Any, where: str = "matrix") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "source" and isinstance(v, str):
                out.append((where, v))
            elif k != "sources":
                out.extend(_all_sources(v, f"{where}.{k}"))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.extend(_all_sources(v, f"{where}[{i}]"))
    return out


def _read_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError(f"{origin}: not valid TOML ({exc})") from None


def _packaged_text(name: str) -> str:
    """A data file of ``loradoc.compat_data``: read straight from its directory when installed
    as files (importlib.resources costs ~20 ms of imports), else through
    ``importlib.resources.files`` (zip installs)."""
    import loradoc.compat_data as data

    here = Path(data.__file__).with_name(name) if data.__file__ else None
    if here is not None and here.is_file():
        return here.read_text(encoding="utf-8")
    from importlib import resources

    return resources.files("loradoc.compat_data").joinpath(name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=8)
def _load_cached(path: str | None, stamp: tuple[int, int] = (0, 0)) -> Matrix:
    if path is None:
        text, err_text = _packaged_text("matrix.toml"), _packaged_text("errors.toml")
        return parse_matrix(
            _read_toml(text, PACKAGED_NAME), PACKAGED_NAME, _read_toml(err_text, PACKAGED_ERRORS)
        )
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MatrixError(f"{p}: cannot read the matrix ({exc.strerror or exc})") from None
    return matrix_from_text(text, p)


def matrix_from_text(text: str, origin: str | Path) -> Matrix:
    """A matrix from its text (an edit not yet written), validated as ``load_matrix`` would."""
    sibling = Path(origin).with_name("errors.toml")
    if sibling.is_file():
        err_origin, err_text = str(sibling), sibling.read_text(encoding="utf-8")
    else:
        err_origin, err_text = PACKAGED_ERRORS, _packaged_text("errors.toml")
    return parse_matrix(
        _read_toml(text, str(origin)), str(origin), _read_toml(err_text, err_origin), err_origin
    )


def load_matrix(path: str | Path | None = None) -> Matrix:
    """The compat matrix, loaded and validated once per path (cached)."""
    if path is None:
        return _load_cached(None)
    try:
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)  # an edited file is read again
    except OSError:
        stamp = (0, 0)
    return _load_cached(str(path), stamp)
