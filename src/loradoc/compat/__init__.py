"""The compat matrix: typed facts with sources (``compat/matrix.toml``) and the queries over them.

Typical use::

    from loradoc.compat import load_matrix, best_torch
    m = load_matrix()
    m.variants_for("2.5.1")                       # ['cu118', 'cu121', 'cu124']
    m.driver_covers("535.104.05", "12.4")         # (True, True): minor-version compatibility only
    best_torch(m, driver="570.86.10", ccs=["12.0"], python="3.11")

Importing this package is cheap (no torch); the matrix is parsed on first use and cached.
"""

from __future__ import annotations

from loradoc.compat.choose import TorchChoice, best_torch, torch_choices
from loradoc.compat.load import load_matrix, parse_matrix
from loradoc.compat.queries import Coverage, Matrix
from loradoc.compat.queries_packages import FlashAttnWheel
from loradoc.errors import MatrixError

__all__ = [
    "Coverage",
    "FlashAttnWheel",
    "Matrix",
    "MatrixError",
    "TorchChoice",
    "best_torch",
    "gpu_cc",
    "load_matrix",
    "parse_matrix",
    "torch_choices",
]


def gpu_cc(name: str | None) -> str | None:
    """Compute capability of a GPU from its product name, using the shipped matrix."""
    return load_matrix().gpu_cc(name)
