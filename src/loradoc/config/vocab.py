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
# Chat template names Axolotl documents (its ChatTemplate enum, src/axolotl/utils/schemas/enums.py, main
# of 2026) and loradoc's decision for each; CHAT_TEMPLATE_NAMES is every name a config may give.
# Generic: the tokenizer's own template, or the one in chat_template_jinja; and
# `tokenizer_default_fallback_NAME`: the tokenizer's own, else NAME.
TOKENIZER_DEFAULT = "tokenizer_default"
CHAT_TEMPLATE_FALLBACK_PREFIX = "tokenizer_default_fallback_"
CHAT_TEMPLATE_GENERIC = (TOKENIZER_DEFAULT, "jinja")
# Built in: a template written for loradoc from the format's published turn layout
# (loradoc.train.data.chat_templates), for text messages. The value says how its rendering differs
# from Axolotl's for such messages; "" = it does not.
CHAT_TEMPLATE_BUILTIN: dict[str, str] = {
    "alpaca": "",
    "chatml": "",
    "mistral_v1": "",
    "mistral_v2v3": "",
    "mistral_v3_tekken": "",
    "mistral_v7_tekken": "no default system prompt: a conversation without a system message gets no "
    "[SYSTEM_PROMPT] block (Axolotl writes Mistral's, with today's date)",
    "pixtral": "text only: the layout of mistral_v3_tekken",
    "gemma": "a system message opens the first user turn, as in gemma3 (Axolotl's gemma refuses it)",
    "gemma3": "",
    "gemma3n": "text only: the layout of gemma3",
    "gemma4": "text only; a reply's thought channel is kept as written",
    "gemma4_unified": "text only: the layout of gemma4",
    "cohere": "",
    "aya": "",
    "llama3": "",
    "llama3_2_vision": "text only",
    "llama4": "text only",
    "phi_3": "",
    "phi_35": "",
    "deepseek_v2": "",
    "deepseek_v3": "a reply's text before </think> is kept (DeepSeek's template drops it)",
    "jamba": "",
    "qwen_25": "",
    "qwen3": "a reply that writes its own <think> block keeps it in every turn; the generation prompt is "
    "Qwen's (Axolotl's adds an open <think>)",
    "qwen3_5": "text only: the layout of qwen3",
    "qwen2_vl": "text only",
    "exaone": "",
    "exaone4": "a reply that writes its own </think> keeps its reasoning",
    "metharme": "no default system prompt: a conversation without a system message gets no <|system|> text "
    "(Axolotl writes a role-play one)",
    "falcon_h1": "",
    "nemotron_h": "",
    "llava": "text only",
}
# Refused, with why: one line at data preparation, pointing to chat_template_jinja.
_COMMAND_A = (
    "Command A's template writes Cohere's long fixed system preamble (and tool or document blocks), which "
    "loradoc does not ship; use chat_template: tokenizer_default with the model's own tokenizer, or give "
    "the template in chat_template_jinja"
)
CHAT_TEMPLATE_REFUSED: dict[str, str] = {
    "command_a": _COMMAND_A,
    "command_a_tool_use": _COMMAND_A,
    "command_a_rag": _COMMAND_A,
}
CHAT_TEMPLATE_NAMES: tuple[str, ...] = (
    *CHAT_TEMPLATE_GENERIC,
    *CHAT_TEMPLATE_BUILTIN,
    *CHAT_TEMPLATE_REFUSED,
)
# datasets[].train_on_eot: which end-of-turn tokens (eot_tokens) carry labels (Axolotl's values).
TRAIN_ON_EOT = ("all", "turn", "last", "none")
WANDB_MODES = ("online", "offline", "disabled")
TORCH_COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
WANDB_WATCH = ("false", "gradients", "parameters", "all")
WANDB_LOG_MODEL = ("false", "checkpoint", "end")
SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "pad_token", "unk_token", "additional_special_tokens")
