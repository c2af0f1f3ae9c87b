"""Pacing for the fault harness: on only when ``LORADOC_FAULT_PACE`` is set (seconds).

The tiny model trains a step in milliseconds, so a signal sent "during a step", "during
evaluation" or "while a checkpoint is written" would almost never land there. With this
folder on ``PYTHONPATH`` every Python process of the run (the CLI, accelerate's launcher
and its workers) sleeps, in this test only, at the points where a fault should be able to
land: before each training micro-batch (PACE), before each eval batch (PACE), before each
``torch.save`` / safetensors ``save_file`` (PACE / 2, so a kill can fall between two files
of a checkpoint), and between writing a temporary file and renaming it into place in
``loradoc.fsutil`` (PACE / 4, so a kill can leave a ``*.tmp`` behind). Nothing else changes:
the numbers a paced run computes are those of an unpaced one.

The patches are applied when ``loradoc.train.run.trainer`` is first imported (so pip,
pip-compile and other Python processes that never import it pay nothing).
"""

from __future__ import annotations

import os

_PACE = os.environ.get("LORADOC_FAULT_PACE")


def _install() -> None:
    import importlib.abc
    import importlib.machinery
    import sys
    import time

    pace = float(_PACE or 0)
    target = "loradoc.train.run.trainer"

    def slow(fn, seconds):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            time.sleep(seconds)
            return fn(*args, **kwargs)

        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
        wrapper._loradoc_paced = True  # type: ignore[attr-defined]
        return wrapper

    def swap_everywhere(original, replacement) -> None:  # type: ignore[no-untyped-def]
        for mod in list(sys.modules.values()):
            d = getattr(mod, "__dict__", None)
            if not isinstance(d, dict):
                continue
            for key, value in list(d.items()):
                if value is original:
                    d[key] = replacement

    def patch_writers() -> None:
        import contextlib

        import safetensors.torch
        import torch

        import loradoc.fsutil as fsutil

        if not getattr(torch.save, "_loradoc_paced", False):
            swap_everywhere(torch.save, slow(torch.save, pace / 2))
        original = safetensors.torch.save_file
        if not getattr(original, "_loradoc_paced", False):
            swap_everywhere(original, slow(original, pace / 2))
        atomic = fsutil.atomic_path
        if not getattr(atomic, "_loradoc_paced", False):

            @contextlib.contextmanager
            def paced_atomic(target):  # type: ignore[no-untyped-def]
                with atomic(target) as tmp:
                    yield tmp
                    time.sleep(pace / 4)  # the temporary file is written, not yet renamed

            paced_atomic._loradoc_paced = True  # type: ignore[attr-defined]
            swap_everywhere(atomic, paced_atomic)

    def patch_trainer(module) -> None:  # type: ignore[no-untyped-def]
        cls = module.LoradocTrainer
        step = cls.training_step
        predict = cls.prediction_step

        def training_step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            patch_writers()  # modules imported since (plot, peft's savers) get the paced writers too
            time.sleep(pace)
            return step(self, *args, **kwargs)

        def prediction_step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            time.sleep(pace)
            return predict(self, *args, **kwargs)

        cls.training_step = training_step
        cls.prediction_step = prediction_step
        patch_writers()

    class Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target_=None):  # type: ignore[no-untyped-def]
            if name != target:
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            loader = spec.loader
            run = loader.exec_module

            def exec_module(module):  # type: ignore[no-untyped-def]
                run(module)
                patch_trainer(module)

            loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, Hook())


if _PACE:
    _install()
