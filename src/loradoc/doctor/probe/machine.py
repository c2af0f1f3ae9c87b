"""``probe()``: describe this machine as a Snapshot, without importing torch.

The probe reads files, asks the NVIDIA libraries through ctypes, and runs a few
small tools (nvidia-smi, nvcc, rocm_agent_enumerator) with a time limit. It
never imports torch, transformers, datasets, xformers or any other package it
describes, and it never raises on a strange machine: what it cannot read is
recorded in ``Snapshot.notes`` with the reason.

To describe another Python environment, run the probe *with that interpreter*
(``/path/to/venv/bin/python -m loradoc doctor check``): the package search uses
the running interpreter's ``sys.path`` and nothing else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from loradoc import __version__
from loradoc.doctor.snapshot import Snapshot

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0


def probe(
    *,
    env: Mapping[str, str] | None = None,
    root: str | os.PathLike[str] = "/",
    timeout: float = DEFAULT_TIMEOUT,
    paths: Sequence[str] | None = None,
) -> Snapshot:
    """A complete Snapshot of this machine.

    - ``env``: the environment to judge (default ``os.environ``); PATH, CUDA_HOME,
      HF_HOME, HOME and the token variables are read from it.
    - ``root``: where ``/sys``, ``/proc``, ``/opt/rocm``, ``/usr/local/cuda`` live
      (tests point it at a tmp tree; then the NVIDIA libraries, which describe the
      real machine, are not consulted).
    - ``timeout``: seconds each external tool may take before it is stopped.
    - ``paths``: where to look for installed distributions (default ``sys.path``).

    The steps that wait on other programs (the NVIDIA driver, nvcc, ROCm) run in
    background threads while the file reads run here; notes keep a fixed order.
    """
    from loradoc.doctor.probe import system
    from loradoc.doctor.probe.nvidia import probe_nvidia
    from loradoc.doctor.probe.packages import probe_packages

    environ: Mapping[str, str] = os.environ if env is None else env
    base = Path(root)
    native = os.path.abspath(base) == os.path.abspath(os.sep)
    snap = Snapshot(
        complete=True,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        loradoc_version=__version__,
    )
    nvidia = _background(lambda: probe_nvidia(root=base, env=environ, timeout=timeout, native=native))
    nvcc = _background(lambda: system.probe_nvcc(base, environ, timeout))
    rocm = _background(lambda: system.probe_rocm(base, environ, timeout))

    platform_notes: list[str] = []
    facts = _guard("platform", platform_notes, lambda: system.probe_platform(base, environ))
    if facts is not None:
        snap.os, snap.os_release, snap.arch = facts.os, facts.os_release, facts.arch
        snap.python, snap.python_executable = facts.python, facts.python_executable
        snap.in_venv, snap.glibc = facts.in_venv, facts.glibc
        snap.cpu_count, snap.memory_mib = facts.cpu_count, facts.memory_mib
        snap.cpu_bf16 = facts.cpu_bf16
        platform_notes.extend(facts.notes)
    tail_notes: list[str] = []
    packages = _guard("packages", tail_notes, lambda: probe_packages(paths))
    if packages is not None:
        snap.packages, more = packages
        tail_notes.extend(more)
    accel = _guard("accelerate config", tail_notes, lambda: system.probe_accelerate_config(environ))
    if accel is not None:
        snap.accelerate_config, more = accel
        tail_notes.extend(more)
    snap.env = _guard("environment", tail_notes, lambda: system.probe_environment(base, environ))

    notes = snap.notes
    notes.extend(platform_notes)
    gpu = _guard("NVIDIA driver", notes, nvidia)
    if gpu is not None:
        snap.driver, snap.gpus = gpu.driver, gpu.gpus
        notes.extend(gpu.notes)
    amd = _guard("ROCm", notes, rocm)
    if amd is not None:
        snap.rocm, amd_gpus, more = amd
        notes.extend(more)
        if amd_gpus:
            snap.gpus = (snap.gpus or []) + amd_gpus
    toolkit = _guard("nvcc", notes, nvcc)
    if toolkit is not None:
        snap.nvcc, more = toolkit
        notes.extend(more)
    notes.extend(tail_notes)
    _driver_override(snap, environ)
    if snap.env is not None and snap.env.cuda_visible_devices is not None and snap.gpus:
        notes.append(
            f"CUDA_VISIBLE_DEVICES={snap.env.cuda_visible_devices!r}: the GPU list shows every GPU "
            "(nvidia-smi and NVML ignore it); CUDA programs see only the selected ones"
        )
    return snap


DRIVER_OVERRIDE = "LORADOC_CUDA_DRIVER_VERSION"


def _driver_override(snap: Snapshot, environ: Mapping[str, str]) -> None:
    """``LORADOC_CUDA_DRIVER_VERSION=570.133.20``: plan for another machine's NVIDIA driver
    without a snapshot of it (as uv's UV_CUDA_DRIVER_VERSION). The probed driver is replaced and
    a note says so."""
    import re

    from loradoc.doctor.snapshot import Driver
    from loradoc.errors import UserError

    value = (environ.get(DRIVER_OVERRIDE) or "").strip()
    if not value:
        return
    if not re.fullmatch(r"\d{3,4}(?:\.\d{1,3}){0,2}", value):
        raise UserError(
            f"{DRIVER_OVERRIDE}={value[:40]!r} is not an NVIDIA driver version; give one like 570.133.20 "
            "(what nvidia-smi shows), or unset it"
        )
    probed = snap.driver.version if snap.driver and snap.driver.version else "none found"
    snap.driver = Driver(version=value, source=DRIVER_OVERRIDE)
    if not snap.gpus:  # planning for another machine: its GPUs are unknown, not absent
        snap.gpus = None
    snap.notes.append(f"{DRIVER_OVERRIDE}={value}: planning for NVIDIA driver {value} (probed: {probed})")


def _background(fn: Callable[[], T]) -> Callable[[], T]:
    """Start ``fn`` in a daemon thread; the returned callable waits for it and
    returns its result (or re-raises its exception, for ``_guard`` to record).

    Every step run this way bounds its own waits with the probe's timeout.
    """
    import threading

    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=work, name="loradoc-probe", daemon=True)
    thread.start()

    def wait() -> T:
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    return wait


def _guard(what: str, notes: list[str], fn: Callable[[], T]) -> T | None:
    """Run one probe step; an unexpected failure becomes a note, not a crash."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the probe must describe broken machines too
        notes.append(f"{what}: probe step failed ({type(exc).__name__}: {exc})")
        return None
