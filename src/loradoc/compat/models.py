"""The decoder shapes of popular base models (``compat/models.toml``), for planning a run whose
model is neither a local folder nor in the Hugging Face cache: the dry run estimates memory and
time from them instead of saying nothing. Each entry names the hub config.json it was copied from.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from loradoc.compat.load import Table, _packaged_text, _read_toml
from loradoc.errors import MatrixError

ORIGIN = "compat/models.toml"


@dataclass(frozen=True)
class KnownModel:
    ids: tuple[str, ...]
    source: str
    config: dict[str, Any]


@functools.lru_cache(maxsize=1)
def known_models() -> dict[str, KnownModel]:
    """Hub id -> its shape (ids matched exactly; case as on the hub)."""
    data = _read_toml(_packaged_text("models.toml"), ORIGIN)
    if data.get("schema_version") != 1:
        raise MatrixError(f"{ORIGIN}: schema_version must be 1")
    out: dict[str, KnownModel] = {}
    for i, raw in enumerate(data.get("model", [])):
        t = Table(ORIGIN, f"model[{i}]", raw)
        ids = t.data.get("ids")
        config = t.data.get("config")
        if not isinstance(ids, list) or not ids or not all(isinstance(x, str) for x in ids):
            t.fail("'ids' should be a non-empty list of hub ids")
        if not isinstance(config, dict) or "hidden_size" not in config:
            t.fail("'config' should be a table with the config.json keys (hidden_size, ...)")
        model = KnownModel(tuple(ids), t.text("source"), dict(config))
        for model_id in ids:
            if model_id in out:
                t.fail(f"{model_id!r} is listed twice")
            out[model_id] = model
    return out


def known_model(model_id: str) -> KnownModel | None:
    return known_models().get(model_id)
