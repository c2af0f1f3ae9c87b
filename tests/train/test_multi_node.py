"""Several machines through accelerate: two "machines" of one process each on localhost train like
one machine with two processes; the node options are checked in one line before anything starts.

Both runs go through the real CLI, accelerate's launcher and torchrun's static rendezvous (gloo
on the CPU). The two machines share ``output_dir``, as machines on a shared filesystem do:
machine 0 owns it, and only global rank 0 writes the outputs. The tolerance is the one of the
two-process test (``test_distributed.py``): the same bins in the same steps, summed in another
order.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from loradoc.errors import UserError
from loradoc.train.run.launch import Nodes, command_words, launch_command

TOL = 1e-5


def test_node_options_become_accelerates() -> None:
    nodes = Nodes(2, 1, "10.0.0.5", 29511)
    nodes.check(4)
    cmd = launch_command(["train", "c.yml", "--num-processes", "4"], 4, nodes=nodes)
    i = cmd.index("--num_machines")
    assert cmd[i : i + 8] == [
        "--num_machines",
        "2",
        "--machine_rank",
        "1",
        "--main_process_ip",
        "10.0.0.5",
        "--main_process_port",
        "29511",
    ]
    one = launch_command(["train", "c.yml"], 2)
    assert one[one.index("--num_machines") + 1] == "1" and one[one.index("--main_process_port") + 1] == "0"
    assert command_words("c.yml", [], None, 4, Nodes(2, 0, "h")) == [
        "train",
        "c.yml",
        "--num-processes",
        "4",
        "--num-machines",
        "2",
        "--machine-rank",
        "0",
        "--main-process-ip",
        "h",
    ]


@pytest.mark.parametrize(
    ("nodes", "processes", "message"),
    [
        (Nodes(2, 0, None), 2, "--num-machines 2 needs --main-process-ip"),
        (Nodes(2, 2, "h"), 2, "--machine-rank 2: machines are numbered 0 to 1"),
        (
            Nodes(2, 0, "h"),
            3,
            "--num-processes 3 counts the processes of all 2 machines: give a multiple of 2",
        ),
        (Nodes(1, 1, None), 2, "are for several machines: add --num-machines M"),
    ],
)
def test_bad_node_options_are_one_line(nodes: Nodes, processes: int, message: str) -> None:
    with pytest.raises(UserError) as err:
        nodes.check(processes)
    assert message in err.value.message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_machines_of_one_process_match_one_machine_of_two(
    tiny_config_doc: dict[str, Any], tmp_path: Path, cli_env: Callable[..., dict[str, str]]
) -> None:
    from safetensors.torch import load_file

    doc = {**tiny_config_doc, "sequence_len": 256, "max_steps": 3, "val_set_size": 0, "micro_batch_size": 1}
    cfg = tmp_path / "lora.yml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = cli_env(OMP_NUM_THREADS="1")
    base = [sys.executable, "-m", "loradoc", "train", str(cfg), "--num-processes", "2"]

    one = subprocess.run(
        [*base, "--output-dir", str(tmp_path / "one")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert one.returncode == 0, (one.stdout[-3000:], one.stderr[-3000:])

    port = _free_port()
    two = tmp_path / "two"
    machines = [
        subprocess.Popen(
            [
                *base,
                "--output-dir",
                str(two),
                "--num-machines",
                "2",
                "--machine-rank",
                str(rank),
                "--main-process-ip",
                "127.0.0.1",
                "--main-process-port",
                str(port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        for rank in (0, 1)
    ]
    outs = [m.communicate(timeout=600) for m in machines]
    for m, (out, err) in zip(machines, outs, strict=True):
        assert m.returncode == 0, (out[-3000:], err[-3000:])
    assert "on machine 0 of 2 (1 here, rendezvous at 127.0.0.1:" in outs[0][0]
    assert "on machine 1 of 2 (1 here" in outs[1][0]
    assert outs[0][0].count("done.") == 1 and "done." not in outs[1][0]  # global rank 0 reports

    summary = json.loads((two / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 3
    m1 = [r for r in _metrics(tmp_path / "one") if "loss" in r]
    m2 = [r for r in _metrics(two) if "loss" in r]
    assert [r["step"] for r in m2] == [1, 2, 3]
    assert [r["supervised_tokens"] for r in m2] == [r["supervised_tokens"] for r in m1]
    assert max(abs(a["loss"] - b["loss"]) for a, b in zip(m1, m2, strict=True)) <= TOL
    a = load_file(str(tmp_path / "one" / "adapter_model.safetensors"))
    b = load_file(str(two / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= TOL
