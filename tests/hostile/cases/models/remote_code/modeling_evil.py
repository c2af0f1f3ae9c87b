"""Stands for a model repository's own code: importing it leaves a mark.

loradoc must never import this while trust_remote_code is off; the hostile tests
set LORADOC_HOSTILE_MARKER and check that the file never appears.
"""

import os
from pathlib import Path

_marker = os.environ.get("LORADOC_HOSTILE_MARKER")
if _marker:
    Path(_marker).write_text("remote code ran\n")
