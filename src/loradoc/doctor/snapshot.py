"""The Snapshot: the one description of a machine.

Plain data with a schema version; every other field optional. ``probe()`` fills
it on a real machine, a saved JSON file fills it for replay (``--from``), and a
bug report can fill just the few fields it knows (a GPU name, a driver, a torch
version). Everything after the probe is a pure function of
(Snapshot, Matrix, config), so the doctor is testable without a GPU.

Conventions:
- ``None`` means *unknown*. An empty list means *probed, none found*.
- ``complete`` is True only when ``probe()`` wrote the snapshot: then a package
  missing from ``packages`` is known to be absent, not merely unknown.
- Secrets never enter a snapshot: tokens and API keys are recorded as presence
  booleans only.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from loradoc.errors import UserError
from loradoc.typed import Mismatch, build

SCHEMA_VERSION = 1


@dataclass
class GPU:
    index: int | None = None
    name: str | None = None
    compute_capability: str | None = None  # "8.0", as probed (never looked up: see doctor.facts)
    memory_mib: int | None = None
    vendor: str | None = None  # "nvidia", "amd"
    gfx: str | None = None  # AMD: the LLVM target ("gfx90a", "gfx942"), as ROCm names it


@dataclass
class Driver:
    version: str | None = None  # "535.104.05"
    cuda_max: str | None = None  # highest CUDA the driver supports, "12.2"
    source: str | None = None  # where the version was read: sysfs, proc, nvml, nvidia-smi
    kernel_module_version: str | None = None  # /sys/module/nvidia/version or /proc
    userspace_version: str | None = (
        None  # NVML / nvidia-smi; differs from the module after an upgrade without reboot
    )


@dataclass
class Nvcc:
    version: str | None = None  # "12.4"
    path: str | None = None
    cuda_home: str | None = None


@dataclass
class Package:
    """An installed distribution and the build facts read from its files (never by importing it)."""

    version: str | None = None  # full version with local tag, "2.5.1+cu124"
    requires: list[str] = field(default_factory=list)  # Requires-Dist lines that name torch
    cuda: str | None = None  # CUDA the build targets ("12.4"); torch: torch.version.cuda
    hip: str | None = None  # torch ROCm builds
    cxx11_abi: bool | None = None
    built_for_torch: str | None = None  # xformers cpp_lib.json / flash-attn wheel name
    built_for_python: str | None = None
    archs: list[str] = field(default_factory=list)  # CUDA archs the binary carries
    cuda_libs: list[str] = field(default_factory=list)  # bitsandbytes: "cuda121", "cuda124", ...
    wheel: str | None = None  # wheel file name, from direct_url.json
    installer: str | None = None  # "pip", "uv", "conda", from INSTALLER
    location: str | None = None


@dataclass
class AccelerateConfig:
    path: str | None = None
    num_processes: int | None = None
    mixed_precision: str | None = None  # "no", "fp16", "bf16", "fp8"
    distributed_type: str | None = None
    use_cpu: bool | None = None
    gpu_ids: str | None = None


@dataclass
class Environment:
    hf_token: bool | None = None  # presence only
    wandb_api_key: bool | None = None  # presence only (env var or netrc)
    wandb_mode: str | None = None  # WANDB_MODE, if set
    interactive: bool | None = None  # stdin and stdout are a terminal
    cuda_visible_devices: str | None = None
    in_container: bool | None = None
    wsl: bool | None = None  # running under WSL (its GPU driver lives in /usr/lib/wsl/lib)
    shm_mib: int | None = None  # size of /dev/shm (DataLoader workers and NCCL keep buffers there)


@dataclass
class Snapshot:
    schema_version: int = SCHEMA_VERSION
    complete: bool = False
    created: str | None = None  # ISO 8601, UTC
    loradoc_version: str | None = None
    os: str | None = None  # "Linux", "Windows", "Darwin"
    os_release: str | None = None
    arch: str | None = None  # "x86_64", "aarch64"
    python: str | None = None  # "3.11.7"
    python_executable: str | None = None
    in_venv: bool | None = None
    glibc: str | None = None  # "2.36"
    cpu_count: int | None = None
    cpu_bf16: bool | None = None  # the CPU has bf16 matmul instructions (AMX or AVX-512 BF16)
    memory_mib: int | None = None
    driver: Driver | None = None
    gpus: list[GPU] | None = None
    nvcc: Nvcc | None = None
    rocm: bool | None = None
    nccl: str | None = None  # the NCCL a process loaded ("2.25.1"), from its "NCCL version" log line
    packages: dict[str, Package] | None = None  # keys are canonical names: "torch", "flash-attn"
    accelerate_config: AccelerateConfig | None = None
    env: Environment | None = None
    notes: list[str] = field(default_factory=list)  # what the probe could not read, and why

    # -- queries that every rule needs -------------------------------------------------
    def package(self, name: str) -> Package | None:
        if not self.packages:
            return None
        return self.packages.get(canonicalize_name(name))

    # -- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return _prune(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    def save(self, path: str | Path) -> None:
        """Write atomically: a crash never leaves a half-written snapshot."""
        from loradoc.fsutil import write_atomic

        target = Path(path)
        try:
            write_atomic(target, self.to_json())
        except OSError as exc:
            raise UserError(f"{target}: cannot write snapshot ({exc.strerror or exc})") from exc

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "snapshot") -> Snapshot:
        if not isinstance(data, dict):
            raise UserError(f"{source}: a snapshot is a JSON object, got {type(data).__name__}")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise UserError(
                f"{source}: schema_version {version!r} is not supported (this loradoc reads {SCHEMA_VERSION})"
            )
        try:
            snap: Snapshot = build(cls, data)
        except Mismatch as m:
            where = f"{source}: {m.path.lstrip('.')}" if m.path else source
            if m.unknown_field:
                raise UserError(f"{where}: unknown field; use {m.expected}") from None
            got = f", got {m.got}" if m.got else ""
            raise UserError(f"{where}: expected {m.expected}{got}") from None
        if snap.packages:
            snap.packages = {canonicalize_name(k): v for k, v in snap.packages.items()}
        return snap

    @classmethod
    def load(cls, path: str | Path) -> Snapshot:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"{p}: snapshot file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{p}: cannot read snapshot ({exc})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(
                f"{p}:{exc.lineno}: not valid JSON ({exc.msg}); save a snapshot with `loradoc doctor check --save FILE`"
            ) from None
        return cls.from_dict(data, source=str(p))


def _prune(value: Any) -> Any:
    """Drop unknown (None) fields and empty lists so saved snapshots stay short."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _prune(v)
            if v is None or v == [] and k not in ("gpus",):
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value
