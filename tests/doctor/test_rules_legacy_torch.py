"""The doctor on environments with a torch older than the releases it installs (torch 1.x):
judged by what the matrix knows of them ([torch_legacy]), fixed with what it installs."""

from __future__ import annotations

from doctor_helpers import by_code, one, run

from loradoc.compat import load_matrix
from loradoc.doctor.explain import explain
from loradoc.doctor.findings import Severity
from loradoc.doctor.snapshot import Snapshot


def ex(text: str, facts: dict | None = None) -> list:
    return explain(text, Snapshot.from_dict(facts or {}, source="test"), load_matrix())


def test_an_old_torch_is_named_as_such_without_an_upgrade_of_loradoc() -> None:
    f = one(run({"os": "Linux", "packages": {"torch": {"version": "1.9.1"}}}), "torch-not-in-matrix")
    assert f.severity is Severity.INFO and f.fix is None
    assert "older than the releases loradoc installs" in f.message
    unknown = one(run({"os": "Linux", "packages": {"torch": {"version": "2.99.0"}}}), "torch-not-in-matrix")
    assert "pip install -U" in (unknown.fix or "")


def test_a_plain_torch_1_4_on_an_rtx_3090_lacks_its_architecture() -> None:
    """torch 1.4.0 from PyPI bundles CUDA 10.1, older than the first CUDA for sm_86 (uci-cbcl/UFold#20);
    on Python 3.6, which no torch the matrix installs supports, the fix is a venv of a newer Python."""
    s = {
        "os": "Linux",
        "python": "3.6.6",
        "gpus": [{"name": "RTX 3090"}],
        "packages": {"torch": {"version": "1.4.0"}},
    }
    f = one(run(s), "gpu-arch-unsupported-by-torch-build")
    assert "CUDA 10.1" in f.message and "11.1" in f.message
    assert f.fix is not None and f.fix.startswith("python3.") and "-m venv .venv" in f.fix


def test_an_old_release_with_a_build_for_the_gpu_keeps_the_release() -> None:
    """torch 1.8.1 from PyPI is its CUDA 10.2 build, with no sm_86; the release also shipped a CUDA
    11.1 build (Unity-Technologies/ml-agents#5531): that build is the smallest change, a torch the
    matrix installs the alternative. A driver too old for CUDA 11.1 rules the build out, and a
    torchvision beside it (which the matrix does not pair with torch 1.x) keeps the plan."""
    s = {
        "os": "Linux",
        "gpus": [{"name": "GeForce RTX 3070 Ti"}],
        "packages": {"torch": {"version": "1.8.1"}},
    }
    f = one(run(s), "gpu-arch-unsupported-by-torch-build")
    assert f.fix == "pip install torch==1.8.1+cu111 -f https://download.pytorch.org/whl/torch_stable.html"
    assert "torch 1.8.1 also has a CUDA 11.1+ build" in f.message
    assert str(f.details["alternative"]).startswith("pip install torch==2.")
    old_driver = one(run({**s, "driver": {"version": "440.33.01"}}), "gpu-arch-unsupported-by-torch-build")
    assert "1.8.1+cu111" not in (old_driver.fix or "")
    with_vision = {**s, "packages": {"torch": {"version": "1.8.1"}, "torchvision": {"version": "0.9.1"}}}
    assert "1.8.1+cu111" not in (one(run(with_vision), "gpu-arch-unsupported-by-torch-build").fix or "")


def test_a_plain_torch_1_3_needs_the_driver_of_cuda_10_1() -> None:
    s = {
        "os": "Linux",
        "gpus": [{"name": "GTX 1080 Ti"}],
        "driver": {"version": "410.48"},
        "packages": {"torch": {"version": "1.3.0"}},
    }
    assert by_code(run(s), "driver-too-old-for-torch-cuda")
    newer = {**s, "driver": {"version": "418.87.01"}}
    assert not by_code(run(newer), "driver-too-old-for-torch-cuda")


def test_a_pinned_old_torch_without_wheels_for_this_python_gets_a_venv_of_its_newest_python() -> None:
    """InvokeAI pinned torch==1.12.1 on Python 3.11 (invoke-ai/InvokeAI#2253): its wheels end at 3.10."""
    log = (
        "ERROR: Could not find a version that satisfies the requirement torch==1.12.1 (from versions: none)\n"
        "ERROR: No matching distribution found for torch==1.12.1\n"
    )
    f = one(ex(log, {"os": "Windows", "python": "3.11.1"}), "python-unsupported-by-torch")
    assert f.fix == r"py -3.10-64 -m venv .venv && .venv\Scripts\activate && pip install torch==1.12.1"


def test_the_xformers_built_for_torch_1_13_is_named() -> None:
    s = {"os": "Windows", "python": "3.10", "packages": {"torch": {"version": "1.13.1+cu117"}}}
    f = one(run(s), "xformers-torch-mismatch")
    assert "xformers==0.0.16" in (f.fix or "")


def test_a_torchvision_fix_for_an_old_torch_takes_it_from_pypi() -> None:
    """The inferred build of an old torch is PyPI's: its companion comes from there, not from an index."""
    s = {
        "packages": {
            "torch": {"version": "1.12.1"},
            "torchvision": {"version": "0.15.2", "requires": ["torch==2.0.1"]},
        }
    }
    f = one(run(s), "package-requires-other-torch")
    assert f.fix == 'pip install "torch==1.12.1" torchvision'


def test_extension_modules_built_for_another_torch_are_read_wherever_they_sit() -> None:
    """A package's own _ext/_torchaudio module, in a checkout or site-packages, with an undefined
    symbol of torch's C++ API (Kaggle/docker-python#858, open-mmlab/mmcv#1734)."""
    audio = ex(
        "OSError: /opt/conda/lib/python3.7/site-packages/torchaudio/_torchaudio.so: "
        "undefined symbol: _ZNK2at6Tensor6deviceEv"
    )
    assert "torchaudio" in (one(audio, "package-requires-other-torch").fix or "")
    mmcv = ex("/mmcv/_ext.cpython-37m-x86_64-linux-gnu.so: undefined symbol: _ZNK2at6Tensor7is_cudaEv")
    assert by_code(mmcv, "package-requires-other-torch")
    wrapped = ex(
        "ImportError: .../src/_sox.cpython-36m-x86_64-linux-gnu.so: \nundefined symbol: _ZN2at5emptyEv"
    )
    assert by_code(wrapped, "package-requires-other-torch")
    assert not by_code(
        ex("torch/_C.cpython-310-x86_64-linux-gnu.so: undefined symbol: _ZN3c104hash"),
        "package-requires-other-torch",
    )


def test_a_cut_no_kernel_image_line_is_still_read() -> None:
    for text in (
        "RuntimeError: no kernel image is available",
        "cudaErrorNoKernelImageForDevice",
        "CUDA_ERROR_NO_BINARY_FOR_GPU",
    ):
        assert by_code(ex(text), "gpu-arch-unsupported-by-torch-build"), text


def test_a_driver_that_runs_no_listed_torch_is_offered_the_newest_old_build_it_runs() -> None:
    """Colab's CUDA 10.1 driver in 2020 (yfeng95/DECA#7): no torch 2.x runs on it, so beside the
    driver upgrade comes torch 1.8.1+cu101, as the previous-versions page installs it."""
    log = "AssertionError: \nThe NVIDIA driver on your system is too old (found version 10010).\n"
    f = one(ex(log, {"driver": {"cuda_max": "10.1"}}), "driver-too-old-for-torch-cuda")
    assert f.fix is not None
    upgrade, alternative = f.fix.split("\nor: ")
    assert upgrade.startswith("sudo apt-get install -y nvidia-driver-")
    assert (
        alternative == "pip install torch==1.8.1+cu101 -f https://download.pytorch.org/whl/torch_stable.html"
    )
    # on Python 3.11 no torch 1.x has wheels: only the upgrade
    f311 = one(ex(log, {"python": "3.11", "driver": {"cuda_max": "10.1"}}), "driver-too-old-for-torch-cuda")
    assert "\nor: " not in (f311.fix or "")
    # check: torch 1.7.1 from PyPI (CUDA 10.2) on driver 435 (ultralytics/yolov5#2389)
    s = {
        "os": "Linux",
        "gpus": [{"name": "GTX 1080"}],
        "driver": {"version": "435.21"},
        "packages": {"torch": {"version": "1.7.1"}},
    }
    c = one(run(s), "driver-too-old-for-torch-cuda")
    assert (
        c.details["alternative"]
        == "pip install torch==1.8.1+cu101 -f https://download.pytorch.org/whl/torch_stable.html"
    )


def test_old_builds_install_the_way_the_previous_versions_page_says() -> None:
    m = load_matrix()
    assert m.legacy_torch_for_driver(driver="440.33") == "pip install torch==1.12.1"  # PyPI's build is cu102
    assert m.legacy_torch_for_driver(driver="441.22", os="windows") == (
        "pip install torch==1.12.1+cu102 --extra-index-url https://download.pytorch.org/whl/cu102"
    )
    assert m.legacy_torch_for_driver(driver="396.37") == (
        "pip install torch==1.7.1+cu92 -f https://download.pytorch.org/whl/torch_stable.html"
    )
    assert m.legacy_torch_for_driver(driver="390.12", os="windows") == (
        "pip install torch==1.1.0 -f https://download.pytorch.org/whl/cu90/torch_stable.html"
    )
    assert m.legacy_torch_for_driver(driver="375.26") is None  # older than every 1.x build
    assert m.legacy_torch_for_driver(driver="418.67", os="darwin") is None
    assert m.legacy_torch_for_driver() is None


def test_the_driver_api_version_of_cuda_9_reads_as_9_1() -> None:
    f = one(
        ex("The NVIDIA driver on your system is too old (found version 9010)."),
        "driver-too-old-for-torch-cuda",
    )
    assert "CUDA <= 9.1" in f.message


def test_a_pinned_old_cuda_build_without_wheels_for_this_python_keeps_its_build() -> None:
    """torch==1.11.0+cu113 found no wheel (zeyad-mansour/lunar#226): a venv of a Python that release
    has wheels for, and the pinned CUDA build from its index, as the previous-versions page installs it."""
    log = "ERROR: Could not find a version that satisfies the requirement torch==1.11.0+cu113 (from versions: none)"
    f = one(ex(log, {"python": "3.11"}), "python-unsupported-by-torch")
    assert f.fix == (
        "python3.10 -m venv .venv && . .venv/bin/activate && "
        "pip install torch==1.11.0+cu113 --extra-index-url https://download.pytorch.org/whl/cu113"
    )
    m = load_matrix()
    assert m.legacy_install_command("1.8.1", "cu111") == (
        "pip install torch==1.8.1+cu111 -f https://download.pytorch.org/whl/torch_stable.html"
    )
    assert m.legacy_install_command("1.8.1", "cu113") is None  # no such build
    assert m.legacy_install_command("2.5.1", "cu121") is None  # not a 1.x release


def test_a_torchvision_fix_for_an_old_cuda_build_installs_it_as_it_was_published() -> None:
    """torch 1.9.0+cu111 (from the find-links page) with a torchvision pinned to another torch."""
    s = {
        "os": "Linux",
        "packages": {
            "torch": {"version": "1.9.0+cu111"},
            "torchvision": {"version": "0.15.2", "requires": ["torch==2.0.1"]},
        },
    }
    f = one(run(s), "package-requires-other-torch")
    assert (
        f.fix
        == "pip install torch==1.9.0+cu111 -f https://download.pytorch.org/whl/torch_stable.html torchvision"
    )
