"""Secrets in the environment never reach a file loradoc (or wandb, or the Trainer) writes, nor
its output: a real tiny run with W&B offline, a doctor snapshot and a dry-run plan, each with
planted HF and W&B keys, and every byte they leave behind searched for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow

HF = "hf_PlantedHubTokenForLoradocTests0123456789"
WANDB = "0123456789abcdef0123456789abcdef0123abcd"
SECRETS = (HF, WANDB)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "HF_", "HUGGING"))}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        HF_TOKEN=HF,
        HUGGING_FACE_HUB_TOKEN=HF,
        WANDB_API_KEY=WANDB,
        WANDB_SILENT="true",
        TQDM_DISABLE="1",
        OMP_NUM_THREADS="1",
    )
    return env


def _leaks(root: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {s[:8]}..." for s in SECRETS if s.encode() in data]
    return found


def test_planted_keys_reach_no_output(tiny_config_doc: dict[str, Any], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    doc = {
        **tiny_config_doc,
        "max_steps": 2,
        "save_steps": 1,
        "val_set_size": 4,
        "wandb_project": "secrets-test",
        "wandb_mode": "offline",
        "wandb_name": "planted",
    }
    cfg = tmp_path / "lora.yml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = _env(home)
    outputs = []
    for words in (
        ["train", str(cfg)],
        ["train", str(cfg), "--dry-run", "--output_dir", str(tmp_path / "dry")],
        ["doctor", "check", "--save", str(tmp_path / "snapshot.json")],
        ["doctor", "check", "--json"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "loradoc", *words],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
            cwd=tmp_path,
        )
        assert proc.returncode in (0, 1), (words, proc.stderr[-3000:])  # doctor exits 1 on findings
        outputs.append(proc.stdout + proc.stderr)
    out = Path(doc["output_dir"])
    # the run happened, with W&B offline, checkpoints and the snapshot written
    assert (out / "summary.json").is_file() and (out / "checkpoint-2").is_dir()
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(p.is_file() for p in runs[0].rglob("*"))
    assert (tmp_path / "snapshot.json").is_file()
    # the snapshot records that the keys are set, never their values
    snap = (tmp_path / "snapshot.json").read_text()
    assert '"hf_token": true' in snap and '"wandb_api_key": true' in snap

    # every file under the test folder (outputs, checkpoints, wandb's run folder, the data cache,
    # the snapshot) and under HOME (wandb's and HF's own caches and settings), and all output
    assert _leaks(tmp_path) == []
    for text in outputs:
        for secret in SECRETS:
            assert secret not in text
