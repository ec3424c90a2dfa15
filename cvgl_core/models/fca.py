"""Feature cropping and alignment (FCA) of AWM: circular sliding windows along the width.

Zhu, Sun, Xu, "Cross-View Image Geo-localization Based on Attention Weight Masks",
Information Technology and Control 54(3), 2025, Sec. 3.3.2 (steps 1-4, Fig. 7).

The polar satellite map is a 360-degree panorama, so a window of the ground feature width w
slides over all W start columns of the satellite map and wraps past the right edge. Windows
span the full height (the paper slides horizontally only). Window selection is a hard argmax,
as in the paper: gradients reach the kept features, not the choice of window.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_width(w: int, width: int) -> None:
    if not 0 < w <= width:
        raise ValueError(f"window width {w} must be in 1..{width} (satellite feature width)")


def circular_window_sums(colsum: torch.Tensor, w: int) -> torch.Tensor:
    """(B, W) column sums -> (B, W): entry k sums columns k, k+1, ..., k+w-1 (mod W)."""
    _check_width(w, colsum.shape[-1])
    ext = torch.cat([colsum, colsum[:, : w - 1]], dim=1)  # (B, W + w - 1), wrapped
    c = F.pad(ext.cumsum(dim=1), (1, 0))
    return c[:, w:] - c[:, :-w]  # (B, W)


def satellite_peak_starts(mask: torch.Tensor, w: int) -> torch.Tensor:
    """Steps 3-4: start column of the w-wide window of largest summed weight. mask (B, H, W)
    -> (B,) long (ties: the first such column)."""
    return circular_window_sums(mask.sum(dim=1), w).argmax(dim=1)


def crop_columns(x: torch.Tensor, start: torch.Tensor, w: int) -> torch.Tensor:
    """x (B, C, H, W), start (B,) -> (B, C, H, w): columns start .. start+w-1 (mod W)."""
    b, c, h, width = x.shape
    _check_width(w, width)
    cols = (start.view(b, 1) + torch.arange(w, device=x.device)) % width  # (B, w)
    return x.gather(3, cols.view(b, 1, 1, w).expand(b, c, h, w))


def circular_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a (Bq, C, H, w), b (Bs, C, H, W) -> (Bq, Bs, W): entry [q, r, k] is the inner product
    of a[q] with the window of b[r] starting at column k (wrapping). One conv1d per call."""
    bq, c, h, w = a.shape
    bs, width = b.shape[0], b.shape[-1]
    _check_width(w, width)
    ext = torch.cat([b, b[..., : w - 1]], dim=-1).reshape(bs, c * h, width + w - 1)
    out = F.conv1d(ext, a.reshape(bq, c * h, w))  # cross-correlation: (Bs, Bq, W)
    return out.transpose(0, 1)
