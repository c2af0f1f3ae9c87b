"""Typed, frozen records for the compat matrix (``compat/matrix.toml``, ``compat/errors.toml``).

The loader (``load.py``) builds these once and validates them; the queries (``queries.py``)
answer questions about them. Field meanings are documented in ``compat/README.md``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TorchPatch:
    version: str
    date: str | None = None
    # a DLL the Windows wheels need but Windows may lack (2.4.0's fbgemm.dll: libomp140.x86_64.dll)
    windows_missing_dll: str | None = None


@dataclass(frozen=True)
class TorchRelease:
    """One torch minor series ("2.5") and the facts shared by its patch releases."""

    series: str
    releases: tuple[TorchPatch, ...]
    requires_python: str
    python: tuple[str, ...]  # CPython "3.X" with a Linux x86_64 wheel
    variants: tuple[str, ...]  # stable CUDA variants on download.pytorch.org
    pypi_default: str  # the variant a plain `pip install torch==X` gets on Linux x86_64
    platform_tag: str
    glibc: str
    cxx11_abi: bool
    source: str
    experimental: tuple[str, ...] = ()
    free_threaded: tuple[str, ...] = ()
    # of `python`, those with a Linux x86_64 wheel only (2.5's cp313: none for Windows, macOS or
    # Linux aarch64)
    python_linux_x86_64_only: tuple[str, ...] = ()
    variants_verified: bool = True
    pypi_default_detail: str | None = None
    rocm: str | None = None
    cxx11_abi_variants: tuple[str, ...] = ()  # variants whose ABI differs from `cxx11_abi`
    macos_x86_64: bool = False
    aarch64_platform_tag: str | None = None
    # what a plain `pip install torch==X` gets on Linux aarch64: "cpu" until PyPI carried CUDA
    # builds for it, a CUDA variant after; None when the matrix does not say
    pypi_default_aarch64: str | None = None
    note: str | None = None

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(p.version for p in self.releases)

    @property
    def all_variants(self) -> tuple[str, ...]:
        return self.variants + self.experimental


@dataclass(frozen=True)
class LegacyTorch:
    """A torch minor series older than the releases loradoc installs ("1.13"): known so that the
    doctor can judge an environment that still has it (the CUDA build a plain ``pip install``
    got, its Pythons and CUDA builds), never planned for an install."""

    series: str
    versions: tuple[str, ...]
    python: tuple[str, ...]  # CPython "3.X" with a Linux x86_64 wheel on PyPI
    variants: tuple[str, ...]  # CUDA builds on download.pytorch.org, lowest first
    source: str
    pypi_default: str | None = None  # the CUDA build of PyPI's Linux x86_64 wheel; None when unknown
    index: bool = False  # its CUDA builds install from download.pytorch.org/whl/<variant>, not -f
    variant_pages: bool = False  # its CUDA builds sit untagged on each variant's own wheel page


@dataclass(frozen=True)
class ToolkitDriver:
    """CUDA toolkit release -> the driver bundled with it (full compatibility)."""

    version: str  # "12.4"
    release: str  # "GA", "U1"
    linux: str
    source: str
    windows: str | None = None
    verified: bool = True


@dataclass(frozen=True)
class MinorCompat:
    major: int
    linux: str
    windows: str
    source: str
    upper: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class ArchEntry:
    """SASS/PTX compute capabilities of the torch builds `torch` (a specifier) x `variant`."""

    torch: str
    variant: str
    sass: tuple[str, ...]
    source: str
    machine: str = "x86_64"
    ptx: tuple[str, ...] = ()
    ptx_linux_only: bool = False
    verified: bool = True
    note: str | None = None


@dataclass(frozen=True)
class RocmOverride:
    """A family of AMD gfx targets whose cards run one member's kernels through
    ``HSA_OVERRIDE_GFX_VERSION`` (not supported by AMD)."""

    family: str  # gfx target prefix: "gfx103"
    runs: str  # the target whose kernels they run: "gfx1030"
    value: str  # HSA_OVERRIDE_GFX_VERSION: "10.3.0"
    source: str


@dataclass(frozen=True)
class RocmArchEntry:
    """The gfx targets in torch's ROCm wheels for a range of ROCm versions."""

    rocm: str  # specifier on the ROCm version
    gfx: tuple[str, ...]
    source: str
    verified: bool = True
    note: str | None = None


@dataclass(frozen=True)
class GpuTable:
    name: str
    cc: Mapping[str, str]
    source: str


@dataclass(frozen=True)
class PrecisionInfo:
    bf16_min_cc: str
    tf32_min_cc: str
    fp8_min_cc: str
    source: str


@dataclass(frozen=True)
class AttentionInfo:
    flex_attention_min_torch: str  # first torch release with torch.nn.attention.flex_attention
    source: str


@dataclass(frozen=True)
class XformersRelease:
    version: str
    torch: str  # specifier: "==2.1.0" or ">=2.10"
    python: str  # specifier
    source: str
    date: str | None = None
    abi3: bool = False
    windows: bool = True
    platform_tag: str | None = None
    built_with_torch: str | None = None
    built_with_cuda: str | None = None
    built_with_nvcc: str | None = None
    built_archs: str | None = None
    cuda_major: int | None = None
    cuda_major_verified: bool = True
    note: str | None = None
    index_variants: tuple[str, ...] = ()  # download.pytorch.org/whl/<variant> folders with its wheels


@dataclass(frozen=True)
class XformersGitPin:
    torch: str
    commit: str
    source: str
    until: str | None = None
    verified: bool = True
    note: str | None = None


@dataclass(frozen=True)
class XformersInfo:
    stable_abi_since: str
    index_url: str
    source_build: str
    source: str
    releases: tuple[XformersRelease, ...]
    git_pins: tuple[XformersGitPin, ...] = ()
    source_build_needs: str | None = None
    note: str | None = None
    # wheels for Linux aarch64 (GH200, GB200, Jetson): none on PyPI or download.pytorch.org so far
    linux_aarch64: bool = False
    linux_aarch64_source: str | None = None


@dataclass(frozen=True)
class FlashAttnBuild:
    torch: tuple[str, ...]  # torch major.minor
    cuda: tuple[str, ...]  # CUDA the wheels were built with
    abi: tuple[bool, ...]


@dataclass(frozen=True)
class FlashAttnRelease:
    versions: tuple[str, ...]
    python: str
    cuda: tuple[str, ...]
    cuda_tag: str  # "major_minor" (cu122) or "major" (cu12)
    builds: tuple[FlashAttnBuild, ...]
    source: str
    verified: bool = True
    note: str | None = None
    platforms: tuple[str, ...] = ("linux_x86_64",)  # wheel platform tags its release assets carry


@dataclass(frozen=True)
class FlashAttnInfo:
    min_cc: str
    wheel_url: str
    wheel_filename: str
    source_build: str
    source: str
    releases: tuple[FlashAttnRelease, ...]
    windows: bool = False
    source_build_needs: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class BnbTarget:
    cuda: str  # specifier on the CUDA version of the library
    min_cc: str
    max_cc: str
    source: str


@dataclass(frozen=True)
class BnbRelease:
    versions: str  # specifier on the bitsandbytes version
    source: str
    date: str | None = None
    torch: str | None = None  # specifier; "" = unversioned; None = not declared
    python: str | None = None
    cuda_libs: tuple[str, ...] | None = None  # None: not known
    rocm_libs: tuple[str, ...] = ()  # "rocm64": the ROCm libraries the wheel ships
    pure_python: bool = False
    note: str | None = None


@dataclass(frozen=True)
class BnbInfo:
    torch_cuda_selection_since: str
    min_cc: str
    min_cc_int8: str
    source: str
    targets: tuple[BnbTarget, ...]
    releases: tuple[BnbRelease, ...]
    note: str | None = None
    same_major_fallback_since: str | None = None  # before it, only the exact CUDA library loads
    windows_since: str | None = None  # the first release with a native Windows (win_amd64) wheel


@dataclass(frozen=True)
class CudnnMajor:
    """The cuDNN major one package's releases link (torch's CUDA wheels, CTranslate2)."""

    package: str
    versions: str  # specifier on the package's version
    major: int
    source: str


@dataclass(frozen=True)
class PackageConflict:
    """Installed releases of two or more packages that do not work together (each ``when`` entry a
    package and a specifier on its version), the finding it is and the fix."""

    when: tuple[tuple[str, str], ...]
    code: str
    message: str
    fix: str
    source: str


@dataclass(frozen=True)
class TorchTaggedWheel:
    """An extension whose release wheels carry in their local version tag the torch they were
    built against (``1.0.2+cu122torch2.1cxx11abiTRUE``: CUDA, torch major.minor, C++ ABI), and
    the environment variable that makes its setup.py build from source instead."""

    package: str
    force_build: str
    source: str


@dataclass(frozen=True)
class TorchBoundRelease:
    """A release of a package whose compiled parts are built for given torch minors (torchao's
    kernels, torchcodec's libraries): under another torch they are skipped or fail to load."""

    package: str  # "torchao", "torchcodec"
    version: str
    torch: tuple[str, ...]  # major.minor
    source: str


@dataclass(frozen=True)
class ApiChange:
    """Names a package of the fine-tuning stack added or removed in one release: classes,
    functions, modules (``transformers.deepspeed``) and keyword arguments (``LoraConfig(use_dora)``)
    that other packages import or pass. A failed import of one says on which side of that release
    the installed package is, so the fix points the right way (upgrade, or pin below)."""

    package: str
    names: tuple[str, ...]
    added: str | None  # the first release that has them (where known)
    removed: str | None  # the first release without them again (where known)
    restored: str | None  # a later release that has them again (a removal undone)
    model: bool  # model classes: a transformers too old for the model, not for another package
    source: str

    @property
    def wants(self) -> str:
        """The requirement the importer needs: the releases that have the names (from the one
        that added them, below the one that removed them; from the one that restored them)."""
        if self.restored:
            return f"{self.package}>={self.restored}"
        bounds = ([f">={self.added}"] if self.added else []) + ([f"<{self.removed}"] if self.removed else [])
        return self.package + ",".join(bounds)


@dataclass(frozen=True)
class Companion:
    """A package released in step with torch (torchvision, torchaudio): each minor is built for one
    torch minor. Before ``floor_from`` its wheels pin that torch release exactly; from it on they
    ask only for a floor (or nothing), so pip may keep one next to an older torch."""

    package: str
    torch_of: tuple[tuple[str, str], ...]  # (its major.minor, torch's major.minor)
    source: str
    floor_from: str | None = None


@dataclass(frozen=True)
class HfFloor:
    package: str
    versions: str  # specifier on the package version
    torch: str  # specifier on torch; "" = unversioned (or undeclared, see torch_declared)
    python: str
    source: str
    torch_declared: bool = True  # False: the package's metadata names no torch requirement at all
    torch_extra: bool = False
    runtime_torch_floor: bool = False
    requires: tuple[str, ...] = ()
    note: str | None = None


@functools.cache
def compile_error_regex(text: str) -> re.Pattern[str]:
    """An error-table regex, compiled once per process. Unbounded: the table's 870 distinct texts
    outgrew both a 256-entry cache and ``re``'s own 512, and every ``doctor explain`` compiled the
    whole table twice (0.9 s of 6.5 s on the 100 MB bench log)."""
    return re.compile(text)


@dataclass(frozen=True)
class TransformersInfo:
    """transformers features the training relies on, by the first release that has them."""

    packed_sequence_detection_min: str  # masking_utils.find_packed_sequence_indices
    source: str
    note: str | None = None
    report_to_none_since: str | None = None  # before it, report_to unset means every installed tracker


# Machine facts an error entry may require (``when``; ``"!name"``: the fact is not known to
# hold): a line whose cause is certain only on such a machine.
ERROR_WHEN = (
    "wsl",
    "in_container",
    "bare_metal",
    "darwin",
    "windows",
    "aarch64",
    "torch_installed",
    "nvidia_gpu",
    "no_nvidia_gpu",
)


@dataclass(frozen=True)
class ErrorPattern:
    """One canonical error of errors.toml. Its regexes are kept as text and compiled on first
    use (only ``doctor explain`` needs them; compiling all of them costs ~30 ms); the loader
    checks they compile in ``load.check_error_regexes``, which ``doctor explain`` runs first."""

    id: str
    code: str
    pattern_texts: tuple[str, ...]
    meaning: str
    fix: str
    source: str
    related: tuple[str, ...] = ()
    context_texts: tuple[str, ...] = ()
    unless_texts: tuple[str, ...] = ()
    facts_only: bool = False  # a line that only states facts: answered only when a rule confirms
    exact_fix: bool = False  # the entry's fix is the answer as it stands: no fix is computed for its code
    when: tuple[str, ...] = ()  # machine facts that must (or, as "!name", must not) hold (ERROR_WHEN)
    at_end: bool = False  # the patterns match the log's last line only: where a stalled run stopped
    warning: bool = False  # a warning the program printed and went on from: it suggests the cause
    # "api" or "model": a match counts only for a name the matrix's [[api_change]] rows know (of
    # model classes, for "model"); the patterns capture name (and package, keyword where stated)
    api_names: str | None = None
    needs_driver_cuda: str | None = None  # the CUDA whose driver the failing call needs (a driver API symbol)

    def applies(self, holds: frozenset[str]) -> bool:
        """Whether the entry applies on a machine where exactly the facts ``holds`` are known true."""
        return all((f[1:] not in holds) if f.startswith("!") else (f in holds) for f in self.when)

    @property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(compile_error_regex(t) for t in self.pattern_texts)

    @property
    def context(self) -> tuple[re.Pattern[str], ...]:
        return tuple(compile_error_regex(t) for t in self.context_texts)

    @property
    def unless(self) -> tuple[re.Pattern[str], ...]:
        return tuple(compile_error_regex(t) for t in self.unless_texts)


@dataclass(frozen=True)
class FlashAttn3Info:
    """FlashAttention-3 (the Hopper kernels of flash-attention's ``hopper/``): wheels on PyTorch's
    index, built against torch's stable ABI, so one wheel serves every torch from ``min_torch``."""

    distribution: str  # pip's name: "flash-attn-3"
    module: str  # what transformers imports: "flash_attn_interface"
    version: str
    index_url: str  # "https://download.pytorch.org/whl/{variant}"
    variants: tuple[str, ...]  # torch CUDA variants whose index has the wheel
    min_torch: str
    python: str
    platforms: tuple[str, ...]
    ccs: tuple[str, ...]  # compute capabilities it is planned for
    dependencies: tuple[str, ...]  # the wheel's requirements besides torch (installed from pip's sources)
    source: str
    verified: bool = True
    note: str | None = None


@dataclass(frozen=True)
class FabricManagerInfo:
    """NVIDIA Fabric Manager, which NVSwitch machines need before CUDA starts."""

    apt_package: str  # "nvidia-fabricmanager-{branch}"
    service: str
    source: str


@dataclass(frozen=True)
class ShmInfo:
    """Shared memory in containers: what docker gives one unless told otherwise."""

    docker_default_mib: int
    source: str


@dataclass(frozen=True)
class NcclFloor:
    ccs: tuple[str, ...]  # compute capabilities this floor applies to, exactly
    min_version: str
    source: str
    note: str | None = None


@dataclass(frozen=True)
class P2pHang:
    """GPUs without peer-to-peer access that drivers before ``fixed_in_driver`` still reported as
    having it: NCCL's P2P transport then hangs or fails between two of them."""

    gpu_name: re.Pattern[str]  # matched against the GPU's name
    fixed_in_driver: str
    note: str
    source: str


@dataclass(frozen=True)
class MatrixData:
    """Everything in the matrix files, typed. `origin` names the file in error messages."""

    origin: str
    schema_version: int
    collected: str
    sources: Mapping[str, str]
    index_url_pattern: str
    index_packages: tuple[str, ...]
    torch: tuple[TorchRelease, ...]  # ascending
    torch_legacy: tuple[LegacyTorch, ...]  # ascending; diagnosis only
    toolkits: tuple[ToolkitDriver, ...]
    minor_compat: tuple[MinorCompat, ...]
    exact_only_ccs: tuple[str, ...]
    archs: tuple[ArchEntry, ...]
    gpu_tables: tuple[GpuTable, ...]
    precision: PrecisionInfo
    attention: AttentionInfo
    xformers: XformersInfo
    flash_attn: FlashAttnInfo
    bitsandbytes: BnbInfo
    hf: tuple[HfFloor, ...]
    companions: tuple[Companion, ...]
    transformers: TransformersInfo
    cudnn_majors: tuple[CudnnMajor, ...] = ()
    package_conflicts: tuple[PackageConflict, ...] = ()
    torch_tagged_wheels: tuple[TorchTaggedWheel, ...] = ()
    torch_bound_releases: tuple[TorchBoundRelease, ...] = ()
    api_changes: tuple[ApiChange, ...] = ()
    shm: ShmInfo | None = None
    fabric_manager: FabricManagerInfo | None = None
    errors: tuple[ErrorPattern, ...] = field(default=())
    errors_origin: str = "compat/errors.toml"
    amd_gfx: Mapping[str, str] = field(default_factory=dict)  # AMD product name -> LLVM target
    rocm_archs: tuple[RocmArchEntry, ...] = ()
    rocm_overrides: tuple[RocmOverride, ...] = ()
    channel_url_pattern: str = ""  # "https://download.pytorch.org/whl/{channel}/{variant}"
    legacy_find_links: str = ""  # the wheel page of torch 1.10 and older (pip install -f)
    legacy_variant_page: str = ""  # ".../whl/{variant}/torch_stable.html" (torch 1.1 and older)
    channels: tuple[str, ...] = ()  # pre-release channels: "test", "nightly"
    flash_attn_3: FlashAttn3Info | None = None
    nccl_floors: tuple[NcclFloor, ...] = ()
    p2p_hangs: tuple[P2pHang, ...] = ()
    cc_first_cuda: Mapping[str, str] = field(default_factory=dict)  # "8.6" -> "11.1" (arch_rules)
    pyg_index_pattern: str = ""  # "https://data.pyg.org/whl/torch-{torch}+{variant}.html"
    pyg_packages: tuple[str, ...] = ()
