"""W&B: the key question settled up front; offline without a key; the real wandb package, offline."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loradoc.config.schema import TrainConfig
from loradoc.train.run.wandb_setup import has_api_key, settle_wandb

SECRET = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def wcfg(tmp_path: Path, train_config: Callable[..., TrainConfig]) -> Callable[..., TrainConfig]:
    """``wcfg(**keys)``: a config with W&B on (wandb_project set), output in ``tmp_path/out``."""

    def make(**kw: Any) -> TrainConfig:
        return train_config(**{"wandb_project": "loradoc-test", "output_dir": str(tmp_path / "out"), **kw})

    return make


def clean_env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "PATH": os.environ.get("PATH", "")}


def test_has_api_key_from_env_or_netrc(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    assert not has_api_key(env)
    assert has_api_key({**env, "WANDB_API_KEY": SECRET})
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text(f"machine api.wandb.ai\n  login user\n  password {SECRET}\n")
    assert has_api_key(env)
    assert not has_api_key({**env, "WANDB_BASE_URL": "https://wandb.example.org"})


def test_off_unless_project_set(tmp_path: Path, wcfg: Callable[..., TrainConfig]) -> None:
    env = clean_env(tmp_path)
    assert not settle_wandb(wcfg(wandb_project=None), environ=env, interactive=False).enabled
    assert not settle_wandb(wcfg(wandb_mode="disabled"), environ=env, interactive=False).enabled
    assert not settle_wandb(wcfg(use_wandb=False), environ=env, interactive=False).enabled
    assert "WANDB_MODE" not in env


def test_non_interactive_without_key_goes_offline(tmp_path: Path, wcfg: Callable[..., TrainConfig]) -> None:
    env = clean_env(tmp_path)
    said: list[str] = []

    def never(*a: Any) -> str:
        raise AssertionError("must not prompt")

    plan = settle_wandb(
        wcfg(wandb_entity="team", wandb_name="run1", wandb_run_id="abc"),
        environ=env,
        interactive=False,
        ask=never,
        ask_key=never,
        say=said.append,
    )
    assert plan.enabled and plan.mode == "offline" and plan.report_to == ["wandb"]
    assert env["WANDB_MODE"] == "offline" and env["WANDB_PROJECT"] == "loradoc-test"
    assert env["WANDB_ENTITY"] == "team" and env["WANDB_NAME"] == "run1" and env["WANDB_RUN_ID"] == "abc"
    assert env["WANDB_DIR"] == str(tmp_path / "out")
    assert len(said) == 1 and "offline" in said[0] and "wandb sync" in said[0]


def test_online_with_key_stays_online_and_key_is_never_said(
    tmp_path: Path, wcfg: Callable[..., TrainConfig]
) -> None:
    env = {**clean_env(tmp_path), "WANDB_API_KEY": SECRET}
    said: list[str] = []
    plan = settle_wandb(wcfg(), environ=env, interactive=False, say=said.append)
    assert plan.mode == "online" and env["WANDB_MODE"] == "online"
    assert not said and SECRET not in repr(plan)


@pytest.mark.parametrize(("answer", "mode", "enabled"), [("o", "offline", True), ("d", "disabled", False)])
def test_interactive_asks_once(
    tmp_path: Path, answer: str, mode: str, enabled: bool, wcfg: Callable[..., TrainConfig]
) -> None:
    asked: list[str] = []
    plan = settle_wandb(
        wcfg(),
        environ=clean_env(tmp_path),
        interactive=True,
        ask=lambda q: (asked.append(q), answer)[1],
        say=lambda s: None,
    )
    assert len(asked) == 1 and plan.enabled is enabled and (plan.mode == mode or not enabled)


def test_interactive_login(tmp_path: Path, wcfg: Callable[..., TrainConfig]) -> None:
    keys: list[str] = []
    said: list[str] = []
    plan = settle_wandb(
        wcfg(),
        environ=clean_env(tmp_path),
        interactive=True,
        ask=lambda q: "l",
        ask_key=lambda: SECRET,
        login=keys.append,
        say=said.append,
    )
    assert plan.mode == "online" and keys == [SECRET]
    assert all(SECRET not in s for s in said)

    def broken(key: str) -> None:
        raise ConnectionError("no network")

    plan = settle_wandb(
        wcfg(),
        environ=clean_env(tmp_path),
        interactive=True,
        ask=lambda q: "l",
        ask_key=lambda: SECRET,
        login=broken,
        say=said.append,
    )
    assert plan.mode == "offline" and "login failed" in said[-1]


@pytest.mark.slow
def test_real_wandb_offline_in_a_subprocess_without_stdin(
    tmp_path: Path, minimal_config_doc: dict[str, Any]
) -> None:
    """No key, no terminal: settle (never prompts), then the real wandb writes an offline run."""
    doc = {
        **minimal_config_doc,
        "wandb_project": "loradoc-test",
        "wandb_name": "t",
        "output_dir": str(tmp_path / "out"),
    }
    script = textwrap.dedent(
        f"""
        from loradoc.config.load import config_from_dict
        from loradoc.train.run.wandb_setup import settle_wandb, finish_wandb
        cfg = config_from_dict({doc!r}, echo=False)
        plan = settle_wandb(cfg)
        import os, wandb
        run = wandb.init(project=os.environ["WANDB_PROJECT"], name=os.environ.get("WANDB_NAME"))
        run.log({{"loss": 1.5}})
        print("RUN_DIR", finish_wandb(plan))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_") and k not in ("NETRC",)}
    env.update(HOME=str(tmp_path / "home"), WANDB_SILENT="true")
    proc = subprocess.run(
        [sys.executable, "-c", script],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no terminal to ask" in proc.stdout and "wandb sync" in proc.stdout
    runs = list((tmp_path / "out" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].rglob("*.wandb"))
    assert f"RUN_DIR {runs[0]}" in proc.stdout
