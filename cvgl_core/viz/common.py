"""Shared pieces of the figures: image conversion, heat-map overlay, atomic saving."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from cvgl_core.utils import atomic_write_bytes


def save_figure(fig, path: str | os.PathLike | None, dpi: int = 150):
    """Write `fig` atomically to `path` (format from the suffix); no-op when path is None."""
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


def overlay(rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5, cmap: str = "jet"):
    """Blend a [0, 1] map (same H, W) in `cmap` over a float RGB image."""
    import matplotlib

    colours = matplotlib.colormaps[cmap](heatmap)[..., :3].astype(np.float32)
    return np.clip((1 - alpha) * rgb + alpha * colours, 0.0, 1.0)
