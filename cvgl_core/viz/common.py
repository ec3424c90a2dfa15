"""Shared pieces of the figures: image conversion, heat-map overlay with its colour bar,
integer axes, atomic saving at one resolution."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from cvgl_core.utils import atomic_write_bytes

DPI = 150  # every saved figure: one resolution, so figures of different notebooks compare
HEATMAP_CMAP = "jet"


def save_figure(fig, path: str | os.PathLike | None, dpi: int = DPI):
    """Write `fig` atomically to `path` (format from the suffix); no-op when path is None.

    Saved with bbox_inches="tight": the pixel size is the drawn content's plus
    rcParams["savefig.pad_inches"] (0.1 in) each side, so (figsize + 0.2 in) * dpi for a
    figure filled edge to edge."""
    if path is None:
        return fig
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())
    return fig


def to_rgb(image, mean=None, std=None) -> np.ndarray:
    """Tensor (3, H, W) or array (H, W, 3)/(3, H, W)/(H, W) -> float32 (H, W, 3) in [0, 1].

    `mean`/`std` undo a normalisation (e.g. ImageNet's); otherwise values outside [0, 1]
    are min-max scaled, so a normalised tensor still displays.
    """
    a = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else image
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3:
        raise ValueError(f"image must be (3, H, W), (H, W, 3) or (H, W), got shape {a.shape}")
    if a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
        a = a.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if mean is not None and std is not None:
        a = a * np.asarray(std, np.float32) + np.asarray(mean, np.float32)
    elif a.max() > 1.0 + 1e-6 and a.max() <= 255 and a.min() >= 0:
        a = a / 255.0
    elif a.min() < 0 or a.max() > 1:
        a = (a - a.min()) / max(float(a.max() - a.min()), 1e-12)
    return np.clip(a, 0.0, 1.0)


def resize_map(heatmap, height: int, width: int) -> np.ndarray:
    """(h, w) map -> (height, width) float32 by bilinear interpolation, min-max to [0, 1]."""
    m = torch.as_tensor(np.asarray(heatmap, dtype=np.float32))
    if m.ndim != 2:
        raise ValueError(f"heat map must be 2-D (H, W), got shape {tuple(m.shape)}")
    if not torch.isfinite(m).all():
        raise ValueError("heat map holds NaN/inf")
    if m.shape != (height, width):
        m = torch.nn.functional.interpolate(
            m[None, None], size=(height, width), mode="bilinear", align_corners=False
        )[0, 0]
    m = m - m.min()
    return (m / m.max().clamp(min=1e-12)).numpy()


def overlay(rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5, cmap: str = HEATMAP_CMAP):
    """Blend a [0, 1] map (same H, W) in `cmap` over a float RGB image."""
    import matplotlib

    colours = matplotlib.colormaps[cmap](heatmap)[..., :3].astype(np.float32)
    return np.clip((1 - alpha) * rgb + alpha * colours, 0.0, 1.0)


def integer_axis(ax, axis: str = "x"):
    """Ticks at integers only on `axis` ("x" or "y"): epochs, K, counts."""
    from matplotlib.ticker import MaxNLocator

    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))
    return ax


def colorbar(
    ax,
    *,
    label: str,
    mappable=None,
    cmap: str = HEATMAP_CMAP,
    vmin: float = 0.0,
    vmax: float = 1.0,
):
    """A labelled colour bar beside `ax`; returns the Colorbar.

    mappable: what the bar describes (an imshow of a colour-mapped array); None: `cmap` over
    [vmin, vmax] on its own, as an overlay needs (a blended RGB image has no colour map, and
    the bar must show the map's colours unblended)."""
    import matplotlib
    from matplotlib.cm import ScalarMappable

    if mappable is None:
        mappable = ScalarMappable(
            matplotlib.colors.Normalize(vmin, vmax), matplotlib.colormaps[cmap]
        )
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    # a divider, not colorbar(ax=ax): the bar follows the image's drawn height, whatever its
    # aspect (a wide panorama's bar would otherwise be as tall as the whole grid cell)
    cax = make_axes_locatable(ax).append_axes("right", size="4%", pad=0.05)
    bar = ax.figure.colorbar(mappable, cax=cax)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return bar


_colorbar = colorbar  # heatmap_panel's `colorbar` flag shadows the function inside it


def heatmap_panel(
    ax,
    image,
    heatmap,
    *,
    colorbar: bool = True,
    label: str = "Grad-CAM",
    title: str | None = None,
    alpha: float = 0.5,
    cmap: str = HEATMAP_CMAP,
    aspect=None,
    mean=None,
    std=None,
):
    """Draw `heatmap` (any (h, w), resized to the image and min-max scaled to [0, 1]) over
    `image` on `ax`, with a colour bar "<label> (min-max scaled, 0-1)". Returns the Colorbar
    (None without one). One call in place of imshow(overlay(rgb, resize_map(...)))."""
    rgb = to_rgb(image, mean, std)  # (H, W, 3)
    hm = heatmap.detach().float().cpu().numpy() if isinstance(heatmap, torch.Tensor) else heatmap
    ax.imshow(overlay(rgb, resize_map(hm, *rgb.shape[:2]), alpha, cmap), aspect=aspect)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    if not colorbar:
        return None
    return _colorbar(ax, label=f"{label} (min-max scaled, 0-1)", cmap=cmap)


def mask_panel(
    ax,
    mask,
    *,
    label: str = "mask",
    title: str | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    aspect=None,
):
    """A (H, W) mask (e.g. AWM's attention-weight masks) drawn as it is, not rescaled, with a
    colour bar of its values; vmin/vmax fix the range (e.g. 0, 1 for sigmoid gates) so masks
    of several panels share one scale. Returns the Colorbar."""
    m = mask.detach().float().cpu().numpy() if isinstance(mask, torch.Tensor) else mask
    m = np.asarray(m, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect=aspect)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    return colorbar(ax, label=label, mappable=im)
