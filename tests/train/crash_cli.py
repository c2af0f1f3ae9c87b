"""``python crash_cli.py train cfg.yml ...``: the real ``loradoc`` CLI, killed in the middle of a save.

Simulates a crash (power cut, OOM kill, SIGKILL) while the Trainer writes a
checkpoint: the first ``torch.save`` into a folder named by
``LORADOC_TEST_CRASH_IN`` (e.g. ``checkpoint-4``) writes half of its bytes and the
process dies on the spot (``os._exit(137)``, no cleanup, no handlers).
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

import torch

_save = torch.save


def _crashing_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> Any:
    target = os.environ.get("LORADOC_TEST_CRASH_IN", "")
    if isinstance(f, (str, os.PathLike)) and target and Path(f).parent.name == target:
        buf = io.BytesIO()
        _save(obj, buf, *args, **kwargs)
        data = buf.getvalue()
        with open(f, "wb") as fh:
            fh.write(data[: len(data) // 2])
        os._exit(137)
    return _save(obj, f, *args, **kwargs)


torch.save = _crashing_save

if __name__ == "__main__":
    from loradoc.cli import main

    main(sys.argv[1:])
