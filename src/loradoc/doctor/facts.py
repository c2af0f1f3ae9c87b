"""MachineFacts: what a machine can do, derived once from what was observed and what is known.

``machine_facts(snapshot, matrix)`` is a pure function of the Snapshot (only what the
probe, a saved file or a bug report saw) and the compat Matrix (facts with sources). It
is the one place that decides:

- which GPUs the run can see (``CUDA_VISIBLE_DEVICES`` honoured), each with its compute
  capability and where that came from (the probe, or the matrix's GPU-name table);
- whether the machine has an NVIDIA GPU at all, and whether training runs on one (a CPU
  build of torch on a GPU machine trains on the CPU);
- the lowest compute capability, and what it allows against the matrix's precision
  floors (bf16, tf32, fp8);
- the attention backends that can run, with the reason for each that cannot.

Every consumer reads it: the doctor's rules (through their Context), the install
planner, the training preflight (``--dry-run``, ``--from``) and the live training run,
so a plan made from a snapshot says what the run will do. Unknown stays ``None``: a
partial snapshot from a bug report gives partial facts, never guessed ones.

Light module: no torch import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from loradoc.compat.queries import Matrix, norm_machine, norm_os
from loradoc.compat.schema import PrecisionInfo
from loradoc.compat.versions import cc_at_least, cc_tuple, parse_version, public, python_mm, variant_cuda
from loradoc.config.vocab import ATTN_IMPLEMENTATIONS, FLASH_ATTENTION, VARLEN
from loradoc.doctor.snapshot import GPU, Snapshot

# flash-attn's attn_implementation names and the distributions that provide them.
FLASH_PACKAGES = {"flash_attention_2": "flash-attn", "flash_attention_3": "flash-attn-3"}


@dataclass(frozen=True)
class GpuFact:
    index: int | None
    name: str | None
    vendor: str  # "nvidia" or "amd"
    cc: str | None  # "8.0"; None when neither the probe nor the matrix's table knows it
    cc_source: str  # "probe", "matrix" (looked up by name) or "unknown"
    memory_mib: int | None = None
    gfx: str | None = None  # AMD: the LLVM target ("gfx90a"), probed or looked up by name

    @property
    def label(self) -> str:
        name = self.name or (f"GPU {self.index}" if self.index is not None else "the GPU")
        if self.gfx:
            return f"{name} ({self.gfx})"
        return f"{name} (sm {self.cc})" if self.cc else name


@dataclass(frozen=True)
class TorchFact:
    version: str  # as installed, with local tag
    public: str
    variant: str | None  # "cu124", "cpu", "rocm6.2"; None when unknown
    cuda: str | None  # "12.4"
    inferred: bool  # variant guessed from PyPI's default for the platform
    known_release: bool  # the matrix lists this release
    cxx11_abi: bool | None

    @property
    def label(self) -> str:
        if self.variant and "+" not in self.version:
            return f"{self.version} ({self.variant}{', assumed' if self.inferred else ''})"
        return self.version


@dataclass(frozen=True)
class MachineFacts:
    os: str | None  # "linux", "windows", "darwin"; None when the snapshot does not say
    machine: str  # "x86_64", "aarch64"
    python: str | None
    gpus: tuple[GpuFact, ...]  # visible NVIDIA GPUs
    amd_gpus: tuple[GpuFact, ...]  # visible AMD GPUs
    hidden_gpus: int  # GPUs that CUDA_VISIBLE_DEVICES hides from the run
    has_nvidia_gpu: bool | None  # the machine has an NVIDIA GPU or driver; None when unknown
    driver_version: str | None
    cuda_max: str | None  # the driver's highest CUDA: reported, else estimated from its version
    torch: TorchFact | None
    gpu_training: bool | None  # training runs on a GPU here; None when unknown
    floors: PrecisionInfo  # the matrix's compute-capability floors
    attention: frozenset[str]  # attn_implementation values that can run
    attention_missing: Mapping[str, str]  # the others, each with why not
    packed_masks: bool | None  # the installed transformers masks packed rows per example
    notes: tuple[str, ...] = field(default=())  # looked-up values, unknowns
    cpu_bf16: bool | None = None  # the CPU has bf16 matmul instructions (snapshot.cpu_bf16)
    wsl: bool | None = None  # Linux under WSL: env.wsl, else its kernel named in os_release

    @property
    def os_or_linux(self) -> str:
        return self.os or "linux"

    @property
    def python_mm(self) -> str | None:
        return python_mm(self.python)

    @property
    def ccs(self) -> list[str]:
        return [g.cc for g in self.gpus if g.cc]

    @property
    def device(self) -> str:
        """Where training runs: "cuda" or "cpu" (ROCm builds of torch also say "cuda")."""
        return "cuda" if self.gpu_training else "cpu"

    @property
    def min_cc(self) -> str | None:
        """The lowest compute capability of the training GPUs (a run must suit all of them);
        None on the CPU or when a GPU's capability is unknown."""
        if not self.gpu_training or not self.gpus or any(g.cc is None for g in self.gpus):
            return None
        return min((g.cc for g in self.gpus if g.cc), key=lambda cc: cc_tuple(cc) or (0, 0))

    def supports(self, fmt: str) -> bool | None:
        """Whether every training GPU has ``fmt`` ("bf16", "tf32", "fp8"); False on the CPU,
        None when a GPU's capability is unknown."""
        if self.gpu_training is False:
            return False
        if not self.gpu_training or self.min_cc is None:
            return None
        return cc_at_least(self.min_cc, self.floor(fmt))

    def gpus_below(self, floor: str) -> list[GpuFact]:
        """The visible GPUs whose compute capability is known to be below ``floor``."""
        return [g for g in self.gpus if cc_at_least(g.cc, floor) is False]

    def lacking(self, fmt: str) -> list[GpuFact]:
        """The visible GPUs without ``fmt`` ("bf16", "tf32", "fp8") by the matrix's floors."""
        return self.gpus_below(self.floor(fmt))

    def floor(self, fmt: str) -> str:
        """The matrix's compute-capability floor for ``fmt`` ("bf16", "tf32", "fp8")."""
        floors = {
            "bf16": self.floors.bf16_min_cc,
            "tf32": self.floors.tf32_min_cc,
            "fp8": self.floors.fp8_min_cc,
        }
        return floors[fmt]

    @property
    def where(self) -> str:
        """The training device in words, for messages: "no CUDA GPU", "GPU compute capability 8.0"."""
        if not self.gpu_training:
            return "no CUDA GPU"
        return (
            f"GPU compute capability {self.min_cc}" if self.min_cc else "a GPU of unknown compute capability"
        )


_AMD_NAME = re.compile(r"\b(?:AMD|Radeon|Instinct|MI[1-4]?\d{2}[A-Z]?)\b", re.IGNORECASE)  # MI250X, MI300X


def _vendor_of(name: str | None) -> str:
    """A GPU's vendor where the facts state only its name ("AMD Radeon RX 7900 XTX"): AMD's
    product names carry AMD, Radeon, Instinct or an MI number; NVIDIA's otherwise."""
    return "amd" if name and _AMD_NAME.search(name) else "nvidia"


def machine_facts(snapshot: Snapshot, matrix: Matrix, *, cuda_usable: bool | None = None) -> MachineFacts:
    """Derive the facts of the machine ``snapshot`` describes.

    ``cuda_usable`` is the live answer of the running torch (``torch.cuda.is_available()``)
    when there is one: it overrides what the snapshot implies about training on a GPU.
    """
    notes: list[str] = []
    visible = visible_indices(snapshot)
    nvidia: list[GpuFact] = []
    amd: list[GpuFact] = []
    hidden = 0
    for i, gpu in enumerate(snapshot.gpus or []):
        index = gpu.index if gpu.index is not None else i
        if visible is not None and index not in visible:
            hidden += 1
            continue
        if (gpu.vendor or _vendor_of(gpu.name)).lower() == "amd":
            gfx = gpu.gfx or matrix.amd_gfx_of(gpu.name)
            source = "probe" if gpu.gfx else ("matrix" if gfx else "unknown")
            amd.append(GpuFact(gpu.index, gpu.name, "amd", None, source, gpu.memory_mib, gfx=gfx))
            continue
        nvidia.append(_nvidia_gpu(gpu, matrix, notes))
    if hidden and visible is not None:
        text = snapshot.env.cuda_visible_devices if snapshot.env else None
        notes.append(f"CUDA_VISIBLE_DEVICES={text!r} hides {hidden} of {len(snapshot.gpus or [])} GPU(s)")
    driver = _driver_version(snapshot)
    cuda_max = snapshot.driver.cuda_max if snapshot.driver and snapshot.driver.cuda_max else None
    os_name = norm_os(snapshot.os)
    torch = _torch(snapshot, matrix, os_name)
    has_nvidia = _has_nvidia(snapshot, nvidia, hidden, driver)
    gpu_training = _gpu_training(snapshot, torch, [*nvidia, *amd], visible, driver)
    if cuda_usable is not None:
        gpu_training = cuda_usable
    available, missing = _attention(snapshot, matrix, nvidia, torch, gpu_training)
    return MachineFacts(
        os=os_name,
        machine=norm_machine(snapshot.arch),
        python=snapshot.python,
        gpus=tuple(nvidia),
        amd_gpus=tuple(amd),
        hidden_gpus=hidden,
        has_nvidia_gpu=has_nvidia,
        driver_version=driver,
        cuda_max=cuda_max or matrix.driver_max_cuda(driver, os_name or "linux"),
        torch=torch,
        gpu_training=gpu_training,
        floors=matrix.precision,
        attention=frozenset(available),
        attention_missing=missing,
        packed_masks=_packed_masks(snapshot, matrix),
        notes=tuple(notes),
        cpu_bf16=snapshot.cpu_bf16,
        wsl=_wsl(snapshot),
    )


def _wsl(snapshot: Snapshot) -> bool | None:
    """Under WSL: the probe's answer, else a kernel or distribution that says so in the
    snapshot's ``os_release`` (``... (kernel 5.15.90.1-microsoft-standard-WSL2)``), a fact a
    report often states only that way."""
    if snapshot.env is not None and snapshot.env.wsl is not None:
        return snapshot.env.wsl
    release = (snapshot.os_release or "").lower()
    return True if "microsoft" in release or "wsl" in release else None


def _nvidia_gpu(gpu: GPU, matrix: Matrix, notes: list[str]) -> GpuFact:
    if cc_tuple(gpu.compute_capability):
        return GpuFact(gpu.index, gpu.name, "nvidia", gpu.compute_capability, "probe", gpu.memory_mib)
    cc = matrix.gpu_cc(gpu.name)
    name = gpu.name or f"GPU {gpu.index}"
    if cc:
        notes.append(f"{name}: compute capability {cc} looked up by name in the matrix")
    else:
        notes.append(f"{name}: compute capability unknown (not probed, and not in the matrix's table)")
    return GpuFact(gpu.index, gpu.name, "nvidia", cc, "matrix" if cc else "unknown", gpu.memory_mib)


def visible_indices(snapshot: Snapshot) -> set[int] | None:
    """GPU indices CUDA_VISIBLE_DEVICES selects; None: all, or not decidable from indices.

    As CUDA reads it: the list ends at the first entry that is not a device (so ``-1``
    and the empty string hide every GPU); UUID entries are not resolved here.
    """
    text = snapshot.env.cuda_visible_devices if snapshot.env else None
    if text is None:
        return None
    out: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if part.upper().startswith(("GPU-", "MIG-")):
            return None
        if not part.isdigit():
            break
        out.add(int(part))
    return out


def _driver_version(snapshot: Snapshot) -> str | None:
    d = snapshot.driver
    return (d.version or d.userspace_version or d.kernel_module_version) if d else None


def _has_nvidia(snapshot: Snapshot, visible: list[GpuFact], hidden: int, driver: str | None) -> bool | None:
    """True/False when known; None when the snapshot says nothing about GPUs or a driver."""
    if visible or hidden:
        return True
    if snapshot.gpus is not None:
        others = [g for g in snapshot.gpus if (g.vendor or "nvidia") != "nvidia"]
        return False if not driver or others else None
    if driver or (snapshot.driver and snapshot.driver.cuda_max):
        return True
    return False if snapshot.complete else None


def _gpu_training(
    snapshot: Snapshot,
    torch: TorchFact | None,
    gpus: list[GpuFact],
    visible: set[int] | None,
    driver: str | None,
) -> bool | None:
    pkg = snapshot.package("torch")
    if pkg is not None and pkg.version and pkg.cuda is None and pkg.hip is None and not _gpu_variant(torch):
        return False  # a CPU build of torch trains on the CPU whatever the machine has
    if gpus:
        return True
    if snapshot.gpus is not None or visible is not None:
        return False  # probed and none found, or every GPU hidden
    return None if snapshot.driver is None else bool(driver)


def _gpu_variant(torch: TorchFact | None) -> bool:
    return bool(torch and torch.variant and torch.variant != "cpu" and not torch.inferred)


def _torch(snapshot: Snapshot, matrix: Matrix, os_name: str | None) -> TorchFact | None:
    p = snapshot.package("torch")
    if p is None or not p.version or parse_version(p.version) is None:
        return None
    variant, inferred = matrix.torch_variant_of(
        p.version,
        cuda=p.cuda,
        hip=p.hip,
        os=snapshot.os,
        machine=snapshot.arch,
        complete=snapshot.complete,
    )
    if inferred and (p.installer or "").lower() == "conda":
        # conda's builds say cuda or cpu in their build string, not in the version: not PyPI's
        variant, inferred = None, False
    abi = p.cxx11_abi
    if abi is None and (os_name or "linux") == "linux":
        abi = matrix.torch_cxx11_abi(p.version, variant)
    return TorchFact(
        version=p.version,
        public=public(p.version) or p.version,
        variant=variant,
        cuda=p.cuda or variant_cuda(variant),
        inferred=inferred,
        known_release=matrix.is_known_torch(p.version),
        cxx11_abi=abi,
    )


def _off_hopper(matrix: Matrix, gpus: list[GpuFact]) -> str:
    """Why FlashAttention-3's kernels do not run on these GPUs ('' when they do, or nothing is known)."""
    fa3 = matrix.flash_attn_3
    if fa3 is None:
        return ""
    off = [g.label for g in gpus if matrix.flash_attn_3_runs_on(g.cc) is False]
    archs = ", ".join("sm_" + cc.replace(".", "") for cc in fa3.ccs)
    return f"FlashAttention-3's kernels are built for {archs}, not {', '.join(off)}" if off else ""


def _attention(
    snapshot: Snapshot, matrix: Matrix, gpus: list[GpuFact], torch: TorchFact | None, gpu: bool | None
) -> tuple[set[str], dict[str, str]]:
    """The attn_implementation values that can run, and why each other one cannot."""
    found = {VARLEN, "sdpa", "eager"}
    missing: dict[str, str] = {}
    floor = matrix.flash_attn.min_cc
    too_old = [g.label for g in gpus if matrix.flash_attn_supports_cc(g.cc) is False]
    for impl in FLASH_ATTENTION:
        package = FLASH_PACKAGES[impl]
        if not gpu:
            missing[impl] = "needs a CUDA GPU"
        elif too_old:
            missing[impl] = f"{', '.join(too_old)} is below flash-attn's floor (compute capability {floor})"
        elif impl == "flash_attention_3" and (off := _off_hopper(matrix, gpus)):
            missing[impl] = off
        elif snapshot.package(package) is None:
            missing[impl] = f"{package} is not installed"
        else:
            found.add(impl)
    if not gpu:
        missing["xformers"] = "needs a CUDA GPU"
    elif snapshot.package("xformers") is None:
        missing["xformers"] = "xformers is not installed"
    else:
        found.add("xformers")
    flex_floor = matrix.attention.flex_attention_min_torch
    if torch is not None and _older(torch.public, flex_floor):
        missing["flex_attention"] = f"torch {torch.public} has no flex attention (needs >= {flex_floor})"
    else:
        found.add("flex_attention")
    assert set(found) | set(missing) == set(ATTN_IMPLEMENTATIONS)
    return found, missing


def _older(version: str, floor: str) -> bool:
    """``version`` is a release older than ``floor`` (False when either does not parse)."""
    v, f = parse_version(version), parse_version(floor)
    return v is not None and f is not None and v < f


def _packed_masks(snapshot: Snapshot, matrix: Matrix) -> bool | None:
    """Whether the snapshot's transformers masks packed rows per example (sdpa/eager/flex); the
    first release that does is a matrix fact. None when the version is unknown."""
    pkg = snapshot.package("transformers")
    if pkg is None or not pkg.version:
        return False if snapshot.complete and snapshot.packages is not None else None
    return matrix.transformers_masks_packed_rows(pkg.version)
