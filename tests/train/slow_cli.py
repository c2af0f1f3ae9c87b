"""``python slow_cli.py train cfg.yml ...``: the real ``loradoc`` CLI with every training step slowed.

Only for tests that must send a signal in the middle of training: a tiny model
trains a step in milliseconds, too fast to hit. ``LORADOC_TEST_STEP_SECONDS``
(default 0.5) is slept before each micro-batch, in this test process only.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from loradoc.train.run import trainer as _trainer

_step = _trainer.LoradocTrainer.training_step


def _slow_step(self: Any, *args: Any, **kwargs: Any) -> Any:
    time.sleep(float(os.environ.get("LORADOC_TEST_STEP_SECONDS", "0.5")))
    return _step(self, *args, **kwargs)


_trainer.LoradocTrainer.training_step = _slow_step  # type: ignore[method-assign]

if __name__ == "__main__":
    from loradoc.cli import main

    main(sys.argv[1:])
