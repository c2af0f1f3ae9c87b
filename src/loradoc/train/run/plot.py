"""``loss.png``: train and eval loss against the optimizer step (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loradoc.fsutil import atomic_path


def plot_losses(records: list[dict[str, Any]], path: Path, *, title: str = "loss") -> Path | None:
    """Write the plot atomically; None when there is nothing to plot."""
    train = [(r["step"], r["loss"]) for r in records if isinstance(r.get("loss"), (int, float))]
    evals = [(r["step"], r["eval_loss"]) for r in records if isinstance(r.get("eval_loss"), (int, float))]
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
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path
