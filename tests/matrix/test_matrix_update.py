"""``loradoc matrix update`` against a local index serving releases newer than the shipped matrix.

The index answers like PyPI (real pip, real wheels whose metadata declares what a
release of that kind declares). Planted: a torch patch of the newest series and a new
torch series (with a PyTorch variant index), an xformers release, a flash-attn sdist, a
bitsandbytes release with the facts of the last range, a transformers release with the
same facts as its range and one that raises the torch floor, and a peft release that
raises the Python floor.
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakeindex import make_index, make_sdist, make_wheel
from matrixdata import REPO

from loradoc.cli import cli
from loradoc.compat.load import load_matrix
from loradoc.errors import UserError
from loradoc.upkeep.matrix_text import NewBlock, SetValue, apply_edits

TOOLKIT = 'cuda-toolkit[cublas,cudart]==13.2.2; platform_system == "Linux"'
TORCH_PYTHONS = ("3.11", "3.12", "3.13", "3.14", "3.15")


def _torch(
    folder: Path, version: str, pythons: tuple[str, ...], free: tuple[str, ...], rp: str
) -> list[Path]:
    out = []
    for py in (*pythons, *(p + "t" for p in free)):
        tag = "cp" + py.replace(".", "").rstrip("t")
        abi = tag + ("t" if py.endswith("t") else "")
        out.append(
            make_wheel(
                folder,
                "torch",
                version,
                requires=["filelock", TOOLKIT],
                requires_python=rp,
                tags=f"{tag}-{abi}-manylinux_2_28_x86_64",
            )
        )
    arm = "cp" + pythons[0].replace(".", "")
    out.append(
        make_wheel(folder, "torch", version, requires_python=rp, tags=f"{arm}-{arm}-manylinux_2_28_aarch64")
    )
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("update-world")
    f = root / "files"
    files = _torch(f, "2.15.1", TORCH_PYTHONS, ("3.14", "3.15"), ">=3.11")
    files += _torch(f, "2.16.0", TORCH_PYTHONS[1:], ("3.15",), ">=3.12")
    for plat in ("manylinux_2_28_x86_64", "win_amd64"):
        files.append(
            make_wheel(
                f,
                "xformers",
                "0.0.36",
                requires=["numpy", "torch>=2.11"],
                requires_python=">=3.10",
                tags=f"cp310-abi3-{plat}",
            )
        )
    files.append(make_sdist(f, "flash-attn", "2.8.4"))
    files.append(
        make_wheel(
            f,
            "bitsandbytes",
            "0.50.3",
            requires=["torch<3,>=2.4", "numpy>=1.17"],
            requires_python=">=3.10",
            tags="py3-none-manylinux_2_24_x86_64",
        )
    )
    for version, floor in (("5.26.0", "2.6"), ("5.27.0", "2.7")):
        files.append(
            make_wheel(
                f,
                "transformers",
                version,
                requires=["huggingface-hub<3.0,>=2.4.0", f'torch>={floor}; extra == "torch"'],
                requires_python=">=3.11.0",
            )
        )
    files.append(
        make_wheel(
            f, "peft", "0.22.0", requires=["torch>=1.13.0", "accelerate>=0.21.0"], requires_python=">=3.11.0"
        )
    )
    pypi = make_index(root / "pypi", files)
    # The PyTorch variant indexes: 2.15.1 on both of its variants, 2.16.0 on cu132 only.
    tf = root / "torch-files"
    by_variant: dict[str, list[Path]] = {"cu130": [], "cu132": []}
    for variant in by_variant:
        for py in TORCH_PYTHONS:
            tag = "cp" + py.replace(".", "")
            by_variant[variant].append(
                make_wheel(
                    tf / variant,
                    "torch",
                    f"2.15.1+{variant}",
                    requires_python=">=3.11",
                    tags=f"{tag}-{tag}-manylinux_2_28_x86_64",
                )
            )
    by_variant["cu132"].append(
        make_wheel(
            tf / "cu132",
            "torch",
            "2.16.0+cu132",
            requires_python=">=3.12",
            tags="cp312-cp312-manylinux_2_28_x86_64",
        )
    )
    for variant, wheels in by_variant.items():
        make_index(root / "torch" / variant, wheels)
    return {"pypi": pypi, "torch": (root / "torch").resolve().as_uri() + "/{variant}/simple", "root": root}


def _args(world: dict[str, Any], matrix: Path, cache: Path) -> list[str]:
    return [
        "--matrix",
        str(matrix),
        "--index-url",
        world["pypi"],
        "--torch-index-url",
        world["torch"],
        "--cache-dir",
        str(cache),
        "-j",
        "4",
    ]


@pytest.fixture(scope="module")
def updated(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("update-run")
    matrix = work / "compat" / "matrix.toml"
    matrix.parent.mkdir()
    shutil.copy(REPO / "compat" / "matrix.toml", matrix)
    cache = work / "cache"
    runner = CliRunner()
    check_before = runner.invoke(cli, ["matrix", "update", "--check", *_args(world, matrix, cache)])
    diff = runner.invoke(cli, ["matrix", "update", "--diff", *_args(world, matrix, cache)])
    untouched = matrix.read_text(encoding="utf-8")
    log = work / "VERIFY.md"
    log.write_text("# earlier runs\n", encoding="utf-8")
    run = runner.invoke(cli, ["matrix", "update", "--record", str(log), *_args(world, matrix, cache)])
    check_after = runner.invoke(cli, ["matrix", "update", "--check", *_args(world, matrix, cache)])
    again = runner.invoke(cli, ["matrix", "update", *_args(world, matrix, cache)])
    return {
        "check_before": check_before,
        "diff": diff,
        "untouched": untouched,
        "run": run,
        "check_after": check_after,
        "again": again,
        "matrix": matrix,
        "log": log,
    }


@pytest.mark.slow
def test_check_fails_before_and_passes_after(updated: dict[str, Any]) -> None:
    before = updated["check_before"]
    assert before.exit_code == 1, before.output
    for line in (
        "torch 2.15.1 (matrix knows up to 2.15.0)",
        "torch 2.16.0",
        "xformers 0.0.36",
        "flash-attn 2.8.4",
        "bitsandbytes 0.50.3",
        "transformers 5.26.0",
        "transformers 5.27.0",
        "peft 0.22.0",
    ):
        assert line in before.output
    after = updated["check_after"]
    assert after.exit_code == 0, after.output
    assert "no releases newer than the matrix knows" in after.output
    again = updated["again"]
    assert again.exit_code == 0 and "no releases newer than" in again.output


@pytest.mark.slow
def test_diff_writes_nothing(updated: dict[str, Any]) -> None:
    assert updated["diff"].exit_code == 0, updated["diff"].output
    assert updated["untouched"] == (REPO / "compat" / "matrix.toml").read_text(encoding="utf-8")
    assert '+[torch."2.16"]' in updated["diff"].output


@pytest.mark.slow
def test_new_facts_are_in_the_matrix(updated: dict[str, Any]) -> None:
    assert updated["run"].exit_code == 0, updated["run"].output
    m = load_matrix(updated["matrix"])
    series = {s.series: s for s in m.torch}
    assert series["2.15"].versions == ("2.15.0", "2.15.1")
    new = series["2.16"]
    assert new.versions == ("2.16.0",)
    assert new.requires_python == ">=3.12"
    assert new.python == ("3.12", "3.13", "3.14", "3.15") and new.free_threaded == ("3.15",)
    assert new.pypi_default == "cu132" and new.variants == ("cu132",) and new.variants_verified
    assert (new.platform_tag, new.glibc, new.aarch64_platform_tag) == (
        "manylinux_2_28_x86_64",
        "2.28",
        "manylinux_2_28_aarch64",
    )
    assert "UNVERIFIED" in (new.note or "") and "C++ ABI presumed" in (new.note or "")

    xf = m.xformers.releases[-1]
    assert (xf.version, xf.torch, xf.python, xf.abi3, xf.windows) == (
        "0.0.36",
        ">=2.11",
        ">=3.10",
        True,
        True,
    )
    assert "TORCH_CUDA_ARCH_LIST" in (xf.note or "")

    fa = m.flash_attn.releases[-1]
    assert fa.versions == ("2.8.4",) and not fa.verified
    assert fa.builds == m.flash_attn.releases[-2].builds
    assert "releases/tag/v2.8.4" in (fa.note or "")

    bnb = m.bitsandbytes.releases[-1]
    assert bnb.versions == ">=0.50.0,<=0.50.3"  # widened: its facts hold for 0.50.3

    tf = [f for f in m.hf if f.package == "transformers"]
    assert [f.versions for f in tf[-2:]] == [">=5.25,<5.27.0", ">=5.27.0"]
    assert "newest known 5.26.0" in (tf[-2].note or "")
    assert (tf[-1].torch, tf[-1].torch_extra, tf[-1].python) == (">=2.7", True, ">=3.11.0")
    assert tf[-1].requires == ("huggingface-hub>=2.4.0,<3.0",)
    assert "5.27.0 metadata, read by loradoc matrix update" in tf[-1].source
    peft = [f for f in m.hf if f.package == "peft"]
    assert [f.versions for f in peft[-2:]] == [">=0.18,<0.22.0", ">=0.22.0"]
    assert (peft[-1].python, peft[-1].torch, peft[-1].requires) == (
        ">=3.11.0",
        ">=1.13.0",
        ("accelerate>=0.21.0",),
    )
    # the new peft entry sits right after the old one, before accelerate's comment and entries
    text = updated["matrix"].read_text(encoding="utf-8")
    assert text.index('versions = ">=0.22.0"') < text.index('package = "accelerate"')


@pytest.mark.slow
def test_layout_and_comments_are_kept(updated: dict[str, Any]) -> None:
    before = (REPO / "compat" / "matrix.toml").read_text(encoding="utf-8").splitlines()
    after = updated["matrix"].read_text(encoding="utf-8").splitlines()
    removed = [ln[1:] for ln in difflib.unified_diff(before, after, lineterm="", n=0) if ln.startswith("-")][
        1:
    ]
    # only the lines that change a value: the 2.15 releases, the bnb range, the closed ranges, one note
    assert len(removed) == 5, removed
    assert all(ln.startswith(("releases =", "versions =", "note =")) for ln in removed)
    comments = [ln for ln in before if ln.startswith("#")]
    assert [ln for ln in after if ln in set(comments)] == comments


@pytest.mark.slow
def test_run_prints_and_records_what_it_did(updated: dict[str, Any]) -> None:
    out = updated["run"].output
    assert 'torch 2.16.0: new entry [torch."2.16"]' in out
    assert "transformers 5.26.0: newest known" in out
    assert "transformers 5.27.0: split" in out and "differs: transformers 5.27.0 requires torch >=2.6" in out
    assert "bitsandbytes 0.50.3: widened" in out
    assert "UNVERIFIED: wheel list presumed" in out
    log = updated["log"].read_text(encoding="utf-8")
    assert log.startswith("# earlier runs\n") and "# `loradoc matrix update`, " in log
    assert "- peft 0.22.0: split" in log


def test_edits_keep_the_text_and_land_before_the_next_comment() -> None:
    text = (
        '# head\n[[hf]]\npackage = "a"\nversions = ">=1"\n\n# about b\n[[hf]]\npackage = "b"\n'
        "builds = [\n    [1],\n]\n\n# tail comment\n[other]\nx = 1\n"
    )
    out = apply_edits(
        text,
        [
            SetValue(("hf", 0), "versions", ">=1,<2"),
            NewBlock(
                "[[hf]]", "[[hf]]", {"package": "a", "versions": ">=2", "requires": ["c>=1"]}, occurrence=0
            ),
            NewBlock("[[hf]]", "[[hf]]", {"package": "b", "n": [{"v": "1"}], "skip": None}, occurrence=1),
        ],
    )
    assert out == (
        '# head\n[[hf]]\npackage = "a"\nversions = ">=1,<2"\n\n[[hf]]\npackage = "a"\nversions = ">=2"\n'
        'requires = ["c>=1"]\n\n# about b\n[[hf]]\npackage = "b"\nbuilds = [\n    [1],\n]\n\n[[hf]]\n'
        'package = "b"\nn = [{ v = "1" }]\n\n# tail comment\n[other]\nx = 1\n'
    )


def test_update_needs_a_matrix_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["matrix", "update"])
    assert isinstance(res.exception, UserError)
    assert "compat/matrix.toml: matrix file not found" in res.exception.message


def test_check_with_an_unreachable_index_says_so(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli,
        [
            "matrix",
            "update",
            "--check",
            "--index-url",
            "http://127.0.0.1:9/simple",
            "--cache-dir",
            str(tmp_path),
            "-j",
            "2",
        ],
    )
    assert res.exit_code == 2, res.output
    assert "torch: could not list releases (unreachable" in res.output


def test_the_weekly_workflow_updates_and_records() -> None:
    import yaml

    doc = yaml.safe_load((REPO / ".github" / "workflows" / "matrix.yml").read_text(encoding="utf-8"))
    verify = " ".join(step.get("run", "") for step in doc["jobs"]["verify"]["steps"])
    assert "loradoc matrix verify --problems" in verify and "loradoc matrix update --check" in verify
    update = doc["jobs"]["update"]
    runs = " ".join(step.get("run", "") for step in update["steps"])
    assert "loradoc matrix update --record compat/VERIFY.md" in runs
    assert "'.[matrix]'" in runs
    pr = next(
        step
        for step in update["steps"]
        if str(step.get("uses", "")).startswith("peter-evans/create-pull-request")
    )
    assert "src/loradoc/compat_data/matrix.toml" in pr["with"]["add-paths"]  # git does not follow compat/
    assert update["permissions"] == {"contents": "write", "pull-requests": "write"}
