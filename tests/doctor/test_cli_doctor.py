"""`loradoc doctor check` / `explain` end to end: subprocess and loradoc.cli.main, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from doctor_helpers import SNAPSHOTS

from loradoc.cli import main

LOGS = Path(__file__).parent / "logs"


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "loradoc", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_check_from_a_healthy_snapshot(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "doctor", "check", "--from", str(SNAPSHOTS / "healthy_a100.json"))
    assert code == 0, err
    assert "ok" in out and "2 x NVIDIA A100-SXM4-80GB" in out


def test_check_exit_code_1_on_errors_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(
        capsys, "doctor", "check", "--from", str(SNAPSHOTS / "rtx5090_torch26.json"), "--json"
    )
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False
    assert data["findings"][0]["code"] == "gpu-arch-unsupported-by-torch-build"


def test_check_with_a_training_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("loradoc.config.load")
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(
        "base_model: tiny\nadapter: lora\nbf16: true\nflash_attention: true\nmicro_batch_size: 1\n"
        "datasets:\n  - path: data.jsonl\n    type: alpaca\n",
        encoding="utf-8",
    )
    code, out, err = run_main(
        capsys, "doctor", "check", "--from", str(SNAPSHOTS / "t4_colab.json"), "--config", str(cfg), "--json"
    )
    if code == 2:
        pytest.skip(f"the training config loader rejected the minimal config: {err.strip()}")
    found = {f["code"] for f in json.loads(out)["findings"]}
    assert {"bf16-unsupported-gpu", "flash-attn-gpu-too-old"} <= found
    assert code == 1


def test_check_bad_usage_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(
        capsys, "doctor", "check", "--save", str(tmp_path / "a.json"), "--from", str(SNAPSHOTS / "empty.json")
    )
    assert code == 2 and err.startswith("error: --save records this machine")
    code, _, err = run_main(capsys, "doctor", "check", "--from", str(tmp_path / "missing.json"))
    assert code == 2 and "snapshot file not found" in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"gpus": "many"}', encoding="utf-8")
    code, _, err = run_main(capsys, "doctor", "check", "--from", str(bad))
    assert code == 2 and "gpus" in err and "Traceback" not in err
    code, _, err = run_main(
        capsys,
        "doctor",
        "check",
        "--config",
        str(tmp_path / "nope.yml"),
        "--from",
        str(SNAPSHOTS / "empty.json"),
    )
    assert code == 2 and "nope.yml" in err


def test_check_saves_this_machine_and_replays_it(tmp_path: Path) -> None:
    saved = tmp_path / "snap.json"
    first = cli("doctor", "check", "--save", str(saved))
    assert first.returncode in (0, 1), first.stderr
    assert "snapshot saved to" in first.stdout
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["complete"] is True and data["schema_version"] == 1
    assert not list(tmp_path.glob("*.tmp*"))  # the atomic write left no temporary file
    replay = cli("doctor", "check", "--from", str(saved), "--json")
    assert replay.returncode == first.returncode
    assert json.loads(replay.stdout)["snapshot"]["python"] == data["python"]


def test_explain_a_file_and_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(
        capsys,
        "doctor",
        "explain",
        str(LOGS / "driver_too_old.txt"),
        "--from",
        str(SNAPSHOTS / "driver_too_old_cu130.json"),
    )
    assert code == 1
    assert "driver-too-old-for-torch-cuda" in out and "whl/cu128" in out
    piped = cli(
        "doctor",
        "explain",
        "-",
        "--from",
        str(SNAPSHOTS / "empty.json"),
        "--json",
        stdin=(LOGS / "eval_split.txt").read_text(encoding="utf-8"),
    )
    assert piped.returncode == 1, piped.stderr
    assert json.loads(piped.stdout)["findings"][0]["code"] == "eval-split-too-small-for-packing"


def test_explain_nothing_known_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(
        capsys, "doctor", "explain", str(LOGS / "unrelated.txt"), "--from", str(SNAPSHOTS / "empty.json")
    )
    assert code == 0 and "no-known-error" in out
    assert "hf_abc" not in out


def test_explain_missing_log_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(
        capsys, "doctor", "explain", str(tmp_path / "nope.log"), "--from", str(SNAPSHOTS / "empty.json")
    )
    assert code == 2 and err.strip() == f"error: {tmp_path / 'nope.log'}: log file not found"


def test_check_path_never_imports_heavy_packages() -> None:
    code = (
        "import sys\n"
        "from loradoc.cli import cli\n"
        "from loradoc.doctor.probe.machine import probe\n"
        "from loradoc.doctor.diagnose import diagnose\n"
        "from loradoc.doctor.explain import explain\n"
        "from loradoc.doctor.report import render_text, render_json\n"
        "from loradoc.compat import load_matrix, best_torch\n"
        "import loradoc.config.load\n"
        "s = probe(); m = load_matrix(); f = diagnose(s, m); render_text(f, s, m); render_json(f, s)\n"
        "explain(open(sys.argv[1]).read(), s, m)\n"
        "heavy = [n for n in ('torch', 'transformers', 'datasets', 'peft', 'accelerate', 'wandb', 'xformers') if n in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(LOGS / "driver_too_old.txt")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"heavy modules imported: {res.stdout.strip()}"
