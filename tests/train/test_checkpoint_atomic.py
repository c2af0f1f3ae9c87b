"""A checkpoint is complete (marked, every file at its recorded size) or it is never resumed from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from loradoc.errors import UserError
from loradoc.train.run.checkpoint import (
    MARKER,
    checkpoint_files,
    checkpoint_problem,
    is_temp_file,
    last_checkpoint,
    resume_target,
    write_marker,
)

CRASH_CLI = Path(__file__).with_name("crash_cli.py")


def _fake_checkpoint(out: Path, step: int, *, mark: bool = True) -> Path:
    ck = out / f"checkpoint-{step}"
    (ck / "sub").mkdir(parents=True)
    (ck / "adapter_model.safetensors").write_bytes(b"a" * 100)
    (ck / "optimizer.pt").write_bytes(b"o" * 300)
    (ck / "sub" / "x.bin").write_bytes(b"x")
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if mark:
        write_marker(ck, step=step)
    return ck


def test_marker_lists_every_file_with_its_size(tmp_path: Path) -> None:
    ck = _fake_checkpoint(tmp_path, 3)
    record = json.loads((ck / MARKER).read_text())
    assert record["step"] == 3
    assert record["files"] == {
        "adapter_model.safetensors": 100,
        "optimizer.pt": 300,
        "sub/x.bin": 1,
        "trainer_state.json": len(json.dumps({"global_step": 3})),
    }
    assert checkpoint_problem(ck) is None
    assert not [p for p in ck.rglob("*") if is_temp_file(p.name)]


def test_files_being_written_are_not_part_of_a_checkpoint(tmp_path: Path) -> None:
    """Another process's temporary file (loradoc.fsutil's ``.NAME.RANDOM.tmpSUFFIX``, or ``*.tmp``)
    is left out of the marker, so its rename does not make the checkpoint look damaged."""
    from loradoc.fsutil import atomic_path

    ck = _fake_checkpoint(tmp_path, 3, mark=False)
    with atomic_path(ck / "loradoc_tokens_1.json") as tmp:
        tmp.write_text("{}")
        (ck / "scheduler.pt.tmp").write_bytes(b"s")
        assert is_temp_file(tmp.name) and is_temp_file("scheduler.pt.tmp")
        assert set(checkpoint_files(ck)) == {
            "adapter_model.safetensors",
            "optimizer.pt",
            "sub/x.bin",
            "trainer_state.json",
        }
    assert not is_temp_file("loradoc_tokens_1.json") and not is_temp_file(".hidden.json")


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda ck: (ck / MARKER).unlink(), "no loradoc_complete.json: the save did not finish"),
        (
            lambda ck: (ck / "optimizer.pt").write_bytes(b"o" * 150),
            "optimizer.pt has 150 bytes, 300 were written",
        ),
        (lambda ck: (ck / "sub" / "x.bin").unlink(), "sub/x.bin is missing"),
        (lambda ck: (ck / MARKER).write_text("{not json"), "loradoc_complete.json is unreadable"),
        (lambda ck: (ck / MARKER).write_text('{"files": []}'), "loradoc_complete.json is unreadable"),
    ],
)
def test_damaged_checkpoints_are_named_and_skipped(tmp_path: Path, damage: Any, problem: str) -> None:
    out = tmp_path / "run"
    _fake_checkpoint(out, 2)
    bad = _fake_checkpoint(out, 4)
    damage(bad)
    assert (checkpoint_problem(bad) or "").startswith(problem)
    said: list[str] = []
    assert last_checkpoint(out, say=said.append) == out / "checkpoint-2"
    assert said == [f"resume: skipping checkpoint-4 ({checkpoint_problem(bad)})"]
    assert resume_target(out, True) == str(out / "checkpoint-2")


def test_a_named_checkpoint_without_marker_is_trusted_with_a_note_but_a_damaged_one_is_refused(
    tmp_path: Path,
) -> None:
    foreign = _fake_checkpoint(tmp_path, 5, mark=False)
    said: list[str] = []
    assert resume_target(tmp_path, str(foreign), say=said.append) == str(foreign)
    assert said and "has no loradoc_complete.json" in said[0]
    damaged = _fake_checkpoint(tmp_path, 6)
    (damaged / "optimizer.pt").write_bytes(b"")
    with pytest.raises(UserError, match=r"checkpoint-6 is damaged \(optimizer.pt has 0 bytes"):
        resume_target(tmp_path, str(damaged))


def test_no_complete_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    _fake_checkpoint(tmp_path, 2, mark=False)
    with pytest.raises(
        UserError, match=r"no checkpoint in .* is complete \(checkpoint-2\); name one by path"
    ):
        resume_target(tmp_path, True)


@pytest.mark.slow
def test_a_crash_while_saving_is_never_resumed_from(
    tiny_config_doc: dict[str, Any], tmp_path: Path, one_torch_thread: None
) -> None:
    from loradoc.config.load import load_config
    from loradoc.train.run.start import run_training

    doc = {**tiny_config_doc, "max_steps": 6, "save_steps": 2}
    cfg_path = tmp_path / "lora.yml"
    cfg_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = Path(doc["output_dir"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(TQDM_DISABLE="1", OMP_NUM_THREADS="1", LORADOC_TEST_CRASH_IN="checkpoint-4")
    crashed = subprocess.run(
        [sys.executable, str(CRASH_CLI), "train", str(cfg_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    # the crash left checkpoint-4 half-written: an adapter, half an optimizer, no marker
    assert checkpoint_problem(out / "checkpoint-2") is None
    assert (out / "checkpoint-4" / "adapter_model.safetensors").is_file()
    assert checkpoint_problem(out / "checkpoint-4") is not None

    cfg = load_config(cfg_path, {"resume_from_checkpoint": True}, echo=False)
    assert run_training(cfg) == 0
    assert (out / "checkpoint-4.incomplete").is_dir()  # set aside, not mixed into the new one
    for step in (2, 4, 6):
        assert checkpoint_problem(out / f"checkpoint-{step}") is None
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps[:2] == [1, 2] and 3 in steps and max(steps) == 6
    assert json.loads((out / "summary.json").read_text())["steps"] == 6
