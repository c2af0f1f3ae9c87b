"""The NVIDIA layer of the probe, on captured nvidia-smi output of several driver generations."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from probe_fakes import FIXTURES, SMI_FIXTURES, env_with, fake_nvidia_smi, fake_root, fake_tool, smi_calls

from loradoc.doctor.probe.nvidia import (
    parse_banner,
    parse_proc_version,
    parse_query,
    probe_nvidia,
)


def run(tmp_path: Path, case: str | None, files: dict[str, str] | None = None, timeout: float = 5.0):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if case:
        fake_nvidia_smi(bin_dir, case)
    root = fake_root(tmp_path, files or {})
    return probe_nvidia(root=root, env=env_with(bin_dir), timeout=timeout, native=False), bin_dir


# -- parsers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "driver", "cuda"),
    [
        ("470-t4", "470.182.03", "11.4"),
        ("535-a100x8", "535.104.05", "12.2"),
        ("550-t4", "550.54.15", "12.4"),
        ("580-h100", "580.95.05", "13.0"),
        ("610-b200x2", "610.43.02", "13.3"),  # KMD Version / CUDA UMD Version
        ("na-fields", "580.95.05", None),  # CUDA Version: N/A
    ],
)
def test_parse_banner_every_layout(case: str, driver: str, cuda: str | None) -> None:
    got_driver, got_cuda, smi_version = parse_banner((SMI_FIXTURES / case / "banner.txt").read_text())
    assert (got_driver, got_cuda) == (driver, cuda)
    assert smi_version == driver


def test_parse_banner_on_an_error_message_finds_nothing() -> None:
    assert parse_banner((SMI_FIXTURES / "mismatch" / "banner.txt").read_text()) == (None, None, None)


def test_parse_proc_version_proprietary_and_open_modules() -> None:
    assert parse_proc_version((FIXTURES / "proc" / "proprietary-535.txt").read_text()) == "535.104.05"
    assert parse_proc_version((FIXTURES / "proc" / "open-580.txt").read_text()) == "580.95.05"
    assert parse_proc_version("garbage\n") is None
    assert parse_proc_version("") is None


def test_parse_query_handles_na_and_commas_in_names() -> None:
    fields = ("index", "name", "compute_cap", "memory.total", "driver_version")
    gpus, driver = parse_query("0, NVIDIA GB10, [N/A], [Not Supported], 580.95.05\n", fields)
    assert driver == "580.95.05"
    assert (gpus[0].name, gpus[0].compute_capability, gpus[0].memory_mib) == ("NVIDIA GB10", None, None)
    gpus, _ = parse_query("3, Odd, Name GPU, 8.6, 24564, 550.54.15\n", fields)
    assert (gpus[0].index, gpus[0].name, gpus[0].compute_capability) == (3, "Odd, Name GPU", "8.6")
    assert parse_query('Field "x" is not a valid field to query.\n', fields) == ([], None)


# -- the probe through a stand-in nvidia-smi --------------------------------------------


@pytest.mark.parametrize(
    ("case", "driver", "cuda", "gpus"),
    [
        ("535-a100x8", "535.104.05", "12.2", [("NVIDIA A100-SXM4-80GB", "8.0", 81920)] * 8),
        ("550-t4", "550.54.15", "12.4", [("Tesla T4", "7.5", 15360)]),
        ("580-h100", "580.95.05", "13.0", [("NVIDIA H100 80GB HBM3", "9.0", 81559)]),
        ("610-b200x2", "610.43.02", "13.3", [("NVIDIA B200", "10.0", 183359)] * 2),
    ],
)
def test_driver_generations(tmp_path: Path, case: str, driver: str, cuda: str, gpus: list) -> None:
    result, bin_dir = run(tmp_path, case)
    assert result.driver is not None
    assert result.driver.version == driver
    assert result.driver.userspace_version == driver
    assert result.driver.cuda_max == cuda
    assert result.driver.source == "nvidia-smi"
    assert result.gpus is not None
    assert [(g.name, g.compute_capability, g.memory_mib) for g in result.gpus] == gpus
    assert [g.index for g in result.gpus] == list(range(len(gpus)))
    assert all(g.vendor == "nvidia" for g in result.gpus)
    # one query and one banner call, nothing more
    assert len(smi_calls(bin_dir)) == 2


def test_470_retries_without_compute_cap(tmp_path: Path) -> None:
    result, bin_dir = run(tmp_path, "470-t4")
    calls = smi_calls(bin_dir)
    assert calls[0].startswith("--query-gpu=index,name,compute_cap,")
    assert calls[1].startswith("--query-gpu=index,name,memory.total,driver_version")
    assert result.driver is not None and result.driver.version == "470.182.03"
    assert result.driver.cuda_max == "11.4"
    assert result.gpus is not None and [(g.name, g.memory_mib) for g in result.gpus] == [("Tesla T4", 15109)]
    assert any("compute_cap" in n for n in result.notes)
    # the probe records what it saw: the capability is looked up later, by the machine's facts
    assert result.gpus[0].compute_capability is None


def test_na_fields_are_unknown_not_errors(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "na-fields")
    assert result.driver is not None and result.driver.version == "580.95.05"
    assert result.driver.cuda_max is None
    assert result.gpus is not None and result.gpus[0].name == "NVIDIA GB10"
    assert result.gpus[0].memory_mib is None
    assert any("N/A" in n for n in result.notes)


def test_hanging_nvidia_smi_is_stopped(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    sleep = shutil.which("sleep")
    assert sleep
    # a wrapper whose child keeps the pipes open: only a process-group kill ends it
    fake_tool(bin_dir, "nvidia-smi", f"{sleep} 30\n")
    start = time.monotonic()
    result = probe_nvidia(root=fake_root(tmp_path, {}), env=env_with(bin_dir), timeout=0.5, native=False)
    elapsed = time.monotonic() - start
    assert elapsed < 5, elapsed
    assert any("did not answer within 0.5 s" in n for n in result.notes)
    assert result.driver is None


def test_hang_stops_further_calls(tmp_path: Path) -> None:
    fixture = tmp_path / "hanging-case"
    shutil.copytree(SMI_FIXTURES / "550-t4", fixture)
    (fixture / "hang").write_text("")
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, fixture)
    start = time.monotonic()
    result = probe_nvidia(root=fake_root(tmp_path, {}), env=env_with(bin_dir), timeout=0.5, native=False)
    assert time.monotonic() - start < 5
    assert len(smi_calls(bin_dir)) == 1  # the banner is not asked once the query hung
    assert result.gpus is None  # unknown, not "no GPU"


def test_library_mismatch_needs_a_reboot(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "mismatch", {"/sys/module/nvidia/version": "535.183.01\n"})
    assert result.driver is not None
    assert result.driver.kernel_module_version == "535.183.01"
    assert result.driver.source == "sysfs"
    assert any("version mismatch" in n and "reboot" in n for n in result.notes)


def test_kernel_and_userspace_versions_differ(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "550-t4", {"/sys/module/nvidia/version": "535.104.05\n"})
    assert result.driver is not None
    assert result.driver.kernel_module_version == "535.104.05"
    assert result.driver.userspace_version == "550.54.15"
    assert any("without a reboot" in n for n in result.notes)


def test_proc_version_when_sysfs_is_absent(tmp_path: Path) -> None:
    files = {"/proc/driver/nvidia/version": (FIXTURES / "proc" / "open-580.txt").read_text()}
    result, _ = run(tmp_path, "580-h100", files)
    assert result.driver is not None
    assert result.driver.kernel_module_version == "580.95.05"
    assert not any("reboot" in n for n in result.notes)


def test_kernel_module_only_reads_gpu_names_from_proc(tmp_path: Path) -> None:
    files = {
        "/sys/module/nvidia/version": "550.54.15\n",
        "/proc/driver/nvidia/gpus/0000:00:1e.0/information": (
            FIXTURES / "proc" / "gpu-information-t4.txt"
        ).read_text(),
    }
    result, _ = run(tmp_path, None, files)
    assert result.driver is not None
    assert (result.driver.version, result.driver.source, result.driver.userspace_version) == (
        "550.54.15",
        "sysfs",
        None,
    )
    assert result.gpus is not None and [(g.index, g.name) for g in result.gpus] == [(0, "Tesla T4")]


def test_userspace_without_kernel_module(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "no-driver")
    assert result.driver is None
    assert result.gpus is None
    assert result.notes[0].startswith("NVIDIA driver not usable")
    assert any("kernel module is not loaded" in n for n in result.notes)


def test_no_devices(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "no-devices", {"/sys/module/nvidia/version": "550.54.15\n"})
    assert result.gpus == []
    assert result.driver is not None and result.driver.version == "550.54.15"


def test_nothing_at_all_says_so_plainly(tmp_path: Path) -> None:
    result, _ = run(tmp_path, None)
    assert result.driver is None
    assert result.gpus == []
    assert result.notes[0].startswith("no NVIDIA driver found: ")
    assert "/sys/module/nvidia/version absent" in result.notes[0]
    assert "nvidia-smi not on PATH" in result.notes[0]


def test_garbage_everywhere_never_raises(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "nvidia-smi", "printf '\\377\\376 garbage, more, , ,\\n'\nexit 0\n")
    root = fake_root(tmp_path, {"/proc/driver/nvidia/version": "\x00\x01 not a version"})
    (root / "sys" / "module" / "nvidia" / "version").mkdir(parents=True)  # a directory, not a file
    result = probe_nvidia(root=root, env=env_with(bin_dir), timeout=2, native=False)
    assert result.driver is None
    assert result.gpus is None
    assert any("nvidia-smi output not understood" in n for n in result.notes)


# -- NVML and libcuda through ctypes, against stand-in driver libraries -----------------

_NATIVE = FIXTURES / "native"


def _build_fake_driver_libs(tmp_path: Path) -> Path:
    libdir = tmp_path / "lib"
    libdir.mkdir()
    for src, soname in (("fake_nvml.c", "libnvidia-ml.so.1"), ("fake_cuda.c", "libcuda.so.1")):
        subprocess.run(
            [
                "gcc",
                "-shared",
                "-fPIC",
                f"-Wl,-soname,{soname}",
                "-o",
                str(libdir / soname),
                str(_NATIVE / src),
            ],
            check=True,
        )
    return libdir


def _probe_in_child(libdir: Path, root: Path, path: str = "", timeout: float = 5, **extra_env: str) -> dict:
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from loradoc.doctor.probe.nvidia import probe_nvidia\n"
        "from loradoc.doctor.snapshot import Snapshot\n"
        f"r = probe_nvidia(root=Path({str(root)!r}), env={{'PATH': {path!r}}}, timeout={timeout}, native=True)\n"
        "print(json.dumps(Snapshot(driver=r.driver, gpus=r.gpus, notes=r.notes).to_dict()))\n"
    )
    env = {**os.environ, "LD_LIBRARY_PATH": str(libdir), **extra_env}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout)


@pytest.mark.skipif(
    shutil.which("gcc") is None or sys.platform != "linux", reason="needs gcc to build stand-in libs"
)
def test_nvml_and_libcuda_through_ctypes(tmp_path: Path) -> None:
    libdir = _build_fake_driver_libs(tmp_path)
    root = fake_root(tmp_path, {"/sys/module/nvidia/version": "550.54.15\n"})
    snap = _probe_in_child(libdir, root)
    assert snap["driver"] == {
        "version": "550.54.15",
        "cuda_max": "12.6",  # libcuda is authoritative over NVML's 12.4
        "source": "nvml",
        "kernel_module_version": "550.54.15",
        "userspace_version": "550.54.15",
    }
    assert snap["gpus"] == [
        {
            "index": 0,
            "name": "Tesla T4",
            "compute_capability": "7.5",
            "memory_mib": 15360,
            "vendor": "nvidia",
        },
        {
            "index": 1,
            "name": "NVIDIA A100-SXM4-80GB",
            "compute_capability": "8.0",
            "memory_mib": 81920,
            "vendor": "nvidia",
        },
    ]
    assert any("forward-compatibility" in n for n in snap["notes"])


@pytest.mark.skipif(
    shutil.which("gcc") is None or sys.platform != "linux", reason="needs gcc to build stand-in libs"
)
def test_nvml_init_failure_is_a_note(tmp_path: Path) -> None:
    libdir = _build_fake_driver_libs(tmp_path)
    root = fake_root(tmp_path, {"/sys/module/nvidia/version": "535.104.05\n"})
    snap = _probe_in_child(libdir, root, FAKE_NVML_FAIL="18")
    assert snap["driver"]["version"] == "535.104.05"
    assert snap["driver"]["source"] == "sysfs"
    assert snap["driver"]["cuda_max"] == "12.6"
    assert any(
        "NVML: initialisation failed: RM has detected an NVML/RM version mismatch." in n
        for n in snap["notes"]
    )


@pytest.mark.skipif(
    shutil.which("gcc") is None or sys.platform != "linux", reason="needs gcc to build stand-in libs"
)
def test_stalled_driver_is_abandoned_and_nvidia_smi_not_run(tmp_path: Path) -> None:
    libdir = _build_fake_driver_libs(tmp_path)
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, "550-t4")
    root = fake_root(tmp_path, {"/sys/module/nvidia/version": "550.54.15\n"})
    start = time.monotonic()
    snap = _probe_in_child(libdir, root, path=str(bin_dir), timeout=0.5, FAKE_NVML_SLEEP="30")
    assert time.monotonic() - start < 10
    assert snap["driver"]["version"] == "550.54.15" and snap["driver"]["source"] == "sysfs"
    assert any("did not answer within 0.5 s" in n for n in snap["notes"])
    assert smi_calls(bin_dir) == []


def test_no_devices_without_a_kernel_module_leaves_the_driver_unknown(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "no-devices")
    assert result.gpus == []
    assert result.driver is None
