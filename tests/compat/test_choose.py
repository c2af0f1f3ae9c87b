"""Choosing a torch build that fits both the driver and every GPU."""

from __future__ import annotations

from loradoc.compat import Matrix, best_torch, torch_choices


def test_blackwell_on_a_570_driver_gets_cu128(matrix: Matrix) -> None:
    c = best_torch(matrix, driver="570.86.10", ccs=["12.0"], python="3.11")
    assert c is not None
    assert (c.version, c.variant, c.via_minor_compat) == ("2.11.0", "cu128", False)
    assert c.command == "pip install torch==2.11.0 --index-url https://download.pytorch.org/whl/cu128"


def test_pascal_is_capped_at_cu126(matrix: Matrix) -> None:
    """uv and ltt would give a GTX 1080 Ti cu128/cu130 (uv#14742); the arch list rules them out."""
    c = best_torch(matrix, driver="580.95.05", ccs=["6.1"], python="3.12")
    assert c is not None and c.variant == "cu126" and c.version == "2.14.1"


def test_keeping_a_version_ranks_its_variants(matrix: Matrix) -> None:
    choices = torch_choices(matrix, driver="570.86.10", ccs=["7.0"], version="2.7.1")
    assert [c.variant for c in choices] == ["cu126", "cu118"]  # no sm_70 in 2.7 cu128


def test_minor_version_compat_is_a_last_resort_within_a_release(matrix: Matrix) -> None:
    choices = torch_choices(matrix, driver="535.104.05", ccs=["8.0"], version="2.5.1")
    assert [(c.variant, c.via_minor_compat) for c in choices] == [
        ("cu121", False),
        ("cu118", False),
        ("cu124", True),
    ]


def test_cuda_max_alone_is_enough(matrix: Matrix) -> None:
    c = best_torch(matrix, cuda_max="12.8", ccs=["8.9"], python="3.12")
    assert c is not None and c.cuda is not None and c.cuda.startswith("12.")


def test_python_and_glibc_filter_releases(matrix: Matrix) -> None:
    c = best_torch(matrix, driver="590.44.01", ccs=["9.0"], python="3.10.12")
    assert c is not None and c.version == "2.14.1"  # 2.15 needs 3.11
    old = best_torch(matrix, driver="550.54.15", ccs=["8.0"], python="3.10", glibc="2.27")
    assert old is not None and old.version == "2.6.0"  # 2.7+ is manylinux_2_28


def test_no_gpu_and_unknown_gpu(matrix: Matrix) -> None:
    cpu = best_torch(matrix, gpu=False, python="3.11")
    assert cpu is not None and cpu.command.endswith("--index-url https://download.pytorch.org/whl/cpu")
    unknown = best_torch(matrix, python="3.11")
    assert unknown is not None and unknown.command == "pip install torch==2.15.0" and not unknown.driver_known
    mac = best_torch(matrix, os="Darwin", machine="x86_64", python="3.11")
    assert mac is not None and mac.version == "2.2.2"


def test_nothing_fits(matrix: Matrix) -> None:
    assert best_torch(matrix, driver="450.80.02", ccs=["12.0"]) is None
    assert torch_choices(matrix, driver="570.86.10", ccs=["6.1", "12.0"], version="2.7.1") == []


def test_an_unknown_driver_gets_the_widest_build_then_one_per_newer_cuda_major(matrix: Matrix) -> None:
    """A GPU build wanted, nothing known of the driver: the lowest CUDA major that covers the GPUs,
    in the newest release offering it; ``newer`` holds the newest build of each newer major, for
    a newer driver. Without GPUs known, the same (the newer majors cover GPUs the first does not)."""
    for ccs in (["8.9"], []):
        first = best_torch(matrix, gpu=True, ccs=ccs, python="3.12")
        assert first is not None and not first.driver_known
        majors = [int((c.cuda or "0").split(".")[0]) for c in (first, *first.newer)]
        assert majors == sorted(set(majors)) and len(majors) >= 2
        assert first.newer[-1].version == matrix.latest_torch()
        assert all(c.min_driver for c in (first, *first.newer))
        lines = first.command_or_newer.splitlines()
        assert lines[0] == first.command and all(
            line.startswith("or: pip install torch==") for line in lines[1:]
        )
    # a Blackwell GPU: no CUDA 11 build covers it, so the ladder starts at CUDA 12
    blackwell = best_torch(matrix, gpu=True, ccs=["12.0"], python="3.12")
    assert blackwell is not None and (blackwell.cuda or "").startswith("12.")
    # the driver known: one build, no ladder
    known = best_torch(matrix, driver="570.86.10", ccs=["8.9"], python="3.12")
    assert known is not None and known.newer == ()


def test_a_build_of_its_own_has_no_variant_to_guess(matrix: Matrix) -> None:
    """NVIDIA's container and Jetson builds carry a local tag of their own: not PyPI's build, so
    its default variant (CPU-only on Linux aarch64 before 2.11) must not be assumed."""
    jetson = matrix.torch_variant_of("2.5.0a0+872d972e41.nv24.08", os="Linux", machine="aarch64")
    assert jetson == (None, False)
    assert matrix.torch_variant_of("2.1.0a0+4136153", os="Linux") == (None, False)
    assert matrix.torch_variant_of("2.5.0", os="Linux", machine="aarch64") == ("cpu", True)
