"""Supported rows, ``matrix ci`` output, and ``matrix lock`` (real pip-compile on a local index)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakeindex import make_index, make_wheel
from matrixdata import REPO, small_matrix_data

from loradoc.cli import cli
from loradoc.compat.load import load_matrix, parse_matrix
from loradoc.errors import MatrixError, UserError
from loradoc.upkeep.ci import strategy
from loradoc.upkeep.lock import check_locks, lock_inputs, read_marks, write_lock
from loradoc.upkeep.rows import load_rows, parse_rows

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
RUNNERS = {"cpu": ["ubuntu-latest"], "gpu": ["self-hosted", "gpu"], "cuda_label": "cuda-{major}"}


def _rows(*rows: dict[str, str]) -> dict[str, Any]:
    return {"schema_version": 1, "runners": RUNNERS, "row": list(rows)}


def test_shipped_rows_agree_with_the_shipped_matrix() -> None:
    rows = load_rows(load_matrix(), REPO / "compat" / "rows.toml")
    assert len({r.id for r in rows}) == len(rows) >= 2
    assert any(not r.gpu for r in rows) and any(r.gpu for r in rows)


def test_rows_are_checked_against_the_matrix(small_matrix: Any) -> None:
    ok = parse_rows(
        _rows({"python": "3.12", "torch": "2.9.1", "variant": "cu128"}), small_matrix, "rows.toml"
    )
    assert ok[0].id == "py3.12-torch2.9.1-cu128"
    assert ok[0].runner == ("self-hosted", "gpu", "cuda-12")
    assert ok[0].index_url == "https://download.pytorch.org/whl/cu128"
    bad = [
        ({"python": "3.9", "torch": "2.9.1", "variant": "cpu"}, "has no Python 3.9 wheel"),
        ({"python": "3.12", "torch": "2.9.7", "variant": "cpu"}, "torch 2.9.7 is not in the matrix"),
        ({"python": "3.12", "torch": "2.9.1", "variant": "cu118"}, "has no cu118 build"),
        ({"python": "3.12", "torch": "2.9.1", "variant": "cpu", "colour": "red"}, "unknown key(s) colour"),
    ]
    for row, message in bad:
        with pytest.raises(MatrixError, match="rows.toml: row") as exc:
            parse_rows(_rows(row), small_matrix, "rows.toml")
        assert message in exc.value.message
    twice = {"python": "3.12", "torch": "2.9.1", "variant": "cpu"}
    with pytest.raises(MatrixError, match="listed twice"):
        parse_rows(_rows(twice, twice), small_matrix, "rows.toml")


def test_ci_strategy_has_runner_labels_and_uses_locks(small_matrix: Any, tmp_path: Path) -> None:
    rows = parse_rows(
        _rows(
            {"python": "3.11", "torch": "2.9.1", "variant": "cpu"},
            {"python": "3.12", "torch": "2.9.1", "variant": "cu130", "runner": ["self-hosted", "h100"]},
        ),
        small_matrix,
        "rows.toml",
    )
    locks = tmp_path / "constraints"
    locks.mkdir()
    (locks / "py3.11-torch2.9.1-cpu.txt").write_text("torch==2.9.1+cpu\n")
    cpu = strategy(rows, tmp_path, locks, "cpu")["include"]
    assert [e["row"] for e in cpu] == ["py3.11-torch2.9.1-cpu"]
    assert cpu[0]["runner"] == ["ubuntu-latest"] and cpu[0]["gpu"] is False
    assert cpu[0]["lock"] == "constraints/py3.11-torch2.9.1-cpu.txt"
    assert cpu[0]["install"].startswith("python -m pip install -r constraints/py3.11-torch2.9.1-cpu.txt && ")
    gpu = strategy(rows, tmp_path, locks, "gpu")["include"]
    assert gpu[0]["runner"] == ["self-hosted", "h100"] and gpu[0]["lock"] is None
    assert gpu[0]["install"].startswith(
        "python -m pip install torch==2.9.1+cu130 --index-url https://download.pytorch.org/whl/cu130 && "
    )
    assert len(strategy(rows, tmp_path, locks, "all")["include"]) == 2


def test_ci_cli_prints_one_json_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["matrix", "ci", "--kind", "gpu", "--locks", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert res.output.count("\n") == 1
    data = json.loads(res.output)
    assert data["include"] and all(e["gpu"] and "self-hosted" in e["runner"] for e in data["include"])


def test_gpu_rows_lock_extensions_from_the_matrix() -> None:
    m = load_matrix()
    rows = parse_rows(_rows({"python": "3.11", "torch": "2.8.0", "variant": "cu128"}), m, "rows.toml")
    inputs = lock_inputs(m, rows[0])
    assert inputs.requirements[0] == "torch==2.8.0"  # cu128 is 2.8.0's PyPI default
    xf = m.xformers_for_torch("2.8.0", "3.11")
    assert f"xformers=={xf.version}" in inputs.requirements
    assert any(r.startswith("bitsandbytes") for r in inputs.requirements)
    assert any("flash-attn" in t for t in inputs.trailer)  # a GitHub wheel: listed, not resolved
    assert "https://download.pytorch.org/whl/cu128" in inputs.extra_index_urls


@pytest.fixture(scope="module")
def lock_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A PyPI stand-in with the training stack (no dependencies) and a torch cpu index."""
    root = tmp_path_factory.mktemp("lock-world")
    stack = {
        "click": "8.1.8",
        "packaging": "24.2",
        "pyyaml": "6.0.2",
        "tomli": "2.2.1",
        "transformers": "5.24.0",
        "peft": "0.21.2",
        "accelerate": "1.15.0",
        "datasets": "5.2.0",
        "matplotlib": "3.11.2",
        "tqdm": "4.70.1",
        "wandb": "0.31.0",
    }
    pypi = make_index(root / "pypi", [make_wheel(root / "pypi-files", n, v) for n, v in stack.items()])
    tag = "cp" + PY.replace(".", "")
    torch_whl = make_wheel(
        root / "torch-files",
        "torch",
        "2.9.1+cpu",
        requires=["filelock"],
        tags=f"{tag}-{tag}-manylinux_2_28_x86_64",
    )
    filelock = make_wheel(root / "torch-files", "filelock", "3.20.0")
    make_index(root / "whl" / "cpu", [torch_whl, filelock])
    pattern = (root / "whl").resolve().as_uri() + "/{variant}/simple"
    data = small_matrix_data()
    data["torch_index"]["url"] = pattern
    m = parse_matrix(data, "small-matrix")
    rows = parse_rows(_rows({"python": PY, "torch": "2.9.1", "variant": "cpu"}), m, "rows.toml")
    return {"root": root, "pypi": pypi, "matrix": m, "rows": rows, "data": data}


@pytest.mark.slow
def test_lock_writes_a_marked_lock_and_check_sees_staleness(
    lock_world: dict[str, Any], tmp_path: Path
) -> None:
    m, rows = lock_world["matrix"], lock_world["rows"]
    out = tmp_path / "constraints"
    outcome = write_lock(m, rows[0], out, index_url=lock_world["pypi"], cache_dir=tmp_path / "cache")
    assert outcome.status == "locked", outcome.detail
    text = outcome.path.read_text()
    assert "torch==2.9.1+cpu" in text and "transformers==5.24.0" in text and "filelock==3.20.0" in text
    assert f"--extra-index-url {rows[0].index_url}" in text
    assert text.startswith(f"# loradoc lock for row {rows[0].id}:")
    assert read_marks(outcome.path) == (rows[0].id, lock_inputs(m, rows[0]).digest())
    assert [s.status for s in check_locks(m, rows, out)] == ["fresh"]

    # the matrix moves the cpu index: what the row would lock changed, so the lock is stale
    moved = dict(
        lock_world["data"],
        torch_index=dict(lock_world["data"]["torch_index"], url="file:///elsewhere/{variant}"),
    )
    m2 = parse_matrix(moved, "moved-matrix")
    rows2 = parse_rows(_rows({"python": PY, "torch": "2.9.1", "variant": "cpu"}), m2, "rows.toml")
    [state] = check_locks(m2, rows2, out)
    assert state.status == "stale" and f"loradoc matrix lock {rows[0].id}" in state.detail

    # a file no row locks into, and a row without a lock
    (out / "py3.9-torch1.0.0-cpu.txt").write_text("# old\n")
    extra = parse_rows(
        _rows(
            {"python": PY, "torch": "2.9.1", "variant": "cpu"},
            {"python": PY, "torch": "2.9.1", "variant": "cu128"},
        ),
        m,
        "rows.toml",
    )
    states = {s.name: s.status for s in check_locks(m, extra, out)}
    assert states == {
        rows[0].id: "fresh",
        f"py{PY}-torch2.9.1-cu128": "missing",
        "py3.9-torch1.0.0-cpu.txt": "orphan",
    }


@pytest.mark.slow
def test_lock_skips_a_row_whose_index_is_unreachable(lock_world: dict[str, Any], tmp_path: Path) -> None:
    data = dict(
        lock_world["data"],
        torch_index=dict(lock_world["data"]["torch_index"], url="http://127.0.0.1:9/{variant}"),
    )
    m = parse_matrix(data, "dead-index")
    rows = parse_rows(_rows({"python": PY, "torch": "2.9.1", "variant": "cpu"}), m, "rows.toml")
    outcome = write_lock(m, rows[0], tmp_path, index_url=lock_world["pypi"], cache_dir=tmp_path / "cache")
    assert outcome.status == "skipped" and "127.0.0.1:9" in outcome.detail
    assert not list(tmp_path.glob("*.txt"))  # nothing half-written


def test_lock_cli_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["matrix", "lock"])
    assert isinstance(res.exception, UserError) and "--all" in res.exception.message
    res = runner.invoke(cli, ["matrix", "lock", "py0.0-torch0-cpu"])
    assert isinstance(res.exception, UserError) and "no supported row" in res.exception.message
    res = runner.invoke(cli, ["matrix", "lock", "--check", "--all"])
    assert isinstance(res.exception, UserError)


def test_shipped_locks_are_fresh() -> None:
    """Every lock committed under constraints/ matches what its row would lock now."""
    m = load_matrix()
    rows = load_rows(m, REPO / "compat" / "rows.toml")
    states = check_locks(m, rows, REPO / "constraints")
    bad = [s for s in states if s.status in ("stale", "unmarked", "orphan")]
    assert not bad, bad


@pytest.mark.parametrize(("workflow", "kind"), [("ci.yml", "cpu"), ("gpu.yml", "gpu")])
def test_workflows_take_their_jobs_from_matrix_ci(workflow: str, kind: str) -> None:
    import yaml

    doc = yaml.safe_load((REPO / ".github" / "workflows" / workflow).read_text())
    rows_job = doc["jobs"]["rows"]
    runs = " ".join(step.get("run", "") for step in rows_job["steps"])
    assert f"loradoc matrix ci --format github --kind {kind}" in runs
    job = next(j for name, j in doc["jobs"].items() if name != "rows")
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.rows.outputs.matrix) }}"
    assert job["runs-on"] == "${{ matrix.runner }}"
    steps = " ".join(step.get("run", "") for step in job["steps"])
    assert "${{ matrix.install }}" in steps
    if kind == "gpu":
        assert "loradoc doctor check" in steps and "pytest -m gpu" in steps
    else:
        assert "python -m pytest" in steps and "loradoc train" in steps
