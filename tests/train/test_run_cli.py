"""`loradoc train cfg.yml` in a subprocess: real probe, preflight, training, W&B offline, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow


def test_cli_train_end_to_end_with_wandb_offline(
    tiny_config_doc: dict, tmp_path: Path, cli_env: Callable[..., dict[str, str]]
) -> None:
    doc = tiny_config_doc
    doc.update(max_steps=3, val_set_size=0.1, wandb_project="loradoc-e2e", wandb_name="tiny")
    cfg = tmp_path / "lora.yml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = cli_env(WANDB_SILENT="true")
    proc = subprocess.run(
        [sys.executable, "-m", "loradoc", "train", str(cfg), "--learning-rate", "0.02"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    out = Path(doc["output_dir"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3
    assert "no terminal to ask" in proc.stdout and "wandb sync" in proc.stdout
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and summary["wandb_run"] == str(runs[0])
    resolved = yaml.safe_load((out / "resolved_config.yml").read_text())
    assert resolved["learning_rate"] == 0.02 and resolved["wandb_project"] == "loradoc-e2e"
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["lr"] for m in metrics if "loss" in m] == [0.02, 0.02, 0.02]
    assert "done." in proc.stdout and "Traceback" not in proc.stderr

    # the same command again is refused (one line, exit 2), and nothing is touched
    again = subprocess.run(
        [sys.executable, "-m", "loradoc", "train", str(cfg)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert again.returncode == 2
    assert "already holds a run" in again.stderr and "Traceback" not in again.stderr
    assert json.loads((out / "summary.json").read_text()) == summary
