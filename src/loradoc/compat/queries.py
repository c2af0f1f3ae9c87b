"""Questions other code asks the compat matrix.

``Matrix`` is the loaded data (``schema.MatrixData``) plus query methods. Every answer comes
from the data: no version number is written here. Versions may carry a local tag
(``"2.5.1+cu124"``); ``os`` is ``"linux"``, ``"windows"`` or ``"darwin"`` (any case, and
``platform.system()`` spellings work too); ``machine`` is ``"x86_64"`` or ``"aarch64"``.
Unknown inputs give ``None`` (or an empty list), never an exception.

The package-level queries (xformers, flash-attn, bitsandbytes, Hugging Face floors) live in
``queries_packages.py`` and are mixed in here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from loradoc.compat.queries_packages import PackageQueries
from loradoc.compat.schema import (
    ArchEntry,
    LegacyTorch,
    MatrixData,
    MinorCompat,
    NcclFloor,
    P2pHang,
    RocmArchEntry,
    RocmOverride,
    TorchRelease,
    XformersRelease,
)
from loradoc.compat.versions import (
    cc_tuple,
    cuda_str,
    cuda_tuple,
    driver_at_least,
    local_tag,
    parse_version,
    public,
    python_mm,
    series,
    variant_cuda,
)


@functools.lru_cache(maxsize=512)
def spec(text: str) -> SpecifierSet:
    """A cached SpecifierSet; an invalid one matches nothing."""
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        return SpecifierSet("<0")


def spec_contains(text: str, version: str | Version | None) -> bool:
    """Whether ``version`` (its public part) satisfies the specifier ``text`` ("" = anything)."""
    if version is None:
        return False
    v = version if isinstance(version, Version) else parse_version(version)
    if v is None:
        return False
    return not text or spec(text).contains(Version(v.public), prereleases=True)


def norm_os(os_name: str | None) -> str | None:
    """``"Linux"`` -> ``"linux"``; ``"win32"``/``"Windows"`` -> ``"windows"``; macOS -> ``"darwin"``."""
    if not os_name:
        return None
    text = os_name.strip().lower()
    if text.startswith("win"):
        return "windows"
    if text in ("darwin", "macos", "mac", "osx"):
        return "darwin"
    if text.startswith("linux"):
        return "linux"
    return text


def norm_machine(machine: str | None) -> str:
    text = (machine or "x86_64").strip().lower()
    return "aarch64" if text in ("aarch64", "arm64") else "x86_64"


@dataclass(frozen=True)
class Coverage:
    """Whether a driver runs a CUDA runtime: ``ok`` None when the driver is unknown."""

    ok: bool | None
    via_minor_compat: bool = False
    basis: str | None = None  # "driver" or "cuda_max"


_WORD_GLUE = re.compile(r"\b(RTX|GTX)(\d)")
_SUFFIX_GLUE = re.compile(r"\b(\d{3,4})(TI|SUPER|D|S)\b")  # "1080TI", "4090D", "2080S": as users write them
# A GeForce model number (GTX 1050 .. RTX 5090) names one card without its RTX/GTX prefix
_GEFORCE_NUMBER = re.compile(r"(?:10|16|20|30|40|50)\d0")
# An Ampere workstation model (RTX A6000) is as often written without "RTX"
_RTX_A_NUMBER = re.compile(r"A\d{4}")


def gpu_name_tokens(name: str) -> tuple[str, ...]:
    """``"NVIDIA GeForce RTX4090"`` -> ``("NVIDIA", "GEFORCE", "RTX", "4090")``."""
    text = re.sub(r"[-_/,()]", " ", name.upper())
    return tuple(_SUFFIX_GLUE.sub(r"\1 \2", _WORD_GLUE.sub(r"\1 \2", text)).split())


class Matrix(MatrixData, PackageQueries):
    """The compat matrix with its queries. Build it with ``loradoc.compat.load_matrix()``."""

    # -- torch releases ------------------------------------------------------------------------
    def torch_release(self, version: str | None) -> TorchRelease | None:
        """The release series ("2.5") a torch version belongs to, or None if unknown."""
        key = series(version)
        return next((r for r in self.torch if r.series == key), None)

    def windows_dll_fixed_in(self, version: str | None) -> str | None:
        """For a release whose Windows wheels need a DLL Windows may lack (``windows_missing_dll``),
        the next patch release of its series that does not; else None."""
        rel, want = self.torch_release(version), public(version)
        patches = list(rel.releases) if rel is not None else []
        at = next((i for i, p in enumerate(patches) if p.version == want and p.windows_missing_dll), None)
        if at is None:
            return None
        return next((p.version for p in patches[at + 1 :] if not p.windows_missing_dll), None)

    def legacy_torch(self, version: str | None) -> LegacyTorch | None:
        """The series of a torch older than the releases loradoc installs, or None. Its facts
        serve diagnosis only: nothing plans an install of it."""
        key = series(version)
        return next((r for r in self.torch_legacy if r.series == key), None)

    def legacy_torch_for_driver(
        self,
        *,
        driver: str | None = None,
        cuda_max: str | None = None,
        os: str | None = "linux",
        python: str | None = None,
    ) -> str | None:
        """For a driver that runs no release loradoc installs: the install command of the newest
        torch 1.x build it runs (on a Python with its wheels, when the Python is known), as the
        previous-versions page installs it; None when none fits or nothing is known."""
        system = norm_os(os) or "linux"
        if system == "darwin" or not (driver or cuda_max):
            return None
        for rel in reversed(self.torch_legacy):
            if python_mm(python) and python_mm(python) not in rel.python:
                continue
            for v in sorted(rel.variants, key=lambda v: cuda_tuple(variant_cuda(v)) or (0, 0), reverse=True):
                if self.coverage(variant_cuda(v), system, driver=driver, cuda_max=cuda_max).ok is not True:
                    continue
                command = self.legacy_install_command(rel.versions[-1], v, system)
                if command:
                    return command
        return None

    def legacy_build_for_cuda(
        self,
        version: str,
        floor: str,
        *,
        os: str | None = "linux",
        driver: str | None = None,
        cuda_max: str | None = None,
    ) -> str | None:
        """The install command of a torch 1.x release's own CUDA build at CUDA ``floor`` or
        later, the lowest such (it runs on the widest range of drivers) that the driver is not
        known to refuse: the smallest change for a GPU the installed build's CUDA predates. None
        when the release has no such build or the matrix does not know how to install it."""
        rel, want = self.legacy_torch(version), cuda_tuple(floor)
        if rel is None or want is None:
            return None
        system = norm_os(os) or "linux"
        for v in sorted(rel.variants, key=lambda v: cuda_tuple(variant_cuda(v)) or (0, 0)):
            have = cuda_tuple(variant_cuda(v))
            if have is None or have < want:
                continue
            if self.coverage(variant_cuda(v), system, driver=driver, cuda_max=cuda_max).ok is False:
                continue
            return self.legacy_install_command(version, v, system)
        return None

    def legacy_install_command(self, version: str, variant: str, os: str | None = "linux") -> str | None:
        """How the previous-versions page installs one torch 1.x CUDA build: PyPI's own on Linux
        when it is that build, else from its variant's index, the find-links page or the
        variant's own page; None when the matrix does not know how."""
        rel = self.legacy_torch(version)
        v = public(version) or version
        if rel is None or variant not in rel.variants:
            return None
        if variant == rel.pypi_default and (norm_os(os) or "linux") == "linux":
            return f"pip install torch=={v}"  # PyPI's Linux wheel is that build
        if rel.index:
            return f"pip install torch=={v}+{variant} --extra-index-url {self.index_url(variant)}"
        if rel.variant_pages:
            page = self.legacy_variant_page.format(variant=variant) if self.legacy_variant_page else None
            return f"pip install torch=={v} -f {page}" if page else None
        return (
            f"pip install torch=={v}+{variant} -f {self.legacy_find_links}"
            if self.legacy_find_links
            else None
        )

    def torch_versions(self) -> list[str]:
        """Every listed torch release, oldest first."""
        return [v for r in self.torch for v in r.versions]

    def latest_torch(self) -> str:
        return self.torch[-1].versions[-1]

    def is_known_torch(self, version: str | None) -> bool:
        """True when this exact release (ignoring the local tag) is listed."""
        rel = self.torch_release(version)
        return bool(rel) and public(version) in rel.versions  # type: ignore[union-attr]

    def variants_for(
        self, torch_version: str | None, *, experimental: bool = True, machine: str | None = None
    ) -> list[str]:
        """CUDA variants on download.pytorch.org for this torch, lowest CUDA first."""
        rel = self.torch_release(torch_version)
        if rel is None:  # a legacy torch's builds are never planned
            return []
        names = rel.all_variants if experimental else rel.variants
        if norm_machine(machine) == "aarch64":
            names = tuple(v for v in names if self.archs_for(torch_version, v, "aarch64"))
        return sorted(names, key=lambda v: cuda_tuple(variant_cuda(v)) or (0, 0))

    def xformers_pypi_cuda_major(self, release: XformersRelease) -> int | None:
        """The CUDA major of xformers ``release``'s PyPI wheel: its build info, else the matrix's
        record of its PyPI upload, else what PyPI's torch of its pinned release was built with."""
        t = cuda_tuple(release.built_with_cuda)
        if t:
            return t[0]
        if release.cuda_major is not None:
            return release.cuda_major
        pinned = [s.version for s in SpecifierSet(release.torch) if s.operator == "=="]
        default = cuda_tuple(variant_cuda(self.default_variant(pinned[0], "linux"))) if pinned else None
        return default[0] if default else None

    def is_experimental(self, torch_version: str | None, variant: str) -> bool:
        rel = self.torch_release(torch_version)
        return bool(rel) and variant in rel.experimental  # type: ignore[union-attr]

    def default_variant(
        self, torch_version: str | None, os: str | None = "linux", machine: str | None = None
    ) -> str | None:
        """What a plain ``pip install torch==X`` from PyPI gets: a CUDA variant on Linux x86_64,
        ``"cpu"`` on Windows and macOS, on Linux aarch64 what the matrix records (``"cpu"`` before
        PyPI carried CUDA builds for it); None when unknown."""
        system = norm_os(os)
        if system in ("windows", "darwin") and public(torch_version):
            return "cpu"  # PyPI has never carried CUDA builds for them, whatever the release
        rel = self.torch_release(torch_version)
        if rel is None:
            legacy = self.legacy_torch(torch_version)
            return legacy.pypi_default if legacy and norm_machine(machine) != "aarch64" else None
        if norm_machine(machine) == "aarch64":
            return rel.pypi_default_aarch64
        return rel.pypi_default

    def index_url(self, variant: str, channel: str = "stable") -> str:
        """``"cu121"`` -> ``https://download.pytorch.org/whl/cu121``; a pre-release ``channel``
        ("nightly", "test") -> ``https://download.pytorch.org/whl/nightly/cu121``."""
        if channel == "stable":
            return self.index_url_pattern.format(variant=variant)
        return self.channel_url_pattern.format(channel=channel, variant=variant)

    def torch_install_command(
        self,
        version: str,
        variant: str,
        *,
        os: str | None = "linux",
        extra: tuple[str, ...] = (),
        force: bool = False,
    ) -> str:
        """The exact pip command for one torch build (``extra``: torchvision etc., unpinned, so
        pip picks the ones matching the pinned torch from the same index; ``force``: reinstall
        what is installed, which pip otherwise keeps when its version satisfies the request)."""
        names = " ".join((f"torch=={public(version) or version}", *extra))
        pip = "pip install --force-reinstall" if force else "pip install"
        if norm_os(os) == "darwin":
            return f"{pip} {names}"
        return f"{pip} {names} --index-url {self.index_url(variant)}"

    def torch_pythons(
        self, torch_version: str | None, os: str | None = None, machine: str | None = None
    ) -> tuple[str, ...]:
        """The CPythons ("3.X") the torch release has wheels for on this OS and machine (x86_64
        where the machine is not known; with the OS not known, on every OS); () for a release the
        matrix does not know."""
        rel = self.torch_release(torch_version) or self.legacy_torch(torch_version)
        if rel is None:
            return ()
        x86 = (machine or "x86_64").lower() in ("x86_64", "amd64")
        if (norm_os(os) == "linux" and x86) or not isinstance(rel, TorchRelease):
            return rel.python
        return tuple(p for p in rel.python if p not in rel.python_linux_x86_64_only)

    def python_supported(
        self, torch_version: str | None, python: str | None, os: str | None = None, machine: str | None = None
    ) -> bool | None:
        """Whether the torch release has a wheel for this CPython on this OS and machine (as
        ``torch_pythons`` reads them); None if the release or the Python is unknown."""
        mm = python_mm(python)
        pythons = self.torch_pythons(torch_version, os, machine)
        return mm in pythons if pythons and mm is not None else None

    def torch_cxx11_abi(self, torch_version: str | None, variant: str | None = None) -> bool | None:
        """The C++ ABI of the Linux build (``torch._C._GLIBCXX_USE_CXX11_ABI``)."""
        rel = self.torch_release(torch_version)
        if rel is None:
            return None
        variant = variant or local_tag(torch_version)
        if variant and variant in rel.cxx11_abi_variants:
            return not rel.cxx11_abi
        return rel.cxx11_abi

    def glibc_floor(self, torch_version: str | None) -> str | None:
        rel = self.torch_release(torch_version)
        return rel.glibc if rel else None

    def torch_variant_of(
        self,
        version: str | None,
        *,
        cuda: str | None = None,
        hip: str | None = None,
        os: str | None = None,
        machine: str | None = None,
        complete: bool = False,
    ) -> tuple[str | None, bool]:
        """The build variant of an installed torch and whether it was inferred.

        Order: ``torch.version.cuda`` (``cuda``), the local tag (``+cu124``, ``+cpu``), ROCm
        (``hip``), then PyPI's default for the platform (inferred). ``complete`` means the
        probe read ``torch/version.py``, so a missing ``cuda`` there means a CPU build. Another
        local tag (NVIDIA's containers and Jetson wheels: ``2.1.0a0+4136153``,
        ``2.5.0a0+872d972e41.nv24.08``) is a build of its own, not PyPI's: unknown (None).
        """
        if cuda:
            t = cuda_tuple(cuda)
            return (f"cu{t[0]}{t[1]}" if t else None), False
        tag = local_tag(version)
        if tag and (tag == "cpu" or variant_cuda(tag) or tag.startswith("rocm")):
            return tag, False
        if hip:
            return "rocm" + str(hip).split("-")[0], False
        if tag and not complete:
            return None, False
        if complete:
            return "cpu", False
        return self.default_variant(version, os or "linux", machine), True

    # -- CUDA and the driver -------------------------------------------------------------------
    def min_driver(self, cuda: str | None, os: str | None = "linux") -> str | None:
        """The driver bundled with CUDA X.Y GA (full compatibility); None when not listed."""
        t = cuda_tuple(cuda)
        if t is None:
            return None
        want = cuda_str(t)
        system = norm_os(os) or "linux"
        for row in self.toolkits:  # GA rows come first for each version
            if row.version == want:
                return row.windows if system == "windows" else row.linux
        return None

    def minor_compat_for(self, cuda_major: int | str | None) -> MinorCompat | None:
        if cuda_major is None:
            return None
        t = cuda_tuple(str(cuda_major))
        major = t[0] if t else None
        return next((mc for mc in self.minor_compat if mc.major == major), None)

    def minor_compat_floor(self, cuda: str | None, os: str | None = "linux") -> str | None:
        """The lowest driver that runs any CUDA X.y runtime with limited features."""
        mc = self.minor_compat_for(cuda)
        if mc is None:
            return None
        return mc.windows if norm_os(os) == "windows" else mc.linux

    def driver_covers(
        self, driver: str | None, cuda: str | None, os: str | None = "linux"
    ) -> tuple[bool, bool]:
        """``(ok, via_minor_compat)``: whether ``driver`` runs a CUDA ``cuda`` runtime, and whether
        only through minor-version compatibility (limited features, no newer PTX JIT)."""
        if not driver or cuda_tuple(cuda) is None:
            return (False, False)
        full = self.min_driver(cuda, os)
        if full and driver_at_least(driver, full):
            return (True, False)
        floor = self.minor_compat_floor(cuda, os)
        if floor and driver_at_least(driver, floor):
            return (True, full is not None)
        return (False, False)

    def cuda_max_covers(self, cuda_max: str | None, cuda: str | None) -> tuple[bool, bool]:
        """The same question from the driver's maximum CUDA (nvidia-smi's "CUDA Version")."""
        have, want = cuda_tuple(cuda_max), cuda_tuple(cuda)
        if have is None or want is None:
            return (False, False)
        if have >= want:
            return (True, False)
        if have[0] == want[0] and self.minor_compat_for(want[0]) is not None:
            return (True, True)
        return (False, False)

    def coverage(
        self,
        cuda: str | None,
        os: str | None = "linux",
        *,
        driver: str | None = None,
        cuda_max: str | None = None,
    ) -> Coverage:
        """Driver coverage from whatever is known (the driver version wins over its max CUDA). A
        CUDA older than every toolkit the matrix lists is covered by a driver that runs the oldest
        listed one (drivers run every older CUDA), and unknown below that."""
        if driver:
            want, oldest = cuda_tuple(cuda), self._oldest_toolkit(os)
            if want is not None and oldest is not None and want < oldest[0]:
                return (
                    Coverage(True, False, "driver") if driver_at_least(driver, oldest[1]) else Coverage(None)
                )
            ok, minor = self.driver_covers(driver, cuda, os)
            return Coverage(ok, minor, "driver")
        if cuda_max:
            ok, minor = self.cuda_max_covers(cuda_max, cuda)
            return Coverage(ok, minor, "cuda_max")
        return Coverage(None)

    def _oldest_toolkit(self, os: str | None) -> tuple[tuple[int, int], str] | None:
        """(CUDA version, driver floor) of the oldest toolkit listed with a floor for ``os``."""
        system = norm_os(os) or "linux"
        rows = [
            (t, floor)
            for row in self.toolkits
            if (t := cuda_tuple(row.version)) is not None
            and (floor := row.windows if system == "windows" else row.linux) is not None
        ]
        return min(rows) if rows else None

    def driver_max_cuda(self, driver: str | None, os: str | None = "linux") -> str | None:
        """The highest CUDA whose bundled driver is at most ``driver`` (an estimate of
        nvidia-smi's "CUDA Version" when only the driver version is known)."""
        if not driver:
            return None
        system = norm_os(os) or "linux"
        best: tuple[int, int] | None = None
        for row in self.toolkits:
            floor = row.windows if system == "windows" else row.linux
            if floor is None:
                mc = self.minor_compat_for(row.version)
                floor = mc.windows if mc and system == "windows" else None
                if floor is None:
                    continue
                t = cuda_tuple(row.version)
                if t and t[1] != 0:  # without a floor per minor, claim only X.0
                    continue
            t = cuda_tuple(row.version)
            if t and driver_at_least(driver, floor) and (best is None or t > best):
                best = t
        return cuda_str(best) if best else None

    # -- GPU architectures ---------------------------------------------------------------------
    def archs_for(
        self, torch_version: str | None, variant: str | None, machine: str | None = None
    ) -> ArchEntry | None:
        """The SASS/PTX list of one torch build, or None when the matrix does not know it."""
        if not torch_version or not variant:
            return None
        arch = norm_machine(machine)
        for entry in self.archs:
            if (
                entry.variant == variant
                and entry.machine == arch
                and spec_contains(entry.torch, torch_version)
            ):
                return entry
        return None

    def nccl_floor(self, cc: str | None) -> NcclFloor | None:
        """The first NCCL release that runs on a GPU of compute capability ``cc``, where the
        matrix records one (None: any release that knows the architecture)."""
        want = cc_tuple(cc)
        return next((f for f in self.nccl_floors if want and want in {cc_tuple(c) for c in f.ccs}), None)

    def p2p_hang(self, gpu_name: str | None) -> P2pHang | None:
        """The matrix's entry for GPUs of this name that have no peer-to-peer access (the name as
        given, else as the GPU table lists it: a bare "4090" is the RTX 4090)."""
        listed = self.gpu_lookup(gpu_name)
        names = [n for n in (gpu_name, listed[0] if listed else None) if n]
        return next((h for h in self.p2p_hangs for n in names if h.gpu_name.search(n)), None)

    def lowest_cuda_without(
        self, ccs: Sequence[str], os: str | None = "linux", machine: str | None = None
    ) -> str | None:
        """The lowest CUDA among the torch builds that carry no kernel image for one of ``ccs``:
        a "no kernel image" error proves the driver initialised such a build, so it runs at least
        that CUDA's major (minor-version compatibility). None when every build covers them."""
        arch = norm_machine(machine)
        lowest: tuple[int, int] | None = None
        for entry in self.archs:
            cuda = cuda_tuple(variant_cuda(entry.variant))
            if entry.machine != arch or cuda is None:
                continue
            if any(self.arch_support(entry, cc, os) is None for cc in ccs) and (
                lowest is None or cuda < lowest
            ):
                lowest = cuda
        return cuda_str(lowest) if lowest else None

    def arch_support(self, entry: ArchEntry, cc: str | None, os: str | None = "linux") -> str | None:
        """How a build runs on a GPU of compute capability ``cc``: ``"sass"`` (native code),
        ``"ptx"`` (JIT-compiled at first use), or None (no kernel image)."""
        dev = cc_tuple(cc)
        if dev is None:
            return None
        dev_exact = cc_tuple(cc) in {cc_tuple(c) for c in self.exact_only_ccs}
        for code in entry.sass:
            t = cc_tuple(code)
            if t == dev:
                return "sass"
            if t is None or dev_exact or code in self.exact_only_ccs:
                continue
            if t[0] == dev[0] and t[1] <= dev[1]:
                return "sass"
        ptx_shipped = entry.ptx and not (entry.ptx_linux_only and norm_os(os) == "windows")
        if ptx_shipped and any((cc_tuple(p) or (99, 9)) <= dev for p in entry.ptx):
            return "ptx"
        return None

    @functools.cached_property
    def _gpu_keys(self) -> tuple[tuple[tuple[str, ...], str, str], ...]:
        keys = [
            (gpu_name_tokens(name), cc, name) for table in self.gpu_tables for name, cc in table.cc.items()
        ]
        return tuple(sorted(keys, key=lambda k: (-len(k[0]), -len(" ".join(k[0])))))

    @functools.cached_property
    def _amd_keys(self) -> tuple[tuple[tuple[str, ...], str], ...]:
        keys = [(gpu_name_tokens(name), gfx) for name, gfx in self.amd_gfx.items()]
        return tuple(sorted(keys, key=lambda k: (-len(k[0]), -len(" ".join(k[0])))))

    def amd_gfx_of(self, name: str | None) -> str | None:
        """The LLVM target of an AMD GPU from its product name ("AMD Instinct MI250X/MI250" -> "gfx90a")."""
        if not name:
            return None
        tokens = gpu_name_tokens(name)
        for key, gfx in self._amd_keys:
            n = len(key)
            if any(tokens[i : i + n] == key for i in range(len(tokens) - n + 1)):
                return gfx
        return None

    def rocm_override_for(
        self, targets: Iterable[str], built: Iterable[str] | None = None
    ) -> RocmOverride | None:
        """The override under which every one of ``targets`` (gfx names) runs one family member's
        kernels, when the build carries that member (``built``; None: not known)."""
        wanted = set(targets)
        for o in self.rocm_overrides:
            if wanted and all(g.startswith(o.family) for g in wanted):
                return o if built is None or o.runs in set(built) else None
        return None

    def rocm_archs_for(self, rocm: str | None) -> RocmArchEntry | None:
        """The gfx targets of torch's ROCm wheels built with ROCm ``rocm`` ("6.4"), or None."""
        if not rocm:
            return None
        return next((e for e in self.rocm_archs if spec_contains(e.rocm, rocm)), None)

    def pyg_wheel_page(self, torch_version: str, variant: str) -> str | None:
        """PyG's wheel page for one torch build ("2.4.0", "cu121"), for its compiled companions."""
        if not self.pyg_index_pattern:
            return None
        return self.pyg_index_pattern.format(torch=public(torch_version) or torch_version, variant=variant)

    def first_cuda(self, cc: str | None) -> str | None:
        """The first CUDA toolkit that compiles for compute capability ``cc`` ("8.6" -> "11.1")."""
        return self.cc_first_cuda.get(cc) if cc else None

    def gpu_cc(self, name: str | None) -> str | None:
        """Compute capability from a GPU's product name ("NVIDIA A100-SXM4-80GB" -> "8.0").
        Whole words must match; the longest listed name wins."""
        match = self.gpu_lookup(name)
        return match[1] if match else None

    def gpu_lookup(self, name: str | None) -> tuple[str, str] | None:
        """``(table name, compute capability)`` for a GPU's product name, or None."""
        if not name:
            return None
        tokens = gpu_name_tokens(name)
        for keys in (self._gpu_keys, self._geforce_numbers, self._quadro_short):
            for key, cc, listed in keys:
                n = len(key)
                if any(tokens[i : i + n] == key for i in range(len(tokens) - n + 1)):
                    return (listed, cc)
        return None

    @functools.cached_property
    def _quadro_short(self) -> tuple[tuple[tuple[str, ...], str, str], ...]:
        """Quadro names without "Quadro" ("RTX 8000", "GV100"), tried last, where no other listed
        name begins the same way ("RTX 6000" is also the start of "RTX 6000 Ada": left unresolved)."""
        others = [key for key, _, _ in self._gpu_keys if key[0] != "QUADRO"]
        return tuple(
            (key[1:], cc, listed)
            for key, cc, listed in self._gpu_keys
            if key[0] == "QUADRO"
            and len(key) > 1
            and not any(other[: len(key) - 1] == key[1:] for other in others)
        )

    @functools.cached_property
    def _geforce_numbers(self) -> tuple[tuple[tuple[str, ...], str, str], ...]:
        """GeForce names without their RTX/GTX prefix ("3090", "1080 TI"), and the RTX A
        workstation cards without "RTX" ("A6000"), tried after the full names: a bug report often
        gives just the model number."""
        return tuple(
            (key[1:], cc, listed)
            for key, cc, listed in self._gpu_keys
            if key[0] in ("RTX", "GTX")
            and len(key) > 1
            and (_GEFORCE_NUMBER.fullmatch(key[1]) or _RTX_A_NUMBER.fullmatch(key[1]))
        )
