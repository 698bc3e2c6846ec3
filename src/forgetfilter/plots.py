"""Plots of forgetting (PNG, matplotlib's headless Agg backend)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path


def forgetting_histogram(scores: Sequence[float], roles: Sequence[str], phi: float, path: Path, *, signal: str) -> Path:
    """Histogram of forgetting per role with the threshold drawn as a vertical line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    values, labels = np.asarray(scores, dtype=float), np.asarray(roles)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    bins = np.histogram_bin_edges(values, bins=30)
    for role in sorted(set(labels)):
        ax.hist(values[labels == role], bins=bins, alpha=0.55, label=f"{role} (n={int((labels == role).sum())})")
    if math.isfinite(phi):
        ax.axvline(phi, color="black", linestyle="--", label=f"phi = {phi:.3g}")
    ax.set_xlabel(f"forgetting ({signal}; higher = forgotten more)")
    ax.set_ylabel("examples")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
