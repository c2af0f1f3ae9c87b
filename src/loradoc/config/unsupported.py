"""Axolotl keys that loradoc does not implement, and what happens to each.

Every key here is one Axolotl accepts (its config reference, v0.18). A key set to
an empty or neutral value (unset, ``false``, or the value that changes nothing)
is accepted silently. Otherwise:

- ``ignore``: leaving it out cannot change what is trained (a fused kernel with
  the same math, a tracker loradoc does not feed, a DDP tuning knob). loradoc
  prints one ``ignored: KEY (why)`` line and records it in the resolved config.
- ``reject``: ignoring it would change the result (a different loss, different
  data, different trainable weights), so the config is refused with
  ``not supported: KEY (what to do instead)``.

``docs/config.md`` prints this table; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["ignore", "reject"]


@dataclass(frozen=True)
class Unsupported:
    action: Action
    advice: str
    neutral: tuple[Any, ...] = (False,)


def _group(
    action: Action, advice: str, keys: str, neutral: tuple[Any, ...] = (False,)
) -> dict[str, Unsupported]:
    return {k: Unsupported(action, advice, neutral) for k in keys.split()}


_SAME_MATH = (
    "a fused kernel with the same math; loradoc runs the model's own layers: same result, more time or memory"
)
_SFT_ONLY = "loradoc does supervised fine-tuning only; use Axolotl or TRL for preference and RL training"
_TRACKERS = (
    "loradoc logs to metrics.jsonl in output_dir and to W&B, TensorBoard, MLflow, Comet or Trackio "
    "(use_wandb, use_tensorboard, use_mlflow, use_comet, use_trackio)"
)
_PARALLEL = "loradoc runs data parallel only: use --num-processes, fsdp/fsdp_config or deepspeed"

AXOLOTL_KEYS: dict[str, Unsupported] = {
    # -- harmless to ignore ----------------------------------------------------------------
    **_group("ignore", "loradoc always rejects unknown keys", "strict", neutral=(False, True)),
    **_group(
        "ignore",
        _SAME_MATH,
        "flash_attn_cross_entropy flash_attn_rms_norm flash_attn_fuse_qkv flash_attn_fuse_mlp "
        "lora_mlp_kernel lora_qkv_kernel lora_o_kernel fused_attn_kernel "
        "unsloth_cross_entropy_loss unsloth_lora_mlp unsloth_lora_qkv unsloth_lora_o unsloth_rms_norm unsloth_rope "
        "chunked_cross_entropy chunked_cross_entropy_num_chunks tiled_mlp tiled_mlp_num_shards batch_flattening",
    ),
    **_group(
        "ignore",
        "a fused loss with the same math; loradoc computes the loss with the model's own head, only at trained "
        "positions (prompt tokens never reach the vocabulary projection): same loss, more memory at long sequences",
        "liger_cross_entropy liger_fused_linear_cross_entropy cut_cross_entropy",
    ),
    **_group(
        "ignore",
        "it only trades memory for time; gradients are the same",
        "activation_offloading low_cpu_mem_usage flex_attn_compile_kwargs",
    ),
    **_group(
        "ignore",
        "loradoc chooses data-loading and preprocessing parallelism itself",
        "dataset_processes dataset_num_proc dataset_keep_in_memory dataloader_num_workers dataloader_pin_memory "
        "dataloader_prefetch_factor num_dataset_shards_to_save",
    ),
    **_group(
        "ignore",
        "loradoc trains only the adapter, so every trainable parameter is used; other DDP tuning is left to accelerate",
        "ddp_find_unused_parameters ddp_timeout ddp_bucket_cap_mb ddp_broadcast_buffers",
        neutral=(False, True),
    ),
    **_group("ignore", "set by the launcher, not the config", "local_rank world_size device ddp"),
    **_group(
        "ignore",
        "loradoc packs the whole dataset with its own bin packing and reports the efficiency",
        "sample_packing_group_size sample_packing_bin_size sample_packing_eff_est multipack_real_batches "
        "sample_packing_mp_start_method",
    ),
    **_group(
        "ignore",
        "only pads the embedding matrix; trained weights are the same",
        "resize_token_embeddings_to_32x",
    ),
    **_group(
        "ignore",
        "loradoc does not push to the Hub; upload output_dir afterwards with `hf upload`",
        "hub_model_id hub_strategy hub_revision push_dataset_to_hub",
    ),
    **_group("ignore", "loradoc reads HF_TOKEN from the environment when it is set", "hf_use_auth_token"),
    **_group(
        "reject",
        "a dataset key in Axolotl: set it on each entry, datasets[].train_on_eot",
        "train_on_eot",
        neutral=("turn",),
    ),
    **_group(
        "ignore",
        "loradoc does not stop on a loss spike; watch the loss it prints",
        "loss_watchdog_threshold loss_watchdog_patience",
    ),
    **_group(
        "ignore",
        _TRACKERS,
        "use_otel_metrics otel_metrics_host otel_metrics_port",
    ),
    **_group(
        "ignore",
        "comet_ml reads its other settings from the environment or ~/.comet.config (COMET_* variables)",
        "comet_experiment_config",
    ),
    **_group(
        "ignore",
        "extra evaluation outputs loradoc does not produce; eval loss is still computed",
        "eval_table_size eval_max_new_tokens do_causal_lm_eval eval_causal_lm_metrics do_bench_eval bench_dataset "
        "bench_split metric_for_best_model greater_is_better",
    ),
    **_group(
        "ignore",
        "loradoc always reports tokens per second",
        "include_tokens_per_second include_tkps",
        neutral=(False, True),
    ),
    **_group(
        "ignore",
        "loradoc does not run the profiler",
        "profiler_steps profiler_steps_start",
        neutral=(False, 0),
    ),
    **_group("ignore", "loradoc does not checkpoint after the first step", "save_first_step"),
    **_group(
        "ignore",
        "loradoc checkpoints carry optimizer state so that a run can resume",
        "save_only_model",
    ),
    **_group(
        "ignore",
        "loradoc always saves safetensors and the tokenizer's chat template",
        "save_safetensors tokenizer_save_jinja_files experimental_skip_move_to_device",
        neutral=(False, True),
    ),
    **_group(
        "ignore",
        "loradoc keeps the columns it needs",
        "remove_unused_columns dataloader_drop_last",
        neutral=(False, True),
    ),
    **_group("ignore", "a setting for RL prompts only", "max_prompt_len"),
    **_group(
        "ignore",
        "Gradio inference settings",
        "gradio_title gradio_share gradio_server_name gradio_server_port gradio_max_new_tokens gradio_temperature",
    ),
    **_group(
        "ignore",
        "Axolotl-internal bookkeeping",
        "is_falcon_derived_model is_llama_derived_model is_mistral_derived_model is_qwen_derived_model "
        "axolotl_config_path is_preprocess preprocess_iterable total_num_tokens total_supervised_tokens gc_steps",
        neutral=(False, True),
    ),
    **_group(
        "ignore",
        "accepted for compatibility; it changes nothing when loradoc packs",
        "pretrain_multipack_attn",
        neutral=(False, True),
    ),
    **_group(
        "ignore",
        "the default, and what loradoc does",
        "tiled_mlp_use_original_mlp",
        neutral=(False, True, 1e-06),
    ),
    # -- must reject: ignoring would change what is trained --------------------------------
    **_group(
        "reject",
        _SFT_ONLY,
        "rl rl_beta trl vllm reward_model process_reward_model center_rewards_coefficient num_labels dpo_beta "
        "dpo_use_weighting dpo_use_logits_to_keep dpo_label_smoothing dpo_norm_loss dpo_padding_free "
        "dpo_generate_during_eval orpo_alpha rpo_alpha simpo_gamma cpo_alpha kto_desirable_weight "
        "kto_undesirable_weight",
    ),
    **_group(
        "reject",
        "loradoc trains from instruction, completion or chat datasets, not streamed pretraining data",
        "pretraining_dataset streaming streaming_multipack_buffer_size pretrain_multipack_buffer_size "
        "pretraining_sample_concatenation",
    ),
    **_group(
        "reject",
        "quantization-aware training and post-training quantization are not implemented",
        "qat quantization fp8 fp8_enable_fsdp_float8_all_gather",
    ),
    **_group(
        "reject",
        "loradoc trains a plain LoRA adapter; set adapter: lora or qlora",
        "relora relora_prune_ratio relora_prune_method relora_cpu_offload jagged_restart_steps jagged_restart_warmup_steps "
        "jagged_restart_anneal_steps lisa_n_layers lisa_step_interval lisa_layers_attribute peft "
        "peft_layer_replication "
        "peft_trainable_token_indices peft_ensure_weight_tying peft_autocast_adapter_dtype "
        "qlora_sharded_model_loading lora_on_cpu",
    ),
    **_group("reject", "merge after training with peft's merge_and_unload()", "merge_lora merge_method"),
    **_group(
        "reject",
        "loradoc loads plain Hugging Face checkpoints, in full precision or through load_in_8bit/load_in_4bit",
        "gptq gptq_groupsize gptq_model_v1 gptq_disable_exllama bnb_config_kwargs model_quantization_config "
        "model_quantization_config_kwargs",
    ),
    **_group(
        "reject",
        "loradoc loads the model as published; download and edit it into a local folder instead",
        "overrides_of_model_config overrides_of_model_kwargs type_of_model rope_scaling "
        "cls_model_config reinit_weights llama4_linearized_experts trainer_cls",
    ),
    **_group(
        "reject",
        "loradoc loads Hugging Face tokenizers only; remove the key",
        "processor_type",
    ),
    **_group("reject", "loradoc uses the fast tokenizer", "tokenizer_use_fast", neutral=(True,)),
    **_group("reject", "loradoc loads the tokenizer with its saved settings", "tokenizer_legacy"),
    **_group(
        "reject",
        "loradoc adds new tokens (tokens, special_tokens) and resizes the embeddings the transformers way; "
        "to rename reserved tokens or change how embedding rows start, edit a local copy of the model instead",
        "added_tokens_overrides fix_untrained_tokens mean_resizing_embeddings shrink_embeddings "
        "embeddings_skip_upcast",
    ),
    **_group(
        "reject",
        "it changes the prompts; put the system message in your data or in a custom chat_template_jinja",
        "default_system_message chat_template_kwargs",
    ),
    **_group(
        "reject",
        "it changes which examples are trained; filter the data before training",
        "min_sample_len eval_sequence_len dataset_exact_deduplication dataset_shard_num dataset_shard_idx "
        "skip_prepare_dataset max_packed_sequence_len",
    ),
    **_group("reject", "loradoc shuffles the merged datasets", "shuffle_merged_datasets", neutral=(True,)),
    **_group("reject", "loradoc shuffles after merging", "shuffle_before_merging_datasets"),
    **_group(
        "reject",
        "loradoc packs for density and shuffles, so order is not kept; set sample_packing: false to keep order",
        "sample_packing_sequentially curriculum_sampling",
    ),
    **_group(
        "reject",
        "use sample_packing: true, which removes the padding that length grouping reduces",
        "group_by_length",
    ),
    **_group(
        "reject",
        "it changes the training signal; not implemented",
        "neftune_noise_alpha noisy_embedding_alpha",
    ),
    **_group(
        "reject",
        "loradoc supports one learning rate with lr_scheduler and warmup_*; remove the key",
        "embedding_lr embedding_lr_scale lr_groups lr_scheduler_kwargs lr_quadratic_warmup cosine_min_lr_ratio "
        "cosine_constant_lr_ratio lr_div_factor optim_args optim_target_modules adam_beta3 adam_epsilon2 "
        "torchdistx_path dion_lr dion_momentum dion_rank_fraction dion_rank_multiple_of",
    ),
    **_group(
        "reject",
        "loradoc evaluates on eval_steps/evals_per_epoch and saves on save_steps/saves_per_epoch",
        "eval_strategy save_strategy evaluation_strategy",
    ),
    **_group(
        "reject",
        "loradoc keeps the last adapter, it does not pick or stop on the best eval loss",
        "early_stopping_patience load_best_model_at_end",
    ),
    **_group("reject", "loradoc uses micro_batch_size as given", "auto_find_batch_size"),
    **_group(
        "reject",
        _PARALLEL,
        "sequence_parallel_degree context_parallel_size heads_k_stride ring_attn_func "
        "tensor_parallel_size dp_shard_size dp_replicate_size deepcompile use_ray ray_run_name ray_num_workers "
        "resources_per_worker",
    ),
    **_group(
        "reject",
        "loradoc places the model on each process's device; for models that do not fit, use fsdp or deepspeed",
        "device_map max_memory gpu_memory_limit",
    ),
    **_group("reject", "put state_dict_type in fsdp_config", "fsdp_final_state_dict_type"),
    **_group(
        "reject",
        "pass accelerate settings through fsdp_config, deepspeed or --num-processes",
        "accelerator_config",
    ),
    **_group(
        "reject",
        "shifted-sparse attention is not implemented; use attn_implementation",
        "s2_attention flash_optimum",
    ),
    **_group("reject", "loradoc trains text-only models", "image_size image_resize_algorithm"),
}

# Keys whose verdict depends on the value or on other keys (config/load.py applies them), and how
# docs/config.md describes each group: keys -> (action, what happens).
CUSTOM_KEY_DOCS: dict[str, tuple[str, str]] = {
    "plugins": (
        "reject unless harmless",
        "entries ending in `CutCrossEntropyPlugin` or `LigerPlugin` are ignored with a note (same math); "
        "any other plugin is refused",
    ),
    "bfloat16 float16 float32": (
        "depends",
        "ignored when they agree with `bf16`/`fp16` (`bfloat16: true` with `bf16: true`); otherwise refused: "
        "training in half precision without autocast is not implemented",
    ),
    "auto_resume_from_checkpoints": ("rewrite", "`true` becomes `resume_from_checkpoint: true` (recorded)"),
}
CUSTOM_KEYS = tuple(k for keys in CUSTOM_KEY_DOCS for k in keys.split())
# Plugins whose only effect is speed or memory.
HARMLESS_PLUGINS = {
    "CutCrossEntropyPlugin": "cut cross-entropy computes the same loss with less memory",
    "LigerPlugin": "Liger kernels compute the same math faster",
}

DATASET_KEYS: dict[str, Unsupported] = {
    **_group(
        "reject",
        "loradoc reads the dataset keys listed in docs/config.md",
        "shards shards_idx preprocess_shards input_transform conversation input_format field_human field_model "
        "field_tools field_thinking template_thinking_key message_field_training message_field_training_detail "
        "split_thinking logprobs_field temperature step_separator max_completion_length train_on_last_step_only",
    ),
    **_group("reject", "loradoc trains each trained turn's end token", "train_on_eos", neutral=("turn",)),
    **_group("reject", "dataset loading scripts are not supported; use data files", "trust_remote_code"),
}


def _values(advice: str, names: str) -> dict[str, str]:
    return dict.fromkeys(names.split(), advice)


# Values Axolotl (or transformers) accepts for a supported key, which loradoc refuses.
UNSUPPORTED_VALUES: dict[str, dict[str, str]] = {
    "attn_implementation": _values(
        "use flash_attention_2, sdpa, flex_attention or loradoc_varlen",
        "s2 sage flash_attention_4 paged|eager paged|sdpa kernels-community/flash-attn",
    ),
    "optimizer": _values(
        "it needs settings loradoc does not pass; use adamw_torch_fused, adamw_torch or adamw_bnb_8bit",
        "optimi_adamw ao_adamw_4bit ao_adamw_8bit ao_adamw_fp8 adopt_adamw came_pytorch muon dion galore_adamw "
        "galore_adamw_8bit galore_adafactor galore_adamw_layerwise galore_adamw_8bit_layerwise "
        "galore_adafactor_layerwise apollo_adamw apollo_adamw_layerwise lomo adalomo adamw_anyprecision "
        "adamw_torch_xla adamw_torch_npu_fused",
    ),
    "lr_scheduler": _values("use cosine, linear or constant_with_warmup", "one_cycle rex greedy"),
}

SECRET_HINT = "put secrets in the environment (WANDB_API_KEY/HF_TOKEN), not the config"
SECRET_KEYS = frozenset(
    {
        "hf_token",
        "huggingface_token",
        "hub_token",
        "hf_hub_token",
        "token",
        "wandb_token",
        "access_token",
        "auth_token",
    }
)


def looks_secret(key: str) -> bool:
    k = key.lower()
    return k in SECRET_KEYS or any(s in k for s in ("api_key", "apikey", "secret", "password", "passwd"))


def is_neutral(value: Any, neutral: tuple[Any, ...]) -> bool:
    """True when ``value`` changes nothing: empty, or one of the key's neutral values."""
    if value is None or value == "" or value == [] or value == {}:
        return True
    return any(type(value) is type(n) and value == n for n in neutral)
