"""Loading raw rows for one ``datasets[]`` entry: local files/folders or the Hugging Face Hub.

Local files load through ``datasets`` one file at a time, so a row number in an
error is the row within that file. When ``datasets`` cannot read a local file,
:func:`diagnose_file` reads it directly to name the line and the problem
(not UTF-8, invalid JSON, a field whose type changes between rows, ...).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradoc.errors import UserError

if TYPE_CHECKING:
    from loradoc.config.schema import DatasetSpec

BUILDERS = {
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".txt": "text",
}
BUILDER_NAMES = {"json", "csv", "parquet", "arrow", "text"}


@dataclass(frozen=True)
class Source:
    """One loadable unit: a local file, a saved dataset folder, or a hub dataset."""

    label: str  # how errors name it: the path as written, or "owner/name [split]"
    kind: str  # "file", "saved", "hub"
    path: str
    builder: str | None = None
    name: str | None = None
    split: str | None = None
    data_files: Any = None
    revision: str | None = None

    def identity(self) -> dict[str, Any]:
        """What the data cache key records for this source (local: size + mtime)."""
        out: dict[str, Any] = {"kind": self.kind, "path": self.path, "split": self.split, "name": self.name}
        if self.kind == "hub":
            out.update(data_files=self.data_files, revision=self.revision)
            return out
        p = Path(self.path)
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
        out["files"] = [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
        return out


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        raise UserError("data_files as a mapping of splits is not supported; list the files of one split")
    return [str(v) for v in value]


def sources_for(spec: DatasetSpec, *, where: str) -> list[Source]:
    """The sources one ``datasets[]`` entry reads, without loading anything."""
    path = spec.path
    if not path or not isinstance(path, str):
        raise UserError(f"{where}.path is missing (a local file/folder or a hub dataset name)")
    split = spec.split
    name = spec.name
    ds_type = spec.ds_type
    data_files = _as_list(spec.data_files)
    local = Path(path).expanduser()

    if path in BUILDER_NAMES and data_files:
        return [_file_source(Path(f), where, split, builder=path) for f in data_files]
    if local.is_file():
        return [_file_source(local, where, split, builder=ds_type, label=path)]
    if local.is_dir():
        if (local / "state.json").exists() or (local / "dataset_dict.json").exists():
            return [Source(label=path, kind="saved", path=str(local), split=split)]
        files = [local / f for f in data_files] if data_files else _data_files_in(local)
        if not files:
            kinds = ", ".join(sorted(BUILDERS))
            raise UserError(f"{where}.path: {path}: the folder holds no data files ({kinds})")
        return [_file_source(f, where, split, builder=ds_type) for f in files]
    if path.startswith((".", "/", "~")) or Path(path).suffix in BUILDERS:
        raise UserError(f"{where}.path: {path}: no such file or folder")
    return [
        Source(
            label=f"{path}" + (f" ({name})" if name else "") + f" [{split or 'train'}]",
            kind="hub",
            path=path,
            name=name,
            split=split,
            data_files=data_files or None,
            revision=spec.revision,
        )
    ]


def _data_files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in BUILDERS)


def _file_source(
    path: Path, where: str, split: str | None, *, builder: str | None = None, label: str | None = None
) -> Source:
    if not path.is_file():
        raise UserError(f"{where}: {path}: no such file")
    kind = builder or BUILDERS.get(path.suffix.lower())
    if kind is None:
        raise UserError(
            f"{where}: {path}: unknown file type '{path.suffix}' (use .json, .jsonl, .csv, .parquet, "
            "or set ds_type)"
        )
    return Source(label=label or str(path), kind="file", path=str(path), builder=kind, split=split)


def load_source(source: Source, *, cache_dir: Path | None) -> Any:
    """Load one source as a ``datasets.Dataset`` (UserError naming the file on failure)."""
    import datasets

    if source.kind == "saved":
        loaded = datasets.load_from_disk(source.path)
        if isinstance(loaded, datasets.DatasetDict):
            key = source.split or "train"
            if key not in loaded:
                raise UserError(f"{source.label}: no split '{key}' (has: {', '.join(loaded)})")
            loaded = loaded[key]
        return loaded
    if source.kind == "hub":
        try:
            return datasets.load_dataset(
                source.path,
                name=source.name,
                split=source.split or "train",
                data_files=source.data_files,
                revision=source.revision,
            )
        except Exception as exc:  # network, auth, missing repo: one line
            raise UserError(
                f"{source.label}: cannot load from the Hugging Face Hub ({_first_line(exc)}); check the name "
                "and split, the network, and HF_TOKEN for gated datasets"
            ) from exc

    path = Path(source.path)
    if source.builder in ("json", "csv", "text"):
        problem = check_utf8(path)
        if problem:
            raise UserError(f"{source.label}: {problem}")
    if path.stat().st_size == 0 or (source.builder in ("json", "csv", "text") and not _has_content(path)):
        raise UserError(f"{source.label}: no rows (the file is empty)")
    try:
        ds = datasets.load_dataset(
            source.builder,
            data_files=str(path),
            split=source.split or "train",
            cache_dir=str(cache_dir) if cache_dir else None,
        )
    except Exception as exc:
        problem = diagnose_file(path, source.builder or "")
        raise UserError(f"{source.label}: {problem or 'cannot be read: ' + _first_line(exc)}") from exc
    return ds


def check_utf8(path: Path, chunk_size: int = 1 << 20) -> str | None:
    """Where ``path`` stops being UTF-8 (line and column), read in chunks; None if it is valid."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, line_start, offset = 1, 0, 0
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            final = not chunk
            try:
                decoder.decode(chunk, final=final)
            except UnicodeDecodeError as err:
                # err.start is relative to the decoder's buffered bytes + this chunk
                pending = len(err.object) - len(chunk)
                bad = offset - pending + err.start
                head = err.object[: err.start]
                line += head.count(b"\n")
                if b"\n" in head:
                    line_start = offset - pending + head.rfind(b"\n") + 1
                return (
                    f"line {line}: not valid UTF-8 (byte 0x{err.object[err.start]:02x} at column "
                    f"{bad - line_start + 1}); save the file as UTF-8"
                )
            if final:
                return None
            newlines = chunk.count(b"\n")
            if newlines:
                line += newlines
                line_start = offset + chunk.rfind(b"\n") + 1
            offset += len(chunk)


def _has_content(path: Path) -> bool:
    with path.open("rb") as fh:
        return any(chunk.strip() for chunk in iter(lambda: fh.read(1 << 16), b""))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def diagnose_file(path: Path, builder: str) -> str | None:
    """Find why a local data file cannot be read; ``None`` when nothing specific is found."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        return (
            f"line {line}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {column}); "
            "save the file as UTF-8"
        )
    if builder != "json":
        return None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            return f"line {err.lineno}: invalid JSON ({err.msg})"
        return _diagnose_rows(rows if isinstance(rows, list) else [rows], unit="row")
    numbered: list[tuple[int, Any]] = []
    for n, row_text in enumerate(text.splitlines(), start=1):
        if not row_text.strip():
            continue
        try:
            numbered.append((n, json.loads(row_text)))
        except json.JSONDecodeError as err:
            return f"line {n}: invalid JSON ({err.msg} at column {err.colno})"
    return _diagnose_numbered(numbered)


def _diagnose_rows(rows: list[Any], *, unit: str) -> str | None:
    return _diagnose_numbered(list(enumerate(rows, start=1)), unit=unit)


def _diagnose_numbered(rows: list[tuple[int, Any]], *, unit: str = "line") -> str | None:
    seen: dict[str, tuple[str, int]] = {}
    for n, row in rows:
        if not isinstance(row, dict):
            return f"{unit} {n}: each row must be a JSON object, got {type(row).__name__}"
        for key, value in row.items():
            if value is None:
                continue
            kind = _json_kind(value)
            first = seen.setdefault(key, (kind, n))
            if first[0] != kind:
                return (
                    f"{unit} {n}: field '{key}' is {kind}, but {unit} {first[1]} has {first[0]}; "
                    "use one type per field"
                )
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "an object"
