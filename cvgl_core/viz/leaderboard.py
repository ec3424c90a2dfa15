"""Notebook 06's figures: one curve per method over a task axis (field of view, altitude), and
accuracy against cost, each method a labelled point with its spread over seeds.

Inputs are the leaderboards of `cvgl_core.benchmark` (one row per method, "<col>" the mean and
"<col> sd" the sample sd over seeds) and a cost table indexed by the same method labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cvgl_core.viz.common import save_figure


def _sd(board: pd.DataFrame, col: str) -> np.ndarray:
    sd = board[f"{col} sd"] if f"{col} sd" in board else pd.Series(np.nan, index=board.index)
    return np.nan_to_num(sd.to_numpy(dtype=float))  # one seed: no bar


def plot_task_curves(
    board: pd.DataFrame,
    columns: Sequence[str],
    x: Sequence[float],
    *,
    xlabel: str,
    ylabel: str = "R@1 (%)",
    chance: Sequence[float] | None = None,
    title: str = "",
    path=None,
):
    """One line per method (row of `board`) through `columns` at positions `x`, with sd bars;
    methods with no value anywhere are left out; `chance` draws the random ranking's values."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, row in board.iterrows():
        y = np.array([row.get(c, np.nan) for c in columns], dtype=float)
        if np.isnan(y).all():
            continue
        err = np.array([row.get(f"{c} sd", np.nan) for c in columns], dtype=float)
        ax.errorbar(x, y, yerr=np.nan_to_num(err), marker="o", capsize=3, label=label)
    if chance is not None:
        ax.plot(x, chance, "k:", label="chance")
    ax.set_xticks(list(x))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_accuracy_vs_cost(
    board: pd.DataFrame,
    costs: pd.DataFrame,
    metric: str,
    cost_columns: Sequence[str] = ("GFLOPs / pair", "descriptor bytes"),
    *,
    chance: float | None = None,
    title: str = "",
    path=None,
):
    """One panel per cost column: each method of `board` that has `metric` and a cost row is a
    point (x: its cost, log scale; y: mean `metric`, bar: sd over seeds), labelled by name."""
    labels = [m for m in board.index if m in costs.index and not np.isnan(board.at[m, metric])]
    fig, axes = plt.subplots(1, len(cost_columns), figsize=(5.2 * len(cost_columns), 4.0))
    axes = np.atleast_1d(axes)
    y = board.loc[labels, metric].to_numpy(dtype=float)
    err = _sd(board.loc[labels], metric)
    for ax, col in zip(axes, cost_columns):
        xs = costs.loc[labels, col].to_numpy(dtype=float)
        for i, (xi, yi, ei, name) in enumerate(zip(xs, y, err, labels)):
            ax.errorbar([xi], [yi], yerr=[ei], marker="o", capsize=3)
            # alternate above / below, so neighbours at one accuracy stay readable
            ax.annotate(name.split(" (")[0], (xi, yi), textcoords="offset points",
                        xytext=(4, 5 if i % 2 == 0 else -11), fontsize=8)  # fmt: skip
        if chance is not None:
            ax.axhline(chance, color="k", ls=":", lw=1, label="chance")
            ax.legend(fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel(f"{col} (log scale)")
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return fig
