"""Recall@K curves (K = 1 .. the R@1% K) of several models in one plot (FRG Fig. 7).

The curve itself comes from `cvgl_core.evaluation.recall_curve` (one chunked ranking pass).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cvgl_core.viz.common import save_figure


def plot_recall_curves(
    curves: Mapping[str, tuple],
    *,
    title: str | None = None,
    log_x: bool = False,
    path=None,
):
    """curves: {model name: (ks, recall in percent)}. Returns the Figure."""
    import matplotlib.pyplot as plt

    if not curves:
        raise ValueError("no curves to plot")
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (ks, recall) in curves.items():
        ks, recall = np.asarray(ks), np.asarray(recall)
        if ks.shape != recall.shape:
            raise ValueError(f"curve {name!r}: {ks.shape} ks but {recall.shape} recalls")
        ax.plot(ks, recall, label=name)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("K (top-K references)")
    ax.set_ylabel("recall@K (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)
