"""Recall@K curves (K = 1 .. the R@1% K) of several models in one plot (FRG Fig. 7), learning
curves, and a table's spread over seeds; each with the chance level of a random ranking.

The curve itself comes from `cvgl_core.evaluation.recall_curve` (one chunked ranking pass).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from cvgl_core.viz.common import integer_axis, save_figure

CHANCE_STYLE = {"color": "0.5", "linestyle": "--", "linewidth": 1.2, "label": "chance"}
PAPER_COLOUR = "tab:purple"


def chance_recall(ks, gallery_size: int, positives: int = 1) -> np.ndarray:
    """Recall@K in percent of a uniformly random ranking of `gallery_size` references of
    which `positives` are true matches: 1 - C(N - P, K) / C(N, K), i.e. K / N for one true
    match (CVUSA, CVACT, University-1652's one tile). ks: int or array -> same shape."""
    n, p = int(gallery_size), int(positives)
    if n < 1 or not 1 <= p <= n:
        raise ValueError(f"chance_recall needs 1 <= positives <= gallery_size, got {p}, {n}")
    ks = np.asarray(ks)
    if (ks < 1).any():
        raise ValueError(f"K must be >= 1, got {ks.min()}")
    flat = np.minimum(ks.reshape(-1).astype(np.int64), n)
    # P(no positive in the top K) = prod_{i<K} (N - P - i) / (N - i); clipped at 0 past N - P
    steps = np.clip((n - p - np.arange(n)) / (n - np.arange(n)), 0.0, 1.0)  # (N,)
    miss = np.concatenate([[1.0], np.cumprod(steps)])  # miss[k]: no positive among k
    return (100.0 * (1.0 - miss[flat])).reshape(ks.shape)


def _chance_values(chance, ks: np.ndarray) -> np.ndarray:
    """`plot_recall_curves`' chance argument -> recall in percent at each K of `ks`."""
    if callable(chance):
        values = np.asarray(chance(ks), dtype=np.float64)
    elif np.ndim(chance) == 0:
        if float(chance) != int(chance):
            raise ValueError(
                f"chance={chance!r}: a number is the gallery size (an integer); pass an "
                "array of recalls in percent or a callable for anything else"
            )
        values = chance_recall(ks, int(chance))
    else:
        values = np.asarray(chance, dtype=np.float64)
    if values.shape != ks.shape:
        raise ValueError(
            f"chance gives {values.shape} values for the curves' {ks.shape} values of K"
        )
    return values


def plot_recall_curves(
    curves: Mapping[str, tuple],
    *,
    title: str | None = None,
    log_x: bool = False,
    chance: int | Sequence[float] | Callable | None = None,
    path=None,
):
    """curves: {model name: (ks, recall in percent)}. Returns the Figure.

    chance: the recall of a random ranking, drawn dashed grey and labelled "chance": the
    gallery size N (an int: K / N, one true match per query), an array of recalls in percent
    (one per K of the curves' sorted union of ks), or a callable ks -> percent (e.g.
    `lambda k: chance_recall(k, n, positives=4)`).
    """
    import matplotlib.pyplot as plt

    if not curves:
        raise ValueError("no curves to plot")
    fig, ax = plt.subplots(figsize=(6, 4))
    all_ks = []
    for name, (ks, recall) in curves.items():
        ks, recall = np.asarray(ks), np.asarray(recall)
        if ks.shape != recall.shape:
            raise ValueError(f"curve {name!r}: {ks.shape} ks but {recall.shape} recalls")
        ax.plot(ks, recall, label=name)
        all_ks.append(ks)
    if chance is not None:
        ks = np.unique(np.concatenate(all_ks))
        ax.plot(ks, _chance_values(chance, ks), **CHANCE_STYLE)
    if log_x:
        ax.set_xscale("log")  # decades are integers already
    else:
        integer_axis(ax, "x")
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
    chance: float | None = None,
    path=None,
):
    """Training loss and the evaluation metric per epoch (a `Run.history` DataFrame, or a list
    of per-epoch dicts, with columns epoch, `loss` and `metric`): loss on the left axis, the
    metric in percent on the right, integer epoch ticks. Returns the Figure.

    chance: the metric of a random ranking in percent (for R@1: 100 / gallery size, see
    `chance_recall`), a dashed grey line on the metric's axis.
    A metric the history lacks (a run evaluated only at the end) is left out, not an error
    (and its chance line with it); a history without `epoch` or `loss` is one.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

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
    integer_axis(ax, "x")
    handles = ax.get_lines()
    if metric in h and h[metric].notna().any():
        ax2 = ax.twinx()
        ax2.plot(h["epoch"], h[metric], "s--", color="tab:orange", label=metric)
        ax2.set_ylabel(f"{metric} (%)", color="tab:orange")
        top = float(h[metric].max())
        if chance is not None:
            ax2.axhline(float(chance), **CHANCE_STYLE)
            top = max(top, float(chance))
        ax2.set_ylim(0, max(5.0, top * 1.1))
        handles = handles + ax2.get_lines()
        # above the plot: inside, the twin axis' lines would be drawn over it
        ax.legend(
            handles=handles,
            fontsize=8,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            ncol=len(handles),
            frameon=False,
        )
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, pad=20 if ax.get_legend() else None)
    fig.tight_layout()
    return save_figure(fig, path)


def seed_summary(table, metric: str, by: str | Sequence[str] = "model"):
    """A per-seed results table -> one row per `by` group (first-appearance order) with
    columns label, mean, sd (sample sd, ddof=1; NaN for one seed), n and values (the seeds'
    metric, in table order). Rows where the metric is empty are left out."""
    import pandas as pd

    df = pd.DataFrame(table)
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*by, metric] if c not in df]
    if missing:
        raise ValueError(
            f"table has no column(s) {missing} (columns: {', '.join(map(str, df.columns))})"
        )
    df = df[df[metric].notna()]
    if df.empty:
        raise ValueError(f"table has no value of {metric!r}")
    rows = []
    for keys, part in df.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        values = part[metric].to_numpy(dtype=np.float64)
        rows.append(
            {
                "label": ", ".join(str(k) for k in keys),
                "mean": values.mean(),
                "sd": values.std(ddof=1) if len(values) > 1 else np.nan,
                "n": len(values),
                "values": values,
            }
        )
    return pd.DataFrame(rows)


def plot_seed_bars(
    table,
    metric: str = "R@1",
    *,
    by: str | Sequence[str] = "model",
    chance: float | None = None,
    paper: bool | Mapping[str, float] | None = None,
    title: str | None = None,
    path=None,
):
    """A results table's spread over seeds: one horizontal bar per `by` group at the mean of
    `metric`, mean ± sd as an error bar, each seed as a dot, "mean ± sd (n)" written beside.

    table: rows per seed (as `update_table` returns; a `seed` column is not required).
    chance: the metric of a random ranking in percent, a dashed grey line.
    paper: the paper's numbers, on a separate panel titled "paper" (never on our axis:
    other data, other budget): True takes the table's "paper <metric>" column, a mapping
    {group label: value} gives them. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    from cvgl_core.evaluation.results import PAPER_PREFIX

    s = seed_summary(table, metric, by)
    reported = _paper_values(table, metric, by, s["label"], paper)
    y = np.arange(len(s))[::-1]  # first group on top
    height = 0.6 + 0.45 * len(s)
    if reported is None:
        fig, ax = plt.subplots(figsize=(6.5, height + 0.8))
        axes = [ax]
    else:
        fig, axes = plt.subplots(
            1,
            2,
            figsize=(8.5, height + 0.8),
            sharey=True,
            gridspec_kw={"width_ratios": [3, 1]},
        )
        ax = axes[0]
    sd = s["sd"].fillna(0.0).to_numpy()
    ax.barh(y, s["mean"], height=0.6, color="tab:blue", alpha=0.35, label="mean")
    ax.errorbar(s["mean"], y, xerr=sd, fmt="none", ecolor="black", capsize=4, label="± sd")
    for yi, values in zip(y, s["values"]):
        # seeds spread vertically inside the bar so equal values stay visible
        offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else [0.0]
        ax.plot(values, yi + np.asarray(offsets), "o", color="tab:blue", ms=4)
    ax.plot([], [], "o", color="tab:blue", ms=4, label="one seed")
    right = float(max(s["mean"].max() + sd.max(), max(v.max() for v in s["values"])))
    for yi, row, d in zip(y, s.itertuples(), sd):
        spread = f" ± {row.sd:.2f}" if row.n > 1 else ""
        ax.text(
            row.mean + d + right * 0.02,
            yi,
            f"{row.mean:.2f}{spread} (n={row.n})",
            va="center",
            fontsize=8,
        )
    if chance is not None:
        ax.axvline(float(chance), **CHANCE_STYLE)
        right = max(right, float(chance))
    ax.set_xlim(0, max(5.0, right * 1.35))
    ax.set_yticks(y, s["label"])
    ax.set_xlabel(f"{metric} (%), mean ± sd over seeds")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    if reported is not None:
        pax = axes[1]
        pax.plot(reported, y, "D", color=PAPER_COLOUR)
        for yi, v in zip(y, reported):
            if np.isfinite(v):
                pax.annotate(
                    f"{v:.1f}",
                    (v, yi),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize=7,
                )
        pax.set_title("paper", color=PAPER_COLOUR)
        pax.set_xlabel(f"{PAPER_PREFIX}{metric} (%)")
        finite = reported[np.isfinite(reported)]
        pax.set_xlim(0, max(5.0, float(finite.max()) * 1.15) if len(finite) else 100)
        pax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def _paper_values(table, metric, by, labels, paper) -> np.ndarray | None:
    """The paper's `metric` per group label (NaN where none), or None for no paper panel."""
    import pandas as pd

    from cvgl_core.evaluation.results import PAPER_PREFIX

    if paper is None or paper is False:
        return None
    if isinstance(paper, Mapping):
        unknown = sorted(set(map(str, paper)) - set(labels))
        if unknown:
            raise ValueError(f"paper numbers for unknown rows {unknown}; rows: {list(labels)}")
        return np.array([float(paper.get(label, np.nan)) for label in labels])
    column = f"{PAPER_PREFIX}{metric}"
    df = pd.DataFrame(table)
    if column not in df:
        raise ValueError(f"paper=True but the table has no {column!r} column")
    by = [by] if isinstance(by, str) else list(by)
    label_of = df[by].astype(str).agg(", ".join, axis=1)
    first = df.assign(_label=label_of).dropna(subset=[column]).groupby("_label")[column].first()
    return np.array([float(first.get(label, np.nan)) for label in labels])
