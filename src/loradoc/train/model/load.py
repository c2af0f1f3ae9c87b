"""Tokenizer, base model and LoRA adapter for a run.

- :func:`load_tokenizer`: from ``tokenizer_config`` or ``base_model``; ``special_tokens``
  applied; a pad token guaranteed (``special_tokens.pad_token``, else the tokenizer's
  own, else its EOS, which is said).
- :func:`load_model`: ``AutoModelForCausalLM`` with the chosen attention and dtype,
  bitsandbytes 4/8-bit where asked (CUDA only), ``use_cache`` off for packing and
  checkpointing, gradient checkpointing (non-reentrant), and the peft LoRA adapter
  (fresh, or resumed from ``lora_model_dir``), initialised as ``peft_init_lora_weights`` says.
- ``unfrozen_parameters``: base weights trained in full beside the adapter. Their modules
  become peft ``modules_to_save`` (a trainable copy beside the frozen original, saved in the
  adapter and restored by ``PeftModel.from_pretrained``); within a module only the matched
  parameters (and rows, for ``name$[start:end]``) are trained.
- PiSSA and OLoRA move the adapter's initial product out of the base weights. The initial
  adapter is kept (``INITIAL_ADAPTER``) so that the final save (``LoradocTrainer.save_model``)
  can convert the trained adapter into a plain LoRA for the unchanged base.

torch/transformers/peft are imported inside the functions (training path only).
"""

from __future__ import annotations

import copy
import json
import re
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradoc.errors import UserError, first_line

if TYPE_CHECKING:
    from loradoc.config.schema import TrainConfig

Say = Callable[[str], None]
TOKEN_KEYS = ("bos_token", "eos_token", "pad_token", "unk_token")
_LLAMA_TOKENIZERS = ("LlamaTokenizer", "CodeLlamaTokenizer")  # Axolotl updates their BOS/EOS post-processor
# the attribute of a PiSSA/OLoRA peft model holding its adapter as initialised (CPU tensors, peft's saved names)
INITIAL_ADAPTER = "loradoc_initial_adapter"
# peft_init_lora_weights values for which peft subtracts the initial adapter from the base weights
REWRITES_BASE = ("pissa", "olora")


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
    revision = None if cfg.tokenizer_config else cfg.revision_of_model
    key = "tokenizer_config" if cfg.tokenizer_config else "base_model"
    if cfg.tokenizer_use_mistral_common:
        return _load_mistral_common(cfg, key, source, revision)
    try:
        tok = AutoTokenizer.from_pretrained(
            source, revision=revision, trust_remote_code=bool(cfg.trust_remote_code)
        )
    except Exception as exc:  # missing folder, no tokenizer files, hub errors
        raise _remote_code_error(key, source, exc) or UserError(
            f"{key}: {source}: cannot load a tokenizer ({first_line(exc)})"
        ) from exc
    apply_special_tokens(tok, cfg.special_tokens or {}, tokens=cfg.tokens, say=say)
    name, jinja = cfg.chat_template, cfg.chat_template_jinja
    if jinja or (name and name != "tokenizer_default"):  # as Axolotl: the chosen template is the tokenizer's
        from loradoc.train.data.prompts import resolve_chat_template

        tok.chat_template = resolve_chat_template(name, tok, jinja=jinja, say=say)
    return tok


def _load_mistral_common(cfg: TrainConfig, key: str, source: str, revision: str | None) -> Any:
    """mistral-common's tokenizer, which encodes conversations itself and has a fixed vocabulary."""
    from loradoc.train.data.mistral_tokens import KEY, load_mistral_tokenizer, refuse_chat_template

    for name in ("special_tokens", "tokens"):
        if getattr(cfg, name, None):
            raise UserError(
                f"{name}: a mistral-common tokenizer's vocabulary is fixed; remove {name} or {KEY}"
            )
    refuse_chat_template("chat_template", cfg.chat_template, cfg.chat_template_jinja)
    if cfg.eot_tokens:
        raise UserError(f"eot_tokens: with {KEY} each reply ends with the tokenizer's EOS; remove eot_tokens")
    try:
        return load_mistral_tokenizer(source, revision=revision)
    except UserError:
        raise
    except Exception as exc:  # no tekken.json / tokenizer.model.vN, a missing extra, hub errors
        raise UserError(
            f"{key}: {source}: cannot load a mistral-common tokenizer ({first_line(exc)})"
        ) from exc


# tokenizer -> the tokens the config added to its vocabulary (pad aside), read by load_model
_NEW_TOKENS: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()


def new_tokens(tok: Any) -> tuple[str, ...]:
    """The tokens ``special_tokens``/``tokens`` added to this tokenizer's vocabulary, the pad token aside."""
    return _NEW_TOKENS.get(tok, ())


def apply_special_tokens(
    tok: Any, special: dict[str, Any], *, tokens: list[str] | None = None, say: Say = print
) -> int:
    """Set ``special_tokens`` and add ``tokens`` the way Axolotl does (special tokens, then the new
    tokens, then the additional special tokens; none normalized or stripped); returns how many
    tokens are new to its vocabulary."""
    from transformers import AddedToken

    def added_token(text: str) -> Any:
        return AddedToken(text, rstrip=False, lstrip=False, normalized=False)

    before = len(tok)
    wanted = {k: v for k, v in special.items() if k in TOKEN_KEYS and v and getattr(tok, k, None) != v}
    extra = special.get("additional_special_tokens") or []
    for text in [*(tokens or []), *extra]:
        if not isinstance(text, str) or not text:
            raise UserError(f"tokens: {text!r} is not a token (give the texts of the tokens to add)")
    if wanted:
        tok.add_special_tokens({k: added_token(v) for k, v in wanted.items()})
        if (
            "bos_token" in special
            and "eos_token" in special
            and type(tok).__name__.startswith(_LLAMA_TOKENIZERS)
        ):
            tok.update_post_processor()  # its BOS/EOS template follows the new tokens
    if tokens:
        tok.add_tokens([added_token(t) for t in tokens])
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
        fresh = [t for t in tok.convert_ids_to_tokens(list(range(before, len(tok)))) if t != tok.pad_token]
        _NEW_TOKENS[tok] = tuple(fresh)
        shown = ", ".join(fresh[:5]) + (", ..." if len(fresh) > 5 else "")
        say(
            f"tokenizer: {added} new token(s) added to the vocabulary"
            + (f" ({shown}); their embeddings are trained" if fresh else " (the pad token, never trained)")
        )
    return added


def fit_embeddings(model: Any, tokenizer: Any) -> None:
    """Grow the embeddings to the tokenizer (transformers' resize, new rows at the old rows' mean) and
    make the model's special token ids the tokenizer's (Axolotl does the same)."""
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    for attr in ("bos_token_id", "eos_token_id"):
        ours = getattr(tokenizer, attr, None)
        if getattr(model.config, attr, None) is not None and ours is not None:
            setattr(model.config, attr, ours)


def embedding_module_names(model: Any) -> list[str]:
    """Leaf names of the input embeddings and the output head (embed_tokens and lm_head for most models)."""
    wanted = [model.get_input_embeddings()]
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None:
        wanted.append(head)
    names: list[str] = []
    for module in wanted:
        for name, mod in model.named_modules():
            if mod is module and name:
                leaf = name.rsplit(".", 1)[-1]
                if leaf not in names:
                    names.append(leaf)
                break
    return names


def train_new_embeddings(cfg: TrainConfig, model: Any, tokenizer: Any, *, say: Say = print) -> None:
    """New tokens start with untrained embeddings: train the input embeddings and the output head in
    full, by adding them to ``lora_modules_to_save`` (recorded as a change). Axolotl refuses a config
    that adds tokens without them there; loradoc adds them."""
    fresh = new_tokens(tokenizer)
    if not fresh:
        return
    names = embedding_module_names(model)
    if cfg.lora_model_dir:
        saved = Path(cfg.lora_model_dir) / "adapter_config.json"
        have = (
            (json.loads(saved.read_text(encoding="utf-8")).get("modules_to_save") or [])
            if saved.is_file()
            else names
        )
        if not all(n in have for n in names):
            raise UserError(
                f"tokens: {len(fresh)} new token(s) need trained embeddings, but the adapter in lora_model_dir "
                f"does not train {', '.join(names)} (its modules_to_save); start a fresh adapter, or add no tokens"
            )
        return
    current = list(cfg.lora_modules_to_save or [])
    missing = [n for n in names if n not in current]
    if missing:
        cfg.note_change(
            "lora_modules_to_save",
            current + missing,
            f"{len(fresh)} new token(s) need trained embeddings (Axolotl requires {', '.join(names)} here)",
            echo=False,
            cause="tokens" if cfg.tokens else "special_tokens",
        )
        say(cfg.auto_changes[-1].line())


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


# --- LoRA init ----------------------------------------------------------------------------


def init_lora_weights(cfg: TrainConfig) -> bool | str:
    """peft ``init_lora_weights`` for ``peft_init_lora_weights`` (refusing what it cannot combine with)."""
    value = cfg.peft_init_lora_weights
    if value is None or isinstance(value, bool):
        return True  # Axolotl passes only a true value on, so false is peft's default there too
    if value == "orthogonal" and int(cfg.lora_r) % 2:
        raise UserError(f"peft_init_lora_weights: orthogonal needs an even lora_r (got {cfg.lora_r})")
    if value in REWRITES_BASE:
        clash = next(
            (
                key
                for key, on in (
                    ("load_in_4bit/load_in_8bit", cfg.quantized),
                    ("peft_use_dora", cfg.peft_use_dora),
                    ("lora_modules_to_save", cfg.lora_modules_to_save),
                    ("unfrozen_parameters", cfg.unfrozen_parameters),
                    ("lora_target_parameters", cfg.lora_target_parameters),
                    ("fsdp/deepspeed", cfg.fsdp or cfg.fsdp_config or cfg.deepspeed),
                )
                if on
            ),
            None,
        )
        if clash:
            raise UserError(
                f"peft_init_lora_weights: {value} is not supported with {clash}: {value} moves the initial "
                "adapter out of the base weights, and loradoc saves the adapter converted back for the unchanged "
                "base, which peft does for plain, unsharded, unquantized LoRA layers only"
            )
    return value


def _init_text(init: bool | str, r: int) -> str:
    if init is True:
        return ""
    if init in REWRITES_BASE:
        return f", {init} init (saved converted to a rank-{2 * r} LoRA for the unchanged base)"
    return f", {init} init"


def _check_saved_init(adapter_dir: str) -> None:
    """A saved adapter still in PiSSA/OLoRA form (a checkpoint's) cannot be continued here: refuse it."""
    try:
        saved = json.loads((Path(adapter_dir) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # peft reports an unreadable config itself
    init = saved.get("init_lora_weights") if isinstance(saved, dict) else None
    if isinstance(init, str) and init.lower().startswith(REWRITES_BASE):
        raise UserError(
            f"lora_model_dir: {adapter_dir} holds a {init} adapter before its conversion (a checkpoint's); "
            "continue that run with resume_from_checkpoint, or start from the converted adapter in its output_dir"
        )


# --- unfrozen base weights ----------------------------------------------------------------

# Axolotl's row range after a pattern: name[5], name[:32000], name[100:], name[100:200]
_ROWS = re.compile(r"^(.+)\[([0-9]*)(?::([0-9]*))?\]$")


@dataclass
class Unfrozen:
    """What ``unfrozen_parameters`` matched in the base model, by module."""

    params: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # name -> rows to train ([] = all)
    modules: list[str] = field(default_factory=list)  # owning modules, in model order


def unfrozen_pattern(raw: str) -> tuple[re.Pattern[str], tuple[int, int | None] | None]:
    """One ``unfrozen_parameters`` entry as Axolotl reads it: ``.`` is a literal dot, an optional row range."""
    text = raw
    rows: tuple[int, int | None] | None = None
    m = _ROWS.match(raw)
    if m:
        text, start, end = m.groups()
        if end is None and start.isdecimal():
            rows = (int(start), int(start) + 1)
        else:
            rows = (int(start) if start else 0, int(end) if end else None)
            if rows[1] is not None and rows[0] >= rows[1]:
                raise UserError(f"unfrozen_parameters: {raw!r}: the row range is empty")
    try:
        return re.compile(re.sub(r"(?<!\\)\.(?!\+)", r"\\.", text)), rows
    except re.error as exc:
        raise UserError(f"unfrozen_parameters: {raw!r} is not a regular expression ({exc})") from None


def match_unfrozen(cfg: TrainConfig, model: Any) -> Unfrozen:
    """The base-model parameters ``unfrozen_parameters`` names (re.match from the start of each name;
    a name written for Axolotl's peft-wrapped model, ``base_model.model.NAME``, matches too)."""
    out = Unfrozen()
    if not cfg.unfrozen_parameters:
        return out
    named = list(model.named_parameters(remove_duplicate=False))  # tied weights answer to both names
    for raw in cfg.unfrozen_parameters:
        regex, rows = unfrozen_pattern(raw)
        hits = [(n, p) for n, p in named if regex.match(n) or regex.match(f"base_model.model.{n}")]
        if not hits:
            example = ", ".join(n for n, _ in named[:2])
            raise UserError(
                f"unfrozen_parameters: {raw!r} matches no parameter of {cfg.base_model} (names look like {example})"
            )
        for name, param in hits:
            if not param.is_floating_point() or type(param).__name__ in ("Params4bit", "Int8Params"):
                raise UserError(
                    f"unfrozen_parameters: {name} is quantized (load_in_4bit/load_in_8bit) and cannot be trained "
                    "in full; leave it out, or load the base unquantized"
                )
            if "." not in name:
                raise UserError(f"unfrozen_parameters: {name} belongs to no submodule; peft cannot save it")
            trained = out.params.setdefault(name, [])
            if rows is None:
                trained.clear()
                trained.append((0, param.shape[0] if param.dim() else 1))
                continue
            end = rows[1] if rows[1] is not None else param.shape[0]
            if param.dim() == 0 or end > param.shape[0]:
                raise UserError(
                    f"unfrozen_parameters: {raw!r}: {name} has {param.shape[0] if param.dim() else 0} rows"
                )
            trained.append((rows[0], end))
    if cfg.weight_decay and any(n in out.params and not _whole(out.params[n], p) for n, p in named):
        raise UserError(
            "unfrozen_parameters: a row range keeps the other rows only by zeroing their gradients, and "
            "weight_decay would still shrink them; set weight_decay: 0 or train whole parameters"
        )
    owners = {n.rsplit(".", 1)[0] for n in out.params}
    out.modules = [n for n, _ in model.named_modules(remove_duplicate=False) if n in owners]
    return out


def _whole(rows: list[tuple[int, int]], param: Any) -> bool:
    size = param.shape[0] if param.dim() else 1
    covered = sorted(rows)
    reach = 0
    for start, end in covered:
        if start > reach:
            return False
        reach = max(reach, end)
    return reach >= size


def train_unfrozen(model: Any, unfrozen: Unfrozen, cfg: TrainConfig, *, say: Say = print) -> None:
    """Make the matched parameters (and only they, only their rows) trainable in peft's module copies."""
    if not unfrozen.params:
        return
    from peft.tuners.tuners_utils import BaseTunerLayer, check_target_module_exists
    from peft.utils import ModulesToSaveWrapper

    base = model.get_base_model()
    config = model.peft_config["default"]
    probe = copy.copy(config)  # the LoRA targets as they would be without modules_to_save
    probe.modules_to_save = None
    saved = set(cfg.lora_modules_to_save or [])
    count = 0
    for module_name in unfrozen.modules:
        wrapper = base.get_submodule(module_name)
        if not isinstance(wrapper, ModulesToSaveWrapper):
            raise UserError(
                f"unfrozen_parameters: {module_name} is not among the modules saved with the adapter in "
                f"lora_model_dir; peft cannot add one to a saved adapter, so start a fresh adapter"
                if cfg.lora_model_dir
                else f"unfrozen_parameters: peft did not make {module_name} trainable"
            )
        original = wrapper.original_module
        for sub, mod in original.named_modules():
            key = f"{module_name}.{sub}" if sub else module_name
            if isinstance(mod, BaseTunerLayer) or (
                not cfg.lora_model_dir
                and (probe.target_modules is not None)
                and check_target_module_exists(probe, key)
            ):
                raise UserError(
                    f"unfrozen_parameters: {key} is also adapted by LoRA; a weight is trained either through LoRA "
                    "or in full: leave it out of unfrozen_parameters or out of the LoRA targets"
                )
        for pname, _ in original.named_parameters():
            full = f"{module_name}.{pname}"
            if any(full == t or full.endswith(f".{t}") for t in (config.target_parameters or [])):
                raise UserError(
                    f"unfrozen_parameters: {full} is also adapted by LoRA (lora_target_parameters); train it one way"
                )
        if any(module_name == m or module_name.endswith(f".{m}") for m in saved):
            continue  # lora_modules_to_save trains the whole module already
        trained = wrapper.modules_to_save["default"]
        for pname, param in trained.named_parameters():
            rows = unfrozen.params.get(f"{module_name}.{pname}")
            param.requires_grad_(bool(rows))
            if rows and not _whole(rows, param):
                param.register_hook(_row_mask_hook(rows, param.shape[0]))
            count += param.numel() if rows else 0
    expected = set(unfrozen.modules)
    extra = sorted(
        n
        for n, mod in base.named_modules()
        if isinstance(mod, ModulesToSaveWrapper)
        and n not in expected
        and not any(n == m or n.endswith(f".{m}") for m in saved)
    )
    if extra:
        raise UserError(
            f"unfrozen_parameters: peft also wrapped {extra[0]} (it matches module names by their ending); "
            "make the pattern name fewer parameters"
        )
    say(
        f"unfrozen: {len(unfrozen.params)} base parameter(s) in {len(unfrozen.modules)} module(s) trained in full "
        f"({count:,} weights, a trainable copy each), saved with the adapter"
    )


def _row_mask_hook(rows: list[tuple[int, int]], size: int) -> Callable[[Any], Any]:
    """A gradient hook that keeps the gradient of the trained rows only (Axolotl's row ranges)."""
    import torch

    keep = torch.zeros(size, dtype=torch.bool)
    for start, end in rows:
        keep[start:end] = True

    def hook(grad: Any) -> Any:
        mask = keep.to(grad.device).view(-1, *([1] * (grad.dim() - 1)))
        return grad * mask.to(grad.dtype)

    return hook


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
    if cfg.use_kernels is not None:  # transformers' hub kernels; unset keeps transformers' default
        kwargs["use_kernels"] = bool(cfg.use_kernels)
    try:
        return AutoModelForCausalLM.from_pretrained(cfg.base_model, **kwargs)
    except UserError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise _remote_code_error("base_model", cfg.base_model, exc) or UserError(
            f"base_model: {cfg.base_model}: cannot load the model ({first_line(exc)})"
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
    _apply_kernels(cfg, model, say)
    fit_embeddings(model, tokenizer)
    train_new_embeddings(cfg, model, tokenizer, say=say)
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

    unfrozen = match_unfrozen(cfg, model)
    adapter_dir = cfg.lora_model_dir
    if adapter_dir:
        if not (Path(adapter_dir) / "adapter_config.json").is_file():
            raise UserError(
                f"lora_model_dir: {adapter_dir}: no adapter_config.json there (a saved peft adapter)"
            )
        _check_saved_init(adapter_dir)
        model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)
        say(f"adapter: resumed from {adapter_dir}")
    else:
        targets = lora_targets(cfg, model)
        init = init_lora_weights(cfg)
        modules_to_save = list(dict.fromkeys([*(cfg.lora_modules_to_save or []), *unfrozen.modules]))
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
            modules_to_save=modules_to_save or None,
            init_lora_weights=init,  # type: ignore[arg-type]  # one of peft's names (the schema's Literal)
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
        except (ValueError, TypeError) as exc:  # e.g. target modules not found in the model
            about_init = isinstance(init, str) and "init" in str(exc).lower()
            key = "peft_init_lora_weights" if about_init else "lora_target_modules"
            raise UserError(f"{key}: {first_line(exc)}") from exc
        if init in REWRITES_BASE:
            from peft.utils import get_peft_model_state_dict

            initial = get_peft_model_state_dict(model)
            setattr(model, INITIAL_ADAPTER, {k: v.detach().to("cpu", copy=True) for k, v in initial.items()})
        shown = (
            targets
            if isinstance(targets, str)
            else ", ".join(targets)
            if targets
            else "peft's default for this model"
        )
        say(
            f"adapter: LoRA r={cfg.lora_r} alpha={cfg.lora_alpha} on {shown}{_init_text(init, int(cfg.lora_r))}"
        )
    if cfg.loraplus_lr_ratio:
        say(
            f"LoRA+: lora_B learns at {cfg.loraplus_lr_ratio:g} x learning_rate, LoRA on embeddings at "
            f"{cfg.loraplus_lr_embedding or 1e-6:g}"
        )
    train_unfrozen(model, unfrozen, cfg, say=say)
    trainable, total = _count_params(model)
    say(f"parameters: {trainable:,} trainable of {total:,} ({trainable / max(total, 1):.2%})")
    return model


def _apply_kernels(cfg: TrainConfig, model: Any, say: Say) -> None:
    """Liger's kernels where the config asks for them and the model trains on a CUDA GPU."""
    import torch

    from loradoc.train.model.kernels import apply_liger

    apply_liger(cfg, model, cuda=torch.cuda.is_available(), say=say)


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
