"""Top-K retrieval grids: each row a query and its K best references, framed green when the
reference is a true match and red when not (LRFR Fig. 3, GLQINet Fig. 6); a row that misses
every true match ends with the best-scoring true match, framed blue, titled with its rank."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cvgl_core.evaluation.ranking import chunk_scores, prepare, rank_positives, top_k
from cvgl_core.viz.common import save_figure, to_rgb

CORRECT, WRONG, TRUE_MATCH = "#2ca02c", "#d62728", "#1f77b4"


def _frame(ax, colour: str, width: float):
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(width)


def plot_retrieval_grid(
    query_images: Sequence,
    retrieved_images: Sequence[Sequence],
    correct: Sequence[Sequence[bool]],
    *,
    scores: Sequence[Sequence[float]] | None = None,
    true_matches: Sequence[tuple | None] | None = None,
    mean=None,
    std=None,
    frame_width: float = 4.0,
    path=None,
):
    """Row i: query_images[i], then retrieved_images[i][j] framed by correct[i][j].

    true_matches: per row None, or (image, rank) of the true match the row missed (rank
    1-based, as the metrics count it): drawn in one extra last column, framed blue and
    titled "true match, rank r". The column exists only when some row has one.
    """
    import matplotlib.pyplot as plt

    n, k = len(query_images), max(len(r) for r in retrieved_images)
    if len(retrieved_images) != n or len(correct) != n:
        raise ValueError(
            f"{n} queries but {len(retrieved_images)} result rows, {len(correct)} flag rows"
        )
    if true_matches is not None and len(true_matches) != n:
        raise ValueError(f"{n} queries but {len(true_matches)} true_matches entries")
    extra = true_matches is not None and any(t is not None for t in true_matches)
    cols = k + 1 + int(extra)
    fig, axes = plt.subplots(n, cols, figsize=(2 * cols, 2 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(to_rgb(query_images[i], mean, std))
        axes[i, 0].set_title("query" if i == 0 else "")
        for j in range(k):
            ax = axes[i, j + 1]
            if j < len(retrieved_images[i]):
                ax.imshow(to_rgb(retrieved_images[i][j], mean, std))
                _frame(ax, CORRECT if correct[i][j] else WRONG, frame_width)
                if scores is not None:
                    ax.set_title(f"{j + 1}: {scores[i][j]:.3f}", fontsize=8)
            else:
                ax.set_visible(False)
        if extra:
            ax = axes[i, -1]
            if true_matches[i] is None:
                ax.set_visible(False)
            else:
                image, rank = true_matches[i]
                ax.imshow(to_rgb(image, mean, std))
                _frame(ax, TRUE_MATCH, frame_width)
                ax.set_title(f"true match, rank {int(rank)}", fontsize=8, color=TRUE_MATCH)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].spines[:].set_visible(False)
    fig.tight_layout()
    return save_figure(fig, path)


def retrieval_grid(
    query_ds,
    reference_ds,
    query_descriptors,
    reference_descriptors,
    query_indices: Sequence[int],
    *,
    k: int = 5,
    show_true_match: bool = True,
    similarity=None,
    mean=None,
    std=None,
    path=None,
):
    """Grid for the chosen queries from descriptors already extracted (no re-extraction).

    A reference is correct when it is among `query_ds.positives[i]` if the dataset has them,
    else when its label equals the query's (label -1 never matches). VIGOR semi-positives
    count as wrong, as for R@K. A query whose top k miss every true match gets one more
    panel: its best-scoring true match and that match's rank from the same ranking as R@K
    (`rank_positives`: ties in the query's favour, junk references ranked nowhere).
    similarity: a pairwise model's scoring callable, as in `top_k`.
    """
    idx = np.asarray(query_indices, dtype=np.int64)
    q_sel = query_descriptors[idx]  # (n, D)
    scores, top = top_k(q_sel, reference_descriptors, k, similarity=similarity)  # (n, k) each
    positives = getattr(query_ds, "positives", None)
    if positives is not None:
        truth = [np.unique(np.atleast_1d(positives[i])) for i in idx]
        truth = [t[t >= 0] for t in truth]  # -1 pads a [Q, P] positives array
        gt = {"positives": [t.tolist() for t in truth]}
    else:
        ql, rl = np.asarray(query_ds.labels), np.asarray(reference_ds.labels)
        truth = [np.flatnonzero(rl == ql[i]) if ql[i] != -1 else np.empty(0, int) for i in idx]
        gt = {"query_labels": ql[idx], "reference_labels": rl}
    correct = [[int(j) in set(t.tolist()) for j in row] for t, row in zip(truth, top.tolist())]
    missed = [r for r, t in enumerate(truth) if show_true_match and len(t) and not any(correct[r])]
    true_matches = [None] * len(idx)
    if missed:
        first = rank_positives(q_sel, reference_descriptors, similarity=similarity, **gt).first
        q, ref, _ = prepare(q_sel[missed], reference_descriptors, same_dim=similarity is None)
        s = chunk_scores(q, ref, similarity).float().cpu().numpy()  # (len(missed), R)
        for m, r in enumerate(missed):
            best = int(truth[r][np.argmax(s[m, truth[r]])])
            true_matches[r] = (reference_ds[best]["image"], int(first[r]) + 1)
    return plot_retrieval_grid(
        [query_ds[int(i)]["image"] for i in idx],
        [[reference_ds[int(j)]["image"] for j in row] for row in top.tolist()],
        correct,
        scores=scores.tolist(),
        true_matches=true_matches,
        mean=mean,
        std=std,
        path=path,
    )
