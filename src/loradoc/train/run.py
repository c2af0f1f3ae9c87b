"""``run_training(cfg)``: one LoRA fine-tune, from a validated config to the files in ``output_dir``.

Order: settle W&B and check ``output_dir`` (no heavy import yet); then tokenizer,
data (prepared once, on the main process first), precision, attention, eval
packing, model; then transformers' Trainer (``trainer.LoradocTrainer``); then the
outputs. Only the main process prints and writes.

``output_dir`` gets: the adapter (``adapter_model.safetensors``,
``adapter_config.json``), the tokenizer, ``resolved_config.yml`` (every automatic
change recorded), ``metrics.jsonl``, ``loss.png``, ``summary.json``, and the
Trainer's ``checkpoint-*`` folders.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loradoc.errors import UserError

Say = Callable[[str], None]
RUN_MARKERS = ("adapter_model.safetensors", "adapter_config.json", "metrics.jsonl", "summary.json")
OWN_FILES = {"resolved_config.yml", "wandb"}


def _echo(msg: str) -> None:
    import click

    click.echo(msg)


def _quiet(msg: str) -> None:
    pass


# --- before anything heavy ----------------------------------------------------------------


def check_output_dir(cfg: Any, *, say: Say = _echo) -> str | None:
    """Refuse to mix runs in one folder; returns the checkpoint to resume from, if any.

    A folder that already holds a run (checkpoints, an adapter, metrics) is refused
    unless ``resume_from_checkpoint`` is set, or ``overwrite_output_dir`` is true and
    the folder is a loradoc run (then it is emptied). A folder with other files in it
    is always refused.
    """
    out = Path(cfg.output_dir).expanduser()
    resume = getattr(cfg, "resume_from_checkpoint", None)
    if resume:
        return _resume_target(out, resume)
    if out.exists() and not out.is_dir():
        raise UserError(f"output_dir: {out} is a file; choose a folder")
    if not out.is_dir():
        return None
    entries = sorted(p.name for p in out.iterdir())
    foreign = [e for e in entries if e not in OWN_FILES and e not in RUN_MARKERS and not _is_run_file(e)]
    has_run = any(e.startswith("checkpoint-") or e in RUN_MARKERS for e in entries)
    is_ours = (out / "resolved_config.yml").is_file()
    if getattr(cfg, "overwrite_output_dir", False) and is_ours and entries:
        shutil.rmtree(out)
        say(f"output_dir: emptied {out} (overwrite_output_dir: true)")
        return None
    if has_run or (foreign and not is_ours):
        what = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        if is_ours or has_run:
            raise UserError(
                f"output_dir: {out} already holds a run ({what}); set resume_from_checkpoint: true to continue "
                "it, overwrite_output_dir: true to replace it, or choose another output_dir"
            )
        raise UserError(
            f"output_dir: {out} is not empty and is not a loradoc run ({what}); choose another folder"
        )
    return None


def last_checkpoint(out: Path) -> Path | None:
    """The ``checkpoint-N`` folder with the highest N (complete ones: with trainer_state.json)."""
    if not out.is_dir():
        return None
    found = [
        (int(p.name.split("-", 1)[1]), p)
        for p in out.iterdir()
        if p.is_dir() and re.fullmatch(r"checkpoint-\d+", p.name) and (p / "trainer_state.json").is_file()
    ]
    return max(found)[1] if found else None


def _is_run_file(name: str) -> bool:
    return name.startswith(
        ("checkpoint-", "tokenizer", "special_tokens_map", "chat_template", "README", "loss.png")
    )


def _resume_target(out: Path, resume: Any) -> str:
    if resume is True or (isinstance(resume, str) and resume.lower() in ("true", "yes", "1")):
        found = last_checkpoint(out)
        if found is None:
            raise UserError(
                f"resume_from_checkpoint: true, but {out} holds no checkpoint-* folder; remove the key to start fresh"
            )
        return str(found)
    path = Path(str(resume)).expanduser()
    if not (path / "trainer_state.json").is_file():
        raise UserError(f"resume_from_checkpoint: {path} is not a checkpoint folder (no trainer_state.json)")
    return str(path)


# --- the run ------------------------------------------------------------------------------


def run_training(cfg: Any, *, snapshot: Any = None, findings: Any = None) -> int:
    """Train, write the outputs, print the summary; returns the process exit code."""
    from loradoc.train.wandb_setup import settle_wandb

    rank0 = os.environ.get("RANK", "0") == "0"
    early_say = _echo if rank0 else _quiet
    plan = settle_wandb(cfg, say=early_say)
    resume = check_output_dir(cfg, say=early_say)

    from loradoc.train.session import TrainingSession

    session = TrainingSession(cfg, wandb_plan=plan, resume=resume)
    return session.run()


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
