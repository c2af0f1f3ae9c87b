"""The queries other code calls, against facts stated in compat-facts.md."""

from __future__ import annotations

import pytest
from packaging.version import Version

from loradoc.compat import Matrix, load_matrix


class TestTorch:
    def test_release_lookup_accepts_local_tags(self, matrix: Matrix) -> None:
        rel = matrix.torch_release("2.5.1+cu124")
        assert rel is not None and rel.series == "2.5"
        assert matrix.torch_release("3.0.0") is None
        assert matrix.is_known_torch("2.5.1+cu121") and not matrix.is_known_torch("2.5.2")

    def test_variants(self, matrix: Matrix) -> None:
        assert matrix.variants_for("2.5.1") == ["cu118", "cu121", "cu124"]
        assert matrix.variants_for("2.7.0") == ["cu118", "cu126", "cu128"]
        assert matrix.variants_for("2.7.0", experimental=False) == ["cu118", "cu126"]
        assert matrix.variants_for("2.12.0") == ["cu126", "cu130", "cu132"]
        assert "cu128" not in matrix.variants_for("2.12.1")  # dropped, pytorch#178665
        assert matrix.variants_for("2.14.0", machine="aarch64") == ["cu126", "cu130", "cu132"]
        assert matrix.variants_for("9.9") == []

    @pytest.mark.parametrize(
        ("torch", "os", "variant"),
        [
            ("2.0.1", "linux", "cu117"),
            ("2.1.0", "Linux", "cu121"),
            ("2.5.1", "linux", "cu124"),
            ("2.7.1", "linux", "cu126"),
            ("2.10.0", "linux", "cu128"),
            ("2.11.0", "linux", "cu130"),
            ("2.14.1", "linux", "cu130"),
            ("2.15.0", "linux", "cu132"),
            ("2.5.1", "Windows", "cpu"),
            ("2.5.1", "darwin", "cpu"),
        ],
    )
    def test_pypi_default(self, matrix: Matrix, torch: str, os: str, variant: str) -> None:
        assert matrix.default_variant(torch, os) == variant

    @pytest.mark.parametrize(
        ("torch", "variant"), [("2.5.1", "cpu"), ("2.10.0", "cpu"), ("2.11.0", "cu130"), ("2.15.0", "cu132")]
    )
    def test_pypi_default_on_linux_aarch64(self, matrix: Matrix, torch: str, variant: str) -> None:
        """PyPI's aarch64 wheels were CPU builds until their CUDA requirements lost the x86_64
        marker (2.11); the x86_64 default for the same release is a CUDA build throughout."""
        assert matrix.default_variant(torch, "linux", "aarch64") == variant
        assert matrix.default_variant(torch, "linux", "arm64") == variant
        assert matrix.default_variant(torch, "linux", "x86_64") != "cpu"

    def test_index_and_command(self, matrix: Matrix) -> None:
        assert matrix.index_url("cu121") == "https://download.pytorch.org/whl/cu121"
        assert (
            matrix.torch_install_command("2.5.1+cu124", "cu121", extra=("torchvision",))
            == "pip install torch==2.5.1 torchvision --index-url https://download.pytorch.org/whl/cu121"
        )
        assert matrix.torch_install_command("2.5.1", "cpu", os="Darwin") == "pip install torch==2.5.1"

    def test_python_support(self, matrix: Matrix) -> None:
        # 2.5's cp313 wheels are Linux x86_64's only (PyPI's files): not Windows, macOS or aarch64
        assert matrix.python_supported("2.5.1", "3.13.0", "Linux") is True
        assert matrix.python_supported("2.5.1", "3.13.0", "linux", "aarch64") is False
        for system in ("Windows", "Darwin", None):  # with the OS unknown: wheels on every OS
            assert matrix.python_supported("2.5.1", "3.13.0", system) is False
            assert matrix.torch_pythons("2.5.1", system) == ("3.9", "3.10", "3.11", "3.12")
        assert matrix.python_supported("2.6.0", "3.13.0", "Windows") is True
        assert matrix.python_supported("2.5.1", "3.8.10") is False  # metadata >=3.8, but no cp38 wheel
        assert matrix.python_supported("2.9.0", "3.9.18") is False
        assert matrix.python_supported("2.15.0", "3.10.12") is False
        assert matrix.python_supported("2.13.0", "3.15.0") is False  # [RM] says <=3.15; PyPI has no cp315
        assert matrix.python_supported("2.5.1", None) is None

    def test_cxx11_abi(self, matrix: Matrix) -> None:
        assert matrix.torch_cxx11_abi("2.5.1+cu124") is False
        assert matrix.torch_cxx11_abi("2.6.0+cu124") is False
        assert matrix.torch_cxx11_abi("2.6.0+cu126") is True  # pytorch#143962
        assert matrix.torch_cxx11_abi("2.7.0") is True

    def test_glibc(self, matrix: Matrix) -> None:
        assert matrix.glibc_floor("2.6.0") == "2.5"
        assert matrix.glibc_floor("2.7.0") == "2.28"

    @pytest.mark.parametrize(
        ("version", "kw", "expected"),
        [
            ("2.5.1+cu121", {}, ("cu121", False)),
            ("2.5.1", {"cuda": "12.4"}, ("cu124", False)),
            ("2.5.1+cpu", {}, ("cpu", False)),
            ("2.5.1", {"os": "Linux"}, ("cu124", True)),
            ("2.5.1", {"os": "Windows"}, ("cpu", True)),
            ("2.5.1", {"complete": True}, ("cpu", False)),
            ("2.5.1+rocm6.2", {}, ("rocm6.2", False)),
        ],
    )
    def test_variant_of_installed_torch(
        self, matrix: Matrix, version: str, kw: dict, expected: tuple
    ) -> None:
        assert matrix.torch_variant_of(version, **kw) == expected


class TestDriver:
    def test_min_driver(self, matrix: Matrix) -> None:
        assert matrix.min_driver("12.4") == "550.54.14"
        assert matrix.min_driver("12.4.127", "windows") == "551.61"
        assert matrix.min_driver("13.0", "linux") == "580.65.06"
        assert matrix.min_driver("13.0", "windows") is None  # N/A in NVIDIA's table
        assert matrix.min_driver("99.9") is None

    @pytest.mark.parametrize(
        ("driver", "cuda", "os", "expected"),
        [
            ("550.54.15", "12.4", "linux", (True, False)),
            ("535.104.05", "12.4", "linux", (True, True)),  # minor-version compatibility
            ("525.60.13", "12.8", "linux", (True, True)),
            ("520.61.05", "12.1", "linux", (False, False)),
            ("570.133.20", "13.0", "linux", (False, False)),  # crossing a major is never covered
            ("580.65.06", "13.2", "linux", (True, True)),
            ("595.45.04", "13.2", "linux", (True, False)),
            ("581.57", "13.0", "windows", (True, False)),
            ("528.33", "12.6", "windows", (True, True)),
            ("470.82.01", "11.8", "linux", (True, True)),
        ],
    )
    def test_driver_covers(self, matrix: Matrix, driver: str, cuda: str, os: str, expected: tuple) -> None:
        assert matrix.driver_covers(driver, cuda, os) == expected

    def test_cuda_max_covers(self, matrix: Matrix) -> None:
        assert matrix.cuda_max_covers("12.8", "12.6") == (True, False)
        assert matrix.cuda_max_covers("12.2", "12.4") == (True, True)
        assert matrix.cuda_max_covers("12.8", "13.0") == (False, False)

    def test_coverage_prefers_the_driver_version(self, matrix: Matrix) -> None:
        cov = matrix.coverage("12.4", driver="550.54.15", cuda_max="12.2")
        assert (cov.ok, cov.via_minor_compat, cov.basis) == (True, False, "driver")
        assert matrix.coverage("12.4").ok is None

    def test_driver_max_cuda(self, matrix: Matrix) -> None:
        assert matrix.driver_max_cuda("570.86.10") == "12.8"
        assert matrix.driver_max_cuda("535.104.05") == "12.2"
        assert matrix.driver_max_cuda("595.58.03") == "13.2"
        assert matrix.driver_max_cuda("580.95.05", "windows") == "13.0"
        assert matrix.driver_max_cuda("418.87") == "10.1"  # the table reaches back to CUDA 8.0
        assert matrix.driver_max_cuda("360.1") is None


class TestArchs:
    def test_arch_lists(self, matrix: Matrix) -> None:
        assert "6.1" not in matrix.archs_for("2.7.1", "cu128").sass  # type: ignore[union-attr]
        assert "7.0" in matrix.archs_for("2.8.0", "cu128").sass  # type: ignore[union-attr]  Volta restored
        assert "7.0" not in matrix.archs_for("2.11.0", "cu128").sass  # type: ignore[union-attr]
        assert matrix.archs_for("2.13.0", "cu130", "aarch64").sass[-2:] == ("11.0", "12.0")  # type: ignore[union-attr]
        assert matrix.archs_for("2.5.1", "cu999") is None

    @pytest.mark.parametrize(
        ("torch", "variant", "cc", "os", "expected"),
        [
            ("2.5.1", "cu124", "8.9", "linux", "sass"),  # Ada runs sm_86 SASS
            ("2.5.1", "cu124", "12.0", "linux", None),  # RTX 5090 on cu124
            ("2.7.1", "cu128", "12.0", "linux", "sass"),
            ("2.7.1", "cu128", "6.1", "linux", None),  # GTX 1080 on 2.7 cu128
            ("2.7.1", "cu128", "7.0", "linux", None),  # V100
            ("2.8.0", "cu128", "7.0", "linux", "sass"),
            ("2.13.0", "cu130", "13.0", "linux", "ptx"),  # a future major: only PTX JIT
            ("2.13.0", "cu130", "13.0", "windows", None),  # Windows cu13x builds carry no PTX
            ("2.13.0", "cu126", "8.7", "linux", None),  # Jetson Orin: integrated, exact SASS only
            ("2.13.0", "cu126", "3.7", "linux", None),
        ],
    )
    def test_arch_support(
        self, matrix: Matrix, torch: str, variant: str, cc: str, os: str, expected: str | None
    ) -> None:
        entry = matrix.archs_for(torch, variant)
        assert entry is not None
        assert matrix.arch_support(entry, cc, os) == expected

    @pytest.mark.parametrize(
        ("name", "cc"),
        [
            ("NVIDIA A100-SXM4-80GB", "8.0"),
            ("NVIDIA A100 80GB PCIe", "8.0"),
            ("NVIDIA A10G", "8.6"),
            ("NVIDIA A10", "8.6"),
            ("Tesla T4", "7.5"),
            ("Tesla V100-SXM2-16GB", "7.0"),
            ("Tesla K80", "3.7"),
            ("NVIDIA H100 80GB HBM3", "9.0"),
            ("NVIDIA H200", "9.0"),
            ("NVIDIA H20", "9.0"),
            ("NVIDIA L40S", "8.9"),
            ("NVIDIA L40", "8.9"),
            ("NVIDIA L4", "8.9"),
            ("NVIDIA B200", "10.0"),
            ("NVIDIA GB200", "10.0"),
            ("NVIDIA GeForce RTX 4090", "8.9"),
            ("NVIDIA GeForce RTX 3060 Ti", "8.6"),
            ("NVIDIA GeForce RTX 5090", "12.0"),
            ("RTX5090", "12.0"),
            ("NVIDIA GeForce GTX 1080 Ti", "6.1"),
            ("NVIDIA TITAN V", "7.0"),
            ("NVIDIA RTX A6000", "8.6"),
            ("NVIDIA RTX 6000 Ada Generation", "8.9"),
            ("Quadro RTX 6000", "7.5"),
            ("Quadro RTX 8000", "7.5"),
            ("NVIDIA GeForce RTX 4090 Laptop GPU", "8.9"),
            # as bug reports write them: a GeForce model number alone, suffixes glued on
            ("5070 ti", "12.0"),
            ("1080ti", "6.1"),
            ("RTX4090D", "8.9"),
            ("3090", "8.6"),
            ("RTX 8000", "7.5"),  # the Quadro's, the only "RTX 8000" (Dao-AILab/flash-attention#1513)
        ],
    )
    def test_gpu_names(self, matrix: Matrix, name: str, cc: str) -> None:
        assert matrix.gpu_cc(name) == cc

    def test_unknown_gpu_names(self, matrix: Matrix) -> None:
        assert matrix.gpu_cc("AMD Instinct MI300X") is None
        assert matrix.gpu_cc("6000") is None and matrix.gpu_cc("RTX 6000") is None  # Quadro, Ada or PRO
        assert matrix.gpu_cc("RTX 4000") is None  # Quadro RTX 4000 (7.5) or RTX 4000 Ada (8.9)
        assert matrix.gpu_cc("") is None
        assert matrix.gpu_cc(None) is None

    def test_module_level_gpu_cc(self) -> None:
        from loradoc import compat

        assert compat.gpu_cc("NVIDIA A100-SXM4-40GB") == "8.0"


class TestPackages:
    @pytest.mark.parametrize(
        ("torch", "xformers"),
        [
            ("2.0.1", "0.0.22"),
            ("2.1.0", "0.0.22.post7"),
            ("2.1.2+cu121", "0.0.23.post1"),
            ("2.4.1", "0.0.28.post1"),
            ("2.5.1", "0.0.29.post1"),
            ("2.6.0", "0.0.29.post3"),
            ("2.7.1", "0.0.31.post1"),
            ("2.9.1", "0.0.33.post2"),
            ("2.10.0", "0.0.35"),
            ("2.13.0", "0.0.35"),
        ],
    )
    def test_xformers_for_torch(self, matrix: Matrix, torch: str, xformers: str) -> None:
        rel = matrix.xformers_for_torch(torch)
        assert rel is not None and rel.version == xformers

    def test_xformers_python_filter_and_gaps(self, matrix: Matrix) -> None:
        assert matrix.xformers_for_torch("2.0.0").version == "0.0.19"  # type: ignore[union-attr]
        assert matrix.xformers_for_torch("1.13.0") is None  # no wheel pins 1.13.0
        assert matrix.xformers_for_torch("1.13.1", python="3.11") is None  # 0.0.16: cp37-cp310 only
        assert matrix.xformers_for_torch("2.4.1", python="3.13") is None  # cp38-cp312 only

    def test_xformers_git_pin_is_a_commit(self, matrix: Matrix) -> None:
        pin = matrix.xformers_git_pin("2.1.0+cu121")
        assert pin is not None and len(pin.commit) == 40
        cmd = matrix.xformers_source_build_command(pin)
        assert cmd.startswith(
            "pip install -v --no-build-isolation -U git+https://github.com/facebookresearch/xformers.git@"
        )
        assert cmd.endswith(f"@{pin.commit}#egg=xformers")
        assert matrix.xformers_git_pin("2.5.1") is None

    def test_xformers_stable_abi(self, matrix: Matrix) -> None:
        assert matrix.xformers_stable_abi("0.0.33.post2") is False
        assert matrix.xformers_stable_abi("0.0.34") is True

    def test_xformers_install_command(self, matrix: Matrix) -> None:
        rel = matrix.xformers_release("0.0.35")
        assert rel is not None
        assert matrix.xformers_install_command(rel) == "pip install xformers==0.0.35"
        assert (
            matrix.xformers_install_command(rel, "cu130")
            == "pip install xformers==0.0.35 --index-url https://download.pytorch.org/whl/cu130"
        )

    def test_flash_attn_wheels(self, matrix: Matrix) -> None:
        w = matrix.flash_attn_wheel("2.6.0+cu124", "12.4", False, "3.11.7")
        assert w is not None
        assert w.filename == "flash_attn-2.8.3.post1+cu12torch2.6cxx11abiFALSE-cp311-cp311-linux_x86_64.whl"
        assert w.url.startswith(
            "https://github.com/Dao-AILab/flash-attention/releases/download/v2.8.3.post1/"
        )
        old = matrix.flash_attn_wheel("2.3.0", "12.1", True, "3.10", version="2.5.8")
        assert (
            old is not None
            and old.filename == "flash_attn-2.5.8+cu122torch2.3cxx11abiTRUE-cp310-cp310-linux_x86_64.whl"
        )
        cu118 = matrix.flash_attn_wheel("2.1.2", "11.8", False, "3.10")
        assert cu118 is not None and "+cu11torch2.1" in cu118.filename and cu118.version == "2.7.0.post2"

    def test_flash_attn_unverified_release_only_when_needed(self, matrix: Matrix) -> None:
        w = matrix.flash_attn_wheel("2.9.1", "13.0", True, "3.12")
        assert w is not None and w.version == "2.8.3.post2" and w.verified is False
        assert matrix.flash_attn_wheel("2.9.1", "13.0", False, "3.12") is None  # TRUE only from 2.7
        assert matrix.flash_attn_wheel("2.5.1", "12.4", False, None) is None

    def test_flash_attn_release_workflows_and_platforms(self, matrix: Matrix) -> None:
        # 2.8.0.post2-2.8.2 built torch 2.4-2.7 only; 2.8.3 is the first with torch 2.8 wheels
        assert matrix.flash_attn_wheel("2.8.0", "12.8", True, "3.11", version="2.8.2") is None
        w = matrix.flash_attn_wheel("2.8.0", "12.8", True, "3.11")
        assert w is not None and w.version == "2.8.3.post1"
        # aarch64 wheels only where the release ships them; the filename names the platform
        arm = matrix.flash_attn_wheel("2.8.0", "12.9", True, "3.12", machine="aarch64")
        assert (
            arm is not None and arm.version == "2.8.3.post2" and arm.filename.endswith("-linux_aarch64.whl")
        )
        assert matrix.flash_attn_wheel("2.5.1", "12.4", False, "3.11", machine="aarch64") is None

    def test_flash_attn_gpu_floor(self, matrix: Matrix) -> None:
        assert matrix.flash_attn_supports_cc("8.0") is True
        assert matrix.flash_attn_supports_cc("7.5") is False

    def test_bitsandbytes(self, matrix: Matrix) -> None:
        assert matrix.bnb_release("0.45.5").torch == ">=2.0,<3"  # type: ignore[union-attr]
        assert matrix.bnb_release("0.42.0").pure_python is True  # type: ignore[union-attr]
        assert matrix.bnb_release("0.44.0") is None
        assert matrix.bnb_selects_by_torch("0.43.0") is False
        assert matrix.bnb_selects_by_torch("0.43.1") is True
        libs = ("cpu", "cuda118", "cuda121", "cuda124", "cuda126", "cuda128")
        assert matrix.bnb_library_for("12.4", libs, "0.50.1") == "cuda124"
        assert matrix.bnb_library_for("12.5", libs, "0.50.1") == "cuda124"  # highest same-major below
        assert matrix.bnb_library_for("11.7", libs, "0.50.1") == "cuda118"  # else lowest same-major above
        assert matrix.bnb_library_for("13.0", libs, "0.50.1") is None  # never across majors
        # before 0.50.0 only the exact library loads (bitsandbytes-foundation/bitsandbytes#1688)
        assert matrix.bnb_library_for("12.5", libs, "0.49.2") is None
        assert matrix.bnb_library_for("12.4", libs, "0.46.0") == "cuda124"
        assert matrix.bnb_library_for("12.5", libs, None) is None  # an unknown release: exact only
        assert matrix.bnb_target("12.8").min_cc == "7.0"  # type: ignore[union-attr]
        rel = matrix.bnb_for_cuda("13.0", "2.11.0", "3.11")
        assert rel is not None and "cuda130" in (rel.cuda_libs or ())
        assert matrix.bnb_install_command(rel) == 'pip install -U "bitsandbytes>=0.50.0"'

    def test_hf_floors(self, matrix: Matrix) -> None:
        row = matrix.hf_floor("transformers", "5.24.0")
        assert row is not None and row.torch == ">=2.6" and row.runtime_torch_floor and row.python == ">=3.11"
        assert matrix.hf_floor("transformers", "4.52.4").torch == ">=2.1,<2.7"  # type: ignore[union-attr]
        assert matrix.hf_floor("accelerate", "1.15.0").torch == ">=2.0.0"  # type: ignore[union-attr]
        assert matrix.hf_floor("trl", "1.16.0").python == ">=3.11"  # type: ignore[union-attr]
        compat = matrix.hf_compatible("transformers", "2.5.1")
        assert compat is not None and matrix.hf_pin_below(compat) == "transformers<5.20"

    def test_transformers_packed_sequence_detection(self, matrix: Matrix) -> None:
        assert matrix.transformers.packed_sequence_detection_min == "4.54.0"
        assert "trainer-anchors" in matrix.transformers.source
        assert matrix.transformers_masks_packed_rows("4.53.0") is False
        assert matrix.transformers_masks_packed_rows("4.54.0") is True
        assert matrix.transformers_masks_packed_rows("5.24.0.dev0") is True
        assert matrix.transformers_masks_packed_rows(None) is None
        assert matrix.transformers_masks_packed_rows("not a version") is None


def test_flash_attn_release_for_a_torch_series_without_its_python() -> None:
    """Python or the ABI unknown: no wheel file can be named, but the newest release with wheels
    for torch's series (under every CUDA asked for) can; its setup fetches the right file."""
    m = load_matrix()
    newest_12 = m.flash_attn_for_torch("2.3.1", ["12.1"], None, None)
    both = m.flash_attn_for_torch("2.3.1", ["11.8", "12.1"], None, None)
    assert newest_12 is not None and both is not None
    for version, cudas in ((newest_12, ["12.1"]), (both, ["11.8", "12.1"])):
        rel = m.flash_attn_release(version)
        assert rel is not None
        built = {c.split(".")[0] for b in rel.builds if "2.3" in b.torch for c in b.cuda}
        assert {c.split(".")[0] for c in cudas} <= built
    assert Version(both) <= Version(newest_12)  # asking for CUDA 11 too can only go back
    assert m.flash_attn_for_torch("1.0", ["12.1"], None, None) is None
    assert m.flash_attn_for_torch("2.3.1", ["12.1"], None, "3.6") is None  # no wheel for cp36


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("2080s", "RTX 2080"),  # "Super" as users write it
        ("GTX 750Ti", "GTX 750 Ti"),
        ("A6000", "RTX A6000"),  # the RTX A cards without "RTX"
        ("NVIDIA GeForce GTX 760", "GTX 760"),  # Kepler and Maxwell GeForce
        ("A100", "A100"),  # not taken for an RTX A card
        ("Tesla K40m", "Tesla K40m"),
    ],
)
def test_gpu_names_as_reports_write_them(matrix: Matrix, name: str, listed: str) -> None:
    match = matrix.gpu_lookup(name)
    assert match is not None and match[0] == listed


def test_first_cuda_for_a_compute_capability(matrix: Matrix) -> None:
    assert matrix.first_cuda("8.6") == "11.1" and matrix.first_cuda("12.0") == "12.8"
    assert matrix.first_cuda("6.1") is None and matrix.first_cuda(None) is None


def test_a_release_whose_windows_wheels_need_a_missing_dll_points_at_its_fixed_patch(matrix: Matrix) -> None:
    assert matrix.windows_dll_fixed_in("2.4.0+cu121") == "2.4.1"
    assert matrix.windows_dll_fixed_in("2.4.1") is None  # the fixed one itself
    assert matrix.windows_dll_fixed_in("2.5.1") is None
    assert matrix.windows_dll_fixed_in(None) is None
