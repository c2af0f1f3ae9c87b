"""The loggers besides W&B: TensorBoard, MLflow, Comet and Trackio, through transformers' ``report_to``.

Each is turned on by its Axolotl key (``use_tensorboard``, ``use_mlflow``, ``use_comet``,
``use_trackio``) or by naming where it logs (``mlflow_tracking_uri``,
``comet_project_name``, ``trackio_project_name``); ``use_X: false`` turns it off
whatever else is set. transformers' own callbacks do the logging; this module decides
which ones run, checks their package is installed (one line naming the install
otherwise, before anything loads), and sets the environment and arguments they read.
No secret passes through here: API keys stay in the environment (``COMET_API_KEY``),
and the config loader refuses them as keys.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradoc.errors import UserError

if TYPE_CHECKING:
    from loradoc.config.schema import TrainConfig

Say = Callable[[str], None]


@dataclass(frozen=True)
class Tracker:
    report_to: str  # transformers' integration name
    label: str
    use_key: str  # the on/off key
    implied_by: tuple[str, ...]  # keys whose value turns it on too
    modules: tuple[str, ...]  # any one importable is enough
    pip: str  # what to install


TRACKERS = (
    Tracker(
        "tensorboard", "TensorBoard", "use_tensorboard", (), ("tensorboard", "tensorboardX"), "tensorboard"
    ),
    Tracker(
        "mlflow",
        "MLflow",
        "use_mlflow",
        ("mlflow_tracking_uri", "mlflow_experiment_name"),
        ("mlflow",),
        "mlflow",
    ),
    Tracker("comet_ml", "Comet", "use_comet", ("comet_project_name",), ("comet_ml",), "comet_ml"),
    Tracker("trackio", "Trackio", "use_trackio", ("trackio_project_name",), ("trackio",), "trackio"),
)


def wanted(cfg: TrainConfig) -> list[tuple[Tracker, str]]:
    """The trackers the config turns on, each with the key that did."""
    out = []
    for t in TRACKERS:
        use = getattr(cfg, t.use_key)
        if use is False:
            continue
        if use:
            out.append((t, t.use_key))
            continue
        by = next((k for k in t.implied_by if getattr(cfg, k)), None)
        if by:
            out.append((t, by))
    return out


def missing_packages(
    cfg: TrainConfig, find_spec: Callable[[str], Any] = importlib.util.find_spec
) -> list[tuple[Tracker, str]]:
    """The wanted trackers whose package is not installed here, with the key that wants them."""
    return [(t, key) for t, key in wanted(cfg) if not any(find_spec(m) is not None for m in t.modules)]


def missing_message(tracker: Tracker, key: str) -> str:
    return (
        f"{key}: {tracker.label} logging needs the {tracker.pip} package, which is not installed: "
        f"pip install {tracker.pip} (or set {tracker.use_key}: false)"
    )


def run_name(cfg: TrainConfig) -> str | None:
    """The run's name for every logger: wandb_name, else mlflow_run_name, else trackio_run_name."""
    return cfg.wandb_name or cfg.mlflow_run_name or cfg.trackio_run_name or None


@dataclass
class TrackerPlan:
    report_to: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # exported for transformers' callbacks
    args: dict[str, Any] = field(default_factory=dict)  # extra TrainingArguments


def settle_trackers(
    cfg: TrainConfig,
    *,
    say: Say = print,
    environ: MutableMapping[str, str] | None = None,
    find_spec: Callable[[str], Any] = importlib.util.find_spec,
) -> TrackerPlan:
    """Which trackers run, with their settings exported to ``environ`` (default ``os.environ``).
    Raises UserError naming the install when a wanted tracker's package is missing."""
    env = os.environ if environ is None else environ
    gaps = missing_packages(cfg, find_spec)
    if gaps:
        raise UserError(missing_message(*gaps[0]))
    out = Path(str(cfg.output_dir)).expanduser()
    plan = TrackerPlan()
    for t, _ in wanted(cfg):
        plan.report_to.append(t.report_to)
        if t.report_to == "tensorboard":
            logdir = env.get("TENSORBOARD_LOGGING_DIR") or str(out / "runs")
            plan.env["TENSORBOARD_LOGGING_DIR"] = logdir
            say(f"TensorBoard: logging under {logdir} (tensorboard --logdir {logdir})")
        elif t.report_to == "mlflow":
            _set(plan.env, "MLFLOW_TRACKING_URI", cfg.mlflow_tracking_uri)
            _set(plan.env, "MLFLOW_EXPERIMENT_NAME", cfg.mlflow_experiment_name)
            if cfg.hf_mlflow_log_artifacts:
                plan.env["HF_MLFLOW_LOG_ARTIFACTS"] = "TRUE"
            uri = (
                cfg.mlflow_tracking_uri
                or env.get("MLFLOW_TRACKING_URI")
                or "./mlruns (MLFLOW_TRACKING_URI unset)"
            )
            say(f"MLflow: logging to {uri}")
        elif t.report_to == "comet_ml":
            _set(plan.env, "COMET_WORKSPACE", cfg.comet_workspace)
            _set(plan.env, "COMET_PROJECT_NAME", cfg.comet_project_name)
            _set(plan.env, "COMET_EXPERIMENT_KEY", cfg.comet_experiment_key)
            _set(plan.env, "COMET_MODE", cfg.comet_mode)
            online = cfg.comet_online is not False
            if online and not _comet_key(env):
                online = False
                say(
                    "Comet: no API key (COMET_API_KEY or ~/.comet.config): logging offline under "
                    f"{out / 'comet'}; upload later with `comet upload {out / 'comet'}/*.zip`"
                )
            if not online:
                plan.env["COMET_START_ONLINE"] = "false"
                plan.env.setdefault(
                    "COMET_OFFLINE_DIRECTORY", env.get("COMET_OFFLINE_DIRECTORY") or str(out / "comet")
                )
            say(f"Comet: logging {'online' if online else 'offline'}")
        elif t.report_to == "trackio":
            if cfg.trackio_project_name:
                plan.args["project"] = cfg.trackio_project_name
            if cfg.trackio_space_id:
                plan.args["trackio_space_id"] = cfg.trackio_space_id
            where = (
                f"the Space {cfg.trackio_space_id}"
                if cfg.trackio_space_id
                else "a local dashboard (trackio show)"
            )
            say(f"Trackio: logging to {where}")
    env.update(plan.env)
    return plan


def _set(env: dict[str, str], name: str, value: object) -> None:
    if value not in (None, ""):
        env[name] = str(value)


def _comet_key(env: MutableMapping[str, str]) -> bool:
    if env.get("COMET_API_KEY", "").strip():
        return True
    config = env.get("COMET_CONFIG") or os.path.join(
        env.get("HOME") or os.path.expanduser("~"), ".comet.config"
    )
    try:
        return "api_key" in Path(config).read_text(encoding="utf-8")
    except OSError:
        return False
