"""The config's training keys mapped onto transformers' ``TrainingArguments``.

Cadence keys: ``evals_per_epoch``/``saves_per_epoch`` become a step interval
(optimizer steps per epoch / per-epoch count, rounded up, at least 1); ``eval_steps``/
``save_steps`` pass through (a fraction below 1 is a share of all steps, as in
transformers); with neither, once per epoch (and transformers evaluates and
saves at the last step of a step-based cadence).

LoRA+ (``loraplus_lr_ratio``, ``loraplus_lr_embedding``) travels in
``LoradocTrainingArguments``, transformers' arguments plus those two fields, which
``LoradocTrainer.create_optimizer`` reads (as Axolotl's trainer does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from loradoc.errors import UserError

if TYPE_CHECKING:
    from loradoc.config.schema import TrainConfig


@dataclass(frozen=True)
class Cadence:
    strategy: str  # "no", "steps", "epoch"
    steps: float | None = None

    def describe(self) -> str:
        if self.strategy == "steps":
            return (
                f"every {self.steps:g} steps"
                if self.steps and self.steps >= 1
                else f"every {self.steps:.0%} of steps"
            )
        return {"epoch": "every epoch", "no": "never"}[self.strategy]


def cadence(steps: float | None, per_epoch: int | None, steps_per_epoch: int) -> Cadence:
    if steps:
        return Cadence("steps", float(steps) if steps < 1 else int(steps))
    if per_epoch:
        # rounded up: 154 steps at 4 per epoch is every 39 (39, 78, 117, 154), never a fifth
        # evaluation just before the last step
        return Cadence("steps", max(1, -(-steps_per_epoch // int(per_epoch))))
    return Cadence("epoch")


def warmup(cfg: TrainConfig) -> float:
    """TrainingArguments.warmup_steps: an int count, or a fraction below 1 of all steps."""
    if cfg.warmup_steps:
        return int(cfg.warmup_steps)
    ratio = cfg.warmup_ratio
    return float(ratio) if ratio else 0


# Axolotl's fsdp_config names (after transformers strips the fsdp_ prefix) -> transformers' names
_FSDP_RENAMES = {"offload_params": "cpu_offload"}


def sharding_arguments(cfg: TrainConfig) -> dict[str, Any]:
    """``deepspeed`` / ``fsdp`` + ``fsdp_config`` for TrainingArguments, as Axolotl configs write them.

    transformers sets up accelerate's DeepSpeed or FSDP plugin from these in each
    worker; loradoc only translates Axolotl's spellings: ``fsdp: [full_shard, auto_wrap]``
    (transformers' legacy option words), ``fsdp_version`` (``fsdp_config.version``),
    ``fsdp_offload_params`` (``cpu_offload``) and ``fsdp_sharding_strategy`` (an option word).
    """
    out: dict[str, Any] = {}
    deepspeed = cfg.deepspeed
    if deepspeed:
        out["deepspeed"] = deepspeed
    fsdp = list(cfg.fsdp or [])
    settings = dict(cfg.fsdp_config or {})
    if not fsdp and not settings:
        return out
    config: dict[str, Any] = {}
    for key, value in settings.items():
        name = key[5:] if key.startswith("fsdp_") else key
        if name == "sharding_strategy" and isinstance(value, str):
            fsdp.append(value.lower())
            continue
        if name == "version":
            value = int(value)
        config[_FSDP_RENAMES.get(name, name)] = value
    if cfg.fsdp_version:
        config["version"] = int(cfg.fsdp_version)
    out["fsdp"] = " ".join(dict.fromkeys(fsdp)) if fsdp else True
    out["fsdp_config"] = config
    return out


def _deepspeed_settings(value: str | dict[str, Any] | None) -> dict[str, Any]:
    """The deepspeed config's content (a dict, or its JSON file); empty when unset or unreadable here."""
    if isinstance(value, dict):
        return value
    if not value:
        return {}
    import json
    from pathlib import Path

    try:
        data = json.loads(Path(value).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # transformers reports a missing or malformed file itself
    return data if isinstance(data, dict) else {}


def training_arguments(
    cfg: TrainConfig,
    *,
    precision: str,
    steps_per_epoch: int,
    has_eval: bool,
    report_to: list[str],
    world_size: int,
    use_cpu: bool = False,
    attention: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Any:
    """``TrainingArguments`` for this run (the caller has resolved precision, attention and the
    data); ``extra``: arguments a logger reads (Trackio's ``project``, ``trackio_space_id``)."""
    from loradoc.train.model.compile import compile_arguments
    from loradoc.train.run.trackers import run_name

    evals = cadence(cfg.eval_steps, cfg.evals_per_epoch, steps_per_epoch)
    saves = cadence(cfg.save_steps, cfg.saves_per_epoch, steps_per_epoch)
    if not has_eval:
        evals = Cadence("no")
    kwargs: dict[str, Any] = {
        "output_dir": str(cfg.output_dir),
        "per_device_train_batch_size": int(cfg.micro_batch_size),
        "per_device_eval_batch_size": int(cfg.eval_batch_size or cfg.micro_batch_size),
        "gradient_accumulation_steps": int(cfg.gradient_accumulation_steps),
        "num_train_epochs": float(cfg.num_epochs),
        "max_steps": int(cfg.max_steps) if cfg.max_steps else -1,
        "learning_rate": float(cfg.learning_rate),
        "lr_scheduler_type": str(cfg.lr_scheduler),
        "warmup_steps": warmup(cfg),
        "weight_decay": float(cfg.weight_decay or 0.0),
        "max_grad_norm": float(cfg.max_grad_norm if cfg.max_grad_norm is not None else 1.0),
        "optim": str(cfg.optimizer),
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "logging_strategy": "steps",
        "logging_steps": int(cfg.logging_steps or 1),
        "logging_first_step": True,
        "eval_strategy": evals.strategy,
        "save_strategy": saves.strategy,
        "save_total_limit": cfg.save_total_limit,
        "seed": int(cfg.seed),
        "data_seed": int(cfg.seed),
        "report_to": report_to or "none",
        "run_name": run_name(cfg),
        "remove_unused_columns": False,
        "label_names": ["labels"],
        "include_num_input_tokens_seen": "no",
        "dataloader_num_workers": 0,
        "average_tokens_across_devices": True,
        "disable_tqdm": True,
    }
    if evals.strategy == "steps":
        kwargs["eval_steps"] = evals.steps
    if saves.strategy == "steps":
        kwargs["save_steps"] = saves.steps
    if cfg.tf32 is True:
        kwargs["tf32"] = True
    adam = {"adam_beta1": cfg.adam_beta1, "adam_beta2": cfg.adam_beta2, "adam_epsilon": cfg.adam_epsilon}
    for key, value in adam.items():
        if value is not None:
            kwargs[key] = float(value)
    if use_cpu:
        kwargs["use_cpu"] = True
    if world_size > 1:
        kwargs["ddp_find_unused_parameters"] = False
    kwargs.update(sharding_arguments(cfg))
    kwargs.update(compile_arguments(cfg, attention, device="cpu" if use_cpu else "cuda"))
    if cfg.loraplus_lr_ratio:
        if "optimizer" in _deepspeed_settings(cfg.deepspeed):
            raise UserError(
                "loraplus_lr_ratio: the deepspeed config builds its own optimizer, so LoRA+'s learning rates "
                "would not apply; remove its optimizer section (transformers then builds the optimizer)"
            )
        kwargs["loraplus_lr_ratio"] = float(cfg.loraplus_lr_ratio)
        kwargs["loraplus_lr_embedding"] = float(cfg.loraplus_lr_embedding or 1e-6)
    kwargs.update(extra or {})
    try:
        return loradoc_training_arguments()(**kwargs)
    except (ValueError, ImportError) as exc:
        raise UserError(f"training settings rejected by transformers: {str(exc).splitlines()[0]}") from exc


@cache
def loradoc_training_arguments() -> type[Any]:
    """``TrainingArguments`` with LoRA+'s two settings (a class built on first use: transformers loads lazily)."""
    from dataclasses import field

    from transformers import TrainingArguments

    @dataclass
    class LoradocTrainingArguments(TrainingArguments):
        loraplus_lr_ratio: float | None = field(
            default=None, metadata={"help": "LoRA+: lora_B learning rate / learning_rate"}
        )
        loraplus_lr_embedding: float = field(
            default=1e-6, metadata={"help": "LoRA+: learning rate of LoRA on embedding layers"}
        )

    LoradocTrainingArguments.__module__ = __name__
    LoradocTrainingArguments.__qualname__ = "LoradocTrainingArguments"
    return LoradocTrainingArguments


def __getattr__(name: str) -> Any:
    # pickle (training_args.bin in every checkpoint) finds the class by this module's attribute
    if name == "LoradocTrainingArguments":
        return loradoc_training_arguments()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
