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


def plot_learning_curve(
    history,
    *,
    metric: str = "R@1",
    loss: str = "train_loss",
    title: str | None = None,
    path=None,
):
    """Training loss and the evaluation metric per epoch (a `Run.history` DataFrame, or a list
    of per-epoch dicts, with columns epoch, `loss` and `metric`): loss on the left axis, the
    metric in percent on the right, integer epoch ticks. Returns the Figure.

    A metric the history lacks (a run evaluated only at the end) is left out, not an error;
    a history without `epoch` or `loss` is one.
    """
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.ticker import MaxNLocator

    h = pd.DataFrame(history)
    for col in ("epoch", loss):
        if col not in h:
            raise ValueError(
                f"history has no {col!r} column (columns: {', '.join(map(str, h.columns))})"
            )
    if h.empty:
        raise ValueError("history is empty: nothing was trained")
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(h["epoch"], h[loss], "o-", color="tab:blue", label=loss.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss.replace("_", " "), color="tab:blue")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if metric in h and h[metric].notna().any():
        ax2 = ax.twinx()
        ax2.plot(h["epoch"], h[metric], "s--", color="tab:orange", label=metric)
        ax2.set_ylabel(f"{metric} (%)", color="tab:orange")
        ax2.set_ylim(0, max(5.0, float(h[metric].max()) * 1.1))
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)
