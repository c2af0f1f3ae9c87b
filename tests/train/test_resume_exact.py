"""Resume is exact in every case: a finished run stays finished, a final save that was cut short
is repaired from its last complete checkpoint, and a run stopped by SIGTERM and resumed logs the
same history (metrics.jsonl, summary.json) as a run that never stopped."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loradoc.errors import UserError
from loradoc.train.run.callbacks import TIMING_COLUMNS
from loradoc.train.run.checkpoint import checkpoint_problem
from loradoc.train.run.pipeline import PROCESS_FIELDS

# a schedule with state, a logging window wider than one step (so a window can straddle the stop),
# accumulation over two micro-batches, periodic checkpoints off: the stop writes the only one
RUN = {
    "max_steps": 8,
    "lr_scheduler": "cosine",
    "warmup_steps": 2,
    "logging_steps": 3,
    "gradient_accumulation_steps": 2,
    "save_steps": 100,
}
STOP_AFTER = 5  # not a multiple of logging_steps: the loss window 4-6 straddles the stop


def _files(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``out`` with its mtime (ns) and bytes."""
    return {
        p.relative_to(out).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


def _adapter(out: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(out / "adapter_model.safetensors"))


def _max_diff(a: dict[str, Any], b: dict[str, Any]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]


def _history(out: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in _metrics(out)]


def _summary(out: Path) -> dict[str, Any]:
    s = json.loads((out / "summary.json").read_text())
    return {k: v for k, v in s.items() if k not in PROCESS_FIELDS}


# --- item 4: a finished run -----------------------------------------------------------------


def test_a_finished_run_resumed_says_so_and_changes_nothing(
    make_train_config: Callable[..., Any], capsys: pytest.CaptureFixture[str], one_torch_thread: None
) -> None:
    from loradoc.train.run.start import run_training

    cfg = make_train_config(max_steps=4, save_steps=2)
    out = Path(cfg.output_dir)
    assert run_training(cfg) == 0
    before = _files(out)
    capsys.readouterr()

    again = make_train_config(max_steps=4, save_steps=2, resume_from_checkpoint=True)
    assert run_training(again) == 0
    said = capsys.readouterr().out
    lines = [line for line in said.splitlines() if "already finished" in line]
    assert len(lines) == 1 and "(nothing to do)" in lines[0] and "step 4" in lines[0], said
    assert _files(out) == before  # not one file written, touched or added
    assert max(r["step"] for r in _metrics(out)) == 4

    # max_steps lowered below what the run reached: refused, nothing changed
    lower = make_train_config(max_steps=3, save_steps=2, resume_from_checkpoint=True)
    with pytest.raises(UserError, match=r"reached step 4.*max_steps 3"):
        run_training(lower)
    assert _files(out) == before
    # decided once the data is known: the same 4 steps asked for as epochs (16 steps per epoch),
    # and a checkpoint named by path past the steps asked for
    capsys.readouterr()
    epochs = make_train_config(max_steps=None, num_epochs=0.25, save_steps=2, resume_from_checkpoint=True)
    assert run_training(epochs) == 0
    assert "already finished" in capsys.readouterr().out
    named = make_train_config(max_steps=3, save_steps=2, resume_from_checkpoint=str(out / "checkpoint-4"))
    with pytest.raises(UserError, match=r"reached step 4.*max_steps 3"):
        run_training(named)
    assert _files(out) == before


def test_a_finished_run_with_max_steps_raised_continues_to_the_new_max_steps(
    make_train_config: Callable[..., Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    one_torch_thread: None,
) -> None:
    from loradoc.train.run.start import run_training

    cfg = make_train_config(max_steps=4, save_steps=2)
    out = Path(cfg.output_dir)
    assert run_training(cfg) == 0
    capsys.readouterr()

    more = make_train_config(max_steps=6, save_steps=2, resume_from_checkpoint=True)
    assert run_training(more) == 0
    said = capsys.readouterr().out
    assert "continuing the finished run from step 4 to max_steps 6" in said, said
    steps = [r["step"] for r in _metrics(out)]
    assert max(steps) == 6 and 7 not in steps
    assert [r["step"] for r in _metrics(out) if "loss" in r] == [1, 2, 3, 4, 5, 6]
    assert json.loads((out / "summary.json").read_text())["steps"] == 6
    assert checkpoint_problem(out / "checkpoint-6") is None

    # the same adapter and history as a run asked for 6 steps from the start (constant lr)
    whole = make_train_config(max_steps=6, save_steps=2, output_dir=str(tmp_path / "whole"))
    assert run_training(whole) == 0
    assert _max_diff(_adapter(out), _adapter(tmp_path / "whole")) <= 1e-6
    assert _history(out) == _history(tmp_path / "whole")


def test_a_run_killed_while_writing_its_final_adapter_is_repaired_from_its_last_checkpoint(
    make_train_config: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    one_torch_thread: None,
) -> None:
    import peft

    from loradoc.train.run.start import run_training

    class Killed(BaseException):
        pass

    cfg = make_train_config(max_steps=4, save_steps=2)
    out = Path(cfg.output_dir)
    save = peft.LoraConfig.save_pretrained

    def die(self: Any, save_directory: str, *args: Any, **kwargs: Any) -> None:
        if Path(save_directory) == out:  # the final adapter, not a checkpoint's
            raise Killed  # the process dies after the adapter weights, before adapter_config.json
        save(self, save_directory, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(peft.LoraConfig, "save_pretrained", die)
        with pytest.raises(Killed):
            run_training(cfg)
    assert (out / "adapter_model.safetensors").is_file()
    assert not (out / "adapter_config.json").exists() and not (out / "summary.json").exists()
    assert checkpoint_problem(out / "checkpoint-4") is None
    capsys.readouterr()

    again = make_train_config(max_steps=4, save_steps=2, resume_from_checkpoint=True)
    assert run_training(again) == 0
    said = capsys.readouterr().out
    assert "the final adapter" in said and "is incomplete (no adapter_config.json)" in said, said
    assert "already finished" not in said
    for name in ("adapter_model.safetensors", "adapter_config.json", "summary.json"):
        assert (out / name).is_file()
    assert json.loads((out / "summary.json").read_text())["steps"] == 4
    assert max(r["step"] for r in _metrics(out)) == 4

    whole = make_train_config(max_steps=4, save_steps=2, output_dir=str(tmp_path / "whole"))
    assert run_training(whole) == 0
    assert _max_diff(_adapter(out), _adapter(tmp_path / "whole")) == 0.0
    assert _history(out) == _history(tmp_path / "whole")
    assert _summary(out) == _summary(tmp_path / "whole")

    # and now it is finished
    capsys.readouterr()
    assert run_training(make_train_config(max_steps=4, save_steps=2, resume_from_checkpoint=True)) == 0
    assert "already finished" in capsys.readouterr().out


# --- item 5: the logged history of a resumed run ------------------------------------------------


def test_a_run_resumed_after_sigterm_logs_the_history_of_an_unbroken_run(
    make_train_config: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    one_torch_thread: None,
) -> None:
    from loradoc.train.run import trainer as trainer_module
    from loradoc.train.run.start import run_training

    step = trainer_module.LoradocTrainer.training_step

    def stop_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        # SIGTERM arrives during step STOP_AFTER: the run finishes that step and saves
        if self.state.global_step == STOP_AFTER - 1 and not getattr(self, "_signalled", False):
            self._signalled = True
            os.kill(os.getpid(), signal.SIGTERM)
        return step(self, *args, **kwargs)

    cfg = make_train_config(**RUN)
    out = Path(cfg.output_dir)
    with monkeypatch.context() as m:
        m.setattr(trainer_module.LoradocTrainer, "training_step", stop_once)
        assert run_training(cfg, command=["train", "cfg.yml"]) == 143
    (ck,) = [p for p in out.iterdir() if p.name.startswith("checkpoint-")]
    assert ck.name == f"checkpoint-{STOP_AFTER}" and checkpoint_problem(ck) is None
    # a killed run may have logged past its checkpoint: those rows are dropped on resume
    with (out / "metrics.jsonl").open("a") as fh:
        fh.write(json.dumps({"step": STOP_AFTER + 1, "epoch": 9.0, "loss": 99.0}) + "\n")

    resumed = make_train_config(**RUN, resume_from_checkpoint=True)
    assert run_training(resumed) == 0
    assert f"resuming from {ck}" in capfd.readouterr().out

    whole = make_train_config(**RUN, output_dir=str(tmp_path / "whole"))
    assert run_training(whole) == 0
    ref = tmp_path / "whole"
    assert _max_diff(_adapter(out), _adapter(ref)) <= 1e-6
    got, want = _history(out), _history(ref)
    assert [r["step"] for r in got] == [r["step"] for r in want]
    assert [r["step"] for r in got if "loss" in r] == [1, 3, 6]
    assert got == want
    assert _summary(out) == _summary(ref)
    assert _summary(out)["train_loss_mean"] == _metrics(ref)[-1]["train_loss"]
