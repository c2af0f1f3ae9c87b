"""`loradoc doctor install` command-line behaviour that needs no install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from loradoc.cli import cli

SNAPS = Path(__file__).parent / "install_snapshots"


def invoke(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, ["doctor", "install", *args])
    return res.exit_code, res.stdout, res.stderr


def test_from_needs_dry_run() -> None:
    code, _, _ = invoke("--from", str(SNAPS / "cpu_laptop.json"))
    assert code != 0


def test_bad_with_name_suggests_the_nearest() -> None:
    res = CliRunner().invoke(
        cli, ["doctor", "install", "--dry-run", "--from", str(SNAPS / "cpu_laptop.json"), "--with", "xformer"]
    )
    assert res.exit_code != 0 and "did you mean xformers" in str(res.exception)


def test_unknown_snapshot_file_is_a_user_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["doctor", "install", "--dry-run", "--from", str(tmp_path / "nope.json")])
    assert res.exit_code != 0 and "snapshot file not found" in str(res.exception)


def test_asks_before_touching_a_python_outside_a_venv() -> None:
    base = Path(sys.base_prefix) / "bin" / "python3"
    if sys.prefix == sys.base_prefix or not base.exists():
        pytest.skip("needs a base interpreter outside this venv")
    res = CliRunner().invoke(cli, ["doctor", "install", "--python", str(base), "--minimal"], input="")
    assert res.exit_code != 0
    assert "is not in a virtual environment; pass --yes" in str(res.exception)


def test_main_prints_one_line_for_user_errors(tmp_path: Path) -> None:
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "loradoc", "doctor", "install", "--cpu", "--cuda", "12.4", "--dry-run"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --cpu and --cuda contradict each other; give one of them"


@pytest.mark.parametrize(
    ("backend", "variant", "reason"),
    [
        ("cpu", "cpu", "cpu: asked for with --backend cpu"),
        ("cu128", "cu128", "asked for with --backend cu128"),
        ("CU126", "cu126", "asked for with --backend cu126"),
        ("rocm6.4", "rocm6.4", "rocm6.4: asked for with --backend rocm6.4"),
        ("auto", "cu126", "native SASS for 2x NVIDIA A100-SXM4-80GB"),
    ],
)
def test_backend_names_the_build_as_uv_does(backend: str, variant: str, reason: str) -> None:
    import json

    args = [
        "--dry-run",
        "--json",
        "--minimal",
        "--from",
        str(SNAPS / "a100_driver535.json"),
        "--backend",
        backend,
    ]
    code, out, _ = invoke(*args)
    assert code == 0
    plan = json.loads(out)
    assert plan["variant"] == variant
    assert reason in next(d["reason"] for d in plan["decisions"] if d["item"] == "variant")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "cuda12"], "--backend 'cuda12': give auto, cpu, a CUDA variant like cu128"),
        (["--backend", "cpu", "--cpu"], "--backend and --cpu/--cuda say the same thing twice"),
        (["--backend", "rocm9.9"], "no torch ROCm build of ROCm 9.9 fits this machine"),
    ],
)
def test_a_bad_backend_is_one_line(args: list[str], message: str) -> None:
    res = CliRunner().invoke(
        cli, ["doctor", "install", "--dry-run", "--from", str(SNAPS / "a100_driver535.json"), *args]
    )
    assert res.exit_code != 0 and message in str(res.exception)  # (main() turns it into exit 2)
