"""SIGINT/SIGTERM during training: the step finishes, a complete checkpoint is written, the
process exits 130/143 with the exact resume command, and the resumed run ends with the
adapter of a run that never stopped."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from loradoc.train.run.checkpoint import MARKER, checkpoint_problem


def facts_of(snapshot: Any) -> Any:
    from loradoc.compat.load import load_matrix
    from loradoc.doctor.facts import machine_facts

    return machine_facts(snapshot, load_matrix())


pytestmark = pytest.mark.slow

SLOW_CLI = Path(__file__).with_name("slow_cli.py")
# 8 steps, a schedule with state (warmup + cosine), no periodic checkpoint: the only
# checkpoint the interrupted run has is the one the signal asks for
RUN = {
    "max_steps": 8,
    "lr_scheduler": "cosine",
    "warmup_steps": 2,
    "save_steps": 100,
    "logging_steps": 1,
}


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WANDB_", "RANK", "LOCAL_RANK", "WORLD_SIZE"))
    }
    env.update(
        TQDM_DISABLE="1", OMP_NUM_THREADS="1", HOME=str(tmp_path / "home"), LORADOC_TEST_STEP_SECONDS="0.4"
    )
    return env


def _wait_for_first_step(proc: subprocess.Popen[str], metrics: Path, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if metrics.is_file() and any('"loss"' in line for line in metrics.read_text().splitlines()):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before its first step: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no training step within the timeout")


def test_sigint_saves_a_checkpoint_and_the_resumed_run_matches_an_unbroken_one(
    tiny_config_doc: dict[str, Any], tmp_path: Path, one_torch_thread: None
) -> None:
    sig = signal.SIGINT
    from safetensors.torch import load_file

    from loradoc.config.load import load_config
    from loradoc.train.run.start import run_training

    doc = {**tiny_config_doc, **RUN}
    cfg_path = tmp_path / "lora.yml"
    cfg_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    out = Path(doc["output_dir"])
    words = ["train", str(cfg_path), "--learning-rate", "0.02"]
    proc = subprocess.Popen(
        [sys.executable, str(SLOW_CLI), *words],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    _wait_for_first_step(proc, out / "metrics.jsonl")
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=240)

    assert proc.returncode == 128 + sig, (stdout[-2000:], stderr[-3000:])
    assert "Traceback" not in stderr
    checkpoints = sorted(p for p in out.iterdir() if p.name.startswith("checkpoint-"))
    assert len(checkpoints) == 1, checkpoints
    ck = checkpoints[0]
    step = int(ck.name.split("-")[1])
    assert 1 <= step < RUN["max_steps"]
    assert checkpoint_problem(ck) is None and (ck / MARKER).is_file()
    assert {"adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json"} <= {
        p.name for p in ck.iterdir()
    }
    assert not (out / "adapter_model.safetensors").exists() and not (out / "summary.json").exists()
    resume = [line for line in stderr.splitlines() if line.startswith("resume with: ")]
    assert len(resume) == 1, stderr
    command = resume[0].removeprefix("resume with: ")
    assert command == "loradoc " + shlex.join([*words, "--resume_from_checkpoint", "true"])
    assert f"stopped by {sig.name} after step {step} of 8: checkpoint saved in {ck}" in stderr

    # the printed command, run as printed (loradoc -> python -m loradoc)
    resumed = subprocess.run(
        [sys.executable, "-m", "loradoc", *shlex.split(command)[1:]],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {ck}" in resumed.stdout

    whole = load_config(cfg_path, {"learning_rate": 0.02, "output_dir": str(tmp_path / "whole")}, echo=False)
    from loradoc.doctor.snapshot import Snapshot
    from loradoc.train.preflight import resolve

    resolve(whole, facts_of(Snapshot.load(Path(__file__).parent / "snapshots" / "cpu.json")))
    assert run_training(whole) == 0
    a = load_file(str(out / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "whole" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= 1e-5, worst

    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "loss" in r]
    assert [r["step"] for r in train] == list(range(1, 9))
    # the token counts carry on across the resume
    sup = [r["supervised_tokens"] for r in train]
    assert sup == sorted(sup) and len(set(sup)) == len(sup)
    reference = [json.loads(x) for x in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert sup == [r["supervised_tokens"] for r in reference if "loss" in r]
    assert [r["loss"] for r in train] == pytest.approx(
        [r["loss"] for r in reference if "loss" in r], abs=1e-5
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 8 and summary["supervised_tokens"] == sup[-1]
    # the mean loss is over the whole run, not only the steps after the resume
    unbroken = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert summary["train_loss_mean"] == pytest.approx(unbroken["train_loss_mean"], abs=1e-6)
    assert records[-1]["train_loss"] == pytest.approx(reference[-1]["train_loss"], abs=1e-6)


def test_sigterm_in_process_stops_after_the_step_and_restores_the_handlers(
    make_train_config: Any,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    one_torch_thread: None,
) -> None:
    import threading

    from loradoc.train.run import trainer as trainer_module
    from loradoc.train.run.start import run_training

    step = trainer_module.LoradocTrainer.training_step

    def slow(self: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)
        return step(self, *args, **kwargs)

    monkeypatch.setattr(trainer_module.LoradocTrainer, "training_step", slow)
    cfg = make_train_config(**RUN)
    out = Path(cfg.output_dir)
    late: list[int] = []

    def before(signum: int, frame: Any) -> None:  # a signal outside training would land here
        late.append(signum)

    previous = signal.signal(signal.SIGTERM, before)

    def send_when_training() -> None:
        end = time.monotonic() + 120
        while time.monotonic() < end:
            m = out / "metrics.jsonl"
            if m.is_file() and '"loss"' in m.read_text():
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.02)

    sender = threading.Thread(target=send_when_training, daemon=True)
    sender.start()
    try:
        code = run_training(cfg, command=["train", "cfg.yml"])
        sender.join(5)
        assert signal.getsignal(signal.SIGTERM) is before  # restored after training
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 143 and late == []
    (ck,) = [p for p in out.iterdir() if p.name.startswith("checkpoint-")]
    assert checkpoint_problem(ck) is None
    err = capfd.readouterr().err
    assert "SIGTERM: stopping after the current step" in err
    assert "resume with: loradoc train cfg.yml --resume_from_checkpoint true" in err
