"""The tokenized-data cache under ``dataset_prepared_path``.

Layout: ``<root>/<key>/`` holds ``train/`` (and ``eval/``), saved with
``datasets.Dataset.save_to_disk``, and ``meta.json`` (the key's inputs and the
split statistics). An entry is written into a temporary folder next to it and
renamed into place, so a crash never leaves an entry that looks complete.

The key is a hash of everything that decides the tokens: the dataset entries,
the local files' sizes and modification times (hub datasets: name, split,
revision), the tokenizer (its serialized vocabulary and special tokens), the
rendered prompt formats and chat template, ``sequence_len``, ``train_on_inputs``,
the excess-length strategy, ``val_set_size`` and ``seed``.

Default root when ``dataset_prepared_path`` is unset: ``prepared/`` next to
``output_dir`` (``outputs/lora-out`` -> ``outputs/prepared``).

A preparation that fails leaves no lock files behind (``datasets`` and ``filelock``
leave their ``*.lock`` files and empty cache folders when a load raises):
:func:`tidy_on_failure` removes the ones created during the failed preparation, and
the root itself when it was created then and is empty.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CACHE_VERSION = 1


def default_root(output_dir: str | Path) -> Path:
    return Path(output_dir).expanduser().resolve().parent / "prepared"


def tokenizer_identity(tokenizer: Any) -> dict[str, Any]:
    """What identifies a tokenizer's output, without its local path."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    # a fast tokenizer's whole serialized pipeline; a slow tokenizer's vocabulary
    body = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    out = {
        "class": type(tokenizer).__name__,
        "body": hashlib.sha256(body.encode("utf-8")).hexdigest(),
        "bos": tokenizer.bos_token_id,
        "eos": tokenizer.eos_token_id,
        "len": len(tokenizer),
    }
    # mistral-common: its instruct version (v3, v7, ...) decides how conversations are encoded
    instruct = getattr(getattr(tokenizer, "tokenizer", None), "instruct_tokenizer", None)
    if instruct is not None:
        out["instruct"] = type(instruct).__name__
    return out


def cache_key(parts: dict[str, Any]) -> str:
    blob = json.dumps({"version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def entry_dir(root: Path, key: str) -> Path:
    return root / key


def is_complete(entry: Path) -> bool:
    return (entry / "meta.json").is_file()


def load_entry(entry: Path) -> tuple[Any, Any, dict[str, Any]]:
    """(train, eval or None, meta) from a complete entry."""
    import datasets

    meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    train = datasets.load_from_disk(str(entry / "train"))
    eval_ds = datasets.load_from_disk(str(entry / "eval")) if (entry / "eval").is_dir() else None
    return train, eval_ds, meta


def save_entry(entry: Path, train: Any, eval_ds: Any, meta: dict[str, Any]) -> None:
    """Write an entry atomically (temp folder, then rename); a concurrent writer's entry wins."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.parent / f".tmp-{entry.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        train.save_to_disk(str(tmp / "train"))
        if eval_ds is not None:
            eval_ds.save_to_disk(str(tmp / "eval"))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        if entry.exists():  # an incomplete leftover (no meta.json) or another writer's entry
            if is_complete(entry):
                shutil.rmtree(tmp)
                return
            shutil.rmtree(entry)
        os.replace(tmp, entry)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _paths(root: Path) -> set[Path]:
    return set(root.rglob("*")) if root.is_dir() else set()


@contextmanager
def tidy_on_failure(root: Path) -> Iterator[None]:
    """On an exception inside: remove the ``*.lock`` files and the now-empty folders created
    under ``root`` meanwhile (and ``root`` when it was created meanwhile and is left empty).

    Data files another run wrote meanwhile are never touched: only lock files and empty folders.
    """
    existed = root.exists()
    before = _paths(root)
    try:
        yield
    except BaseException:
        new = sorted(_paths(root) - before, key=lambda p: len(p.parts), reverse=True)
        for path in new:
            try:
                if path.name.endswith(".lock") and path.is_file():
                    path.unlink()
            except OSError:
                pass
        for path in [*new, *([] if existed else [root])]:
            try:
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()  # only an empty folder
            except OSError:
                pass
        raise
