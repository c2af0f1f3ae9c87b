"""Fixtures for the matrix tests: a small matrix cut from the shipped one, and a local index
whose wheels declare what the real releases declare, with one planted mismatch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fakeindex import make_index, make_sdist, make_wheel  # noqa: E402
from matrixdata import LINUX, small_matrix_data  # noqa: E402

from loradoc.compat.load import parse_matrix  # noqa: E402


@pytest.fixture(scope="session")
def small_matrix() -> Any:
    return parse_matrix(small_matrix_data(), "small-matrix")


def _torch_wheels(files: Path, version: str, pythons: list[str], free_threaded: list[str]) -> list[Path]:
    req = [
        "filelock",
        f"nvidia-cuda-runtime-cu12==12.8.90; {LINUX}",
        f"nvidia-cudnn-cu12==9.10.2.21; {LINUX}",
        f"triton==3.5.1; {LINUX}",
    ]
    out = []
    for py in pythons:
        tag = "cp" + py.replace(".", "")
        out.append(
            make_wheel(
                files,
                "torch",
                version,
                requires=req,
                requires_python=">=3.10",
                tags=f"{tag}-{tag}-manylinux_2_28_x86_64",
            )
        )
    for py in free_threaded:
        tag = "cp" + py.replace(".", "")
        out.append(
            make_wheel(
                files,
                "torch",
                version,
                requires=req,
                requires_python=">=3.10",
                tags=f"{tag}-{tag}t-manylinux_2_28_x86_64",
            )
        )
    out.append(
        make_wheel(
            files,
            "torch",
            version,
            requires=req[:1],
            requires_python=">=3.10",
            tags="cp311-cp311-manylinux_2_28_aarch64",
        )
    )
    return out


@pytest.fixture(scope="session")
def fake_pypi(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file:// simple index; xformers 0.0.34 is planted to require torch==2.9.1 (the matrix says ==2.10.0)."""
    root = tmp_path_factory.mktemp("fake-pypi")
    f = root / "files"
    files = _torch_wheels(f, "2.9.1", ["3.10", "3.11", "3.12", "3.13", "3.14"], ["3.13", "3.14"])
    files.append(
        make_wheel(
            f,
            "torch",
            "2.10.0",
            requires=["filelock"],
            requires_python=">=3.10",
            tags="cp312-cp312-manylinux_2_28_x86_64",
        )
    )
    for version, torch_pin in (("0.0.33.post2", "2.9.1"), ("0.0.34", "2.9.1")):  # 0.0.34: planted
        for plat in ("manylinux_2_28_x86_64", "win_amd64"):
            files.append(
                make_wheel(
                    f,
                    "xformers",
                    version,
                    requires=["numpy", f"torch=={torch_pin}"],
                    requires_python=">=3.9",
                    tags=f"cp39-abi3-{plat}",
                )
            )
    files.append(make_sdist(f, "flash-attn", "2.8.3"))
    # its first native Windows wheel (the matrix's windows_since)
    files.append(make_wheel(f, "bitsandbytes", "0.43.0", requires=["torch"], tags="py3-none-win_amd64"))
    files.append(
        make_wheel(
            f,
            "bitsandbytes",
            "0.48.2",
            requires=["torch<3,>=2.3", "numpy>=1.17", "packaging>=20.9"],
            requires_python=">=3.9",
            tags="py3-none-manylinux_2_24_x86_64",
        )
    )
    for v in ("5.21.0", "5.24.0"):
        files.append(
            make_wheel(
                f,
                "transformers",
                v,
                requires=[
                    "huggingface-hub<3.0,>=1.31.0",
                    "numpy>=1.17",
                    'torch>=2.6; extra == "torch"',
                    'accelerate>=1.1.0; extra == "torch"',
                ],
                requires_python=">=3.11.0",
            )
        )
    files.append(
        make_wheel(
            f,
            "peft",
            "0.21.2",
            requires=["numpy>=1.17", "torch>=1.13.0", "accelerate>=0.21.0"],
            requires_python=">=3.10.0",
        )
    )
    return make_index(root, files)
