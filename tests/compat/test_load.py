"""Loading and validating the matrix: the shipped data, and malformed files naming the entry."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from loradoc.compat import Matrix, MatrixError, load_matrix
from loradoc.compat.load import check_error_regexes
from loradoc.compat.versions import variant_cuda

EXPECTED_TORCH = [
    "2.0.0",
    "2.0.1",
    "2.1.0",
    "2.1.1",
    "2.1.2",
    "2.2.0",
    "2.2.1",
    "2.2.2",
    "2.3.0",
    "2.3.1",
    "2.4.0",
    "2.4.1",
    "2.5.0",
    "2.5.1",
    "2.6.0",
    "2.7.0",
    "2.7.1",
    "2.8.0",
    "2.9.0",
    "2.9.1",
    "2.10.0",
    "2.11.0",
    "2.12.0",
    "2.12.1",
    "2.13.0",
    "2.14.0",
    "2.14.1",
    "2.15.0",
]


def test_shipped_matrix_loads_and_is_cached(matrix: Matrix) -> None:
    assert load_matrix() is matrix
    assert matrix.origin == "compat/matrix.toml"
    assert matrix.torch_versions() == EXPECTED_TORCH
    assert matrix.latest_torch() == "2.15.0"


def test_every_fact_has_a_source(matrix: Matrix) -> None:
    records = [
        *matrix.torch,
        *matrix.toolkits,
        *matrix.minor_compat,
        *matrix.archs,
        *matrix.gpu_tables,
        *matrix.xformers.releases,
        *matrix.xformers.git_pins,
        *matrix.flash_attn.releases,
        *matrix.bitsandbytes.releases,
        *matrix.bitsandbytes.targets,
        *matrix.hf,
        *matrix.errors,
        matrix.precision,
        matrix.xformers,
        matrix.flash_attn,
        matrix.bitsandbytes,
        matrix.transformers,
    ]
    assert all(r.source.strip() for r in records)


def test_unverified_facts_are_marked(matrix: Matrix) -> None:
    assert matrix.torch_release("2.15.0").variants_verified is False  # type: ignore[union-attr]
    assert matrix.archs_for("2.0.1", "cu117").verified is False  # type: ignore[union-attr]
    assert matrix.archs_for("2.5.1", "cu121").verified is True  # type: ignore[union-attr]
    assert matrix.xformers_git_pin("2.1.0").verified is False  # type: ignore[union-attr]
    assert matrix.flash_attn_release("2.8.3.post2").verified is False  # type: ignore[union-attr]


def test_gpu_table_is_broad(matrix: Matrix) -> None:
    names = {n for t in matrix.gpu_tables for n in t.cc}
    assert len(names) >= 60
    for needed in (
        "K80",
        "P100",
        "V100",
        "T4",
        "A10G",
        "A100",
        "L40S",
        "H100",
        "H200",
        "H20",
        "B200",
        "GB200",
        "GTX 1080 Ti",
        "TITAN V",
        "RTX 2080 Ti",
        "RTX 3090 Ti",
        "RTX 4090",
        "RTX 5090",
        "RTX A6000",
        "RTX 6000 Ada",
        "Quadro RTX 8000",
    ):
        assert needed in names, needed


def test_every_variant_has_a_driver_floor_and_archs(matrix: Matrix) -> None:
    for rel in matrix.torch:
        for variant in rel.all_variants:
            assert matrix.min_driver(variant_cuda(variant), "linux"), (rel.series, variant)
            for version in rel.versions:
                assert matrix.archs_for(version, variant) is not None, (version, variant)


def test_packaged_files_are_shipped() -> None:
    names = {p.name for p in resources.files("loradoc.compat_data").iterdir()}
    assert {"matrix.toml", "errors.toml", "README.md"} <= names


def test_copy_of_matrix_loads_from_a_path(matrix_text: str, write_matrix) -> None:
    m = load_matrix(write_matrix(matrix_text))
    assert m.torch_versions() == EXPECTED_TORCH
    assert m.errors, "errors.toml falls back to the shipped one when no sibling exists"


BROKEN = [
    # (replace this, with that, error must match)
    (
        'variants = ["cu118", "cu121"]\nexperimental = ["cu124"]',
        'variants = ["cu118", "cu121"]\nexperimental = ["cu999"]',
        r'matrix.toml: torch\."2\.4": cuda variant \'cu999\' has no driver floor',
    ),
    (
        'source = "[RM]; [PIP]; [PYPI]; cu126 builds',
        'sauce = "[RM]; [PIP]; [PYPI]; cu126 builds',
        r'torch\."2\.6": (unknown key \'sauce\'|has no source)',
    ),
    ('source = "[NV-T3] (GA and U1 share the floor)"', 'source = ""', r"cuda_toolkit\[18\]: has no source"),
    (
        '[torch_legacy."1.13"]\nreleases = ["1.13.0", "1.13.1"]',
        '[torch_legacy."2.0"]\nreleases = ["2.0.0", "2.0.1"]',
        r'torch_legacy\."2\.0" is not older than torch\."2\.0"',
    ),
    (
        'variants = ["cu116", "cu117"]\npypi_default = "cu117"',
        'variants = ["cu116", "cu117"]\npypi_default = "cu118"',
        r'torch_legacy\."1\.13": pypi_default \'cu118\' is not one of its variants',
    ),
    (
        'releases = ["1.13.0", "1.13.1"]',
        'releases = ["1.13.0", "1.12.1"]',
        r"release '1\.12\.1' is not in series '1\.13'",
    ),
    (
        'variants = ["cu116", "cu117"]',
        'variants = ["cu116", "cu117", "cu119"]',
        r"torch_legacy\.\"1\.13\": cuda variant 'cu119' has no driver floor",
    ),
    (
        'torch = ">=2.8,<2.11"',
        'torch = ">=2.8,<<2.11"',
        r"archs\[\d+\]: torch '>=2.8,<<2.11' is not a valid version specifier",
    ),
    (
        'commit = "be4f584ef8a410038ba74950460d93c794631dc6"',
        'commit = "main"',
        r"xformers\.git_pin\[0\]: commit 'main' must be a full 40-hex commit, never a branch",
    ),
    (
        'source = "[PIP]; [PYPI]; RFC pytorch#190385"',
        'source = "[NOPE]; RFC pytorch#190385"',
        r"source cites \[NOPE\], which \[sources\] does not define",
    ),
    (
        '{ version = "2.5.1", date = "2024-10-29" }',
        '{ version = "2.6.1", date = "2024-10-29" }',
        r"torch\.\"2\.5\": release '2\.6\.1' does not belong to series 2\.5",
    ),
    ('"A100" = "8.0"', '"A100" = "eight"', r"gpu_table\[0\]\.cc: 'A100' 'eight' is not a compute capability"),
    ('"RTX 4090" = "8.9"', '"RTX 4090" = "8.9"\n"rtx  4090" = "8.9"', r"'rtx  4090' is listed twice"),
    (
        'sass = ["5.0", "6.0", "7.0", "7.5", "8.0", "8.6", "9.0"]\nsource = "pip get_arch_list() reports for 2.2.1',
        'sass = ["5.0", "6.0", "7.0", "7.5", "8.0", "8.6", "9.0"]\nmachine = "riscv"\nsource = "pip get_arch_list() reports for 2.2.1',
        r"archs\[2\]: machine 'riscv' should be x86_64 or aarch64",
    ),
    ('cuda_tag = "major_minor"', 'cuda_tag = "minor"', r"flash_attn\.release\[0\]: cuda_tag 'minor'"),
    (
        'versions = "==0.45.5"',
        'versions = "=0.45.5"',
        r"bitsandbytes\.release\[2\]: versions '=0\.45\.5' is not a valid",
    ),
    (
        'package = "peft"\nversions = ">=0.10,<0.14"',
        'package = "pefty"\nversions = ">=0.10,<0.14"',
        r"hf\[\d+\]: package 'pefty' is not one of",
    ),
    (
        'packed_sequence_detection_min = "4.54.0"',
        'packed_sequence_detection_min = "four"',
        r"transformers: packed_sequence_detection_min 'four' is not a valid version",
    ),
    (
        "gpu_name = '(?i)\\bRTX ?40[5-9]0'",
        "gpu_name = '(?i)\\bRTX ?40[5-9'",
        r"p2p_hang\[0\]: gpu_name is not a regular expression",
    ),
    (
        'when = { numpy = ">=2", torch = "<2.3" }',
        'when = { numpy = ">=2" }',
        r"package_conflict\[0\]: when should name at least two packages",
    ),
    (
        'when = { numpy = ">=2", torch = "<2.3" }',
        'when = { numpy = "=>2", torch = "<2.3" }',
        r"package_conflict\[0\]: when\.numpy '=>2' is not a valid version specifier",
    ),
    (
        'torch = ["2.5", "2.6", "2.7"]',
        'torch = ["2.5", "2.6", "2.7.1"]',
        r"torch_bound_release\[0\]: torch should list torch major\.minor versions",
    ),
    (
        'force_build = "CAUSAL_CONV1D_FORCE_BUILD"',
        'force_build = "causal conv1d"',
        r"torch_tagged_wheel\[0\]: force_build 'causal conv1d' should be an environment variable name",
    ),
    (
        'names = ["is_torch_greater_or_equal_than_1_13"]\nremoved = "4.48.0"',
        'names = ["is_torch_greater_or_equal_than_1_13"]\nadded = "4.49.0"\nremoved = "4.48.0"',
        r"api_change\[0\]: added 4\.49\.0 should be before removed 4\.48\.0",
    ),
    (
        'names = ["is_torch_greater_or_equal_than_1_13"]',
        'names = ["is torch >= 1.13"]',
        r"api_change\[0\]: names should list names, module paths or Class\(keyword\) forms",
    ),
    (
        'names = ["LoraConfig(use_rslora)"]\nadded = "0.8.0"',
        'names = ["LoraConfig(use_rslora)"]\nadded = "0.8.0"\nrestored = "0.9.0"',
        r"api_change\[\d+\]: restored needs removed",
    ),
    ("schema_version = 1\n", "schema_version = 2\n", r"schema_version 2 is not supported"),
    ('[torch."2.0"]', '[torch."2.0"]\n[torch."2.0"]', r"not valid TOML"),
    (
        'pypi_default = "cu124"\npypi_default_detail = "CUDA runtime 12.4.127"',
        'pypi_default = "cu126"\npypi_default_detail = "CUDA runtime 12.4.127"',
        r"torch\.\"2\.5\": pypi_default 'cu126' is not among its variants",
    ),
    (
        'python_linux_x86_64_only = ["3.13"]',
        'python_linux_x86_64_only = ["3.14"]',
        r"torch\.\"2\.5\": python_linux_x86_64_only '3\.14' is not in its python list",
    ),
]


@pytest.mark.parametrize(("old", "new", "pattern"), BROKEN, ids=[b[2][:40] for b in BROKEN])
def test_malformed_matrix_names_the_entry(
    matrix_text: str, write_matrix, old: str, new: str, pattern: str
) -> None:
    assert old in matrix_text, f"test data drifted: {old!r}"
    path = write_matrix(matrix_text.replace(old, new, 1))
    with pytest.raises(MatrixError) as info:
        load_matrix(path)
    message = info.value.message
    assert re.search(pattern, message), message
    assert message.startswith(str(path)), "the message names the file"
    assert "\n" not in message


def test_removing_an_arch_entry_is_caught(matrix_text: str, write_matrix) -> None:
    text = matrix_text.replace(
        'torch = ">=2.6,<2.15"\nvariant = "cu126"\nsass', 'torch = ">=2.6,<2.14"\nvariant = "cu126"\nsass', 1
    )
    with pytest.raises(
        MatrixError, match=r"torch\.\"2\.14\": cuda variant 'cu126' of 2\.14\.0 has no \[\[archs\]\] entry"
    ):
        load_matrix(write_matrix(text))


def test_broken_errors_file_names_it(matrix_text: str, write_matrix) -> None:
    errors = resources.files("loradoc.compat_data").joinpath("errors.toml").read_text(encoding="utf-8")
    bad = errors.replace("    'Torch not compiled with CUDA enabled',", "    'Torch not (compiled',", 1)
    assert bad != errors
    m = load_matrix(write_matrix(matrix_text, bad))  # regexes are compiled on first use, not on every load
    with pytest.raises(
        MatrixError,
        match=r"errors\.toml: error\[\d+\]: patterns regex 'Torch not \(compiled' does not compile",
    ):
        check_error_regexes(m)
    from loradoc.doctor.explain import explain
    from loradoc.doctor.snapshot import Snapshot

    with pytest.raises(MatrixError):
        explain("anything", Snapshot(), m)


def test_an_error_entry_requiring_an_unknown_fact_is_refused(matrix_text: str, write_matrix) -> None:
    errors = resources.files("loradoc.compat_data").joinpath("errors.toml").read_text(encoding="utf-8")
    bad = errors.replace('when = ["wsl"]', 'when = ["wls"]', 1)
    assert bad != errors
    with pytest.raises(
        MatrixError,
        match=r"when 'wls' is not a machine fact entries may require \(wsl, in_container, bare_metal, darwin, windows, aarch64, torch_installed, nvidia_gpu, no_nvidia_gpu\)",
    ):
        load_matrix(write_matrix(matrix_text, bad))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'needs_driver_cuda = "12.4"',
            'needs_driver_cuda = "550"',
            r"needs_driver_cuda '550' should be a CUDA major\.minor",
        ),
        ('api_names = "model"', 'api_names = "models"', r"api_names 'models' should be api or model"),
    ],
)
def test_an_error_entry_with_a_malformed_field_is_refused(
    matrix_text: str, write_matrix, old: str, new: str, message: str
) -> None:
    errors = resources.files("loradoc.compat_data").joinpath("errors.toml").read_text(encoding="utf-8")
    bad = errors.replace(old, new, 1)
    assert bad != errors
    with pytest.raises(MatrixError, match=message):
        load_matrix(write_matrix(matrix_text, bad))


def test_shipped_error_regexes_compile(matrix: Matrix) -> None:
    check_error_regexes(matrix)
    assert all(e.patterns for e in matrix.errors)


def test_missing_matrix_file(tmp_path) -> None:
    with pytest.raises(MatrixError, match="cannot read the matrix"):
        load_matrix(tmp_path / "nope.toml")


def test_matrix_error_is_a_user_error_with_its_own_exit_code() -> None:
    from loradoc.errors import UserError

    assert issubclass(MatrixError, UserError)
    assert MatrixError("x").exit_code == 3


def test_rocm_overrides_name_a_family_member_the_build_must_carry(matrix_text: str, write_matrix) -> None:
    m = load_matrix()
    assert m.rocm_override_for(["gfx1031", "gfx1032"]).value == "10.3.0"  # type: ignore[union-attr]
    assert m.rocm_override_for(["gfx1151"], ["gfx1100", "gfx1030"]).runs == "gfx1100"  # type: ignore[union-attr]
    assert m.rocm_override_for(["gfx1151"], ["gfx1030"]) is None  # the build lacks gfx1100 itself
    assert m.rocm_override_for(["gfx1031", "gfx1151"]) is None  # two families: no one value
    assert m.rocm_override_for(["gfx1201"]) is None
    bad = matrix_text.replace('family = "gfx11"\nruns = "gfx1100"', 'family = "gfx11"\nruns = "gfx1030"', 1)
    assert bad != matrix_text
    with pytest.raises(
        MatrixError,
        match=r"family 'gfx11' should be a gfx prefix \('gfx103'\) that runs \('gfx1030'\) starts with",
    ):
        load_matrix(write_matrix(bad))


def test_the_shm_table_names_a_positive_size(matrix_text: str, write_matrix) -> None:
    assert load_matrix().shm.docker_default_mib == 64  # type: ignore[union-attr]
    bad = matrix_text.replace("docker_default_mib = 64", "docker_default_mib = 0", 1)
    assert bad != matrix_text
    with pytest.raises(MatrixError, match=r"shm: docker_default_mib 0 should be a size in MiB"):
        load_matrix(write_matrix(bad))


def test_the_fabric_manager_package_names_the_drivers_branch(matrix_text: str, write_matrix) -> None:
    assert load_matrix().fabric_manager.service == "nvidia-fabricmanager"  # type: ignore[union-attr]
    bad = matrix_text.replace(
        'apt_package = "nvidia-fabricmanager-{branch}"', 'apt_package = "nvidia-fabricmanager"', 1
    )
    assert bad != matrix_text
    with pytest.raises(
        MatrixError,
        match=r"fabric_manager: apt_package 'nvidia-fabricmanager' should name the driver's \{branch\}",
    ):
        load_matrix(write_matrix(bad))
