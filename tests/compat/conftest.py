from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from loradoc.compat import Matrix, load_matrix


@pytest.fixture(scope="session")
def matrix() -> Matrix:
    return load_matrix()


@pytest.fixture
def matrix_text() -> str:
    return resources.files("loradoc.compat_data").joinpath("matrix.toml").read_text(encoding="utf-8")


@pytest.fixture
def write_matrix(tmp_path: Path):
    """Write a (mutated) matrix file into tmp_path and return its path."""

    def write(text: str, errors: str | None = None) -> Path:
        path = tmp_path / "matrix.toml"
        path.write_text(text, encoding="utf-8")
        if errors is not None:
            (tmp_path / "errors.toml").write_text(errors, encoding="utf-8")
        return path

    return write
