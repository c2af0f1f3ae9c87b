"""The vocabularies config values are checked against: one list each, read by the schema and by the code
that acts on the value (prompt formats, attention backends, optimizers, schedulers).

Plain data, no imports: the doctor reads these without loading the trainer.
"""

from __future__ import annotations

ADAPTERS = ("lora", "qlora")
# Prompt formats the data loader reads (loradoc.train.data.prompts renders each; a test keeps them in step).
DATASET_TYPES = ("alpaca", "alpaca:chat", "alpaca_chat", "completion", "chat_template", "sharegpt")
DS_TYPES = ("json", "csv", "parquet", "text", "arrow")
EXCESS_LENGTH_STRATEGIES = ("drop", "truncate", "raise")
# Attention backends loradoc can load; loradoc.train.model.attention decides how each keeps packed
# examples apart. "auto" means unset.
VARLEN = "loradoc_varlen"
FLASH_ATTENTION = ("flash_attention_2", "flash_attention_3")
MASKED_ATTENTION = ("sdpa", "eager", "flex_attention")
ATTN_IMPLEMENTATIONS: tuple[str, ...] = (VARLEN, *FLASH_ATTENTION, *MASKED_ATTENTION, "xformers")
# Axolotl's legacy attention flags and the attn_implementation each means. Loading folds a
# `key: true` into attn_implementation and unsets the key; the doctor reads both spellings.
LEGACY_ATTENTION: dict[str, str] = {
    "flash_attention": "flash_attention_2",
    "xformers_attention": "xformers",
    "sdp_attention": "sdpa",
    "flex_attention": "flex_attention",
    "eager_attention": "eager",
}
# Optimizer names transformers' Trainer builds from the name alone (OptimizerNames, transformers 5.24),
# in three groups; the middle one is implemented by bitsandbytes (transformers' trainer_optimizer.py).
_TORCH_OPTIMIZERS = (
    "adamw_torch",
    "adamw_torch_fused",
    "adamw_torch_4bit",
    "adamw_torch_8bit",
    "adafactor",
    "sgd",
    "adagrad",
    "rmsprop",
)
_BNB_OPTIMIZERS = (
    "adamw_bnb_8bit",
    "adamw_8bit",
    "paged_adamw_32bit",
    "paged_adamw_8bit",
    "lion_8bit",
    "lion_32bit",
    "paged_lion_32bit",
    "paged_lion_8bit",
    "ademamix",
    "ademamix_8bit",
    "paged_ademamix_32bit",
    "paged_ademamix_8bit",
    "rmsprop_bnb",
    "rmsprop_bnb_8bit",
    "rmsprop_bnb_32bit",
)
_OTHER_OPTIMIZERS = (
    "schedule_free_radam",
    "schedule_free_adamw",
    "schedule_free_sgd",
    "stable_adamw",
    "grokadamw",
)
OPTIMIZERS = _TORCH_OPTIMIZERS + _BNB_OPTIMIZERS + _OTHER_OPTIMIZERS
BNB_OPTIMIZERS = frozenset(_BNB_OPTIMIZERS)
# transformers' SchedulerType values (5.24).
LR_SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "cosine_warmup_with_min_lr",
    "warmup_stable_decay",
)
# Chat template names Axolotl accepts (its ChatTemplate enum), plus the generic ones.
CHAT_TEMPLATE_NAMES = (
    "tokenizer_default",
    "jinja",
    "alpaca",
    "chatml",
    "mistral_v1",
    "mistral_v2v3",
    "mistral_v3_tekken",
    "mistral_v7_tekken",
    "gemma",
    "gemma3",
    "cohere",
    "llama3",
    "llama3_2_vision",
    "llama4",
    "phi_3",
    "phi_35",
    "deepseek_v2",
    "deepseek_v3",
    "jamba",
    "qwen_25",
    "qwen3",
    "exaone",
    "metharme",
    "pixtral",
    "llava",
    "qwen2_vl",
)
WANDB_MODES = ("online", "offline", "disabled")
WANDB_WATCH = ("false", "gradients", "parameters", "all")
WANDB_LOG_MODEL = ("false", "checkpoint", "end")
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "pad_token", "unk_token", "additional_special_tokens")
