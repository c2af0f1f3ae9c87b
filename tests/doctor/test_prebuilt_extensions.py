"""Extensions whose wheels name the torch they were built for in their version (the matrix's
[[torch_tagged_wheel]] rows): a wheel of another torch minor, CUDA major or C++ ABI, or a wheel of
PyPI's release under a pre-release or source build of the same version, is read before it fails."""

from __future__ import annotations

from loradoc.compat.load import load_matrix
from loradoc.doctor.diagnose import diagnose
from loradoc.doctor.findings import Finding
from loradoc.doctor.snapshot import Snapshot


def _findings(torch: str, package: str, version: str) -> list[Finding]:
    snap = Snapshot.from_dict(
        {
            "os": "Linux",
            "python": "3.10.12",
            "packages": {"torch": {"version": torch}, package: {"version": version}},
        }
    )
    return [f for f in diagnose(snap, load_matrix()) if f.code == "package-requires-other-torch"]


def test_a_wheel_of_pypis_release_under_an_ngc_torch_is_rebuilt_from_source() -> None:
    """state-spaces/mamba#50: causal_conv1d-1.0.2+cu122torch2.1cxx11abiTRUE beside NGC 23.06's torch."""
    [f] = _findings("2.1.0a0+4136153", "causal-conv1d", "1.0.2+cu122torch2.1cxx11abiTRUE")
    assert "another build of that version" in f.message
    assert f.fix == (
        "CAUSAL_CONV1D_FORCE_BUILD=TRUE MAX_JOBS=4 pip install --force-reinstall --no-deps --no-cache-dir "
        "--no-build-isolation causal-conv1d==1.0.2"
    )


def test_the_wheel_of_the_installed_torch_raises_nothing() -> None:
    assert not _findings("2.3.1+cu121", "mamba-ssm", "2.2.2+cu122torch2.3cxx11abiFALSE")
    assert not _findings("2.3.1+cu121", "causal-conv1d", "1.4.0")  # built here: no tag to compare


def test_another_torch_minor_cuda_major_or_abi_is_named() -> None:
    [f] = _findings("2.4.0+cu121", "causal-conv1d", "1.4.0+cu122torch2.3cxx11abiFALSE")
    assert (
        "built for torch 2.3" in f.message and f.fix and f.fix.startswith("CAUSAL_CONV1D_FORCE_BUILD=TRUE ")
    )
    [f] = _findings("2.3.1+cu118", "mamba-ssm", "2.2.2+cu122torch2.3cxx11abiFALSE")
    assert "CUDA 12" in f.message and f.fix and f.fix.startswith("MAMBA_FORCE_BUILD=TRUE ")
    [f] = _findings("2.3.1+cu121", "mamba-ssm", "2.2.2+cu122torch2.3cxx11abiTRUE")
    assert "cxx11abiTRUE" in f.message
