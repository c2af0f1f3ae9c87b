"""Datasets -> prompt format -> tokens + labels, filtered, split, cached.

``prepare_data(cfg, tokenizer)`` returns the train (and eval) ``datasets.Dataset``
with columns ``input_ids``, ``labels`` (-100 on every untrained token, and on each
example's first token), ``length``; and the counts of what was kept, truncated
and dropped. Labels come from the rendered text's trained character spans mapped
through the tokenizer's offsets (see ``prompts``); an EOS token is appended to
every example (trained when the example's last part is trained).

Splits: ``test_datasets`` is the eval set when given; else ``val_set_size``
(a fraction < 1, or a count) of the training rows, chosen by ``seed``, before
any row is filtered (so the split does not move when ``sequence_len`` changes).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradoc.errors import UserError
from loradoc.train.data import cache as data_cache
from loradoc.train.data.mistral_tokens import is_mistral_common, mistral_format_for
from loradoc.train.data.prompts import (
    IGNORE,
    PromptFormat,
    Rendered,
    RowProblem,
    TokenFormat,
    format_for,
    resolve_chat_template,
)
from loradoc.train.data.read import Source, load_source, sources_for

if TYPE_CHECKING:
    from loradoc.config.schema import DatasetSpec, TrainConfig

OK, TRUNCATED, TOO_LONG, UNSUPERVISED = 0, 1, 2, 3
EXCESS_STRATEGIES = ("drop", "truncate", "raise")

Say = Callable[[str], None]


@dataclass
class SplitStats:
    rows: int = 0
    kept: int = 0
    truncated: int = 0
    dropped_too_long: int = 0
    dropped_unsupervised: int = 0
    input_tokens: int = 0
    supervised_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SplitStats:
        return cls(**{f.name: int(data.get(f.name, 0)) for f in fields(cls)})

    def line(self, name: str) -> str:
        parts = [f"{name}: {self.kept:,} of {self.rows:,} examples"]
        if self.truncated:
            parts.append(f"{self.truncated:,} truncated")
        if self.dropped_too_long:
            parts.append(f"{self.dropped_too_long:,} dropped as longer than sequence_len")
        if self.dropped_unsupervised:
            parts.append(f"{self.dropped_unsupervised:,} dropped with no trained tokens")
        parts.append(f"{self.input_tokens:,} tokens, {self.supervised_tokens:,} trained")
        return ", ".join(parts)


@dataclass
class PreparedData:
    train: Any
    eval: Any | None
    train_stats: SplitStats
    eval_stats: SplitStats | None
    path: Path
    key: str
    reused: bool


# --- encoding -----------------------------------------------------------------------------


def encode_rendered(
    rendered: Rendered, enc_ids: Sequence[int], offsets: Sequence[Sequence[int]], eos_id: int | None
) -> tuple[list[int], list[int]]:
    """Token ids + labels for one rendered example from its tokenization with offsets."""
    ids = list(enc_ids)
    labels = [IGNORE] * len(ids)
    spans = rendered.spans
    for t, (start, end) in enumerate(offsets):
        if end <= start:
            continue  # special tokens the tokenizer added (BOS) carry no characters
        for a, b in spans:
            if start < b and end > a:
                labels[t] = ids[t]
                break
    if eos_id is not None:
        if not ids or ids[-1] != eos_id:
            ids.append(eos_id)
            labels.append(IGNORE)
        if rendered.train_eos and spans:
            labels[-1] = eos_id
    if labels:
        labels[0] = IGNORE  # nothing predicts an example's first token (packing relies on it)
    return ids, labels


def _each_row(
    rows: list[tuple[int, dict[str, Any]]], encode: Callable[[dict[str, Any]], Any], label: str
) -> list[Any]:
    """``encode`` applied to each row; a :class:`RowProblem` becomes one line naming the file and row."""
    out = []
    for idx, row in rows:
        try:
            out.append(encode(row))
        except RowProblem as exc:
            raise UserError(f"{label}: row {idx + 1}: {exc}") from None
    return out


def _encode_texts(
    fmt: PromptFormat,
    rows: list[tuple[int, dict[str, Any]]],
    tokenizer: Any,
    *,
    train_on_inputs: bool,
    label: str,
) -> list[tuple[list[int], list[int]]]:
    """Rows rendered as text, tokenized in one call with offsets, labelled from their spans."""
    rendered: list[Rendered] = _each_row(
        rows, lambda row: fmt.render(row, train_on_inputs=train_on_inputs), label
    )
    if not rendered:
        return []
    enc = tokenizer(
        [r.text for r in rendered],
        add_special_tokens=rendered[0].add_special_tokens,
        return_offsets_mapping=True,
    )
    return [
        encode_rendered(r, enc["input_ids"][j], enc["offset_mapping"][j], tokenizer.eos_token_id)
        for j, r in enumerate(rendered)
    ]


def _encode_batch(
    batch: dict[str, list[Any]],
    indices: list[int],
    *,
    fmt: PromptFormat,
    tokenizer: Any,
    train_on_inputs: bool,
    sequence_len: int,
    strategy: str,
    label: str,
) -> dict[str, list[Any]]:
    columns = {k: batch[k] for k in batch}
    rows = [(idx, {k: col[j] for k, col in columns.items()}) for j, idx in enumerate(indices)]
    out: dict[str, list[Any]] = {"input_ids": [], "labels": [], "length": [], "_status": [], "_trained": []}
    if isinstance(fmt, TokenFormat):  # a tokenizer without offsets (mistral-common)
        token_fmt = fmt
        encoded = _each_row(rows, lambda row: token_fmt.encode(row, train_on_inputs=train_on_inputs), label)
    else:
        encoded = _encode_texts(fmt, rows, tokenizer, train_on_inputs=train_on_inputs, label=label)
    for j, (ids, labels) in enumerate(encoded):
        status = OK
        if len(ids) > sequence_len:
            if strategy == "raise":
                raise UserError(
                    f"{label}: row {indices[j] + 1}: {len(ids)} tokens, more than sequence_len {sequence_len} "
                    "(excess_length_strategy: raise); raise sequence_len or use drop/truncate"
                )
            if strategy == "truncate":
                ids, labels, status = ids[:sequence_len], labels[:sequence_len], TRUNCATED
            else:
                ids, labels, status = [], [], TOO_LONG
        trained = sum(1 for x in labels if x != IGNORE)
        if status != TOO_LONG and trained == 0:
            status = UNSUPERVISED
        out["input_ids"].append(ids)
        out["labels"].append(labels)
        out["length"].append(len(ids))
        out["_status"].append(status)
        out["_trained"].append(trained)
    return out


def encode_source(
    source: Source,
    fmt: PromptFormat,
    tokenizer: Any,
    *,
    train_on_inputs: bool,
    sequence_len: int,
    strategy: str,
    cache_dir: Path | None,
) -> Any:
    """Load and encode one source; rows keep their status (filtered later)."""
    raw = load_source(source, cache_dir=cache_dir)
    if len(raw) == 0:
        raise UserError(f"{source.label}: no rows")
    if not isinstance(fmt, TokenFormat) and not getattr(tokenizer, "is_fast", False):
        raise UserError(
            f"the tokenizer ({type(tokenizer).__name__}) is not a fast tokenizer, which loradoc needs to "
            "mask prompts; install `tokenizers` or point base_model/tokenizer at one with tokenizer.json"
        )
    return raw.map(
        _encode_batch,
        batched=True,
        batch_size=256,
        with_indices=True,
        remove_columns=raw.column_names,
        keep_in_memory=True,
        load_from_cache_file=False,
        desc=f"tokenizing {Path(source.label).name}",
        fn_kwargs={
            "fmt": fmt,
            "tokenizer": tokenizer,
            "train_on_inputs": train_on_inputs,
            "sequence_len": sequence_len,
            "strategy": strategy,
            "label": source.label,
        },
    )


# --- splitting and filtering --------------------------------------------------------------


def split_indices(
    n: int, val_set_size: float, seed: int, *, where: str = "val_set_size"
) -> tuple[list[int], list[int]]:
    """(train rows, eval rows): ``val_set_size`` < 1 is a fraction (rounded up), else a count."""
    if val_set_size <= 0:
        return list(range(n)), []
    import numpy as np

    n_eval = math.ceil(val_set_size * n) if val_set_size < 1 else int(val_set_size)
    if n_eval < 1 or n_eval >= n:
        raise UserError(
            f"{where}: {val_set_size:g} of {n:,} rows leaves {n - n_eval:,} for training and {n_eval:,} "
            "for eval; both need at least one (change val_set_size or add data)"
        )
    perm = np.random.default_rng(seed).permutation(n)
    return sorted(int(i) for i in perm[n_eval:]), sorted(int(i) for i in perm[:n_eval])


def finish_split(ds: Any, name: str) -> tuple[Any, SplitStats]:
    """Drop filtered rows, count, and remove the bookkeeping columns."""
    import numpy as np

    status = np.asarray(ds["_status"], dtype=np.int64)
    lengths = np.asarray(ds["length"], dtype=np.int64)
    trained = np.asarray(ds["_trained"], dtype=np.int64)
    keep = (status == OK) | (status == TRUNCATED)
    stats = SplitStats(
        rows=len(status),
        kept=int(keep.sum()),
        truncated=int((status == TRUNCATED).sum()),
        dropped_too_long=int((status == TOO_LONG).sum()),
        dropped_unsupervised=int((status == UNSUPERVISED).sum()),
        input_tokens=int(lengths[keep].sum()),
        supervised_tokens=int(trained[keep].sum()),
    )
    if stats.kept == 0:
        raise UserError(_empty_message(name, stats))
    if stats.kept < stats.rows:
        ds = ds.select(np.flatnonzero(keep).tolist(), keep_in_memory=True)
    return ds.remove_columns(["_status", "_trained"]), stats


def _empty_message(name: str, stats: SplitStats) -> str:
    reasons = []
    if stats.dropped_too_long:
        reasons.append(
            f"{stats.dropped_too_long:,} longer than sequence_len (raise sequence_len or set "
            "excess_length_strategy: truncate)"
        )
    if stats.dropped_unsupervised:
        reasons.append(
            f"{stats.dropped_unsupervised:,} with no trained tokens (check train_on_inputs and the fields)"
        )
    why = "; ".join(reasons) or "no rows"
    return f"the {name} split is empty: all {stats.rows:,} examples were dropped: {why}"


# --- the whole preparation ----------------------------------------------------------------


def excess_strategy(cfg: TrainConfig) -> str:
    strategy = str(cfg.excess_length_strategy)
    if strategy not in EXCESS_STRATEGIES:
        raise UserError(f"excess_length_strategy: '{strategy}' is not one of {', '.join(EXCESS_STRATEGIES)}")
    return strategy


def prepared_root(cfg: TrainConfig) -> Path:
    given = cfg.dataset_prepared_path
    return Path(given).expanduser() if given else data_cache.default_root(cfg.output_dir)


def _plan(
    cfg: TrainConfig, tokenizer: Any, say: Say
) -> tuple[list[tuple[Source, PromptFormat]], list[tuple[Source, PromptFormat]], dict[str, Any]]:
    templates: dict[tuple[Any, Any], str] = {}

    def template_for(spec: DatasetSpec) -> Callable[[], str]:
        # a dataset's own chat_template / chat_template_jinja override the top-level ones
        name = spec.chat_template or cfg.chat_template
        jinja = spec.chat_template_jinja or cfg.chat_template_jinja

        def resolve() -> str:
            if (name, jinja) not in templates:
                templates[(name, jinja)] = resolve_chat_template(name, tokenizer, jinja=jinja, say=say)
            return templates[(name, jinja)]

        return resolve

    def plan_list(key: str, specs: list[DatasetSpec] | None) -> list[tuple[Source, PromptFormat]]:
        out: list[tuple[Source, PromptFormat]] = []
        for i, spec in enumerate(specs or []):
            where = f"{key}[{i}]"
            if is_mistral_common(tokenizer):
                fmt = mistral_format_for(spec, where=where, tokenizer=tokenizer)
            else:
                fmt = format_for(
                    spec,
                    where=where,
                    tokenizer=tokenizer,
                    chat_template=template_for(spec),
                    eot_tokens=cfg.eot_tokens,
                    say=say,
                )
            out.extend((src, fmt) for src in sources_for(spec, where=where))
        return out

    train_plan = plan_list("datasets", cfg.datasets)
    if not train_plan:
        raise UserError("datasets: no training data configured (add at least one entry with path and type)")
    test_plan = plan_list("test_datasets", cfg.test_datasets)
    key_parts = {
        "train": [[s.identity(), f.identity()] for s, f in train_plan],
        "test": [[s.identity(), f.identity()] for s, f in test_plan],
        "specs": [s.to_dict() for s in cfg.datasets],
        "test_specs": [s.to_dict() for s in cfg.test_datasets or []],
        "val_set_size": 0 if test_plan else float(cfg.val_set_size or 0),
        "seed": int(cfg.seed),
        "sequence_len": int(cfg.sequence_len),
        "train_on_inputs": bool(cfg.train_on_inputs),
        "excess_length_strategy": excess_strategy(cfg),
        "tokenizer": data_cache.tokenizer_identity(tokenizer),
    }
    return train_plan, test_plan, key_parts


def _reuse(entry: Path, key: str, say: Say) -> PreparedData | None:
    """The cached entry, read through once; None (and the entry removed) when it is damaged, so the
    data is prepared again instead of a crash (a truncated file after a kill or a full disk)."""
    try:
        train, eval_ds, meta = data_cache.load_entry(entry)
        train_stats = SplitStats.from_dict(meta["train_stats"])
        eval_stats = SplitStats.from_dict(meta["eval_stats"]) if meta.get("eval_stats") else None
        for split in (train, eval_ds):
            if split is not None:
                split.with_format(None).data.validate(full=True)  # every column read once
    except (OSError, ValueError, KeyError, TypeError) as exc:
        say(f"data: the prepared data in {entry} is damaged ({type(exc).__name__}); preparing it again")
        shutil.rmtree(entry, ignore_errors=True)
        return None
    say(f"data: reused the prepared data in {entry} (same data, tokenizer and settings)")
    return PreparedData(train, eval_ds, train_stats, eval_stats, entry, key, reused=True)


def prepare_data(cfg: TrainConfig, tokenizer: Any, *, say: Say = print) -> PreparedData:
    """Tokenized train/eval splits for ``cfg``, from the cache when its key is unchanged."""
    train_plan, test_plan, key_parts = _plan(cfg, tokenizer, say)
    root = prepared_root(cfg)
    key = data_cache.cache_key(key_parts)
    entry = data_cache.entry_dir(root, key)
    if data_cache.is_complete(entry):
        reused = _reuse(entry, key, say)
        if reused is not None:
            check_batch_fits(cfg, reused.train["length"])
            return reused

    import datasets

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        with data_cache.tidy_on_failure(root):
            _check_root_writable(cfg, root)
            data = _prepare_fresh(cfg, tokenizer, train_plan, test_plan, key_parts, entry, say)
    finally:
        if bars:
            datasets.enable_progress_bars()
    check_batch_fits(cfg, data.train["length"])
    return data


def check_batch_fits(cfg: TrainConfig, lengths: Sequence[int]) -> None:
    """A micro-batch on every process must fit in the train split: else a UserError with the numbers.

    The rows are the packed rows (bins of ``sequence_len`` tokens) with ``sample_packing``, else
    the examples. Fewer rows than ``micro_batch_size`` x processes would run every step with
    smaller (or repeated) batches than the config asks for.
    """
    micro, world = int(cfg.micro_batch_size), cfg.world_size()
    needed = micro * world
    examples = len(lengths)
    if examples >= needed and not cfg.sample_packing:
        return
    procs = f"{world} process{'es' if world > 1 else ''}"
    if cfg.sample_packing:
        from loradoc.train.packing.bins import pack_lengths

        rows = pack_lengths(lengths, int(cfg.sequence_len)).num_bins if examples else 0
        if rows >= needed:
            return
        have = (
            f"the train split packs into {rows:,} row(s) of sequence_len {int(cfg.sequence_len)} "
            f"({examples:,} examples)"
        )
        also = ", set sample_packing: false" if examples >= needed else ""
    else:
        rows = examples
        have = f"the train split has {rows:,} example(s)"
        also = ""
    fit = max(1, rows // world)
    raise UserError(
        f"micro_batch_size {micro} x {procs} = {needed} rows per forward pass, but {have}; set micro_batch_size "
        f"to {fit} or less{also}, or add data"
    )


def _check_root_writable(cfg: TrainConfig, root: Path) -> None:
    """The prepared-data folder can be created and written, else a UserError naming the key to change."""
    import tempfile

    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        if cfg.dataset_prepared_path:
            raise UserError(
                f"dataset_prepared_path: {cfg.dataset_prepared_path} cannot be created or written ({root}: "
                f"{why}); choose a folder you can write to"
            ) from None
        raise UserError(
            f"output_dir: {cfg.output_dir} cannot be created or written: the prepared data goes next to it, "
            f"in {root} ({why}); choose another output_dir, or set dataset_prepared_path"
        ) from None


def _prepare_fresh(
    cfg: TrainConfig,
    tokenizer: Any,
    train_plan: list[tuple[Source, PromptFormat]],
    test_plan: list[tuple[Source, PromptFormat]],
    key_parts: dict[str, Any],
    entry: Path,
    say: Say,
) -> PreparedData:
    import datasets

    root, key = entry.parent, entry.name
    if test_plan and key_parts["val_set_size"] == 0 and float(cfg.val_set_size or 0) > 0:
        cfg.note_change("val_set_size", 0, "test_datasets is set and is the eval split")
        say("data: test_datasets is the eval split; val_set_size is not used")
    opts = {
        "train_on_inputs": key_parts["train_on_inputs"],
        "sequence_len": key_parts["sequence_len"],
        "strategy": key_parts["excess_length_strategy"],
        "cache_dir": root / "hf-datasets-cache",
    }
    encoded = [encode_source(s, f, tokenizer, **opts) for s, f in train_plan]
    full = datasets.concatenate_datasets(encoded) if len(encoded) > 1 else encoded[0]
    if test_plan:
        tests = [encode_source(s, f, tokenizer, **opts) for s, f in test_plan]
        eval_raw = datasets.concatenate_datasets(tests) if len(tests) > 1 else tests[0]
        train_raw = full
    else:
        train_idx, eval_idx = split_indices(len(full), key_parts["val_set_size"], key_parts["seed"])
        train_raw = full.select(train_idx, keep_in_memory=True) if eval_idx else full
        eval_raw = full.select(eval_idx, keep_in_memory=True) if eval_idx else None
    train, train_stats = finish_split(train_raw, "train")
    eval_ds, eval_stats = finish_split(eval_raw, "eval") if eval_raw is not None else (None, None)
    meta = {
        "key": key,
        "inputs": key_parts,
        "train_stats": train_stats.to_dict(),
        "eval_stats": eval_stats.to_dict() if eval_stats else None,
    }
    data_cache.save_entry(entry, train, eval_ds, meta)
    train, eval_ds, _ = data_cache.load_entry(entry)  # memory-mapped from the cache from here on
    say(f"data: tokenized and saved to {entry}")
    return PreparedData(train, eval_ds, train_stats, eval_stats, entry, key, reused=False)
