"""The localisation figure: the photo, the Grad-CAM of its best match, and its top-k tiles
(framed green when the tile is within `near_m` of the photo's true location, red when not,
unframed when the truth is unknown)."""

from __future__ import annotations

import numpy as np

from cvgl_core.viz.common import heatmap_panel, save_figure, to_rgb
from cvgl_core.viz.grids import CORRECT, WRONG

NEAR_M = 25.0


def tile_image(path) -> np.ndarray:
    from cvgl_core.data.base import load_image

    return np.asarray(load_image(path), dtype=np.float32) / 255.0


def localize_figure(
    index,
    model,
    photo,
    matches,
    *,
    view=None,
    fov=None,
    heading=None,
    gradcam: bool = True,
    near_m: float = NEAR_M,
    correct=None,
    path=None,
):
    """One row: photo | Grad-CAM towards the top-1 tile | top-k tiles with scores.
    correct: one flag per match (e.g. the dataset's true tile), framing instead of distance."""
    import matplotlib.pyplot as plt

    from cvgl_core.localize.model import photo_tensor
    from cvgl_core.viz.gradcam import retrieval_gradcam

    view = view or index.meta["query_view"]
    x, _ = photo_tensor(index.config, photo, view, fov=fov, heading=heading)
    rgb = to_rgb(x)  # (H, W, 3) in [0, 1]
    k = len(matches)
    cols = k + 1 + int(gradcam)
    fig, axes = plt.subplots(1, cols, figsize=(2.2 * cols + 1.5, 2.4), squeeze=False)
    axes = axes[0]
    axes[0].imshow(rgb)
    axes[0].set_title("photo", fontsize=9)
    if gradcam and matches:
        ref = np.asarray(index.descriptors[matches[0].index], dtype=np.float32)
        cam = retrieval_gradcam(model, x, ref, view=view)
        heatmap_panel(axes[1], rgb, cam)
        axes[1].set_title("Grad-CAM (top-1)", fontsize=9)
    for j, m in enumerate(matches):
        ax = axes[1 + int(gradcam) + j]
        ax.imshow(tile_image(m.path))
        err = "" if m.error_m is None else f"\n{m.error_m:.0f} m"
        ax.set_title(f"{m.rank}: {m.score:.3f}{err}", fontsize=8)
        ok = correct[j] if correct is not None else None
        if ok is None and m.error_m is not None:
            ok = m.error_m <= near_m
        if ok is not None:
            for spine in ax.spines.values():
                spine.set_edgecolor(CORRECT if ok else WRONG)
                spine.set_linewidth(4)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return save_figure(fig, path)
