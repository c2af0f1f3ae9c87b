"""Before any heavy import: fit the config to the machine, and check that it can run there.

- :func:`resolve` turns machine-dependent settings into concrete values from the
  machine's facts (``loradoc.doctor.facts``) and records each as an automatic change:
  ``bf16: auto`` (bf16 on GPUs at the matrix's bf16 floor, fp16 on older GPUs, fp32
  without a GPU), ``tf32``, and the attention backend (what the run will load, and why).
- :func:`run_preflight` runs the doctor's rules with this config
  (``loradoc.doctor.diagnose.diagnose(snapshot, matrix, config=cfg)``: the stack,
  and what the config asks of the machine, e.g. ``config-quantization-needs-cuda``)
  and adds the local path checks below; errors stop the run.
- :func:`plan_lines` describes what the run will do, for ``--dry-run``.

Precision and attention that cannot work on the machine stop in :func:`resolve`
with a UserError from the run's own decision functions. Finding codes raised
here: config-path-missing, config-base-model-incomplete, config-model-not-causal-lm,
config-tracker-missing, config-mistral-common-missing (docs/findings.md).

Local paths are checked on the machine loradoc runs on: errors there, but only
warnings when planning from a saved snapshot of another machine (``--from``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from loradoc.config.schema import TrainConfig
from loradoc.config.vocab import MASKED_ATTENTION, VARLEN
from loradoc.doctor.facts import MachineFacts
from loradoc.doctor.findings import Finding, Severity
from loradoc.doctor.snapshot import Snapshot
from loradoc.errors import UserError
from loradoc.train.model_info import ModelInfo, read_model_info

Say = Callable[[str], None]

_DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet", ".txt", ".arrow", ".tsv", ".gz", ".zst")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


# -- resolve ---------------------------------------------------------------------------------
def resolve(
    cfg: TrainConfig, facts: MachineFacts, *, hidden: int | None = None, measure: bool = False
) -> None:
    """Fit precision and attention to the machine; every change is noted on ``cfg``.

    The dry run (facts of a probed or saved snapshot) and the live run (facts of the
    running machine) call the same decisions, so a plan made elsewhere (``--from``) says
    what the run will do.
    """
    from loradoc.train.model.attention import choose_attention
    from loradoc.train.model.compile import resolve_compile

    resolve_precision(cfg, facts, say=lambda _line: None, hidden=hidden, measure=measure)
    choice = choose_attention(
        cfg.attn_implementation,
        packing=cfg.sample_packing,
        device=facts.device,
        available=set(facts.attention),
        # unknown counts as yes here: the run checks the installed code again
        mask_supported=facts.packed_masks is not False,
    )
    if choice.impl != cfg.attn_implementation:
        cfg.note_change("attn_implementation", choice.impl, choice.reason)
    resolve_compile(cfg, device=facts.device)
    _one_row_per_forward_on_cpu(cfg, facts.device)


def resolve_precision(
    cfg: TrainConfig,
    facts: MachineFacts,
    *,
    say: Say = print,
    hidden: int | None = None,
    measure: bool = False,
) -> str:
    """``bf16``, ``fp16`` or ``fp32`` for this run; resolves ``auto`` and records each change.

    ``bf16: auto`` is bf16 where every training GPU meets the matrix's bf16 floor, fp16 on
    other GPUs (also when a GPU's capability is unknown: fp16 runs on every CUDA GPU); on the
    CPU, bf16 autocast where the CPU has bf16 instructions and it is measured faster for the
    model's ``hidden`` size (:mod:`loradoc.train.cpu_bf16`; ``measure``: this is the machine
    that trains, so a speed not yet cached may be measured), else fp32. ``tf32`` follows its
    own floor.
    """
    where = facts.where
    bf16_ok, tf32_ok = facts.supports("bf16"), facts.supports("tf32")
    if cfg.bf16 == "auto":
        if cfg.fp16:
            cfg.note_change("bf16", False, "fp16: true is set")
        elif bf16_ok:
            cfg.note_change("bf16", True, f"bf16: auto on {where}")
        elif facts.gpu_training:
            cfg.note_change("bf16", False, f"bf16: auto on {where} (bf16 needs {facts.floor('bf16')})")
            cfg.note_change("fp16", True, f"bf16: auto on {where}: fp16 mixed precision instead")
        else:
            from loradoc.train.cpu_bf16 import cpu_bf16_choice

            use, why = cpu_bf16_choice(facts.cpu_bf16, hidden, int(cfg.sequence_len), measure=measure)
            cfg.note_change("bf16", use, why)
    if cfg.tf32 == "auto":
        cfg.note_change("tf32", bool(tf32_ok), f"tf32: auto on {where}")
    elif cfg.tf32 is True and tf32_ok is False:
        cfg.note_change(
            "tf32", False, f"TF32 needs a CUDA GPU with compute capability >= {facts.floor('tf32')}"
        )
    bf16, fp16 = bool(cfg.bf16), bool(cfg.fp16)
    if bf16 and fp16:
        raise UserError("bf16 and fp16 are both true; choose one")
    if fp16 and not facts.gpu_training:
        raise UserError(
            "fp16: true needs a CUDA GPU; on this machine set fp16: false (bf16: auto picks fp32)"
        )
    if bf16 and facts.gpu_training and bf16_ok is False:
        raise UserError(
            f"bf16: true needs a GPU with compute capability {facts.floor('bf16')} or newer ({where}); "
            "set bf16: auto or fp16: true"
        )
    precision = "bf16" if bf16 else "fp16" if fp16 else "fp32"
    say(f"precision: {precision} ({where})")
    return precision


def _one_row_per_forward_on_cpu(cfg: TrainConfig, device: str) -> None:
    """On the CPU, feed packed rows one at a time and accumulate the rest.

    With per-example attention the row count no longer saves attention work, and several
    rows per forward only grow the activations past the caches (bench/attention_micro.py:
    one row per forward was 1.4x faster than four on the reference machine). The optimizer
    sees exactly the same examples per step: the loss is normalised over the supervised
    tokens of the whole accumulation window, so micro 4 x accumulation 2 and micro 1 x
    accumulation 8 give the same update.
    """
    mbs = cfg.micro_batch_size
    if device != "cpu" or not cfg.sample_packing or cfg.attn_implementation != VARLEN or mbs <= 1:
        return
    why = "CPU: one packed row per forward is faster; same rows per optimizer step"
    cfg.note_change("micro_batch_size", 1, why)
    cfg.note_change("gradient_accumulation_steps", cfg.gradient_accumulation_steps * mbs, why)


# -- preflight -------------------------------------------------------------------------------
def run_preflight(
    cfg: TrainConfig, snapshot: Snapshot, *, this_machine: bool = True, model: ModelInfo | None = None
) -> list[Finding]:
    """The doctor's rules with this config, then the local path checks and the model check.

    ``this_machine=False`` (the snapshot describes another machine) turns missing
    local paths into warnings: they are checked here, not where the run will be.
    ``model`` is the base model's config as read (:func:`read_model_info` when not given).
    """
    from loradoc.doctor.diagnose import diagnose

    findings = diagnose(snapshot, None, config=cfg)
    own = path_checks(cfg, Severity.ERROR if this_machine else Severity.WARNING)
    refusal = (model or read_model_info(cfg)).refusal()
    if refusal:
        own.append(
            Finding(
                "config-model-not-causal-lm",
                Severity.ERROR,
                f"base_model {cfg.base_model}: {refusal}",
                "choose a text-only model that loads with AutoModelForCausalLM (use Axolotl for multimodal training)",
            )
        )
    own += tracker_checks(cfg, Severity.ERROR if this_machine else Severity.WARNING)
    own += tokenizer_package_checks(cfg, Severity.ERROR if this_machine else Severity.WARNING)
    if own:  # diagnose's "no problems found" no longer holds
        findings = [f for f in findings if f.code != "ok"]
    return sorted(findings + own, key=lambda f: f.severity.rank)


def tracker_checks(cfg: TrainConfig, severity: Severity = Severity.ERROR) -> list[Finding]:
    """A logger the config turns on whose package is not installed (here: the run would stop)."""
    from loradoc.train.run.trackers import missing_message, missing_packages

    elsewhere = "" if severity is Severity.ERROR else " (checked on this machine, not the snapshot's)"
    return [
        Finding(
            "config-tracker-missing", severity, missing_message(t, key) + elsewhere, f"pip install {t.pip}"
        )
        for t, key in missing_packages(cfg)
    ]


def tokenizer_package_checks(cfg: TrainConfig, severity: Severity = Severity.ERROR) -> list[Finding]:
    """``tokenizer_use_mistral_common`` without a mistral-common that transformers can use."""
    if not cfg.tokenizer_use_mistral_common:
        return []
    from loradoc.train.data.mistral_tokens import INSTALL, KEY, package_problem

    problem = package_problem()
    if problem is None:
        return []
    elsewhere = "" if severity is Severity.ERROR else " (checked on this machine, not the snapshot's)"
    return [Finding("config-mistral-common-missing", severity, f"{KEY}: {problem}{elsewhere}", INSTALL)]


def _looks_local(value: str) -> bool:
    return value.startswith(("/", "./", "../", "~")) or value in (".", "..")


def path_checks(cfg: TrainConfig, severity: Severity = Severity.ERROR) -> list[Finding]:
    """Local inputs that do not exist, a base_model that is a file, and a local base_model folder
    without a config or weights."""
    out: list[Finding] = []
    elsewhere = "" if severity is Severity.ERROR else " on this machine"

    def missing(key: str, value: str) -> None:
        out.append(
            Finding(
                "config-path-missing",
                severity,
                f"{key}: no such file or folder{elsewhere}: {value}",
                "fix the path (relative paths are read from the config's folder, then the working directory)",
            )
        )

    for key in ("base_model", "base_model_config", "tokenizer_config", "lora_model_dir"):
        value = getattr(cfg, key)
        if isinstance(value, str) and _looks_local(value) and not os.path.exists(value):
            missing(key, value)
    for key in ("deepspeed", "resume_from_checkpoint"):
        value = getattr(cfg, key)
        if isinstance(value, str) and not os.path.exists(value):
            missing(key, value)
    for key in ("datasets", "test_datasets"):
        for i, spec in enumerate(getattr(cfg, key) or []):
            local = _looks_local(spec.path) or spec.path.lower().endswith(_DATA_SUFFIXES)
            if local and not os.path.exists(spec.path):
                missing(f"{key}[{i}].path", spec.path)
    model = Path(cfg.base_model)
    if model.is_file():
        out.append(
            Finding(
                "config-base-model-incomplete",
                severity,
                f"base_model: {cfg.base_model} is a file{elsewhere}; base_model must be a folder or a hub id",
                "point base_model at the folder that holds config.json and the weights (saved with "
                "save_pretrained()), or at a hub id like org/name",
            )
        )
    elif model.is_dir():
        names = [p.name for p in model.iterdir()]
        lacks = []
        if "config.json" not in names and not cfg.base_model_config:
            lacks.append("config.json")
        if not any(n.endswith(_WEIGHT_SUFFIXES) for n in names):
            lacks.append("weights (*.safetensors)")
        if lacks:
            out.append(
                Finding(
                    "config-base-model-incomplete",
                    severity,
                    f"base_model folder {cfg.base_model} has no {' and no '.join(lacks)}",
                    "point base_model at a folder saved with save_pretrained(), or at a hub id",
                )
            )
    return out


# -- plan ------------------------------------------------------------------------------------
def plan_lines(
    cfg: TrainConfig,
    snapshot: Snapshot | None = None,
    *,
    facts: MachineFacts | None = None,
    model_info: ModelInfo | None = None,
) -> list[str]:
    """What the run will do, one aspect per line (for --dry-run)."""
    from loradoc.train.model.compile import compile_plan

    rows: list[tuple[str, str]] = []
    info = model_info or read_model_info(cfg)
    model = f"{cfg.base_model} ({_where(cfg.base_model)})"
    if cfg.model_type:
        model += f", {cfg.model_type}"
    if cfg.tokenizer_type or cfg.tokenizer_config:
        model += f", tokenizer {cfg.tokenizer_config or ''}{' ' if cfg.tokenizer_config else ''}{cfg.tokenizer_type or ''}".rstrip()
    if cfg.trust_remote_code:
        model += ", runs the repository's code"
    model += f"; {info.summary()}"
    rows.append(("model", model))
    quant = " on a 4-bit NF4 base" if cfg.load_in_4bit else " on an 8-bit base" if cfg.load_in_8bit else ""
    rows.append(
        (
            "adapter",
            f"{cfg.adapter}{' (rsLoRA)' if cfg.peft_use_rslora else ''}{' (DoRA)' if cfg.peft_use_dora else ''} "
            f"r={cfg.lora_r} alpha={cfg.lora_alpha} dropout={cfg.lora_dropout:g}{quant}{_adapter_extras(cfg)}",
        )
    )
    rows.append(("trains", _trainable(cfg)))
    rows.append(("data", "; ".join(_dataset_text(d) for d in cfg.datasets)))
    rows.append(("eval data", _eval_text(cfg)))
    over = {"drop": "dropped", "truncate": "truncated", "raise": "an error"}[cfg.excess_length_strategy]
    rows.append(
        ("length", f"sequence_len {cfg.sequence_len}; longer examples are {over} (counted at data load)")
    )
    rows.append(("packing", _packing_text(cfg)))
    rows.append(("precision", _precision_text(cfg)))
    rows.append(("attention", cfg.attn_implementation or "sdpa"))
    kernels = _kernels_text(cfg, snapshot, facts)
    if kernels:
        rows.append(("kernels", kernels))
    compiled = compile_plan(cfg)
    if compiled:
        rows.append(("compile", compiled))
    rows.append(("batch", _batch_text(cfg)))
    rows.append(("schedule", _schedule_text(cfg)))
    rows.append(
        (
            "eval / save",
            f"eval {_cadence(cfg.eval_steps, cfg.evals_per_epoch) if cfg.eval_enabled else 'off'}; "
            f"checkpoint {_cadence(cfg.save_steps, cfg.saves_per_epoch)}"
            f"{f', keep {cfg.save_total_limit}' if cfg.save_total_limit else ''}",
        )
    )
    rows.append(("output", str(Path(cfg.output_dir).absolute())))
    if cfg.resume_from_checkpoint:
        rows.append(
            (
                "resume",
                "newest checkpoint in output_dir"
                if cfg.resume_from_checkpoint is True
                else str(cfg.resume_from_checkpoint),
            )
        )
    rows.append(("W&B", _wandb_text(cfg)))
    width = max(len(k) for k, _ in rows)
    return [f"  {k.ljust(width)}  {v}" for k, v in rows]


def _kernels_text(cfg: TrainConfig, snapshot: Snapshot | None, facts: MachineFacts | None) -> str | None:
    """The Liger kernels the config asks for, and whether the machine (``facts``) runs them."""
    from loradoc.train.model.kernels import liger_asked, liger_plan

    if not liger_asked(cfg):
        return None
    installed = None if snapshot is None or snapshot.packages is None else "liger-kernel" in snapshot.packages
    return liger_plan(cfg, cuda=bool(facts and facts.gpu_training), installed=installed)


def _adapter_extras(cfg: TrainConfig) -> str:
    """peft_init_lora_weights and LoRA+, as the adapter line shows them."""
    text = ""
    init = cfg.peft_init_lora_weights
    if isinstance(init, str):
        text += f", {init} init"
        if init in ("pissa", "olora"):
            text += f" (saved converted to a rank-{2 * cfg.lora_r} LoRA for the unchanged base)"
    if cfg.loraplus_lr_ratio:
        text += f"; LoRA+: lora_B at {cfg.loraplus_lr_ratio:g} x learning_rate"
    return text


def _trainable(cfg: TrainConfig) -> str:
    if cfg.lora_target_linear:
        text = "LoRA on every linear layer except the output head"
    elif isinstance(cfg.lora_target_modules, str):
        text = f"LoRA on modules matching {cfg.lora_target_modules!r}"
    elif cfg.lora_target_modules:
        text = "LoRA on " + ", ".join(cfg.lora_target_modules)
    else:
        text = "LoRA on peft's default modules for the architecture (q_proj, v_proj on Llama)"
    if cfg.lora_modules_to_save:
        text += "; in full: " + ", ".join(cfg.lora_modules_to_save)
    if cfg.unfrozen_parameters:
        text += "; base parameters in full (saved with the adapter): " + ", ".join(cfg.unfrozen_parameters)
    if cfg.lora_model_dir:
        text += f"; starting from the adapter in {cfg.lora_model_dir}"
    return text


def _dataset_text(d: object) -> str:
    from loradoc.config.schema import DatasetSpec

    assert isinstance(d, DatasetSpec)
    extra = f", split {d.split}" if d.split != "train" else ""
    return f"{d.path} ({d.type}, {_where(d.path, data=True)}{extra})"


def _where(path: str, *, data: bool = False) -> str:
    """Where an input is read from, for the plan: a local path (found or missing) or the hub."""
    if os.path.exists(path):
        return "local"
    local = _looks_local(path) or (data and path.lower().endswith(_DATA_SUFFIXES))
    return "local path, missing" if local else "hub"


def checked_text(cfg: TrainConfig, model: ModelInfo) -> str:
    """What a dry run looked at: the model's config, and whether the datasets were found locally."""
    specs = [*cfg.datasets, *(cfg.test_datasets or [])]
    hub = [d.path for d in specs if _where(d.path, data=True) == "hub"]
    data = (
        "data found locally"
        if not hub
        else f"data not checked: {len(hub)} hub dataset{'s' if len(hub) > 1 else ''}"
    )
    return f"model {'checked' if model.checked else 'not checked'}, {data}"


def _eval_text(cfg: TrainConfig) -> str:
    if cfg.test_datasets:
        return "; ".join(_dataset_text(d) for d in cfg.test_datasets)
    if cfg.val_set_size >= 1:
        return f"{int(cfg.val_set_size)} examples held out of the training data"
    if cfg.val_set_size > 0:
        return f"{cfg.val_set_size:.0%} of the training data held out"
    return "none"


def _packing_text(cfg: TrainConfig) -> str:
    if not cfg.sample_packing:
        pad = "padded to sequence_len" if cfg.pad_to_sequence_len else "padded per batch"
        return f"off (one example per row, {pad})"
    attn = cfg.attn_implementation or "sdpa"
    how = (
        "per-example masks from position_ids"
        if attn in MASKED_ATTENTION
        else "per-example boundaries (varlen)"
    )
    if not cfg.eval_enabled:
        ev = "no eval"
    elif cfg.eval_sample_packing is False:
        ev = "eval packing off (config)"
    else:
        ev = "eval packing on unless the eval split is too small (decided at data load)"
    return f"on, {attn} with {how}; {ev}"


def _precision_text(cfg: TrainConfig) -> str:
    if cfg.bf16 == "auto":
        mp = "bf16 if the GPU has it (decided on the machine)"
    else:
        mp = cfg.mixed_precision()
        mp = {"no": "fp32", "bf16": "bf16 mixed precision", "fp16": "fp16 mixed precision"}[mp]
    tf32 = {True: "on", False: "off", "auto": "where available"}[cfg.tf32]
    gc = "; gradient checkpointing" if cfg.gradient_checkpointing else ""
    return f"{mp}; tf32 {tf32}{gc}"


def _batch_text(cfg: TrainConfig) -> str:
    procs = cfg.world_size()
    unit = "packed rows" if cfg.sample_packing else "examples"
    return (
        f"{cfg.micro_batch_size} micro x {cfg.gradient_accumulation_steps} accumulation x {procs} "
        f"process{'es' if procs > 1 else ''} = {cfg.global_batch()} {unit} per optimizer step"
    )


def _schedule_text(cfg: TrainConfig) -> str:
    steps = (
        f"{cfg.max_steps} steps"
        if cfg.max_steps
        else f"{cfg.num_epochs:g} epoch(s), steps decided at data load"
    )
    if cfg.warmup_steps is not None:
        warm = f", warmup {cfg.warmup_steps} steps"
    elif cfg.warmup_ratio:
        warm = f", warmup {cfg.warmup_ratio:.0%} of steps"
    else:
        warm = ""
    return f"{steps}; {cfg.optimizer}, lr {cfg.learning_rate:g}, {cfg.lr_scheduler}{warm}, weight decay {cfg.weight_decay:g}"


def _cadence(steps: float | None, per_epoch: int | None) -> str:
    if per_epoch:
        return f"{per_epoch}x per epoch"
    if steps is not None:
        return f"every {steps:.0%} of the run" if steps < 1 else f"every {int(steps)} steps"
    return "at the end of each epoch"


def _wandb_text(cfg: TrainConfig) -> str:
    if not cfg.wandb_enabled:
        return "off" + ("" if cfg.wandb_project else " (wandb_project unset)")
    parts = [f"project {cfg.wandb_project}"]
    if cfg.wandb_entity:
        parts.append(f"entity {cfg.wandb_entity}")
    if cfg.wandb_name:
        parts.append(f"run {cfg.wandb_name}")
    parts.append(f"mode {cfg.wandb_mode or 'online (offline without a key in a non-interactive run)'}")
    return "on: " + ", ".join(parts)
