"""Polar transform of aerial images (SAFA: Shi et al., "Spatial-Aware Feature Aggregation
for Cross-View Image Based Geo-Localization", NeurIPS 2019).

For an aerial image of side S and a target of H x W (ii = target row, jj = target column):

    r          = S/2 * (H - 1 - ii) / H
    row_aerial = S/2 + r * cos(2 pi jj / W)
    col_aerial = S/2 - r * sin(2 pi jj / W)

sampled bilinearly, zero outside. Top target row = outer ring, bottom row = centre;
column 0 looks south, W/4 west, W/2 north, 3W/4 east (north-centred panoramas).

Where the formula is ambiguous is the pixel coordinate convention:
* ``convention="center"`` (default): (row, col) are continuous image coordinates in which
  pixel p covers [p, p+1), so S/2 is the exact geometric centre. The sampling grid then
  depends only on (H, W), and flipping or rotating the aerial image by 90 degrees maps
  exactly onto mirroring or rolling the transform (see transforms.joint_hflip/joint_rot90).
* ``convention="safa"``: (row, col) are pixel indices, as SAFA's numpy preprocessing reads
  them; its centre S/2 lies half a pixel below/right of the geometric centre.
The two differ by half a pixel of the aerial image.

The grid is computed once per (S, H, W, convention) and cached; a batch shares it through
an expanded (stride-0) view, so the whole batch is one grid_sample call. (Folding the batch
into channels measured slower on CPU: the gathers then stride across thousands of planes.)
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

CONVENTIONS = ("center", "safa")


@functools.lru_cache(maxsize=32)
def _polar_grid_cpu(size: int, height: int, width: int, convention: str) -> torch.Tensor:
    if convention not in CONVENTIONS:
        raise ValueError(
            f"unknown polar convention {convention!r}; known: {', '.join(CONVENTIONS)}"
        )
    ii = torch.arange(height, dtype=torch.float64).view(height, 1)
    jj = torch.arange(width, dtype=torch.float64).view(1, width)
    theta = 2 * math.pi * jj / width
    r = size / 2 * (height - 1 - ii) / height  # (H, 1)
    row = size / 2 + r * torch.cos(theta)  # (H, W)
    col = size / 2 - r * torch.sin(theta)
    if convention == "center":  # continuous coordinates, align_corners=False
        u_row, u_col = 2 * row / size - 1, 2 * col / size - 1
    else:  # pixel indices, align_corners=True
        u_row, u_col = 2 * row / (size - 1) - 1, 2 * col / (size - 1) - 1
    # grid_sample wants (x, y) = (col, row) in [-1, 1]: (1, H, W, 2)
    return torch.stack([u_col, u_row], dim=-1).unsqueeze(0).float()


def polar_grid(
    size: int,
    out_hw: tuple[int, int],
    convention: str = "center",
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The cached sampling grid (1, H, W, 2) for grid_sample, (x, y) = (col, row) in [-1, 1]."""
    grid = _polar_grid_cpu(int(size), int(out_hw[0]), int(out_hw[1]), convention)
    return grid.to(device=device, dtype=dtype)


def polar_transform(
    x: torch.Tensor, out_hw: tuple[int, int], convention: str = "center"
) -> torch.Tensor:
    """Polar-transform square aerial images: (C, S, S) or (B, C, S, S) -> (..., C, H, W).

    Runs on x's device in one grid_sample call; integer images are converted to float32.
    """
    if x.dim() not in (3, 4) or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"polar_transform expects (C, S, S) or (B, C, S, S), got {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.float()
    single = x.dim() == 3
    xb = x.unsqueeze(0) if single else x
    b, _, s, _ = xb.shape
    grid = polar_grid(s, out_hw, convention, device=xb.device, dtype=xb.dtype)
    align = convention == "safa"
    # (B, C, S, S) -> (B, C, H, W)
    y = F.grid_sample(
        xb, grid.expand(b, -1, -1, -1), mode="bilinear", padding_mode="zeros", align_corners=align
    )
    return y[0] if single else y


class PolarTransform(nn.Module):
    """nn.Module wrapper of `polar_transform` for use on a GPU batch inside a model or loop."""

    def __init__(self, out_hw: tuple[int, int], convention: str = "center"):
        super().__init__()
        self.out_hw = (int(out_hw[0]), int(out_hw[1]))
        self.convention = convention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return polar_transform(x, self.out_hw, self.convention)

    def extra_repr(self) -> str:
        return f"out_hw={self.out_hw}, convention={self.convention!r}"
