"""The NVIDIA userspace libraries, through ctypes: NVML and libcuda.

- NVML (``libnvidia-ml.so.1``, shipped with the driver): driver version, the
  driver's CUDA version, and every GPU's name, compute capability and memory,
  in a few milliseconds and without spawning nvidia-smi.
- libcuda (``libcuda.so.1``): ``cuDriverGetVersion``, the "max CUDA" that torch
  itself compares against (doctor-anchors §1). It can differ from NVML's when a
  CUDA forward-compatibility package puts a newer libcuda first on the path.

No Python binding (pynvml) is needed. Both calls run in a daemon thread with a
time limit, because driver initialisation can stall (no persistence daemon,
broken containers); a stalled call is abandoned, never waited on.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from loradoc.doctor.snapshot import GPU

_NVML_NAMES = (
    ("nvml.dll",) if os.name == "nt" else ("libnvidia-ml.so.1", "/usr/lib/wsl/lib/libnvidia-ml.so.1")
)
_CUDA_NAMES = ("nvcuda.dll",) if os.name == "nt" else ("libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1")


@dataclass
class NativeResult:
    nvml_driver: str | None = None
    nvml_cuda: str | None = None
    gpus: list[GPU] | None = None  # None: NVML did not answer
    libcuda_cuda: str | None = None
    stalled: bool = False  # the driver did not answer in time: nvidia-smi would stall too
    notes: list[str] = field(default_factory=list)


def cuda_version_string(value: int) -> str | None:
    """``12080`` -> ``"12.8"`` (the driver API encodes 1000*major + 10*minor)."""
    if value <= 0:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def probe_native(timeout: float) -> NativeResult:
    """NVML and libcuda, each bounded by ``timeout`` seconds."""
    import threading

    result = NativeResult()

    def work() -> None:
        _nvml(result)
        _libcuda(result)

    thread = threading.Thread(target=work, name="loradoc-nvml", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return NativeResult(
            stalled=True,
            notes=[
                f"NVML/libcuda did not answer within {timeout:g} s (driver initialisation stalled); skipped"
            ],
        )
    return result


def _load(names: tuple[str, ...]) -> ctypes.CDLL | None:
    for name in names:
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def _nvml(result: NativeResult) -> None:
    nvml = _load(_NVML_NAMES)
    if nvml is None:
        result.notes.append("NVML: libnvidia-ml.so.1 not loadable")
        return

    def err(code: int) -> str:
        try:
            fn = nvml.nvmlErrorString
            fn.restype = ctypes.c_char_p
            text = fn(code)
            return text.decode() if text else f"error {code}"
        except (AttributeError, OSError):
            return f"error {code}"

    try:
        init = getattr(nvml, "nvmlInit_v2", None) or nvml.nvmlInit
        code = init()
    except (AttributeError, OSError) as exc:
        result.notes.append(f"NVML: cannot initialise ({exc})")
        return
    if code != 0:
        result.notes.append(f"NVML: initialisation failed: {err(code)}")
        return
    try:
        buf = ctypes.create_string_buffer(96)
        if nvml.nvmlSystemGetDriverVersion(buf, 96) == 0:
            result.nvml_driver = buf.value.decode() or None
        cuda = ctypes.c_int(0)
        get_cuda = getattr(nvml, "nvmlSystemGetCudaDriverVersion_v2", None) or getattr(
            nvml, "nvmlSystemGetCudaDriverVersion", None
        )
        if get_cuda is not None and get_cuda(ctypes.byref(cuda)) == 0:
            result.nvml_cuda = cuda_version_string(cuda.value)
        result.gpus = _nvml_gpus(nvml, result.notes, err)
    except (AttributeError, OSError) as exc:
        result.notes.append(f"NVML: query failed ({exc})")
    finally:
        with contextlib.suppress(AttributeError, OSError):
            nvml.nvmlShutdown()


class _Memory(ctypes.Structure):
    """``nvmlMemory_t``: bytes."""

    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


def _nvml_gpus(lib: ctypes.CDLL, notes: list[str], err: Callable[[int], str]) -> list[GPU] | None:
    count = ctypes.c_uint(0)
    get_count = getattr(lib, "nvmlDeviceGetCount_v2", None) or lib.nvmlDeviceGetCount
    code = get_count(ctypes.byref(count))
    if code != 0:
        notes.append(f"NVML: cannot count GPUs: {err(code)}")
        return None
    get_handle = getattr(lib, "nvmlDeviceGetHandleByIndex_v2", None) or lib.nvmlDeviceGetHandleByIndex
    gpus: list[GPU] = []
    for index in range(count.value):
        handle = ctypes.c_void_p()
        if get_handle(index, ctypes.byref(handle)) != 0:
            notes.append(f"NVML: GPU {index} did not answer")
            gpus.append(GPU(index=index, vendor="nvidia"))
            continue
        gpu = GPU(index=index, vendor="nvidia")
        name = ctypes.create_string_buffer(96)
        if lib.nvmlDeviceGetName(handle, name, 96) == 0:
            gpu.name = name.value.decode("utf-8", "replace") or None
        major, minor = ctypes.c_int(0), ctypes.c_int(0)
        if lib.nvmlDeviceGetCudaComputeCapability(handle, ctypes.byref(major), ctypes.byref(minor)) == 0:
            gpu.compute_capability = f"{major.value}.{minor.value}"
        mem = _Memory()
        if lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(mem)) == 0:
            gpu.memory_mib = int(mem.total // (1024 * 1024))
        gpus.append(gpu)
    return gpus


def _libcuda(result: NativeResult) -> None:
    lib = _load(_CUDA_NAMES)
    if lib is None:
        result.notes.append("libcuda.so.1 not loadable")
        return
    version = ctypes.c_int(0)
    try:
        code = lib.cuDriverGetVersion(ctypes.byref(version))
    except (AttributeError, OSError) as exc:
        result.notes.append(f"libcuda: cuDriverGetVersion unavailable ({exc})")
        return
    if code != 0:
        result.notes.append(f"libcuda: cuDriverGetVersion failed (CUresult {code})")
        return
    result.libcuda_cuda = cuda_version_string(version.value)
