"""The pieces around interruption and multi-process runs, without training: the signal
handlers, the resume command, the launcher command, and the eval split between ranks."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loradoc.config.schema import TrainConfig
from loradoc.train.run import ranks
from loradoc.train.run import signals as sig
from loradoc.train.run.launch import (
    command_words,
    launch_command,
    launched_world_size,
    note_launcher_world,
    wants_launch,
)
from loradoc.train.run.signals import StopRequest, resume_command, stop_on_signals


def test_a_signal_is_recorded_once_and_the_old_handlers_come_back(monkeypatch: pytest.MonkeyPatch) -> None:
    before = {s: signal.getsignal(s) for s in sig.STOP_SIGNALS}
    request = StopRequest(main=False)
    with stop_on_signals(request):
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt: recorded
        os.kill(os.getpid(), signal.SIGTERM)  # a second one at once: the same request
        assert request.signum == signal.SIGINT and request.exit_code == 130 and request.name == "SIGINT"
    assert {s: signal.getsignal(s) for s in sig.STOP_SIGNALS} == before
    monkeypatch.setattr(sig, "ABORT_AFTER_S", 0.0)
    request = StopRequest(main=False)
    with pytest.raises(KeyboardInterrupt), stop_on_signals(request):  # asked twice, apart: stop at once
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before[signal.SIGINT]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (None, "loradoc train cfg.yml --resume_from_checkpoint true"),
        (
            ["train", "my cfg.yml", "--lr", "1e-4"],
            "loradoc train 'my cfg.yml' --lr 1e-4 --resume_from_checkpoint true",
        ),
        (
            ["train", "c.yml", "--resume_from_checkpoint", "out/checkpoint-2", "--x", "1"],
            "loradoc train c.yml --x 1 --resume_from_checkpoint true",
        ),
        (
            ["train", "c.yml", "--resume-from-checkpoint=true"],
            "loradoc train c.yml --resume_from_checkpoint true",
        ),
        (
            ["train", "c.yml", "--resume_from_checkpoint", "--num-processes", "2"],
            "loradoc train c.yml --num-processes 2 --resume_from_checkpoint true",
        ),
    ],
)
def test_resume_command(words: list[str] | None, expected: str) -> None:
    assert resume_command(words, "cfg.yml") == expected


def test_launch_command_uses_this_python_and_accelerates_torchrun_path() -> None:
    cmd = launch_command(["train", "c.yml", "--num-processes", "2"], 2)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert "--multi_gpu" in cmd and cmd[cmd.index("--num_processes") + 1] == "2"
    assert cmd[-6:] == ["-m", "loradoc", "train", "c.yml", "--num-processes", "2"]
    assert command_words("c.yml", ["--lr", "1"], "snap.json", 4) == [
        "train",
        "c.yml",
        "--from",
        "snap.json",
        "--lr",
        "1",
        "--num-processes",
        "4",
    ]


def test_launch_only_outside_a_launcher_and_record_the_real_world_size(
    train_config: Callable[..., TrainConfig],
) -> None:
    cfg = train_config(num_processes=2)
    assert wants_launch(cfg, environ={}) and not wants_launch(train_config(), environ={})
    inside = {"LOCAL_RANK": "0", "WORLD_SIZE": "3", "RANK": "0"}
    assert launched_world_size(inside) == 3 and not wants_launch(cfg, environ=inside)
    note_launcher_world(cfg, echo=False, environ=inside)
    assert [(c.key, c.old, c.new, c.reason) for c in cfg.auto_changes] == [
        ("num_processes", 2, 3, "the launcher started 3 processes")
    ]
    assert cfg.num_processes == 3


def test_ranks_come_from_the_launchers_environment() -> None:
    # a plain process: rank 0 of 1
    assert (ranks.rank({}), ranks.local_rank({}), ranks.world_size({})) == (0, 0, 1)
    assert ranks.launched_world_size({}) is None and ranks.is_main_process({})
    worker = {"RANK": "5", "LOCAL_RANK": "1", "WORLD_SIZE": "8"}
    assert (ranks.rank(worker), ranks.local_rank(worker), ranks.world_size(worker)) == (5, 1, 8)
    assert ranks.launched_world_size(worker) == 8 and not ranks.is_main_process(worker)
    assert ranks.is_main_process({"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "8"})
    # the first process of a second machine is not the main one
    assert not ranks.is_main_process({"RANK": "4", "LOCAL_RANK": "0", "WORLD_SIZE": "8"})
    # WORLD_SIZE alone is not a launch; a value that is not a number counts as unset
    assert ranks.launched_world_size({"WORLD_SIZE": "2"}) is None
    assert ranks.launched_world_size({"LOCAL_RANK": "0", "WORLD_SIZE": "two"}) is None


@pytest.mark.parametrize(("batches", "world"), [(5, 2), (4, 2), (1, 3), (7, 3)])
def test_eval_batches_split_between_ranks_each_once(batches: int, world: int) -> None:
    from loradoc.train.run.eval_shard import RankBatches

    inner = [[[i]] for i in range(batches)]  # micro-batch i holds one bin: [i]
    seen: list[int] = []
    lengths = set()
    for rank in range(world):
        shard = RankBatches(inner, rank=rank, world=world)
        got = list(shard)
        lengths.add(len(got))
        assert len(got) == len(shard)
        seen += [b[0][0] for b in got[: shard.real_batches]]
        assert all(b == inner[0] for b in got[shard.real_batches :])  # stand-ins
    assert sorted(seen) == list(range(batches)) and len(lengths) == 1


def test_stand_in_batches_carry_no_labels(tiny_tokenizer: Any) -> None:
    import torch

    from loradoc.train.packing.dataloader import build_dataloader
    from loradoc.train.run.eval_shard import ShardedEvalLoader

    rows = [{"input_ids": [1, 5, 6, 7], "labels": [-100, 5, 6, 7], "length": 4} for _ in range(3)]
    loader = build_dataloader(
        rows,
        packing=False,
        sequence_len=16,
        micro_batch_size=1,
        pad_token_id=0,
        seed=0,
        attention="sdpa",
        shuffle=False,
    )
    out = list(ShardedEvalLoader(loader, rank=1, world=2))  # batches 1 and a stand-in
    assert len(out) == 2
    assert out[0]["labels"].ne(-100).sum() == 3
    assert torch.all(out[1]["labels"] == -100) and out[1].token_counts.supervised == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_launcher_runs_in_its_own_group_and_dies_with_its_parent(tmp_path: Any) -> None:
    """The launcher gets a process group of its own (so a group-wide signal to loradoc reaches it
    once, through loradoc) and SIGTERM when loradoc is killed outright (no orphaned workers)."""
    import subprocess
    import time

    pid_file = tmp_path / "child.pid"
    parent = (
        "import os, subprocess, sys, time\n"
        "from loradoc.train.run.launch import _own_group_dying_with\n"
        "p = subprocess.Popen(['sleep', '60'], preexec_fn=_own_group_dying_with(os.getpid()))\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", parent])
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert os.getpgid(child) == child != os.getpgid(proc.pid)  # a group of its own
        proc.kill()  # SIGKILL: loradoc gets no chance to pass anything on
        proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            try:  # a zombie (dead, not yet reaped by init) counts as gone
                if Path(f"/proc/{child}/stat").read_text().split(") ", 1)[1].startswith("Z"):
                    break
            except FileNotFoundError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the launcher outlived its parent")
    finally:
        proc.kill()
