"""The NVIDIA driver and GPUs, in layers, without importing torch.

1. The kernel module: ``/sys/module/nvidia/version``, else ``/proc/driver/nvidia/version``.
2. The userspace driver through NVML and libcuda (ctypes; see ``probe_nvml``).
3. ``nvidia-smi --query-gpu=...`` when NVML gave nothing, retried without
   ``compute_cap`` on drivers that reject it (≈470), and the plain banner for the
   driver's maximum CUDA (both the classic ``Driver Version / CUDA Version`` and
   the ≥ 610 ``KMD Version / CUDA UMD Version`` layouts).
4. ``/proc/driver/nvidia/gpus/*/information`` for GPU names when nothing else answered.

A compute capability nobody reported is taken from the matrix's GPU-name table.
Every step is bounded in time; a step that fails leaves a note, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from loradoc.doctor.probe.util import ToolResult, read_text, run_tool, under, which
from loradoc.doctor.snapshot import GPU, Driver

QUERY_FIELDS = ("index", "name", "compute_cap", "memory.total", "driver_version")
QUERY_FIELDS_NO_CC = ("index", "name", "memory.total", "driver_version")

_VERSION = r"(\d+\.\d+(?:\.\d+)?)"
_PROC_VERSION = re.compile(r"Kernel Module.*?\s" + _VERSION + r"\s")
_BANNER_DRIVER = re.compile(r"(?:Driver Version|KMD Version):\s*" + _VERSION)
_BANNER_CUDA = re.compile(r"CUDA (?:UMD )?Version:\s*(\d+\.\d+|N/A)")
_BANNER_SMI = re.compile(r"NVIDIA-SMI\s+" + _VERSION)
_SMI_FALLBACKS = ("/usr/lib/wsl/lib/nvidia-smi", "/usr/bin/nvidia-smi")


@dataclass
class NvidiaResult:
    driver: Driver | None = None
    gpus: list[GPU] | None = None  # None: unknown (a driver answered but listed nothing usable)
    notes: list[str] = field(default_factory=list)


# -- parsers (pure; tested on captured output) ------------------------------------------


def parse_module_version(text: str) -> str | None:
    """``/sys/module/nvidia/version`` holds just the version, e.g. ``535.104.05``."""
    m = re.match(r"\s*" + _VERSION, text)
    return m.group(1) if m else None


def parse_proc_version(text: str) -> str | None:
    """``NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug ...``
    (also the ``Open Kernel Module for x86_64`` wording)."""
    first = text.splitlines()[0] if text else ""
    m = _PROC_VERSION.search(first + " ")
    return m.group(1) if m else None


def parse_banner(text: str) -> tuple[str | None, str | None, str | None]:
    """(driver version, driver's max CUDA, nvidia-smi version) from plain ``nvidia-smi``.

    ``CUDA Version: N/A`` (Jetson, some vGPUs) gives ``None`` for CUDA.
    """
    drv = _BANNER_DRIVER.search(text)
    cuda = _BANNER_CUDA.search(text)
    smi = _BANNER_SMI.search(text)
    cuda_max = cuda.group(1) if cuda and cuda.group(1) != "N/A" else None
    return (drv.group(1) if drv else None, cuda_max, smi.group(1) if smi else None)


def parse_query(text: str, fields: tuple[str, ...]) -> tuple[list[GPU], str | None]:
    """GPUs and the driver version from ``--query-gpu=<fields> --format=csv,noheader,nounits``.

    ``[N/A]``, ``[Not Supported]`` and similar bracketed values mean unknown.
    """
    gpus: list[GPU] = []
    driver: str | None = None
    n = len(fields)
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < n or not line.strip():
            continue
        if len(parts) > n:  # a comma inside the name: glue the extra pieces back
            extra = len(parts) - n
            name_at = fields.index("name")
            parts[name_at : name_at + extra + 1] = [", ".join(parts[name_at : name_at + extra + 1])]
        row = {f: (None if v.startswith("[") or not v else v) for f, v in zip(fields, parts, strict=True)}
        gpu = GPU(vendor="nvidia", name=row.get("name"), compute_capability=row.get("compute_cap"))
        gpu.index = _int(row.get("index"))
        gpu.memory_mib = _int(row.get("memory.total"))
        if gpu.index is None:
            continue  # not a data line (every query asks for the index first)
        driver = driver or row.get("driver_version")
        gpus.append(gpu)
    return gpus, driver


def parse_proc_gpus(root: Path) -> list[GPU]:
    """GPU names from ``/proc/driver/nvidia/gpus/<bus>/information`` (``Model:`` and ``Device Minor:``)."""
    base = under(root, "/proc/driver/nvidia/gpus")
    try:
        entries = sorted(p for p in base.iterdir() if p.is_dir())
    except OSError:
        return []
    gpus = []
    for entry in entries:
        text = read_text(entry / "information") or ""
        model = re.search(r"^Model:\s*(.+?)\s*$", text, re.M)
        minor = re.search(r"^Device Minor:\s*(\d+)", text, re.M)
        gpus.append(
            GPU(
                index=int(minor.group(1)) if minor else None,
                name=model.group(1) if model else None,
                vendor="nvidia",
            )
        )
    return gpus


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


# -- the probe --------------------------------------------------------------------------


def probe_nvidia(*, root: Path, env: Mapping[str, str], timeout: float, native: bool) -> NvidiaResult:
    """Driver and GPUs. ``native=False`` skips NVML/libcuda (they describe the real
    machine, not a test's fake ``root``)."""
    out = NvidiaResult()
    looked: list[str] = []

    kernel, kernel_source = _kernel_module(root, looked)

    nvml_driver = nvml_cuda = libcuda_cuda = None
    gpus: list[GPU] | None = None
    if native:
        from loradoc.doctor.probe.nvml import probe_native

        nat = probe_native(timeout)
        nvml_driver, nvml_cuda, libcuda_cuda, gpus = (
            nat.nvml_driver,
            nat.nvml_cuda,
            nat.libcuda_cuda,
            nat.gpus,
        )
        native_notes, stalled = nat.notes, nat.stalled
    else:
        native_notes, stalled = [], False

    smi_driver = banner_cuda = None
    smi = _find_smi(root, env)
    if smi is None:
        looked.append("nvidia-smi not on PATH")
    elif stalled:
        out.notes.append("nvidia-smi not run: the driver did not answer NVML in time")
    elif gpus is None or (libcuda_cuda is None and nvml_cuda is None):
        smi_driver, banner_cuda, smi_gpus = _nvidia_smi(smi, env, timeout, need_gpus=gpus is None, out=out)
        if gpus is None:
            gpus = smi_gpus

    userspace = nvml_driver or smi_driver
    if userspace is None and kernel is None and gpus is None:
        reasons = looked + native_notes
        if smi is None:
            out.notes.insert(0, "no NVIDIA driver found: " + "; ".join(reasons))
            out.gpus = []
        else:
            out.notes.insert(0, "NVIDIA driver not usable: " + "; ".join(reasons))
        return out
    out.notes.extend(native_notes)

    if gpus is None and kernel is not None:
        proc_gpus = parse_proc_gpus(root)
        if proc_gpus:
            gpus = proc_gpus
            out.notes.append("GPU names read from /proc/driver/nvidia/gpus (no NVML, nvidia-smi gave none)")

    cuda_max = libcuda_cuda or nvml_cuda or banner_cuda
    if libcuda_cuda and nvml_cuda and libcuda_cuda != nvml_cuda:
        out.notes.append(
            f"libcuda reports CUDA {libcuda_cuda} but the kernel driver {nvml_cuda}: "
            "a CUDA forward-compatibility libcuda is first on the library path"
        )
    source = "nvml" if nvml_driver else "nvidia-smi" if smi_driver else kernel_source
    out.driver = (
        None
        if userspace is None and kernel is None
        else Driver(
            version=userspace or kernel,
            cuda_max=cuda_max,
            source=source,
            kernel_module_version=kernel,
            userspace_version=userspace,
        )
    )
    if kernel and userspace and kernel != userspace:
        out.notes.append(
            f"kernel module {kernel} but userspace driver {userspace}: "
            "the driver was upgraded without a reboot (reboot, or reload the nvidia module)"
        )
    out.gpus = gpus
    return out


def _kernel_module(root: Path, looked: list[str]) -> tuple[str | None, str | None]:
    text = read_text(under(root, "/sys/module/nvidia/version"))
    if text is not None and (version := parse_module_version(text)):
        return version, "sysfs"
    looked.append("/sys/module/nvidia/version absent")
    text = read_text(under(root, "/proc/driver/nvidia/version"))
    if text is not None and (version := parse_proc_version(text)):
        return version, "proc"
    looked.append("/proc/driver/nvidia/version absent")
    return None, None


def _find_smi(root: Path, env: Mapping[str, str]) -> str | None:
    found = which("nvidia-smi", env)
    if found:
        return found
    for path in _SMI_FALLBACKS:
        candidate = under(root, path)
        if candidate.is_file():
            return str(candidate)
    return None


def _nvidia_smi(
    smi: str, env: Mapping[str, str], timeout: float, *, need_gpus: bool, out: NvidiaResult
) -> tuple[str | None, str | None, list[GPU] | None]:
    """(driver, max CUDA from the banner, GPUs or None)."""
    driver: str | None = None
    gpus: list[GPU] | None = None
    if need_gpus:
        fields: tuple[str, ...] = QUERY_FIELDS
        res = _query(smi, fields, env, timeout)
        if not res.ok and "not a valid field" in (res.stdout + res.stderr) and not res.timed_out:
            out.notes.append(
                "nvidia-smi cannot query compute_cap (driver older than ~510); retried without it"
            )
            res = _query(smi, QUERY_FIELDS_NO_CC, env, timeout)
            fields = QUERY_FIELDS_NO_CC
        if res.timed_out:
            out.notes.append(f"nvidia-smi did not answer within {timeout:g} s and was stopped")
            return None, None, None
        if res.ok:
            gpus, driver = parse_query(res.stdout, fields)
            if not gpus and driver is None:
                out.notes.append(f"nvidia-smi output not understood: {res.first_line()[:120]!r}")
                return None, None, None
        elif "No devices were found" in res.stdout + res.stderr:
            gpus = []
            out.notes.append("nvidia-smi: No devices were found")
        else:
            out.notes.append(_explain(res))
            return None, None, None
    banner = run_tool([smi], env=env, timeout=timeout)
    if banner.timed_out:
        out.notes.append(f"nvidia-smi (banner) did not answer within {timeout:g} s and was stopped")
        return driver, None, gpus
    banner_driver, cuda_max, _smi_version = parse_banner(banner.stdout)
    if cuda_max is None and banner.ok:
        out.notes.append("nvidia-smi banner shows no CUDA version (N/A)")
    return driver or banner_driver, cuda_max, gpus


def _query(smi: str, fields: tuple[str, ...], env: Mapping[str, str], timeout: float) -> ToolResult:
    argv = [smi, "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"]
    return run_tool(argv, env=env, timeout=timeout)


def _explain(res: ToolResult) -> str:
    text = res.stdout + res.stderr
    if "version mismatch" in text:
        return (
            "nvidia-smi: Driver/library version mismatch: the loaded kernel module and the "
            "userspace driver differ (reboot, or reload the nvidia module)"
        )
    if "couldn't communicate with the NVIDIA driver" in text:
        return "nvidia-smi cannot talk to the NVIDIA driver: the kernel module is not loaded"
    return res.describe()
