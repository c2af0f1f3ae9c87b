"""``fsdp``/``fsdp_config`` on one process: one line saying what to set, before anything heavy.

transformers refuses FSDP outside distributed training with a traceback once the model is
loaded (``ValueError: Using fsdp only works in distributed training.``); loradoc stops first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from loradoc.cli import main
from loradoc.doctor.snapshot import Snapshot
from loradoc.errors import UserError
from loradoc.train.run.launch import check_fsdp_processes

SNAPSHOTS = Path(__file__).parent / "snapshots"


def _gpus(n: int) -> Snapshot:
    data = json.loads((SNAPSHOTS / "a100.json").read_text())
    data["gpus"] = [{**data["gpus"][0], "index": i} for i in range(n)]
    return Snapshot.from_dict(data)


def _run_cli(words: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capfd.readouterr()
    old = dict(os.environ)
    os.environ["TQDM_DISABLE"] = "1"
    try:
        with pytest.raises(SystemExit) as exc:
            main(words)
    finally:
        os.environ.clear()
        os.environ.update(old)
    got = capfd.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), got.out, got.err


@pytest.mark.parametrize(
    "keys",
    [
        {"fsdp": ["full_shard", "auto_wrap"]},
        {"fsdp_config": {"fsdp_version": 2, "fsdp_offload_params": True}},
        {"fsdp": "full_shard auto_wrap", "num_processes": 1},
    ],
    ids=["fsdp", "fsdp_config", "num_processes_1"],
)
def test_fsdp_on_one_process_is_one_line_through_the_cli(
    keys: dict[str, Any], tiny_config_doc: dict[str, Any], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    doc = {**tiny_config_doc, **keys}
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(yaml.safe_dump(doc))
    code, out, err = _run_cli(["train", str(cfg)], capfd)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err[-2000:]
    assert errors == [
        "error: fsdp needs at least 2 processes: add --num-processes 2, or remove fsdp/fsdp_config from the config"
    ]
    assert "Traceback" not in err + out
    # decided before anything heavy: no data prepared, no output_dir
    assert not Path(doc["output_dir"]).exists()
    assert not Path(doc["dataset_prepared_path"]).exists()


def test_fsdp_with_several_processes_is_not_refused(train_config: Callable[..., Any]) -> None:
    check_fsdp_processes(train_config(fsdp=["full_shard"], num_processes=2), environ={})
    launched = {"LOCAL_RANK": "0", "WORLD_SIZE": "4", "RANK": "0"}
    check_fsdp_processes(train_config(fsdp=["full_shard"]), environ=launched)
    check_fsdp_processes(train_config(), environ={})  # no fsdp: nothing to say


def test_the_fix_names_the_gpus_of_the_machine(train_config: Callable[..., Any]) -> None:
    with pytest.raises(UserError) as err:
        check_fsdp_processes(train_config(fsdp=["full_shard"]), snapshot=_gpus(4), environ={})
    assert err.value.message == (
        "fsdp needs at least 2 processes: add --num-processes 4 (this machine has 4 GPUs), "
        "or remove fsdp/fsdp_config from the config"
    )
    with pytest.raises(UserError, match=r"add --num-processes 2, or remove"):
        check_fsdp_processes(train_config(fsdp=["full_shard"]), snapshot=_gpus(1), environ={})


def test_a_launcher_that_started_one_process(train_config: Callable[..., Any]) -> None:
    launched = {"LOCAL_RANK": "0", "WORLD_SIZE": "1", "RANK": "0"}
    with pytest.raises(UserError, match=r"fsdp needs at least 2 processes, but the launcher started 1"):
        check_fsdp_processes(train_config(fsdp_config={"version": 2}), environ=launched)
