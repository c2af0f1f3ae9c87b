"""Tokenizer, base model and LoRA adapter for a run.

- :func:`load_tokenizer`: from ``tokenizer_config`` or ``base_model``; ``special_tokens``
  applied; a pad token guaranteed (``special_tokens.pad_token``, else the tokenizer's
  own, else its EOS, which is said).
- :func:`load_model`: ``AutoModelForCausalLM`` with the chosen attention and dtype,
  bitsandbytes 4/8-bit where asked (CUDA only), ``use_cache`` off for packing and
  checkpointing, gradient checkpointing (non-reentrant), and the peft LoRA adapter
  (fresh, or resumed from ``lora_model_dir``).

torch/transformers/peft are imported inside the functions (training path only).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradoc.errors import UserError

if TYPE_CHECKING:
    from loradoc.config.schema import TrainConfig

Say = Callable[[str], None]
TOKEN_KEYS = ("bos_token", "eos_token", "pad_token", "unk_token")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def _remote_code_error(key: str, source: str, exc: BaseException) -> UserError | None:
    """transformers refused to run a repository's own code (trust_remote_code is off): say so in one line."""
    text = str(exc)
    if "trust_remote_code" not in text or "custom code" not in text:
        return None
    return UserError(
        f"{key}: {source} needs its own Python code to load (auto_map in its config), and loradoc does not "
        "run it unless the config says trust_remote_code: true; read that code first, or use a model "
        "transformers supports natively"
    )


# --- tokenizer ----------------------------------------------------------------------------


def load_tokenizer(cfg: TrainConfig, *, say: Say = print) -> Any:
    from transformers import AutoTokenizer

    source = cfg.tokenizer_config or cfg.base_model
    try:
        revision = None if cfg.tokenizer_config else cfg.revision_of_model
        tok = AutoTokenizer.from_pretrained(
            source, revision=revision, trust_remote_code=bool(cfg.trust_remote_code)
        )
    except Exception as exc:  # missing folder, no tokenizer files, hub errors
        key = "tokenizer_config" if cfg.tokenizer_config else "base_model"
        raise _remote_code_error(key, source, exc) or UserError(
            f"{key}: {source}: cannot load a tokenizer ({_first_line(exc)})"
        ) from exc
    apply_special_tokens(tok, cfg.special_tokens or {}, say=say)
    return tok


def apply_special_tokens(tok: Any, special: dict[str, Any], *, say: Say = print) -> int:
    """Set ``special_tokens`` on the tokenizer; returns how many tokens are new to its vocabulary."""
    before = len(tok)
    wanted = {k: v for k, v in special.items() if k in TOKEN_KEYS and v and getattr(tok, k, None) != v}
    extra = special.get("additional_special_tokens") or []
    if wanted:
        tok.add_special_tokens(wanted)
    if extra:
        tok.add_special_tokens({"additional_special_tokens": list(extra)})
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise UserError(
                "the tokenizer has neither a pad nor an EOS token; set special_tokens.pad_token and "
                "special_tokens.eos_token"
            )
        tok.pad_token = tok.eos_token
        say(
            f"pad token: the tokenizer has none, using its EOS token {tok.eos_token!r} "
            "(padding is never trained; set special_tokens.pad_token to choose another)"
        )
    added = len(tok) - before
    if added:
        say(
            f"tokenizer: {added} new token(s) added to the vocabulary; their embeddings start untrained "
            "(add embed_tokens and lm_head to lora_modules_to_save to train them)"
        )
    return added


# --- precision ----------------------------------------------------------------------------


def torch_dtype(precision: str) -> Any:
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]


# --- LoRA targets -------------------------------------------------------------------------

_QUANTIZED_LINEAR = {"Linear4bit", "Linear8bitLt"}


def linear_module_names(model: Any) -> list[str]:
    """Leaf names of every linear layer except the output head (lora_target_linear)."""
    import torch

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head_names = {
        name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if head is not None and mod is head
    }
    names: set[str] = set()
    for name, module in model.named_modules():
        if module is head or not name:
            continue
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in _QUANTIZED_LINEAR:
            leaf = name.rsplit(".", 1)[-1]
            if leaf not in head_names:
                names.add(leaf)
    return sorted(names)


def lora_targets(cfg: TrainConfig, model: Any) -> list[str] | str | None:
    """peft ``target_modules``: all linear layers, an explicit list or regex, none when only
    ``lora_target_parameters`` are adapted, or None (peft's default for the architecture)."""
    explicit = cfg.lora_target_modules
    if cfg.lora_target_linear:
        if isinstance(explicit, str):
            raise UserError(
                "lora_target_modules is a regular expression and lora_target_linear is true; use one of them"
            )
        return sorted(set(linear_module_names(model)) | set(explicit or []))
    if explicit:
        return explicit if isinstance(explicit, str) else list(explicit)
    return [] if cfg.lora_target_parameters else None


# --- the model ----------------------------------------------------------------------------


def _quantization_config(cfg: TrainConfig, precision: str) -> Any:
    if not cfg.quantized:
        return None
    import torch
    from transformers import BitsAndBytesConfig

    if not torch.cuda.is_available():
        raise UserError("load_in_4bit/load_in_8bit need a CUDA GPU (bitsandbytes); set both to false here")
    if cfg.load_in_4bit:
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch_dtype(precision),
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def load_base_model(cfg: TrainConfig, *, attention: str, precision: str) -> Any:
    from transformers import AutoModelForCausalLM

    if attention == "loradoc_varlen":
        from loradoc.train.model.attention import register_attention

        register_attention()
    quant = _quantization_config(cfg, precision)
    kwargs: dict[str, Any] = {
        "dtype": torch_dtype(precision),
        "attn_implementation": attention,
        "trust_remote_code": bool(cfg.trust_remote_code),
        "revision": cfg.revision_of_model,
    }
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": _local_cuda_index()}
    try:
        return AutoModelForCausalLM.from_pretrained(cfg.base_model, **kwargs)
    except UserError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise _remote_code_error("base_model", cfg.base_model, exc) or UserError(
            f"base_model: {cfg.base_model}: cannot load the model ({_first_line(exc)})"
        ) from exc


def _local_cuda_index() -> int:
    from loradoc.train.run.ranks import local_rank

    return local_rank()


def load_model(
    cfg: TrainConfig, tokenizer: Any, *, attention: str, precision: str, packing: bool, say: Say = print
) -> Any:
    """The peft model ready for training (the base frozen, LoRA trainable)."""
    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

    model = load_base_model(cfg, attention=attention, precision=precision)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    checkpointing = bool(cfg.gradient_checkpointing)
    if packing or checkpointing:
        model.config.use_cache = False  # a KV cache turns off transformers' packed-sequence masking
    gc_kwargs = {"use_reentrant": False, **(cfg.gradient_checkpointing_kwargs or {})}
    if cfg.quantized:
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=checkpointing, gradient_checkpointing_kwargs=gc_kwargs
        )
    elif checkpointing:
        enable_checkpointing(model, gc_kwargs)

    adapter_dir = cfg.lora_model_dir
    if adapter_dir:
        if not (Path(adapter_dir) / "adapter_config.json").is_file():
            raise UserError(
                f"lora_model_dir: {adapter_dir}: no adapter_config.json there (a saved peft adapter)"
            )
        model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)
        say(f"adapter: resumed from {adapter_dir}")
    else:
        targets = lora_targets(cfg, model)
        lora = LoraConfig(
            r=int(cfg.lora_r),
            lora_alpha=int(cfg.lora_alpha),
            lora_dropout=float(cfg.lora_dropout or 0.0),
            use_rslora=cfg.peft_use_rslora,
            use_dora=cfg.peft_use_dora,
            fan_in_fan_out=cfg.lora_fan_in_fan_out,
            layers_to_transform=cfg.peft_layers_to_transform,
            layers_pattern=cfg.peft_layers_pattern,
            target_parameters=cfg.lora_target_parameters,
            target_modules=targets,
            modules_to_save=list(cfg.lora_modules_to_save or []) or None,
            bias="none",
            task_type="CAUSAL_LM",
        )
        try:
            with (
                warnings.catch_warnings()
            ):  # peft reads a property transformers 5 renamed; not the user's concern
                warnings.filterwarnings(
                    "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
                )
                model = get_peft_model(model, lora)
        except ValueError as exc:  # e.g. target modules not found in the model
            raise UserError(f"lora_target_modules: {_first_line(exc)}") from exc
        shown = (
            targets
            if isinstance(targets, str)
            else ", ".join(targets)
            if targets
            else "peft's default for this model"
        )
        say(f"adapter: LoRA r={cfg.lora_r} alpha={cfg.lora_alpha} on {shown}")
    trainable, total = _count_params(model)
    say(f"parameters: {trainable:,} trainable of {total:,} ({trainable / max(total, 1):.2%})")
    return model


def enable_checkpointing(model: Any, kwargs: dict[str, Any]) -> None:
    """Non-reentrant activation checkpointing, with input grads on (LoRA freezes the embeddings)."""
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.enable_input_require_grads()


def _count_params(model: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return int(trainable), int(total)
