"""Suite-wide settings.

torch on a small shared machine runs tiny-model steps many times slower with one
thread per core fighting the test runner and its subprocesses than with one thread:
the tests pin torch to one thread unless the caller chose otherwise. Subprocesses
(the CLI, accelerate workers) inherit it through the environment.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
