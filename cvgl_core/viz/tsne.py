"""t-SNE of descriptors (scikit-learn), PCA to 50 dimensions first as is customary.

MFRGN's Fig. 8 colours the points by view and area (same-area vs cross-area test sets).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cvgl_core.viz.common import save_figure


def tsne_2d(
    descriptors, *, pca_dim: int = 50, perplexity: float = 30.0, seed: int = 0, max_iter: int = 1000
):
    """(N, D) -> (N, 2). Perplexity is capped at (N - 1) / 3 so small sets work."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = (
        descriptors.detach().float().cpu().numpy()
        if isinstance(descriptors, torch.Tensor)
        else descriptors
    )
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) < 4:
        raise ValueError(f"t-SNE needs (N >= 4, D) descriptors, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("descriptors hold NaN/inf")
    if x.shape[1] > pca_dim:
        x = PCA(n_components=min(pca_dim, len(x)), random_state=seed).fit_transform(x)
    perplexity = min(float(perplexity), (len(x) - 1) / 3.0)
    return TSNE(
        2, perplexity=perplexity, init="pca", random_state=seed, max_iter=max_iter
    ).fit_transform(x)


def plot_tsne(
    descriptors,
    color_by: Sequence,
    *,
    marker_by: Sequence | None = None,
    title: str | None = None,
    pca_dim: int = 50,
    perplexity: float = 30.0,
    seed: int = 0,
    max_iter: int = 1000,
    path=None,
):
    """Scatter of the t-SNE embedding: colour per `color_by` value (e.g. area), marker per
    `marker_by` value (e.g. view). Returns the Figure."""
    import matplotlib.pyplot as plt

    colour_keys = np.asarray([str(c) for c in color_by])
    marker_keys = np.asarray(
        [str(m) for m in (marker_by if marker_by is not None else [""] * len(colour_keys))]
    )
    if len(colour_keys) != len(descriptors) or len(marker_keys) != len(descriptors):
        raise ValueError(
            f"color_by/marker_by need {len(descriptors)} entries, got {len(colour_keys)}/"
            f"{len(marker_keys)}"
        )
    xy = tsne_2d(descriptors, pca_dim=pca_dim, perplexity=perplexity, seed=seed, max_iter=max_iter)
    markers = "o^sDvP*X"
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap("tab10")
    for ci, c in enumerate(dict.fromkeys(colour_keys)):
        for mi, m in enumerate(dict.fromkeys(marker_keys)):
            sel = (colour_keys == c) & (marker_keys == m)
            if sel.any():
                label = c if marker_by is None else f"{c} / {m}"
                ax.scatter(
                    *xy[sel].T,
                    s=10,
                    color=cmap(ci % 10),
                    marker=markers[mi % 8],
                    label=label,
                    alpha=0.8,
                )
    ax.legend(fontsize=8, markerscale=1.5)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)
