"""The training config's one typed schema: Axolotl's key names, loradoc's defaults.

Every attribute of :class:`TrainConfig` and :class:`DatasetSpec` is a config key,
spelled as Axolotl spells it, so an Axolotl user's LoRA config loads unchanged.
Each key is declared once, by its field: type (the annotation), default, ``doc``
(the one-line meaning; ``docs/config.md`` lists every key and a test keeps the two in
step), and ``range`` or ``choices`` where the value is bounded. Axolotl keys loradoc
does not implement are declared in :mod:`loradoc.config.unsupported`, with what to do
instead. Attributes whose metadata says ``internal`` are
bookkeeping, not keys: where the config came from, and what loradoc changed.

Loading, validation and overrides live in :mod:`loradoc.config.load`; this
module is declarations plus the few methods every consumer needs.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from loradoc.config.vocab import (
    ATTN_IMPLEMENTATIONS,
    EXCESS_LENGTH_STRATEGIES,
    LR_SCHEDULERS,
    OPTIMIZERS,
    TORCH_COMPILE_MODES,
    WANDB_LOG_MODEL,
    WANDB_MODES,
    WANDB_WATCH,
)


def _f(
    default: Any = dataclasses.MISSING,
    doc: str = "",
    *,
    range: tuple[float | None, bool, float | None, bool] | None = None,
    choices: tuple[str, ...] | None = None,
    **meta: Any,
) -> Any:
    """A config key: its default, one line of documentation, and what values it takes.

    ``range`` is (low, low inclusive, high, high inclusive), None for unbounded;
    ``choices`` the vocabulary its value must come from (did-you-mean on a miss). The
    type is the annotation. Loading, the docs table and the JSON Schema read these.
    """
    if range is not None:
        meta["range"] = range
    if choices is not None:
        meta["choices"] = choices
    metadata = {"doc": doc, **meta}
    if isinstance(default, (list, dict, set)):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata=metadata)
    if default is dataclasses.MISSING:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


def _internal(factory: Any = None, default: Any = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={"internal": True}, repr=False, compare=False)
    return field(default=default, metadata={"internal": True}, repr=False, compare=False)


@dataclass
class DatasetSpec:
    """One entry of ``datasets`` or ``test_datasets``."""

    path: str = _f(
        doc="hub dataset id, or a local file or folder (relative to the config's folder if it exists there)"
    )
    type: str = _f(
        doc="prompt format: alpaca (instruction/input/output), alpaca:chat, completion (raw text), "
        "chat_template (a message list) or sharegpt (chat_template over conversations with from/value)"
    )
    data_files: str | list[str] | None = _f(None, doc="file(s) inside `path` to load")
    split: str = _f("train", doc="split to load; slices like `train[:20%]` work")
    name: str | None = _f(None, doc="dataset configuration name (hub datasets)")
    ds_type: str | None = _f(
        None,
        doc="file format when `path` is a file with an unusual extension: json, csv, parquet, text, arrow",
    )
    revision: str | None = _f(None, doc="hub revision (branch, tag or commit) to load")
    field: str | None = _f(None, doc="completion: the text column (default `text`)")
    field_messages: str | None = _f(
        None, doc="chat_template: the column holding the message list (default `messages`)"
    )
    message_property_mappings: dict[str, str] | None = _f(
        None,
        doc="chat_template: message keys to read as role/content, e.g. {role: from, content: value} for ShareGPT",
    )
    message_field_role: str | None = _f(None, doc="legacy: same as message_property_mappings.role")
    message_field_content: str | None = _f(None, doc="legacy: same as message_property_mappings.content")
    roles: dict[str, list[str]] | None = _f(
        None, doc="chat_template: source role names per role, e.g. {user: [human], assistant: [gpt]}"
    )
    roles_to_train: list[str] | None = _f(
        None, doc="chat_template: roles whose turns are trained (default [assistant])"
    )
    drop_system_message: bool = _f(False, doc="chat_template: drop system turns from the data")
    train_on_eot: Literal["all", "turn", "last", "none"] | None = _f(
        None,
        doc="chat_template: which end-of-turn tokens (eot_tokens) are trained: turn (default: after each trained "
        "turn), all (after every turn), last (after the last trained turn), none",
    )
    chat_template: str | None = _f(
        None, doc="chat template for this dataset (overrides the top-level chat_template)"
    )
    chat_template_jinja: str | None = _f(
        None, doc="a Jinja chat template (text or a file path) for this dataset"
    )

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


@dataclass
class AutoChange:
    """A setting loradoc changed by itself, and why; recorded in resolved_config.yml."""

    key: str
    old: Any
    new: Any
    reason: str
    cause: str | None = None  # the key whose value caused it (a legacy flag, batch_size), if any

    def line(self) -> str:
        return f"changed: {self.key}: {_show(self.old)} -> {_show(self.new)} ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        out = {"key": self.key, "from": self.old, "to": self.new, "reason": self.reason}
        return {**out, "cause": self.cause} if self.cause else out


@dataclass
class TrainConfig:
    """A validated training config. Build it with :func:`loradoc.config.load.load_config`."""

    # -- model ---------------------------------------------------------------------------
    base_model: str = _f(doc="hub model id or local folder of the model to adapt (required)")
    datasets: list[DatasetSpec] = _f(doc="training data, one or more entries (required)")
    base_model_config: str | None = _f(None, doc="where to read the model config from, if not base_model")
    revision_of_model: str | None = _f(
        None, doc="hub revision (branch, tag or commit) of base_model and its tokenizer"
    )
    model_type: str | None = _f(
        None, doc="model class; any *ForCausalLM name (loradoc always loads with AutoModelForCausalLM)"
    )
    tokenizer_type: str | None = _f(
        None, doc="tokenizer class, e.g. AutoTokenizer (default: the model's own)"
    )
    tokenizer_config: str | None = _f(None, doc="load the tokenizer from here instead of base_model")
    tokenizer_use_mistral_common: bool = _f(
        False,
        doc="encode with mistral-common's tokenizer (tekken.json or tokenizer.model.vN, through transformers' "
        "MistralCommonBackend; needs the mistral-common package): chat_template and completion datasets, "
        "assistant replies and their EOS trained",
    )
    trust_remote_code: bool = _f(
        False, doc="run the model repository's own Python code; off unless you set it"
    )
    # -- data ----------------------------------------------------------------------------
    test_datasets: list[DatasetSpec] | None = _f(
        None, doc="separate evaluation data (instead of val_set_size)"
    )
    val_set_size: float = _f(
        0.0,
        doc="held-out evaluation share: a fraction below 1, or a whole number of examples",
        range=(0, True, 1000000000.0, True),
    )
    dataset_prepared_path: str | None = _f(
        None, doc="cache folder for tokenized data (default: prepared/ next to output_dir)"
    )
    chat_template: str | None = _f(
        None,
        doc="chat template for chat_template datasets: tokenizer_default (the tokenizer's own, the default), "
        "tokenizer_default_fallback_NAME, jinja, or an Axolotl template name (all built in but command_a*, "
        "which are refused); also saved with the tokenizer",
    )
    chat_template_jinja: str | None = _f(
        None, doc="a custom Jinja chat template (text or file path); implies chat_template: jinja"
    )
    train_on_inputs: bool = _f(False, doc="also train on prompt tokens (default: only on responses)")
    special_tokens: dict[str, str | list[str]] | None = _f(
        None,
        doc="tokens to set on the tokenizer: bos_token, eos_token, pad_token, unk_token, additional_special_tokens; "
        "new ones (but pad) train the embeddings as `tokens` does",
    )
    tokens: list[str] | None = _f(
        None,
        doc="tokens to add to the tokenizer (embeddings resized); when any is new, the input embeddings and the "
        "output head are trained: loradoc adds them to lora_modules_to_save (which Axolotl requires)",
    )
    eot_tokens: list[str] | None = _f(
        None,
        doc="the chat template's end-of-turn tokens, each one token, whose labels datasets[].train_on_eot "
        "chooses (default: the EOS token)",
    )
    excess_length_strategy: str = _f(
        "drop",
        doc="examples longer than sequence_len: drop, truncate, or raise (stop)",
        choices=EXCESS_LENGTH_STRATEGIES,
    )
    # -- length and packing --------------------------------------------------------------
    sequence_len: int = _f(
        512, doc="maximum tokens per example, and per packed row", range=(1, True, 1_048_576, True)
    )
    sample_packing: bool = _f(False, doc="pack several examples into each row, kept apart in attention")
    eval_sample_packing: bool | None = _f(
        None,
        doc="pack the eval split too (default: as sample_packing; turned off by itself when the split is too small)",
    )
    pad_to_sequence_len: bool | None = _f(
        None, doc="pad every row to sequence_len (default: true with sample_packing)"
    )
    # -- adapter -------------------------------------------------------------------------
    adapter: str | None = _f(None, doc="lora or qlora (required: loradoc does not do full fine-tuning)")
    lora_r: int = _f(8, doc="LoRA rank", range=(1, True, 4_096, True))
    lora_alpha: int = _f(
        16, doc="LoRA scaling numerator (scale = lora_alpha / lora_r)", range=(0, False, 65_536, True)
    )
    lora_dropout: float = _f(0.0, doc="dropout on the LoRA input", range=(0, True, 1, False))
    peft_use_rslora: bool = _f(
        False, doc="rank-stabilised LoRA: scale by lora_alpha / sqrt(lora_r) (peft use_rslora)"
    )
    peft_use_dora: bool = _f(
        False, doc="DoRA: learn each weight's magnitude apart from its LoRA direction (peft use_dora)"
    )
    lora_fan_in_fan_out: bool = _f(
        False,
        doc="the target layers store weights as (fan_in, fan_out), e.g. GPT-2's Conv1D (peft fan_in_fan_out)",
    )
    peft_init_lora_weights: bool | Literal["gaussian", "orthogonal", "mica", "pissa", "olora"] | None = _f(
        None,
        doc="LoRA init (peft init_lora_weights): unset, true or false = B zero, A random (Axolotl passes false as unset); "
        "gaussian; orthogonal (needs an even lora_r); mica (B fixed, A trained); pissa or olora (A and B from an "
        "SVD or QR of each weight, their product moved out of the base; the saved adapter is converted to a plain "
        "LoRA of rank 2 × lora_r for the unchanged base). loftq, eva, corda and lora_ga are refused: they need a "
        "quantization config or passes over the data that loradoc does not make",
    )
    peft_layers_to_transform: list[int] | None = _f(
        None, doc="adapt only these layer indices (peft layers_to_transform); default: every layer"
    )
    peft_layers_pattern: list[str] | None = _f(
        None,
        doc="the name of the layer list peft_layers_to_transform indexes, e.g. [layers] (peft layers_pattern)",
    )
    lora_target_parameters: list[str] | None = _f(
        None,
        doc="parameter names to adapt directly, e.g. fused MoE expert weights [mlp.experts.gate_up_proj] (peft target_parameters)",
    )
    lora_target_modules: str | list[str] | None = _f(
        None, doc="module names to adapt (a list), or one regular expression (a string)"
    )
    lora_target_linear: bool | None = _f(None, doc="adapt every linear layer except the output head")
    lora_modules_to_save: list[str] | None = _f(
        None, doc="modules trained in full and saved with the adapter, e.g. [embed_tokens, lm_head]"
    )
    unfrozen_parameters: list[str] | None = _f(
        None,
        doc="base-model parameters trained in full beside the adapter: regular expressions matched from the start "
        "of names like model.norm.weight (`.` is a literal dot, as in Axolotl; `name$[:32000]` trains rows 0-31999 "
        "only); their modules are saved with the adapter (peft modules_to_save)",
    )
    lora_model_dir: str | None = _f(None, doc="start from this saved adapter instead of a fresh one")
    load_in_8bit: bool = _f(False, doc="load base weights in 8 bits (bitsandbytes, CUDA GPU)")
    load_in_4bit: bool = _f(
        False, doc="load base weights in 4-bit NF4 (bitsandbytes, CUDA GPU); needs adapter: qlora"
    )
    # -- batch and optimizer -------------------------------------------------------------
    micro_batch_size: int = _f(1, doc="rows per device per forward pass", range=(1, True, 65_536, True))
    gradient_accumulation_steps: int = _f(
        1, doc="micro batches per optimizer step", range=(1, True, 1_048_576, True)
    )
    batch_size: int | None = _f(
        None,
        doc="global batch; when set without gradient_accumulation_steps, that is derived from it",
        range=(1, True, 16_777_216, True),
    )
    eval_batch_size: int | None = _f(
        None, doc="rows per device per eval pass (default: micro_batch_size)", range=(1, True, 65_536, True)
    )
    num_epochs: float = _f(1.0, doc="passes over the training data", range=(0, False, 10_000, True))
    max_steps: int | None = _f(
        None,
        doc="stop after this many optimizer steps (wins over num_epochs)",
        range=(1, True, 100_000_000, True),
    )
    learning_rate: float = _f(0.0002, doc="peak learning rate", range=(0, False, 10, True))
    loraplus_lr_ratio: float | None = _f(
        None,
        doc="LoRA+: lora_B weights (and other one-dimensional trainable weights) learn at learning_rate × this "
        "(peft create_loraplus_optimizer; the paper suggests 16)",
        range=(0, False, 1_000_000, True),
    )
    loraplus_lr_embedding: float | None = _f(
        None,
        doc="LoRA+: the learning rate of LoRA on embedding layers (default 1e-6); only with loraplus_lr_ratio",
        range=(0, False, 10, True),
    )
    optimizer: str = _f(
        "adamw_torch",
        doc="a transformers optimizer name (Axolotl's default is adamw_torch_fused: same math)",
        choices=OPTIMIZERS,
    )
    lr_scheduler: str = _f("cosine", doc="a transformers scheduler name", choices=LR_SCHEDULERS)
    warmup_steps: int | None = _f(
        None, doc="warmup optimizer steps (not with warmup_ratio)", range=(0, True, 100_000_000, True)
    )
    warmup_ratio: float | None = _f(
        None, doc="warmup as a share of all steps (not with warmup_steps)", range=(0, True, 1, False)
    )
    weight_decay: float = _f(0.0, doc="AdamW weight decay", range=(0, True, 10, True))
    max_grad_norm: float = _f(
        1.0, doc="gradient clipping norm (0 turns clipping off)", range=(0, True, 1000000.0, True)
    )
    adam_beta1: float | None = _f(None, doc="Adam beta1 (default 0.9)", range=(0, True, 1, False))
    adam_beta2: float | None = _f(None, doc="Adam beta2 (default 0.999)", range=(0, True, 1, False))
    adam_epsilon: float | None = _f(None, doc="Adam epsilon (default 1e-8)", range=(0, False, 1, True))
    # -- precision, attention, memory ----------------------------------------------------
    bf16: bool | Literal["auto"] = _f(
        "auto",
        doc="bf16 mixed precision; auto = on GPUs that have it (compute capability >= 8.0), and on CPUs with "
        "bf16 instructions (AMX, AVX-512 BF16) where bf16 autocast is measured faster for the model",
    )
    fp16: bool = _f(False, doc="fp16 mixed precision (CUDA GPU)")
    tf32: bool | Literal["auto"] = _f(False, doc="TF32 matmuls on Ampere or newer; auto = where available")
    attn_implementation: str | None = _f(
        None,
        doc="attention backend: flash_attention_2/3, sdpa, eager, flex_attention, xformers, loradoc_varlen; "
        "unset or auto = chosen for the machine",
        choices=ATTN_IMPLEMENTATIONS,
    )
    flash_attention: bool | None = _f(
        None,
        doc="legacy: true means attn_implementation: flash_attention_2 (folded into it at load; unset afterwards)",
    )
    xformers_attention: bool | None = _f(
        None,
        doc="legacy: true means attn_implementation: xformers (folded into it at load; unset afterwards)",
    )
    sdp_attention: bool | None = _f(
        None, doc="legacy: true means attn_implementation: sdpa (folded into it at load; unset afterwards)"
    )
    flex_attention: bool | None = _f(
        None,
        doc="legacy: true means attn_implementation: flex_attention (folded into it at load; unset afterwards)",
    )
    eager_attention: bool | None = _f(
        None, doc="legacy: true means attn_implementation: eager (folded into it at load; unset afterwards)"
    )
    use_kernels: bool | None = _f(
        None,
        doc="transformers' hub kernels (the kernels package) on the model's layers, passed to from_pretrained; "
        "unset keeps transformers' default (on where kernels is installed and USE_HUB_KERNELS allows), "
        "false turns them off",
    )
    liger_rope: bool | None = _f(
        None,
        doc="Liger's RoPE kernel (same math): applied on a CUDA GPU with liger-kernel installed, else a note",
    )
    liger_rms_norm: bool | None = _f(
        None,
        doc="Liger's RMSNorm kernel (same math): applied on a CUDA GPU with liger-kernel installed, else a note",
    )
    liger_layer_norm: bool | None = _f(
        None,
        doc="Liger's LayerNorm kernel (same math): applied on a CUDA GPU with liger-kernel installed, else a note",
    )
    liger_glu_activation: bool | None = _f(
        None,
        doc="Liger's gated-MLP kernel (SwiGLU, GeGLU on Gemma; same math): applied on a CUDA GPU with "
        "liger-kernel installed, else a note",
    )
    liger_swiglu: bool | None = _f(None, doc="older name of liger_glu_activation")
    torch_compile: bool | Literal["auto"] | None = _f(
        None,
        doc="compile the model with torch.compile (through transformers' Trainer) on a GPU, unless the "
        "attention is loradoc_varlen (its per-example loop recompiles); never on the CPU, where it measured "
        "no gain (the plan says which); auto = the same",
    )
    torch_compile_backend: str | None = _f(
        None, doc="torch.compile backend (default inductor); sets torch_compile"
    )
    torch_compile_mode: str | None = _f(
        None, doc="torch.compile mode; sets torch_compile", choices=TORCH_COMPILE_MODES
    )
    gradient_checkpointing: bool = _f(False, doc="recompute activations in the backward pass to save memory")
    gradient_checkpointing_kwargs: dict[str, Any] | None = _f(
        None, doc="passed to activation checkpointing, e.g. {use_reentrant: false} (loradoc's default)"
    )
    # -- logging, evaluation, checkpoints ------------------------------------------------
    logging_steps: int = _f(10, doc="log metrics every N optimizer steps", range=(1, True, 100_000_000, True))
    eval_steps: int | float | None = _f(
        None,
        doc="evaluate every N steps (a fraction below 1: of all steps); not with evals_per_epoch",
        range=(0, False, 100_000_000, True),
    )
    evals_per_epoch: int | None = _f(
        None,
        doc="evaluations per epoch; not with eval_steps (neither: once per epoch)",
        range=(1, True, 100_000, True),
    )
    save_steps: int | float | None = _f(
        None,
        doc="checkpoint every N steps (a fraction below 1: of all steps); not with saves_per_epoch",
        range=(0, False, 100_000_000, True),
    )
    saves_per_epoch: int | None = _f(
        None,
        doc="checkpoints per epoch; not with save_steps (neither: once per epoch)",
        range=(1, True, 100_000, True),
    )
    save_total_limit: int | None = _f(
        None, doc="keep at most this many checkpoints", range=(1, True, 100_000, True)
    )
    output_dir: str = _f("./model-out", doc="where the adapter, checkpoints, metrics and resolved config go")
    resume_from_checkpoint: bool | str | None = _f(
        None, doc="true: the newest checkpoint in output_dir; or a checkpoint path"
    )
    overwrite_output_dir: bool = _f(
        False,
        doc="loradoc: replace an earlier loradoc run in output_dir (a folder holding other files is never emptied)",
    )
    seed: int = _f(
        42, doc="seed for shuffling, packing order, dropout and LoRA init", range=(0, True, 2**32 - 1, True)
    )
    # -- Weights & Biases ----------------------------------------------------------------
    use_wandb: bool | None = _f(None, doc="W&B on/off (default: on exactly when wandb_project is set)")
    wandb_project: str | None = _f(None, doc="W&B project; setting it turns W&B on")
    wandb_entity: str | None = _f(None, doc="W&B team or user")
    wandb_name: str | None = _f(None, doc="W&B run name")
    wandb_mode: str | None = _f(None, doc="online, offline or disabled", choices=WANDB_MODES)
    wandb_run_id: str | None = _f(None, doc="W&B run id (to resume a run)")
    wandb_watch: str | None = _f(
        None, doc="log gradients/parameters: false, gradients, parameters, all", choices=WANDB_WATCH
    )
    wandb_log_model: str | None = _f(
        None, doc="upload the adapter as an artifact: false, checkpoint, end", choices=WANDB_LOG_MODEL
    )
    # -- other loggers (train/run/trackers.py): each needs its package installed ----------
    use_tensorboard: bool | None = _f(
        None, doc="log to TensorBoard under output_dir/runs (needs tensorboard)"
    )
    use_mlflow: bool | None = _f(
        None, doc="log to MLflow (needs mlflow); on when mlflow_tracking_uri or mlflow_experiment_name is set"
    )
    mlflow_tracking_uri: str | None = _f(None, doc="MLflow tracking server or folder (MLFLOW_TRACKING_URI)")
    mlflow_experiment_name: str | None = _f(None, doc="MLflow experiment (MLFLOW_EXPERIMENT_NAME)")
    mlflow_run_name: str | None = _f(None, doc="MLflow run name")
    hf_mlflow_log_artifacts: bool | None = _f(None, doc="copy each saved checkpoint to MLflow's artifacts")
    use_comet: bool | None = _f(
        None, doc="log to Comet (needs comet_ml; the key comes from COMET_API_KEY or `comet login`)"
    )
    comet_workspace: str | None = _f(None, doc="Comet workspace (COMET_WORKSPACE)")
    comet_project_name: str | None = _f(None, doc="Comet project; setting it turns Comet on")
    comet_experiment_key: str | None = _f(None, doc="Comet experiment key, to append to an experiment")
    comet_mode: str | None = _f(
        None, doc="create, get or get_or_create (COMET_MODE)", choices=("create", "get", "get_or_create")
    )
    comet_online: bool | None = _f(None, doc="false: log offline (COMET_START_ONLINE)")
    use_trackio: bool | None = _f(
        None, doc="log to Trackio (needs trackio); on when trackio_project_name is set"
    )
    trackio_project_name: str | None = _f(None, doc="Trackio project")
    trackio_run_name: str | None = _f(None, doc="Trackio run name")
    trackio_space_id: str | None = _f(None, doc="Hugging Face Space to sync the Trackio dashboard to")
    # -- distributed ---------------------------------------------------------------------
    num_processes: int | None = _f(
        None,
        doc="loradoc: training processes (DDP through accelerate); --num-processes sets it",
        range=(1, True, 65_536, True),
    )
    deepspeed: str | dict[str, Any] | None = _f(
        None, doc="a DeepSpeed JSON file (or its content), passed to accelerate"
    )
    fsdp: list[str] | None = _f(None, doc="FSDP options, e.g. [full_shard, auto_wrap], passed to accelerate")
    fsdp_config: dict[str, Any] | None = _f(None, doc="FSDP settings, passed to accelerate")
    fsdp_version: int | None = _f(None, doc="FSDP 1 or 2")

    # -- bookkeeping (not config keys) ---------------------------------------------------
    source: str | None = _internal(default=None)
    base_dir: str | None = _internal(default=None)
    explicit_keys: frozenset[str] = _internal(factory=frozenset)
    auto_changes: list[AutoChange] = _internal(factory=list)
    ignored: list[str] = _internal(factory=list)
    echo_changes: bool = _internal(default=True)

    # -- queries -------------------------------------------------------------------------
    @classmethod
    def key_names(cls) -> tuple[str, ...]:
        """The config keys, in schema order."""
        return tuple(f.name for f in dataclasses.fields(cls) if not f.metadata.get("internal"))

    @property
    def quantized(self) -> bool:
        return self.load_in_4bit or self.load_in_8bit

    @property
    def wandb_enabled(self) -> bool:
        if self.use_wandb is False or self.wandb_mode == "disabled":
            return False
        return bool(self.wandb_project)

    @property
    def eval_enabled(self) -> bool:
        return bool(self.test_datasets) or self.val_set_size > 0

    def world_size(self) -> int:
        return self.num_processes or 1

    def global_batch(self) -> int:
        """Rows (packed or not) per optimizer step, over all processes."""
        return self.micro_batch_size * self.gradient_accumulation_steps * self.world_size()

    def mixed_precision(self) -> str:
        """``bf16``, ``fp16`` or ``no`` once resolved; raises while bf16 is still ``auto``."""
        if self.bf16 == "auto":
            raise ValueError("bf16 is still 'auto': call loradoc.train.preflight.resolve(cfg, facts) first")
        return "bf16" if self.bf16 else "fp16" if self.fp16 else "no"

    # -- changes -------------------------------------------------------------------------
    def note_change(
        self, key: str, value: Any, reason: str, *, echo: bool | None = None, cause: str | None = None
    ) -> None:
        """Set ``key`` to ``value`` and record why (and which key caused it); prints one line unless told not to."""
        change = AutoChange(key=key, old=getattr(self, key), new=value, reason=reason, cause=cause)
        setattr(self, key, value)
        self.auto_changes.append(change)
        if self.echo_changes if echo is None else echo:
            print(change.line(), file=sys.stderr)

    # -- output --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The config's values as plain data (unset keys left out), in schema order."""
        return _to_dict(self)

    def resolved_document(self) -> dict[str, Any]:
        """What ``resolved_config.yml`` holds: the values, then a ``_loradoc`` record of changes."""
        from loradoc import __version__

        doc = self.to_dict()
        doc["_loradoc"] = {
            "version": __version__,
            "source": self.source,
            "auto_changes": [c.to_dict() for c in self.auto_changes],
            "ignored": list(self.ignored),
        }
        return doc

    def save_resolved(self, path: str | Path) -> Path:
        """Write ``resolved_config.yml`` atomically; loadable again with load_config."""
        import yaml

        from loradoc.errors import UserError
        from loradoc.fsutil import write_atomic

        target = Path(path)
        text = (
            "# Written by loradoc: the values this run used, after defaults and automatic changes.\n"
            "# `loradoc train` accepts this file; the _loradoc block is a record and is ignored.\n"
        ) + yaml.safe_dump(self.resolved_document(), sort_keys=False, allow_unicode=True)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            return write_atomic(target, text)
        except OSError as exc:
            raise UserError(f"{target}: cannot write the resolved config ({exc.strerror or exc})") from None


def _to_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.metadata.get("internal"):
            continue
        value = getattr(obj, f.name)
        if value is None:
            continue
        if isinstance(value, list):
            value = [v.to_dict() if isinstance(v, DatasetSpec) else v for v in value]
        out[f.name] = value
    return out


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _declared(meta: str) -> dict[str, Any]:
    return {f.name: f.metadata[meta] for f in dataclasses.fields(TrainConfig) if meta in f.metadata}


# Derived from the declarations above (one place per key): numeric ranges as
# (low, low inclusive, high, high inclusive) with None unbounded, and value vocabularies.
RANGES: dict[str, tuple[float | None, bool, float | None, bool]] = _declared("range")
VALUE_CHOICES: tuple[tuple[str, tuple[str, ...]], ...] = tuple(_declared("choices").items())
