"""``loradoc matrix verify`` against a local index that answers like PyPI (real pip, real wheels)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from matrixdata import UNREACHABLE_TORCH_INDEX, matrix_text_with_xformers

from loradoc.cli import cli
from loradoc.errors import UserError
from loradoc.upkeep.checklist import Indexes
from loradoc.upkeep.registry import Index
from loradoc.upkeep.verify_run import Session, new_releases, verify_matrix


def _session(fake_pypi: str, cache: Path) -> Session:
    return Session(
        indexes=Indexes(pypi=Index(fake_pypi), torch_pattern=UNREACHABLE_TORCH_INDEX),
        cache_dir=cache,
        workers=4,
    )


def _by_fact(results: list[Any]) -> dict[str, Any]:
    return {r.fact: r for r in results}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One answer cache for the module: the first verify fills it, later tests reuse it."""
    return tmp_path_factory.mktemp("registry-cache")


@pytest.fixture(scope="module")
def first_run(small_matrix: Any, fake_pypi: str, cache_dir: Path) -> tuple[Any, Session]:
    session = _session(fake_pypi, cache_dir)
    return verify_matrix(small_matrix, session), session


@pytest.mark.slow
def test_verify_finds_the_planted_mismatch_and_nothing_else(first_run: tuple[Any, Session]) -> None:
    report, session = first_run
    assert session.pip_calls > 15  # asked, not cached
    by = _by_fact(report.results)
    mismatches = [r for r in report.results if r.status == "mismatch"]
    assert [r.fact for r in mismatches] == ["xformers 0.0.34 requires torch ==2.10.0"]
    assert mismatches[0].observed == "torch ==2.9.1"
    assert "xformers-0.0.34-cp39-abi3-manylinux_2_28_x86_64.whl" in mismatches[0].where
    assert not report.ok

    # facts the fake registry confirms
    for fact in (
        "xformers 0.0.33.post2 requires torch ==2.9.1",
        "torch 2.9.1 PyPI Linux x86_64 default is cu128",
        "torch 2.9.1 PyPI Linux aarch64 default is cpu",  # its CUDA requirements are x86_64-only
        "torch 2.9.1 Requires-Python >=3.10",
        "torch 2.9.1 has Linux x86_64 wheels for Python 3.10, 3.11, 3.12, 3.13, 3.14, 3.13t, 3.14t",
        "torch 2.9.1 wheel is tagged manylinux_2_28_x86_64",
        "torch 2.9.1 has no macOS x86_64 wheel",
        "torch 2.9.1 Linux aarch64 wheel is tagged manylinux_2_28_aarch64",
        "xformers 0.0.33.post2 has Linux wheels for Python >=3.9",
        "xformers 0.0.33.post2 has Windows wheel",
        "xformers 0.0.33.post2 is one wheel for every Python (abi3 or none ABI tag)",
        "flash-attn 2.8.3 is on PyPI as an sdist only",
        "bitsandbytes 0.48.2 requires torch >=2.3,<3",
        "bitsandbytes 0.43.0 has a win_amd64 wheel (its first native Windows build)",
        "transformers 5.21.0 requires torch >=2.6 (extra 'torch')",
        "transformers 5.24.0 Requires-Python >=3.11",
        "transformers 5.24.0 requires huggingface-hub >=1.31,<3",
        "peft 0.21.2 requires accelerate >=0.21.0",
    ):
        assert by[fact].status == "ok", (fact, by[fact])
    assert by["torch 2.9.1 PyPI Linux x86_64 default is cu128"].observed.startswith(
        "cu128 (nvidia-cuda-runtime-cu12==12.8.90)"
    )
    assert by[
        "torch 2.9.1 has Linux x86_64 wheels for Python 3.10, 3.11, 3.12, 3.13, 3.14, 3.13t, 3.14t"
    ].observed == ("all found; none for 3.9, 3.15")

    # an unreachable variant index and facts no index can confirm: unverified, never failed
    variant = by["torch 2.9.1+cu128 (stable) on http://127.0.0.1:9/whl/cu128"]
    assert variant.status == "unverified" and "127.0.0.1:9" in variant.observed
    pin = next(r for r in report.results if r.fact.startswith("xformers source build for torch 2.1.0"))
    assert pin.status == "unverified" and "git commit" in pin.observed
    assert by["torch 2.9 Linux builds use the cxx11 C++ ABI"].status == "unverified"
    fa3 = next(r for r in report.results if r.fact.startswith("flash-attn-3 3.0.0 wheels on PyTorch's"))
    assert fa3.status == "unverified" and "platform tags are unconfirmed" in fa3.observed


@pytest.mark.slow
def test_second_run_is_answered_from_the_cache(
    small_matrix: Any, fake_pypi: str, cache_dir: Path, first_run: tuple[Any, Session]
) -> None:
    again = _session(fake_pypi, cache_dir)
    r2 = verify_matrix(small_matrix, again)
    assert [r.to_dict() for r in first_run[0].results] == [r.to_dict() for r in r2.results]
    assert again.pip_calls <= 1  # only the unreachable index is asked again (never cached)


@pytest.mark.slow
def test_verify_cli_table_json_and_exit_code(
    fake_pypi: str, tmp_path: Path, cache_dir: Path, first_run: tuple[Any, Session]
) -> None:
    mpath = tmp_path / "matrix.toml"
    mpath.write_text(matrix_text_with_xformers(("0.0.33.post2", "0.0.34")))
    common = [
        "matrix",
        "verify",
        "--matrix",
        str(mpath),
        "--index-url",
        fake_pypi,
        "--torch-index-url",
        UNREACHABLE_TORCH_INDEX,
        "--cache-dir",
        str(cache_dir),
        "--only",
        "xformers",
    ]
    runner = CliRunner()
    res = runner.invoke(cli, common)
    assert res.exit_code == 1, res.output
    lines = res.output.splitlines()
    assert lines[0].split() == ["STATUS", "FACT", "SOURCE", "OBSERVED"]
    assert any(ln.startswith("mismatch") and "xformers 0.0.34 requires torch ==2.10.0" in ln for ln in lines)
    assert "1 mismatch" in lines[-1]

    res = runner.invoke(cli, [*common, "--json"])
    assert res.exit_code == 1
    data = json.loads(res.output)
    assert data["counts"]["mismatch"] == 1
    assert {r["status"] for r in data["results"]} == {"ok", "mismatch", "unverified"}
    assert all(set(r) == {"fact", "source", "status", "observed", "where"} for r in data["results"])


@pytest.mark.slow
def test_new_lists_releases_the_matrix_does_not_know(
    small_matrix: Any, fake_pypi: str, tmp_path: Path
) -> None:
    report = new_releases(small_matrix, _session(fake_pypi, tmp_path / "cache"))
    assert [(r.package, r.version, r.known) for r in report.releases] == [("torch", "2.10.0", "2.9.1")]
    assert report.unlisted == {}


def test_bad_flags_are_one_line_user_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["matrix", "verify", "--torch-index-url", "https://example.invalid/whl/cu128"])
    assert isinstance(res.exception, UserError) and "{variant}" in res.exception.message
    res = runner.invoke(cli, ["matrix", "verify", "--matrix", str(tmp_path / "nope.toml")])
    assert isinstance(res.exception, UserError) and "nope.toml" in res.exception.message
