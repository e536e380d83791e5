"""The loss-curve PNG of a PARASOL training run: each loss term per step, with a moving average."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from indexer.atomic import atomic_path

TERMS = (("loss", "total L"), ("dm", "L_DM"), ("style", "L_s (style)"), ("content", "L_y (content)"))


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over up to `window` values (the first points average what there is)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def write_loss_curve(history: Sequence[dict[str, float]], path: Path) -> Path:
    """Plot every loss term of `history` (rows with "step" and the terms) into `path` (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(TERMS), figsize=(4 * len(TERMS), 3.2))
    steps = [row["step"] for row in history]
    window = max(1, len(history) // 20)
    for ax, (key, title) in zip(axes, TERMS):
        values = [float(row.get(key, 0.0)) for row in history]
        ax.plot(steps, values, color="#9bb7d4", linewidth=0.8, label="per step")
        ax.plot(steps, moving_average(values, window), color="#1f4e79", linewidth=1.6, label=f"mean of {window}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        if values and min(values) > 0 and max(values) > 20 * min(values):  # log only for a wide range
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=90, format="png")
    finally:
        plt.close(fig)
    return path
