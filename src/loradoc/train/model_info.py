"""What the base model is, read from its ``config.json`` before any weights are touched.

The config is read from the local folder (``base_model`` or ``base_model_config``), from the
Hugging Face cache, or for popular hub models from loradoc's table of their shapes
(``compat/models.toml``, each copied from the hub's config.json); never from the network. When it can be read, models loradoc cannot train (vision-language,
audio and other models that are not causal language models) are refused at once with one line;
when it cannot, the plan says the model was not checked: a dry run never calls a model "valid"
that it has not looked at.

Light module: json and the hub's cache lookup only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loradoc.config.schema import TrainConfig

# Sub-configs that mark a multimodal model (transformers' config classes for VLMs and speech models).
_MULTIMODAL_KEYS = ("vision_config", "audio_config", "speech_config", "vision_tower", "mm_vision_tower")
_MAX_CONFIG_BYTES = 4 << 20  # a config.json is kilobytes; anything larger is not one


@dataclass(frozen=True)
class ModelInfo:
    where: str | None  # "local folder", "Hugging Face cache"; None when not read
    config: dict[str, Any] = field(default_factory=dict)
    why_unread: str | None = None

    @property
    def checked(self) -> bool:
        return self.where is not None

    @property
    def architectures(self) -> list[str]:
        value = self.config.get("architectures")
        return [a for a in value if isinstance(a, str)] if isinstance(value, list) else []

    def summary(self) -> str:
        """One phrase for the plan: what was read and what it says, or why nothing was."""
        if not self.checked:
            return f"config.json not read: {self.why_unread}"
        arch = ", ".join(self.architectures) or self.config.get("model_type") or "unknown architecture"
        return f"config.json read from the {self.where}: {arch}"

    def refusal(self) -> str | None:
        """Why loradoc cannot train this model, or None."""
        if not self.checked:
            return None
        multimodal = [k for k in _MULTIMODAL_KEYS if self.config.get(k)]
        archs = self.architectures
        if multimodal:
            kind = "audio" if any("audio" in k or "speech" in k for k in multimodal) else "vision-language"
            return (
                f"a {kind} model ({', '.join(archs) or self.config.get('model_type')}, config.json has "
                f"{', '.join(multimodal)}); loradoc trains text-only causal language models"
            )
        if archs and not any(a.endswith("ForCausalLM") or a.endswith("LMHeadModel") for a in archs):
            return (
                f"{', '.join(archs)} is not a causal language model; loradoc trains models that load with "
                "AutoModelForCausalLM"
            )
        return None


def read_model_info(cfg: TrainConfig) -> ModelInfo:
    """The base model's config.json, from a local folder or the hub cache; never from the network."""
    source = cfg.base_model_config or cfg.base_model
    local = Path(source).expanduser()
    if local.is_dir():
        return _read(local / "config.json", "local folder")
    if local.is_file() and local.name.endswith(".json"):
        return _read(local, "local folder")
    if source.startswith(("/", "./", "../", "~")):
        return ModelInfo(None, why_unread=f"{source} does not exist")
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # the train extra is not installed: planning still works
        return ModelInfo(None, why_unread="huggingface_hub is not installed")
    try:
        cached = try_to_load_from_cache(source, "config.json", revision=cfg.revision_of_model)
    except Exception:  # noqa: BLE001 - an id the hub library rejects is simply not cached
        cached = None
    if isinstance(cached, str):
        return _read(Path(cached), "Hugging Face cache")
    from loradoc.compat.models import known_model

    known = known_model(source) if not cfg.base_model_config else None
    if known is not None:
        return ModelInfo(f"table of known models ({known.source})", dict(known.config))
    return ModelInfo(
        None, why_unread="not a local folder and not in the Hugging Face cache (planning stays offline)"
    )


def _read(path: Path, where: str) -> ModelInfo:
    try:
        if path.stat().st_size > _MAX_CONFIG_BYTES:
            return ModelInfo(None, why_unread=f"{path} is too large to be a config.json")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ModelInfo(None, why_unread=f"{path.parent} has no config.json")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return ModelInfo(None, why_unread=f"{path} could not be read ({type(exc).__name__})")
    if not isinstance(data, dict):
        return ModelInfo(None, why_unread=f"{path} is not a JSON object")
    return ModelInfo(where, data)
