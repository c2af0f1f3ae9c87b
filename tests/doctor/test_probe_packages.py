"""Installed distributions and their build facts, read from real files in a site dir."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from loradoc.doctor.probe.elf import read_elf
from loradoc.doctor.probe.packages import probe_packages, torch_requirements


def dist(
    site: Path,
    name: str,
    version: str,
    requires: tuple[str, ...] = (),
    *,
    installer: str | None = "pip",
    url: str | None = None,
) -> Path:
    """Write ``<name>-<version>.dist-info`` the way pip does."""
    meta = site / f"{name.replace('-', '_')}-{version}.dist-info"
    meta.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", "Summary: a test"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (meta / "METADATA").write_text("\n".join(lines) + "\n\nLong description.\nRequires-Dist: not-a-header\n")
    if installer:
        (meta / "INSTALLER").write_text(installer + "\n")
    if url:
        (meta / "direct_url.json").write_text(json.dumps({"url": url, "archive_info": {}}))
    return meta


def test_torch_cuda_build_with_old_abi(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist(site, "torch", "2.5.1+cu124", ('nvidia-cuda-runtime-cu12==12.4.127; platform_system == "Linux"',))
    (site / "torch").mkdir()
    (site / "torch" / "version.py").write_text(
        "from typing import Optional\n\n__all__ = ['__version__']\n__version__ = '2.5.1+cu124'\n"
        "debug = False\ncuda: Optional[str] = '12.4'\ngit_version = 'a8d6afb511a69687bbb2b7e88a3cf67917e1697e'\n"
        "hip: Optional[str] = None\nxpu: Optional[str] = None\n"
    )
    cmake = site / "torch" / "share" / "cmake" / "Torch" / "TorchConfig.cmake"
    cmake.parent.mkdir(parents=True)
    cmake.write_text('set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0")\n')
    packages, notes = probe_packages([str(site)])
    torch = packages["torch"]
    assert (torch.version, torch.cuda, torch.hip, torch.cxx11_abi) == ("2.5.1+cu124", "12.4", None, False)
    assert (torch.installer, torch.location) == ("pip", str(site))
    assert notes == []


def test_torch_rocm_build(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist(site, "torch", "2.5.1+rocm6.2")
    (site / "torch").mkdir()
    (site / "torch" / "version.py").write_text("cuda = None\nhip = '6.2.41133-dd7f95766'\n")
    torch = probe_packages([str(site)])[0]["torch"]
    assert (torch.cuda, torch.hip) == (None, "6.2.41133-dd7f95766")


def test_torch_cuda_from_requirements_when_version_py_is_missing(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist(
        site,
        "torch",
        "2.11.0",
        ('cuda-toolkit[cublas,cudart]==13.0.2; platform_system == "Linux"', "filelock"),
    )
    (site / "torch").mkdir()
    packages, notes = probe_packages([str(site)])
    assert packages["torch"].cuda == "13.0"
    assert any("version.py unreadable" in n for n in notes)


def test_torch_cuda_from_the_local_tag_as_last_resort(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist(site, "torch", "2.4.1+cu118")
    assert probe_packages([str(site)])[0]["torch"].cuda == "11.8"


def test_real_torch_in_this_venv() -> None:
    """The probe reads this interpreter's torch without importing it."""
    version = importlib.metadata.version("torch")
    imported_before = "torch" in sys.modules  # other test modules in this process may import it
    torch = probe_packages()[0]["torch"]
    assert torch.version == version
    if "+cpu" in version:
        assert torch.cuda is None and torch.hip is None
    if sys.platform == "linux" and Version(version) >= Version("2.7"):
        assert torch.cxx11_abi is True  # every Linux wheel since 2.7 (compat-facts §1)
    assert imported_before or "torch" not in sys.modules


def test_xformers_cpp_lib_json(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist(site, "xformers", "0.0.28.post1", ("torch==2.4.1", "numpy"))
    (site / "xformers").mkdir()
    (site / "xformers" / "cpp_lib.json").write_text(
        json.dumps(
            {
                "version": {
                    "cuda": 1201,
                    "hip": None,
                    "torch": "2.4.1+cu121",
                    "python": "3.11.9",
                    "flash": "v2.5.7",
                    "use_torch_flash": True,
                },
                "env": {
                    "TORCH_CUDA_ARCH_LIST": "6.0+PTX 7.0 7.5 8.0+PTX 9.0a",
                    "PYTORCH_ROCM_ARCH": None,
                    "XFORMERS_BUILD_TYPE": "Release",
                    "XFORMERS_ENABLE_DEBUG_ASSERTIONS": None,
                    "NVCC_FLAGS": "-allow-unsupported-compiler",
                    "XFORMERS_PACKAGE_FROM": "wheel-v0.0.28.post1",
                },
            }
        )
    )
    x = probe_packages([str(site)])[0]["xformers"]
    assert (x.cuda, x.built_for_torch, x.built_for_python) == ("12.1", "2.4.1+cu121", "3.11.9")
    assert x.archs == ["6.0+PTX", "7.0", "7.5", "8.0+PTX", "9.0a"]
    assert x.requires == ["torch==2.4.1"]


def test_xformers_bad_json_is_a_note(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist(site, "xformers", "0.0.29")
    (site / "xformers").mkdir()
    (site / "xformers" / "cpp_lib.json").write_text("{not json")
    packages, notes = probe_packages([str(site)])
    assert packages["xformers"].version == "0.0.29"
    assert any("not valid JSON" in n for n in notes)


@pytest.mark.parametrize(
    ("wheel", "cuda", "torch", "abi", "python"),
    [
        (
            "flash_attn-2.6.3+cu123torch2.4cxx11abiFALSE-cp311-cp311-linux_x86_64.whl",
            "12.3",
            "2.4",
            False,
            "3.11",
        ),
        ("flash_attn-2.8.3+cu12torch2.7cxx11abiTRUE-cp312-cp312-linux_x86_64.whl", "12", "2.7", True, "3.12"),
        (
            "flash_attn-2.5.8+cu118torch2.3cxx11abiFALSE-cp310-cp310-linux_x86_64.whl",
            "11.8",
            "2.3",
            False,
            "3.10",
        ),
    ],
)
def test_flash_attn_wheel_name(
    tmp_path: Path, wheel: str, cuda: str, torch: str, abi: bool, python: str
) -> None:
    site = tmp_path / "site"
    dist(
        site,
        "flash-attn",
        wheel.split("-")[1].split("+")[0],
        ("torch", "einops"),
        url=f"file:///tmp/w/{wheel}",
    )
    fa = probe_packages([str(site)])[0]["flash-attn"]
    assert fa.wheel == wheel
    assert (fa.cuda, fa.built_for_torch, fa.cxx11_abi, fa.built_for_python) == (cuda, torch, abi, python)


@pytest.mark.skipif(
    shutil.which("gcc") is None or sys.platform != "linux", reason="needs gcc to build an ELF"
)
def test_flash_attn_from_its_extension_elf(tmp_path: Path) -> None:
    """An sdist-built flash-attn has no wheel name: read libcudart and the ABI from the .so itself."""
    site = tmp_path / "site"
    dist(site, "flash-attn", "2.7.4.post1", ("torch",))
    build = tmp_path / "build"
    build.mkdir()
    # a stand-in libcudart.so.12 to link against, and an extension calling c10::Error's cxx11 constructor
    (build / "cudart.c").write_text("int cudaRuntimeGetVersion(int *v) { *v = 12040; return 0; }\n")
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-Wl,-soname,libcudart.so.12",
            "-o",
            str(build / "libcudart.so"),
            str(build / "cudart.c"),
        ],
        check=True,
    )
    (build / "ext.c").write_text(
        'extern void c10_error(void) __asm__("_ZN3c105ErrorC1ENS_14SourceLocationENSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE");\n'
        "extern int cudaRuntimeGetVersion(int *);\n"
        "int probe(void) { int v; c10_error(); return cudaRuntimeGetVersion(&v); }\n"
    )
    so = site / "flash_attn_2_cuda.cpython-311-x86_64-linux-gnu.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-o", str(so), str(build / "ext.c"), f"-L{build}", "-lcudart"],
        check=True,
    )
    info = read_elf(str(so))
    assert info is not None and "libcudart.so.12" in info.needed
    fa = probe_packages([str(site)])[0]["flash-attn"]
    assert (fa.cuda, fa.cxx11_abi, fa.wheel) == ("12", True, None)


def test_bitsandbytes_cuda_libraries(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist(site, "bitsandbytes", "0.43.3", ("torch",))
    pkg = site / "bitsandbytes"
    pkg.mkdir()
    for name in (
        "libbitsandbytes_cpu.so",
        "libbitsandbytes_cuda117.so",
        "libbitsandbytes_cuda117_nocublaslt.so",
        "libbitsandbytes_cuda121.so",
        "libbitsandbytes_cuda125.so",
        "__init__.py",
    ):
        (pkg / name).write_bytes(b"")
    bnb = probe_packages([str(site)])[0]["bitsandbytes"]
    assert bnb.cuda_libs == ["cuda117", "cuda121", "cuda125"]


def test_requires_keeps_torch_lines_that_apply(tmp_path: Path) -> None:
    reqs = [
        'torch>=2.6; extra == "torch"',
        'torch==2.0.1; extra == "benchmarks"',
        'torchvision; extra == "vision"',
        "torch (>=1.13.0)",
        'torch>=2.4,<3; python_version >= "3.10"',
        "pytorch-lightning",
        'torch>=2.6; extra == "torch"',
    ]
    assert torch_requirements(reqs) == [
        'torch>=2.6; extra == "torch"',
        "torch (>=1.13.0)",
        'torch>=2.4,<3; python_version >= "3.10"',
    ]


def test_first_on_the_path_wins_like_import(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    dist(first, "peft", "0.13.0", ("torch>=1.13.0",), installer="uv")
    dist(second, "peft", "0.21.2")
    packages, _ = probe_packages([str(tmp_path / "missing"), str(first), str(second)])
    assert (packages["peft"].version, packages["peft"].installer) == ("0.13.0", "uv")


def test_egg_info_and_untracked_packages(tmp_path: Path) -> None:
    site = tmp_path / "site"
    egg = site / "deepspeed.egg-info"
    egg.mkdir(parents=True)
    (egg / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: deepspeed\nVersion: 0.15.0+abc\n")
    (egg / "requires.txt").write_text("hjson\ntorch\n\n[1bit]\ntorch==2.0.1\n\n[torch]\ntorch>=2.1\n")
    dist(site, "numpy", "2.1.0")
    packages, _ = probe_packages([str(site)])
    assert set(packages) == {"deepspeed"}
    assert packages["deepspeed"].version == "0.15.0+abc"
    assert packages["deepspeed"].requires == ["torch", 'torch>=2.1; extra == "torch"']


def test_damaged_dist_info_never_raises(tmp_path: Path) -> None:
    site = tmp_path / "site"
    meta = site / "trl-1.0.0.dist-info"
    (meta / "METADATA").mkdir(parents=True)  # unreadable: a directory
    dist(site, "wandb", "0.17.0")
    packages, _ = probe_packages([str(site), "", "/nonexistent/path"])
    assert packages["trl"].version is None
    assert packages["wandb"].version == "0.17.0"


def test_metadata_headers_end_at_the_first_blank_line(tmp_path: Path) -> None:
    """Headers are read up to the blank line (a folded one is one header); the description
    below it may quote ``Requires-Dist:`` lines that are not requirements."""
    meta = tmp_path / "site" / "peft-0.13.0.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(
        "Name: peft\nVersion: 0.13.0\nRequires-Dist: torch\nSummary: a\n  continued\n"
        "Requires-Dist: numpy\n\nRequires-Dist: torch==0.1\n"
    )
    peft = probe_packages([str(tmp_path / "site")])[0]["peft"]
    assert (peft.version, peft.requires) == ("0.13.0", ["torch"])


def test_torchvision_pins_torch_and_names_its_cuda(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist(site, "torchvision", "0.20.1+cu124", ("numpy", "torch==2.5.1", "pillow!=8.3.*,>=5.3.0"))
    (site / "torchvision").mkdir()
    (site / "torchvision" / "version.py").write_text(
        "__version__ = '0.20.1+cu124'\ngit_version = '3ac97aa'\n"
        "from torchvision.extension import _check_cuda_version\n"
        "if _check_cuda_version() > 0:\n    cuda = _check_cuda_version()\n"
    )
    tv = probe_packages([str(site)])[0]["torchvision"]
    assert (tv.cuda, tv.requires) == ("12.4", ["torch==2.5.1"])
