"""Top-K retrieval grids: each row a query and its K best references, framed green when the
reference is a true match and red when not (LRFR Fig. 3, GLQINet Fig. 6)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cvgl_core.evaluation.ranking import top_k
from cvgl_core.viz.common import save_figure, to_rgb

CORRECT, WRONG = "#2ca02c", "#d62728"


def plot_retrieval_grid(
    query_images: Sequence,
    retrieved_images: Sequence[Sequence],
    correct: Sequence[Sequence[bool]],
    *,
    scores: Sequence[Sequence[float]] | None = None,
    mean=None,
    std=None,
    frame_width: float = 4.0,
    path=None,
):
    """Row i: query_images[i], then retrieved_images[i][j] framed by correct[i][j]."""
    import matplotlib.pyplot as plt

    n, k = len(query_images), max(len(r) for r in retrieved_images)
    if len(retrieved_images) != n or len(correct) != n:
        raise ValueError(
            f"{n} queries but {len(retrieved_images)} result rows, {len(correct)} flag rows"
        )
    fig, axes = plt.subplots(n, k + 1, figsize=(2 * (k + 1), 2 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(to_rgb(query_images[i], mean, std))
        axes[i, 0].set_title("query" if i == 0 else "")
        for j in range(k):
            ax = axes[i, j + 1]
            if j < len(retrieved_images[i]):
                ax.imshow(to_rgb(retrieved_images[i][j], mean, std))
                for spine in ax.spines.values():
                    spine.set_edgecolor(CORRECT if correct[i][j] else WRONG)
                    spine.set_linewidth(frame_width)
                if scores is not None:
                    ax.set_title(f"{j + 1}: {scores[i][j]:.3f}", fontsize=8)
            else:
                ax.set_visible(False)
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
    mean=None,
    std=None,
    path=None,
):
    """Grid for the chosen queries from descriptors already extracted (no re-extraction).

    A reference is correct when it is among `query_ds.positives[i]` if the dataset has them,
    else when its label equals the query's (label -1 never matches). VIGOR semi-positives
    count as wrong, as for R@K.
    """
    idx = np.asarray(query_indices, dtype=np.int64)
    scores, top = top_k(query_descriptors[idx], reference_descriptors, k)
    positives = getattr(query_ds, "positives", None)
    if positives is not None:
        truth = [set(np.atleast_1d(positives[i]).tolist()) for i in idx]
        correct = [[int(j) in truth[row] for j in top[row]] for row in range(len(idx))]
    else:
        ql, rl = np.asarray(query_ds.labels), np.asarray(reference_ds.labels)
        correct = [
            [ql[i] != -1 and rl[j] == ql[i] for j in top[row].tolist()] for row, i in enumerate(idx)
        ]
    return plot_retrieval_grid(
        [query_ds[int(i)]["image"] for i in idx],
        [[reference_ds[int(j)]["image"] for j in row] for row in top.tolist()],
        correct,
        scores=scores.tolist(),
        mean=mean,
        std=std,
        path=path,
    )
