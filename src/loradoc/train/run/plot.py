"""``loss.png``: train and eval loss against the optimizer step (matplotlib, Agg backend).

The plot is titled with the run's name (``run_name``, else the output folder's name)
so that two runs' plots side by side can be told apart, and shows one point per
step and series: a step that ``metrics.jsonl`` holds twice keeps its last value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from loradoc.fsutil import atomic_path

Series = list[tuple[int, float]]


def _series(records: Iterable[Mapping[str, Any]], key: str) -> Series:
    """``(step, value)`` for each record with a numeric ``key``, one per step (the last wins), by step."""
    by_step: dict[int, float] = {}
    for r in records:
        value, step = r.get(key), r.get("step")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and isinstance(step, int):
            by_step[step] = float(value)
    return sorted(by_step.items())


def loss_series(records: Iterable[Mapping[str, Any]]) -> tuple[Series, Series]:
    """The train and the eval loss points of ``metrics.jsonl`` records, each step once."""
    records = list(records)
    return _series(records, "loss"), _series(records, "eval_loss")


def plot_title(path: Path, title: str, run_name: str | None = None) -> str:
    """``"<run>: <title>"``, the run being ``run_name`` or the name of the folder ``path`` is in."""
    run = (run_name or "").strip() or Path(path).absolute().parent.name
    if not title or title == run:
        return run
    return f"{run}: {title}" if run else title


def plot_losses(
    records: list[dict[str, Any]], path: Path, *, title: str = "loss", run_name: str | None = None
) -> Path | None:
    """Write the plot atomically; None when there is nothing to plot."""
    train, evals = loss_series(records)
    if not train and not evals:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        if train:
            ax.plot(*zip(*train, strict=True), label="train loss", color="tab:blue", linewidth=1.2)
        if evals:
            ax.plot(
                *zip(*evals, strict=True), label="eval loss", color="tab:orange", marker="o", linewidth=1.2
            )
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss (mean over supervised tokens)")
        ax.set_title(plot_title(path, title, run_name))
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path
