"""Loading raw rows for one ``datasets[]`` entry: local files/folders or the Hugging Face Hub.

Local files load through ``datasets`` one file at a time, so a row number in an
error is the row within that file. When ``datasets`` cannot read a local file,
:func:`diagnose_file` reads it directly to name the line and the problem
(not UTF-8, invalid JSON, a field whose type changes between rows, ...).

Bounded memory: before a local JSON/JSONL/CSV/text file reaches ``datasets`` (whose JSON
builder reads a whole line, or a whole JSON array, into memory, many times over once
parsed), :func:`check_row_sizes` reads it in binary chunks and refuses a line longer than
``MAX_ROW_BYTES`` (16 MiB: a training example is kilobytes; a longer line is a single-line
JSON array or a broken file). A JSON array spread over many lines is parsed whole by
``datasets``, so one larger than ``MAX_ARRAY_BYTES`` is refused too, with the fix (JSON
Lines). :func:`diagnose_file` reads JSON Lines line by line.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradoc.errors import UserError, first_line

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
MAX_ROW_BYTES = 16 << 20  # one line (one row) of a local text data file
MAX_ARRAY_BYTES = 512 << 20  # a JSON file that is one array, parsed whole by datasets
_MB = 1 << 20


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
                f"{source.label}: cannot load from the Hugging Face Hub ({first_line(exc)}); check the name "
                "and split, the network, and HF_TOKEN for gated datasets"
            ) from exc

    path = Path(source.path)
    if source.builder in ("json", "csv", "text"):
        problem = check_row_sizes(path) or check_utf8(path)
        if problem:
            raise UserError(f"{source.label}: {problem}")
    if path.stat().st_size == 0 or (source.builder in ("json", "csv", "text") and not _has_content(path)):
        raise UserError(f"{source.label}: no rows (the file is empty)")
    if source.builder == "json":
        problem = check_json_array_size(path)
        if problem:
            raise UserError(f"{source.label}: {problem}")
    verbosity = datasets.logging.get_verbosity()
    # datasets logs its own error line ("Failed to load JSON from file ...") before raising;
    # the UserError below says what is wrong in loradoc's words, once
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        ds = datasets.load_dataset(
            source.builder,
            data_files=str(path),
            split=source.split or "train",
            cache_dir=str(cache_dir) if cache_dir else None,
        )
    except Exception as exc:
        problem = diagnose_file(path, source.builder or "")
        raise UserError(f"{source.label}: {problem or 'cannot be read: ' + first_line(exc)}") from exc
    finally:
        datasets.logging.set_verbosity(verbosity)
    return ds


def check_row_sizes(path: Path, limit: int | None = None, chunk_size: int = 1 << 20) -> str | None:
    """The first line of ``path`` longer than ``limit`` bytes (default ``MAX_ROW_BYTES``), as a
    message; None if there is none.

    Reads binary chunks of at most ``limit`` bytes, so memory stays at one chunk whatever
    the file holds. A line inside one chunk is shorter than the chunk, so only the line
    running across chunk ends is measured.
    """
    limit = MAX_ROW_BYTES if limit is None else limit
    chunk_size = max(1, min(chunk_size, limit))
    line, run = 1, 0  # run: bytes of the current line so far
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            if not chunk:
                return None
            first = chunk.find(b"\n")
            if first < 0:
                run += len(chunk)
                if run > limit:
                    return _too_long(path, line, limit)
                continue
            if run + first > limit:
                return _too_long(path, line, limit)
            line += chunk.count(b"\n")
            run = len(chunk) - chunk.rfind(b"\n") - 1


def _too_long(path: Path, line: int, limit: int) -> str:
    length = _line_length(path, line)
    return (
        f"row {line} is {length / _MB:.1f} MB; rows are limited to {limit / _MB:g} MB (a single-line JSON "
        "array? write one object per line)"
    )


def _line_length(path: Path, line: int, chunk_size: int = 1 << 20) -> int:
    """The length in bytes of line ``line`` (1-based), without its newline; read in chunks."""
    n, length = 1, 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            start = 0
            while n < line:
                nl = chunk.find(b"\n", start)
                if nl < 0:
                    break
                n, start = n + 1, nl + 1
            if n < line:
                continue
            nl = chunk.find(b"\n", start)
            if nl >= 0:
                return length + nl - start
            length += len(chunk) - start
    return length


def check_json_array_size(path: Path, limit: int | None = None) -> str | None:
    """A JSON file that is one array larger than ``limit`` (default ``MAX_ARRAY_BYTES``): datasets
    would parse it whole."""
    limit = MAX_ARRAY_BYTES if limit is None else limit
    size = path.stat().st_size
    if size <= limit or _first_char(path) != b"[":
        return None
    return (
        f"a JSON array of {size / _MB:.0f} MB is read whole into memory; arrays are limited to "
        f"{limit / _MB:g} MB (write it as JSON Lines: one object per line, in a .jsonl file)"
    )


def _first_char(path: Path) -> bytes:
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            text = chunk.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
            if text:
                return text[:1]
    return b""


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


def diagnose_file(path: Path, builder: str) -> str | None:
    """Find why a local data file cannot be read; ``None`` when nothing specific is found.

    JSON Lines are read one line at a time (each line is at most ``MAX_ROW_BYTES``, checked
    before loading); a JSON array file is parsed whole (at most ``MAX_ARRAY_BYTES``).
    """
    problem = check_utf8(path)
    if problem is not None:
        return problem
    if builder != "json":
        return None
    if _first_char(path) == b"[" and not _is_json_lines(path):
        text = path.read_text(encoding="utf-8-sig")
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            return f"line {err.lineno}: invalid JSON ({_json_msg(err)} at column {err.colno})"
        return _diagnose_rows(rows if isinstance(rows, list) else [rows], unit="row")
    return _diagnose_numbered(_json_lines(path))


class _LineProblem(Exception):
    pass


def _is_json_lines(path: Path) -> bool:
    """True when the first non-blank line is a whole JSON value and another non-blank line follows."""
    with path.open("rb") as fh:
        first: bytes | None = None
        for raw in fh:
            if not raw.strip():
                continue
            if first is not None:
                return True
            first = raw
            try:
                json.loads(raw.decode("utf-8-sig"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                return False
    return False


def _json_lines(path: Path) -> Any:
    """(line number, row) for each non-blank line; a line that is not JSON ends it with a problem."""
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            text = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            if not text.strip():
                continue
            try:
                yield n, json.loads(text)
            except json.JSONDecodeError as err:
                raise _LineProblem(
                    f"line {n}: invalid JSON ({_json_msg(err)} at column {err.colno})"
                ) from None


def _json_msg(err: json.JSONDecodeError) -> str:
    # json's messages can end in "at" ("Unterminated string starting at"): no "at at column"
    return err.msg.removesuffix(" at")


def _diagnose_rows(rows: list[Any], *, unit: str) -> str | None:
    return _diagnose_numbered(list(enumerate(rows, start=1)), unit=unit)


def _diagnose_numbered(rows: Any, *, unit: str = "line") -> str | None:
    try:
        return _first_row_problem(rows, unit=unit)
    except _LineProblem as exc:
        return str(exc)


def _first_row_problem(rows: Any, *, unit: str) -> str | None:
    seen: dict[str, tuple[str, int]] = {}
    for n, row in rows:
        if not isinstance(row, dict):
            what = "a JSON array" if isinstance(row, list) else f"{_json_kind(row)}, not an object"
            if row is None:
                what = "null, not an object"
            return (
                f"row {n} is {what}; each row must be a JSON object with the dataset's fields "
                '(e.g. {"instruction": ..., "output": ...} for alpaca)'
            )
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
