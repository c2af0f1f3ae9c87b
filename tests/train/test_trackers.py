"""Loggers besides W&B: which run, what they read, a missing package in one line, and real TensorBoard."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from loradoc.config.schema import TrainConfig
from loradoc.errors import UserError
from loradoc.train.run.trackers import missing_packages, run_name, settle_trackers, wanted
from loradoc.train.run.train_args import training_arguments


def _names(cfg: TrainConfig) -> list[tuple[str, str]]:
    return [(t.report_to, key) for t, key in wanted(cfg)]


def test_each_logger_is_turned_on_by_its_key_or_by_naming_where_it_logs(
    train_config: Callable[..., TrainConfig],
) -> None:
    assert _names(train_config()) == []
    assert _names(train_config(use_tensorboard=True)) == [("tensorboard", "use_tensorboard")]
    assert _names(train_config(mlflow_tracking_uri="file:///tmp/ml")) == [("mlflow", "mlflow_tracking_uri")]
    assert _names(train_config(comet_project_name="p")) == [("comet_ml", "comet_project_name")]
    assert _names(train_config(trackio_project_name="p", use_mlflow=True)) == [
        ("mlflow", "use_mlflow"),
        ("trackio", "trackio_project_name"),
    ]
    # use_X: false wins over the keys that would turn it on
    assert _names(train_config(use_mlflow=False, mlflow_tracking_uri="file:///tmp/ml")) == []


def test_a_missing_package_is_named_with_its_install(train_config: Callable[..., TrainConfig]) -> None:
    cfg = train_config(use_tensorboard=True, trackio_project_name="p")
    gone = missing_packages(cfg, find_spec=lambda name: None)
    assert [t.pip for t, _ in gone] == ["tensorboard", "trackio"]
    installed = missing_packages(cfg, find_spec=lambda name: object() if name == "tensorboardX" else None)
    assert [t.pip for t, _ in installed] == ["trackio"]  # tensorboardX serves TensorBoard too


def test_settle_exports_what_the_callbacks_read(
    tmp_path: Path, train_config: Callable[..., TrainConfig]
) -> None:
    cfg = train_config(
        output_dir=str(tmp_path / "out"),
        use_tensorboard=True,
        use_mlflow=True,
        mlflow_tracking_uri=f"file://{tmp_path}/mlruns",
        mlflow_experiment_name="exp",
        mlflow_run_name="run-7",
        hf_mlflow_log_artifacts=True,
    )
    environ: dict[str, str] = {"HOME": str(tmp_path)}
    said: list[str] = []
    plan = settle_trackers(cfg, say=said.append, environ=environ, find_spec=lambda name: object())
    assert plan.report_to == ["tensorboard", "mlflow"]
    assert environ["TENSORBOARD_LOGGING_DIR"] == str(tmp_path / "out" / "runs")
    assert environ["MLFLOW_TRACKING_URI"] == f"file://{tmp_path}/mlruns"
    assert environ["MLFLOW_EXPERIMENT_NAME"] == "exp" and environ["HF_MLFLOW_LOG_ARTIFACTS"] == "TRUE"
    assert (
        said[0].startswith("TensorBoard: logging under ")
        and said[1] == f"MLflow: logging to file://{tmp_path}/mlruns"
    )
    assert run_name(cfg) == "run-7"
    args = training_arguments(
        cfg, precision="fp32", steps_per_epoch=2, has_eval=False, report_to=plan.report_to, world_size=1
    )
    assert args.report_to == ["tensorboard", "mlflow"] and args.run_name == "run-7"


def test_comet_without_a_key_logs_offline_and_trackio_takes_its_project(
    tmp_path: Path, train_config: Callable[..., TrainConfig]
) -> None:
    cfg = train_config(
        output_dir=str(tmp_path / "out"),
        comet_project_name="cp",
        comet_workspace="ws",
        trackio_project_name="tp",
    )
    environ: dict[str, str] = {"HOME": str(tmp_path)}
    said: list[str] = []
    plan = settle_trackers(cfg, say=said.append, environ=environ, find_spec=lambda name: object())
    assert plan.report_to == ["comet_ml", "trackio"]
    assert environ["COMET_PROJECT_NAME"] == "cp" and environ["COMET_WORKSPACE"] == "ws"
    assert environ["COMET_START_ONLINE"] == "false"
    assert environ["COMET_OFFLINE_DIRECTORY"] == str(tmp_path / "out" / "comet")
    assert any("no API key" in s for s in said)
    assert plan.args == {"project": "tp"}
    args = training_arguments(
        cfg, precision="fp32", steps_per_epoch=2, has_eval=False, report_to=[], world_size=1, extra=plan.args
    )
    assert args.project == "tp"
    # with a key in the environment it stays online, and the key is never said
    environ = {"HOME": str(tmp_path), "COMET_API_KEY": "k" * 24}
    said.clear()
    settle_trackers(cfg, say=said.append, environ=environ, find_spec=lambda name: object())
    assert "COMET_START_ONLINE" not in environ and "Comet: logging online" in said
    assert not any("k" * 24 in s for s in said)


def test_settle_refuses_a_missing_package_in_one_line(train_config: Callable[..., TrainConfig]) -> None:
    cfg = train_config(use_trackio=True)
    with pytest.raises(UserError) as err:
        settle_trackers(cfg, say=lambda _: None, environ={}, find_spec=lambda name: None)
    assert err.value.message == (
        "use_trackio: Trackio logging needs the trackio package, which is not installed: pip install trackio "
        "(or set use_trackio: false)"
    )


@pytest.mark.slow
def test_a_real_run_logs_to_tensorboard(
    tiny_config_doc: dict[str, Any], tmp_path: Path, cli_env: Callable[..., dict[str, str]]
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    doc = tiny_config_doc
    doc.update(max_steps=3, use_tensorboard=True)
    cfg = tmp_path / "lora.yml"
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = cli_env()
    proc = subprocess.run(
        [sys.executable, "-m", "loradoc", "train", str(cfg)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    out = Path(doc["output_dir"])
    assert f"TensorBoard: logging under {out / 'runs'}" in proc.stdout
    events = list((out / "runs").rglob("events.out.tfevents.*"))
    assert events, list(out.iterdir())
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    losses = [e.value for e in acc.Scalars("train/loss")]
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == len([m for m in metrics if "loss" in m]) == 3
    assert losses == pytest.approx([m["loss"] for m in metrics if "loss" in m], rel=1e-5)
