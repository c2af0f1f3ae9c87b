"""Decide once, quickly, whether a run can reach the Hugging Face hub.

Without a network, huggingface_hub retries every request (about a minute of "Retrying in 8s"
lines) before the one error a user needs. When a run names hub ids (a model, a tokenizer, a
dataset that is not a local path), the hub endpoint is asked once with a 3 s timeout; if it does
not answer, ``HF_HUB_OFFLINE=1`` and ``HF_DATASETS_OFFLINE=1`` are set for this run (and the
processes it launches) before any Hugging Face library is imported, and one line says so: what
is in the local cache still loads, and what is not fails at once with loradoc's own line.

Light module: urllib only (``loradoc.netcheck``).
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable
from pathlib import Path

from loradoc.config.schema import TrainConfig
from loradoc.netcheck import unreachable

DEFAULT_ENDPOINT = "https://huggingface.co"
CHECK_TIMEOUT_S = 3.0
_TRUE = ("1", "true", "yes", "on")


def hub_ids(cfg: TrainConfig) -> list[str]:
    """What the run would fetch from the hub: the ids among the model, tokenizer and dataset paths."""
    names = [cfg.base_model, cfg.base_model_config, cfg.tokenizer_config]
    names += [d.path for d in [*cfg.datasets, *(cfg.test_datasets or [])]]
    return list(dict.fromkeys(n for n in names if n and not _local(n)))


def _local(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().exists()


def hub_unreachable(endpoint: str, timeout: float = CHECK_TIMEOUT_S) -> str | None:
    """None when ``endpoint`` answers an HTTP request within ``timeout`` seconds, else why not."""
    request = urllib.request.Request(endpoint.rstrip("/") + "/api/whoami-v2", method="HEAD")
    return unreachable(request, timeout)  # any status is an answer (401 without a token too)


def settle_hub(cfg: TrainConfig, *, say: Callable[[str], None], timeout: float = CHECK_TIMEOUT_S) -> bool:
    """Go offline for this run when it needs the hub and the hub does not answer; returns whether
    it did. Nothing is asked when ``HF_HUB_OFFLINE`` is already set or nothing comes from the hub."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return False
    ids = hub_ids(cfg)
    if not ids:
        return False
    endpoint = os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    why = hub_unreachable(endpoint, timeout)
    if why is None:
        return False
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    say(
        f"note: the Hugging Face hub ({endpoint}) cannot be reached ({why}): running offline "
        f"(HF_HUB_OFFLINE=1), so {shown} must come from the local cache"
    )
    return True
