"""The supported rows (``compat/rows.toml``): Python x torch x variant, checked against the matrix.

A row is what CI tests and what ``constraints/<row>.txt`` locks. The rows are
project policy; every fact a row relies on (the torch release has a wheel for
the Python, the variant exists for the release) comes from the matrix, and a
row that disagrees with it is a ``MatrixError`` naming the row.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from loradoc.compat.queries import Matrix
from loradoc.compat.versions import variant_cuda
from loradoc.errors import MatrixError, UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

PACKAGED_ROWS = "compat/rows.toml"


@dataclass(frozen=True)
class Row:
    python: str
    torch: str
    variant: str  # "cpu" or "cu128"
    why: str
    runner: tuple[str, ...]
    index_url: str  # the variant's PyTorch wheel index

    @property
    def id(self) -> str:
        return f"py{self.python}-torch{self.torch}-{self.variant}"

    @property
    def gpu(self) -> bool:
        return self.variant != "cpu"

    @property
    def cuda(self) -> str | None:
        """``"12.8"`` for ``cu128``; None for cpu."""
        return variant_cuda(self.variant)

    @property
    def torch_requirement(self) -> str:
        return f"torch=={self.torch}+{self.variant}"

    def lock_path(self, root: Path) -> Path:
        return root / f"{self.id}.txt"


def load_rows(m: Matrix, path: str | Path | None = None) -> list[Row]:
    """The rows of ``path`` (default: the shipped ``compat/rows.toml``), validated against ``m``."""
    if path is None:
        text = resources.files("loradoc.compat_data").joinpath("rows.toml").read_text(encoding="utf-8")
        origin = PACKAGED_ROWS
    else:
        origin = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise MatrixError(f"{origin}: cannot read the rows ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError(f"{origin}: not valid TOML ({exc})") from None
    return parse_rows(data, m, origin)


def parse_rows(data: dict[str, Any], m: Matrix, origin: str) -> list[Row]:
    if data.get("schema_version") != 1:
        raise MatrixError(f"{origin}: schema_version should be 1")
    runners = data.get("runners") or {}
    cpu_labels = _labels(runners.get("cpu"), f"{origin}: runners.cpu")
    gpu_labels = _labels(runners.get("gpu"), f"{origin}: runners.gpu")
    cuda_label = runners.get("cuda_label", "")
    if not isinstance(cuda_label, str):
        raise MatrixError(f"{origin}: runners.cuda_label should be a string like 'cuda-{{major}}'")
    out: list[Row] = []
    seen: set[str] = set()
    for i, raw in enumerate(data.get("row") or []):
        where = f"{origin}: row[{i}]"
        if not isinstance(raw, dict):
            raise MatrixError(f"{where}: should be a table")
        unknown = set(raw) - {"python", "torch", "variant", "why", "runner"}
        if unknown:
            raise MatrixError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        python, torch, variant = (str(raw.get(k, "")) for k in ("python", "torch", "variant"))
        if not (python and torch and variant):
            raise MatrixError(f"{where}: needs python, torch and variant")
        where = f"{origin}: row py{python}-torch{torch}-{variant}"
        _check_against_matrix(m, python, torch, variant, where)
        if "runner" in raw:
            runner = _labels(raw["runner"], f"{where}: runner")
        elif variant == "cpu":
            runner = cpu_labels
        else:
            major = (variant_cuda(variant) or "0").split(".")[0]
            runner = gpu_labels + ((cuda_label.format(major=major),) if cuda_label else ())
        row = Row(python, torch, variant, str(raw.get("why", "")), runner, m.index_url(variant))
        if row.id in seen:
            raise MatrixError(f"{where}: listed twice")
        seen.add(row.id)
        out.append(row)
    if not out:
        raise MatrixError(f"{origin}: no [[row]] entries")
    return out


def _labels(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise MatrixError(f"{where}: should be a non-empty list of runner labels")
    return tuple(value)


def _check_against_matrix(m: Matrix, python: str, torch: str, variant: str, where: str) -> None:
    rel = m.torch_release(torch)
    if rel is None or not m.is_known_torch(torch):
        known = ", ".join(m.torch_versions()[-5:])
        raise MatrixError(f"{where}: torch {torch} is not in the matrix (newest known: {known})")
    if python not in rel.python:
        raise MatrixError(
            f"{where}: torch {torch} has no Python {python} wheel (the matrix lists {', '.join(rel.python)})"
        )
    if variant != "cpu" and variant not in rel.all_variants and variant != rel.pypi_default:
        raise MatrixError(
            f"{where}: torch {torch} has no {variant} build (the matrix lists "
            f"{', '.join(rel.all_variants)}; PyPI default {rel.pypi_default})"
        )


def find_row(rows: list[Row], row_id: str) -> Row:
    for row in rows:
        if row.id == row_id:
            return row
    raise UserError(f"no supported row {row_id!r} in compat/rows.toml; rows: {', '.join(r.id for r in rows)}")
