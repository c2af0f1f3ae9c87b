"""output_dir and resume checks that run before anything heavy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loradoc.config.schema import TrainConfig
from loradoc.errors import UserError
from loradoc.train.run.checkpoint import write_marker
from loradoc.train.run.start import check_output_dir, last_checkpoint

Guard = Callable[..., TrainConfig]


@pytest.fixture
def gcfg(train_config: Callable[..., TrainConfig]) -> Guard:
    """``gcfg(out, resume=..., **keys)``: a config writing to ``out``."""

    def make(out: Path, **kw: Any) -> TrainConfig:
        return train_config(output_dir=str(out), resume_from_checkpoint=kw.pop("resume", None), **kw)

    return make


def _checkpoint(out: Path, step: int) -> Path:
    ck = out / f"checkpoint-{step}"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text("{}")
    write_marker(ck, step=step)
    return ck


def test_new_or_empty_folder_is_fine(tmp_path: Path, gcfg: Guard) -> None:
    assert check_output_dir(gcfg(tmp_path / "new")) is None
    (tmp_path / "empty").mkdir()
    assert check_output_dir(gcfg(tmp_path / "empty")) is None
    # a start that stopped before training (only the resolved config) may be rerun
    (tmp_path / "started").mkdir()
    (tmp_path / "started" / "resolved_config.yml").write_text("a: 1\n")
    assert check_output_dir(gcfg(tmp_path / "started")) is None


def test_a_finished_run_is_refused_unless_resumed_or_overwritten(tmp_path: Path, gcfg: Guard) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "resolved_config.yml").write_text("a: 1\n")
    (out / "adapter_model.safetensors").write_bytes(b"x")
    _checkpoint(out, 2)
    with pytest.raises(
        UserError, match=r"already holds a run .*resume_from_checkpoint: true.*overwrite_output_dir"
    ):
        check_output_dir(gcfg(out))
    said: list[str] = []
    assert check_output_dir(gcfg(out, overwrite_output_dir=True), say=said.append) is None
    assert out.is_dir() and list(out.iterdir()) == [] and "emptied" in said[0]


def test_overwrite_never_deletes_a_users_file_inside_a_run(tmp_path: Path, gcfg: Guard) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "resolved_config.yml").write_text("a: 1\n")
    (out / "adapter_model.safetensors").write_bytes(b"x")
    (out / "samples.md").write_text("before/after")  # written by examples/tiny/show_samples.py: a run file
    (out / "my_notes.txt").write_text("precious")
    with pytest.raises(UserError, match=r"holds files loradoc did not write \(my_notes\.txt\)"):
        check_output_dir(gcfg(out, overwrite_output_dir=True))
    assert (out / "my_notes.txt").read_text() == "precious" and (out / "adapter_model.safetensors").exists()
    (out / "my_notes.txt").unlink()
    assert check_output_dir(gcfg(out, overwrite_output_dir=True), say=lambda _l: None) is None
    assert list(out.iterdir()) == []


def test_foreign_folder_is_never_emptied(tmp_path: Path, gcfg: Guard) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    for kw in ({}, {"overwrite_output_dir": True}):
        with pytest.raises(UserError, match="is not empty and is not a loradoc run"):
            check_output_dir(gcfg(out, **kw))
    assert (out / "thesis.tex").read_text() == "precious"


def test_resume_finds_the_newest_complete_checkpoint(tmp_path: Path, gcfg: Guard) -> None:
    out = tmp_path / "run"
    _checkpoint(out, 2)
    _checkpoint(out, 10)
    (out / "checkpoint-12").mkdir()  # incomplete: no trainer_state.json
    said: list[str] = []
    assert last_checkpoint(out, say=said.append) == out / "checkpoint-10"
    assert said == [
        "resume: skipping checkpoint-12 (no trainer_state.json and no loradoc_complete.json: the save did not finish)"
    ]
    assert check_output_dir(gcfg(out, resume=True), say=said.append) == str(out / "checkpoint-10")
    assert (out / "checkpoint-12.incomplete").is_dir() and not (out / "checkpoint-12").exists()
    assert check_output_dir(gcfg(out, resume=str(out / "checkpoint-2"))) == str(out / "checkpoint-2")
    with pytest.raises(UserError, match="not a checkpoint folder"):
        check_output_dir(gcfg(out, resume=str(out / "checkpoint-12")))
    with pytest.raises(UserError, match="holds no checkpoint"):
        check_output_dir(gcfg(tmp_path / "nothing", resume=True))


def test_overwrite_output_dir_is_a_config_key(tmp_path: Path) -> None:
    import yaml

    from loradoc.config.load import load_config

    (tmp_path / "d.jsonl").write_text('{"text": "x"}\n')
    doc = {
        "base_model": "some/model",
        "datasets": [{"path": "d.jsonl", "type": "completion"}],
        "adapter": "lora",
        "output_dir": "out",
        "overwrite_output_dir": True,
    }
    (tmp_path / "c.yml").write_text(yaml.safe_dump(doc))
    cfg = load_config(tmp_path / "c.yml", {}, echo=False)
    assert cfg.overwrite_output_dir is True


def test_only_the_main_process_changes_the_folder(tmp_path: Path, gcfg: Guard) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "resolved_config.yml").write_text("a: 1\n")
    (out / "adapter_model.safetensors").write_bytes(b"x")
    # a worker (not rank 0) with overwrite_output_dir: checks, empties nothing
    assert check_output_dir(gcfg(out, overwrite_output_dir=True), main=False) is None
    assert (out / "adapter_model.safetensors").is_file()
    _checkpoint(out, 2)
    (out / "checkpoint-3").mkdir()
    assert check_output_dir(gcfg(out, resume=True), main=False) == str(out / "checkpoint-2")
    assert (out / "checkpoint-3").is_dir()  # set aside by the main process only
    assert check_output_dir(gcfg(out, resume=True)) == str(out / "checkpoint-2")
    assert not (out / "checkpoint-3").exists() and (out / "checkpoint-3.incomplete").is_dir()


def test_an_output_dir_that_cannot_be_created(tmp_path: Path, gcfg: Guard) -> None:
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(UserError, match=r"a_file/out/deeper cannot be created \(.*a_file is a file\)"):
        check_output_dir(gcfg(tmp_path / "a_file" / "out" / "deeper"))
    assert (tmp_path / "a_file").read_text() == "x"


def _finished(out: Path, steps: int, **recorded: Any) -> None:
    """The final outputs of a run that ended at ``steps`` (with its resolved config)."""
    import json

    import yaml

    out.mkdir(parents=True, exist_ok=True)
    (out / "resolved_config.yml").write_text(yaml.safe_dump({"num_epochs": 1.0, **recorded}))
    (out / "adapter_model.safetensors").write_bytes(b"w")
    (out / "adapter_config.json").write_text("{}")
    (out / "summary.json").write_text(json.dumps({"steps": steps}))


def test_a_finished_run_is_finished_in_one_line_and_untouched(tmp_path: Path, gcfg: Guard) -> None:
    from loradoc.train.run.start import already_finished

    out = tmp_path / "run"
    _finished(out, 4, max_steps=4)
    _checkpoint(out, 4)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    said: list[str] = []
    assert already_finished(gcfg(out, resume=True, max_steps=4), say=said.append)
    assert said == [f"already finished: {out} holds the final adapter of step 4 of 4 (nothing to do)"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    # more steps: continue (said), fewer: refused; a named checkpoint or no resume: not this check
    said.clear()
    assert not already_finished(gcfg(out, resume=True, max_steps=6), say=said.append)
    assert said and said[0].startswith("resume: continuing the finished run from step 4 to max_steps 6")
    with pytest.raises(UserError, match="already reached step 4, past max_steps 3"):
        already_finished(gcfg(out, resume=True, max_steps=3))
    assert not already_finished(gcfg(out, resume=str(out / "checkpoint-4"), max_steps=4))
    assert not already_finished(gcfg(out, max_steps=4))


def test_an_epoch_driven_run_is_finished_when_its_epochs_are_unchanged(tmp_path: Path, gcfg: Guard) -> None:
    from loradoc.train.run.start import already_finished

    out = tmp_path / "run"
    _finished(out, 9, num_epochs=2.0)
    said: list[str] = []
    assert already_finished(gcfg(out, resume=True, num_epochs=2), say=said.append)
    assert "step 9 of 9 (nothing to do)" in said[0]
    # other epochs: the steps depend on the data, the pipeline decides
    assert not already_finished(gcfg(out, resume=True, num_epochs=3))


def test_final_outputs_cut_short_are_removed_and_the_run_resumes(tmp_path: Path, gcfg: Guard) -> None:
    from loradoc.train.run.checkpoint import final_outputs
    from loradoc.train.run.start import already_finished

    out = tmp_path / "run"
    _finished(out, 4)
    (out / "adapter_config.json").unlink()
    (out / "summary.json").unlink()
    _checkpoint(out, 4)
    assert final_outputs(out).problem == "no adapter_config.json"
    assert not already_finished(gcfg(out, resume=True, max_steps=4))
    # a worker only looks
    assert check_output_dir(gcfg(out, resume=True), main=False) == str(out / "checkpoint-4")
    assert (out / "adapter_model.safetensors").is_file()
    said: list[str] = []
    assert check_output_dir(gcfg(out, resume=True), say=said.append) == str(out / "checkpoint-4")
    assert said == [
        f"resume: the final adapter in {out} is incomplete (no adapter_config.json), the run stopped while "
        "writing it; removed it, resuming from checkpoint-4"
    ]
    assert not (out / "adapter_model.safetensors").exists() and not final_outputs(out).present


def test_a_run_stopped_before_its_first_checkpoint_starts_again(tmp_path: Path, gcfg: Guard) -> None:
    """Killed while writing checkpoint-2 (no marker), or before any: the plain run goes on; an explicit
    resume says why it cannot (and that removing the key starts fresh)."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "resolved_config.yml").write_text("a: 1\n")
    (out / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    half = out / "checkpoint-2"
    half.mkdir()
    (half / "adapter_model.safetensors").write_bytes(b"x")  # no trainer_state, no marker
    with pytest.raises(UserError, match=r"no checkpoint in .* is complete \(checkpoint-2\).*remove the key"):
        check_output_dir(gcfg(out, resume=True))
    said: list[str] = []
    assert check_output_dir(gcfg(out), say=said.append) is None
    assert list(out.iterdir()) == [] and "stopped before its first complete checkpoint" in said[0]
    # a run with a complete checkpoint is still refused without resume, and resumed with it
    out = tmp_path / "kept"
    out.mkdir()
    (out / "resolved_config.yml").write_text("a: 1\n")
    _checkpoint(out, 2)
    with pytest.raises(UserError, match="already holds a run"):
        check_output_dir(gcfg(out))
    assert check_output_dir(gcfg(out, resume=True)) == str(out / "checkpoint-2")
