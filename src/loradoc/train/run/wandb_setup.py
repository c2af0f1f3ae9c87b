"""Weights & Biases: settle the API-key question before any heavy work, then configure by env.

W&B is on when ``wandb_project`` is set (``use_wandb: false`` or ``wandb_mode:
disabled`` turn it off). Online mode needs an API key (``WANDB_API_KEY`` or a
``~/.netrc`` entry for the W&B host). Without one:

- in an interactive terminal, ask once: log in (paste a key), run offline, or
  turn W&B off for this run;
- otherwise never prompt and never wait: run offline, and say where the run is
  saved and the ``wandb sync`` command that uploads it later.

The config's ``wandb_*`` keys become the environment variables that wandb and
transformers' ``WandbCallback`` read. The key itself is never printed or saved.
This module imports wandb only when the user chooses to log in.
"""

from __future__ import annotations

import netrc
import os
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from loradoc.train.run.ranks import is_main_process

if TYPE_CHECKING:
    from loradoc.config.schema import TrainConfig

Say = Callable[[str], None]
Ask = Callable[[str], str]

DEFAULT_HOST = "https://api.wandb.ai"


@dataclass
class WandbPlan:
    enabled: bool
    mode: str = "disabled"  # online / offline / disabled
    directory: str | None = None  # where wandb writes its run folders (WANDB_DIR)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def report_to(self) -> list[str]:
        return ["wandb"] if self.enabled else []

    def sync_hint(self, run_dir: str | None = None) -> str:
        target = run_dir or os.path.join(self.directory or ".", "wandb", "offline-run-*")
        return f"wandb sync {target}"


def has_api_key(environ: MutableMapping[str, str] | None = None) -> bool:
    """Whether wandb can authenticate without asking (env key or a netrc entry for its host)."""
    env = os.environ if environ is None else environ
    if env.get("WANDB_API_KEY", "").strip():
        return True
    host = urlparse(env.get("WANDB_BASE_URL") or DEFAULT_HOST).hostname or "api.wandb.ai"
    path = env.get("NETRC") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".netrc")
    try:
        auth = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(auth and auth[2])


def is_interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def _default_ask(question: str) -> str:
    import click

    return str(click.prompt(question, default="o", show_default=True)).strip().lower()


def _default_key_prompt() -> str:
    import click

    return str(
        click.prompt("W&B API key (from https://wandb.ai/authorize; input hidden)", hide_input=True)
    ).strip()


def _login(key: str) -> None:
    import wandb

    wandb.login(key=key, relogin=True)


def settle_wandb(
    cfg: TrainConfig,
    *,
    interactive: bool | None = None,
    ask: Ask | None = None,
    ask_key: Callable[[], str] | None = None,
    login: Callable[[str], None] | None = None,
    say: Say = print,
    environ: MutableMapping[str, str] | None = None,
) -> WandbPlan:
    """Decide how W&B runs and export its settings to ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ
    if not cfg.wandb_enabled:
        return WandbPlan(enabled=False)
    directory = env.get("WANDB_DIR") or str(Path(cfg.output_dir).expanduser())
    mode = str(cfg.wandb_mode or env.get("WANDB_MODE") or "online").lower()
    if mode == "dryrun":
        mode = "offline"
    if mode == "disabled":
        return WandbPlan(enabled=False)
    if mode == "online" and not has_api_key(env):
        interactive = is_interactive() if interactive is None else interactive
        if interactive and is_main_process(env):
            mode = _ask_once(ask or _default_ask, ask_key or _default_key_prompt, login or _login, say)
        else:
            mode = "offline"
            say(
                "W&B: no API key (WANDB_API_KEY or ~/.netrc) and no terminal to ask: logging offline under "
                f"{directory}/wandb; upload later with `{WandbPlan(True, directory=directory).sync_hint()}`"
            )
        if mode == "disabled":
            return WandbPlan(enabled=False)
    plan = WandbPlan(enabled=True, mode=mode, directory=directory)
    plan.env = _env_for(cfg, plan)
    env.update(plan.env)
    return plan


def _ask_once(ask: Ask, ask_key: Callable[[], str], login: Callable[[str], None], say: Say) -> str:
    answer = ask(
        "W&B: wandb_project is set but no API key was found. [l]og in now, run [o]ffline (sync later), "
        "or [d]isable W&B for this run?"
    )
    if answer.startswith("d"):
        say("W&B: off for this run")
        return "disabled"
    if answer.startswith("l"):
        key = ask_key()
        if key:
            try:
                login(key)
                say("W&B: logged in")
                return "online"
            except Exception as exc:  # a bad key or no network: do not lose the run over it
                say(f"W&B: login failed ({type(exc).__name__}); logging offline instead")
        return "offline"
    say("W&B: logging offline")
    return "offline"


def _env_for(cfg: TrainConfig, plan: WandbPlan) -> dict[str, str]:
    env = {"WANDB_PROJECT": str(cfg.wandb_project), "WANDB_MODE": plan.mode}
    if plan.directory:
        Path(plan.directory).mkdir(parents=True, exist_ok=True)
        env["WANDB_DIR"] = plan.directory
    optional = {
        "WANDB_ENTITY": cfg.wandb_entity,
        "WANDB_NAME": cfg.wandb_name,
        "WANDB_RUN_ID": cfg.wandb_run_id,
        "WANDB_WATCH": cfg.wandb_watch,
        "WANDB_LOG_MODEL": cfg.wandb_log_model,
    }
    for key, value in optional.items():
        if value not in (None, ""):
            env[key] = str(value).lower() if isinstance(value, bool) else str(value)
    if "WANDB_RUN_ID" in env:
        env["WANDB_RESUME"] = "allow"
    return env


def finish_wandb(plan: WandbPlan, *, say: Say = print) -> str | None:
    """Close the W&B run (main process) and, when offline, say how to upload it. Returns its folder."""
    if not plan.enabled:
        return None
    try:
        import wandb
    except ImportError:
        return None
    run = wandb.run
    run_dir = str(Path(run.dir).parent) if run is not None and getattr(run, "dir", None) else None
    if run is not None:
        wandb.finish()
    if plan.mode == "offline" and run_dir:
        say(f"W&B: offline run saved in {run_dir}; upload it with `{plan.sync_hint(run_dir)}`")
    return run_dir
