"""Heat-map overlays: Grad-CAM maps and the gates of attention modules that expose them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cvgl_core.viz.common import heatmap_panel, save_figure, to_rgb


def gate_map(g_h: torch.Tensor, g_w: torch.Tensor, sample: int = 0) -> np.ndarray:
    """Coordinate-attention gates (B, C, H, 1) and (B, C, 1, W) -> (H, W) map.

    The channel mean of g_h * g_w: where the module lets features through (CoordAtt keeps
    them in `.last_gates`). A model with its own mask (AWM's) should plot that mask instead.
    """
    if g_h.ndim != 4 or g_w.ndim != 4 or g_h.shape[-1] != 1 or g_w.shape[-2] != 1:
        raise ValueError(
            f"gates must be (B, C, H, 1) and (B, C, 1, W), got {tuple(g_h.shape)} and "
            f"{tuple(g_w.shape)}"
        )
    return (g_h[sample] * g_w[sample]).mean(0).detach().float().cpu().numpy()  # (H, W)


def plot_heatmap(
    image,
    heatmaps,
    *,
    titles: Sequence[str] | str | None = None,
    alpha: float = 0.5,
    mean=None,
    std=None,
    show_image: bool = True,
    colorbar: bool = True,
    label: str = "heat map",
    path=None,
):
    """The image, then each heat map (Grad-CAM or a gate map of any size) overlaid on it.

    heatmaps: one (h, w) map or a list of them (e.g. one per attention module, LRFR Fig. 4).
    Each is resized to the image (bilinear) and min-max scaled to [0, 1], which its colour
    bar ("<label> (min-max scaled, 0-1)") states. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    rgb = to_rgb(image, mean, std)
    single = isinstance(heatmaps, (np.ndarray, torch.Tensor)) and heatmaps.ndim == 2
    maps = [heatmaps] if single else list(heatmaps)
    titles = [titles] if isinstance(titles, str) else list(titles or [""] * len(maps))
    if len(titles) != len(maps):
        raise ValueError(f"{len(titles)} titles for {len(maps)} heat maps")
    n = len(maps) + int(show_image)
    # a colour bar takes ~0.6 in beside its panel
    width = 3 * n + (0.6 * len(maps) if colorbar else 0)
    fig, axes = plt.subplots(1, n, figsize=(width, 3), squeeze=False)
    axes = list(axes[0])
    if show_image:
        ax = axes.pop(0)
        ax.imshow(rgb)
        ax.set_title("image")
        ax.axis("off")
    for ax, title, m in zip(axes, titles, maps):
        heatmap_panel(ax, rgb, m, colorbar=colorbar, label=label, title=title, alpha=alpha)
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path)
