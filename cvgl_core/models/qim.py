"""Quadrant Insight Module (QIM) of GLQINet: stripe pooling along four directions.

Xu, Yin, Zhang, Gao, "Enhancing Cross-View Geo-Localization Through Global-Local Quadrant
Interaction Network", Preprints.org 2025 (doi 10.20944/preprints202503.1203.v1), Sec. 3.2,
eqs. (2)-(6). No public code exists.

The backbone map f (C x H x W) is average-pooled into t stripes along each direction:

    HAP  h_k = mean of the cells in row band k          (eq. 2)
    VAP  v_k = mean of the cells in column band k       (eq. 3)
    DAP  d_k = mean of the cells in diagonal band k     (eq. 4; cells grouped by i - j)
    AAP  a_k = mean of the cells in anti-diagonal band k (eq. 5; cells grouped by i + j)

Each direction gives every cell (i, j) a 1-D index: i (HAP), j (VAP), i - j + W - 1 (DAP),
i + j (AAP), with N = H, W, H + W - 1, H + W - 1 values. The N index values are cut into t
equal bands with the adaptive-pooling rule, band k = [floor(k N / t), ceil((k+1) N / t)),
so t = 1 is global average pooling, HAP equals `adaptive_avg_pool2d(f, (t, 1))`, non-square
maps work, and t > N gives overlapping (never empty) bands. Pooling is one matmul with
band-membership weights precomputed per (H, W, t).

Ambiguities, resolved here:
* t. The ablation (Sec. 4.5 (2), Fig. 5) says "by default, we set t = 4"; the implementation
  section says "the parameter n is set to be 8". Eqs. (2)-(5) are written "when t = n", with
  n the number of cells averaged per stripe, and n = 8 is also the side of ConvNeXt-Tiny's
  map at 256 px. Default t = 4 (the ablation default and the only value consistent with the
  16 x 512 descriptor: 4 directions x 4 stripes); t = 8 is one argument away.
* Diagonal bands. Default `diagonal_mode="bands"`: contiguous bands of i - j (and i + j),
  the reading of the issue. Eq. (4) averages exactly n cells per diagonal stripe, which on an
  n x n map with t = n only holds for wrapped diagonals; `diagonal_mode="wrapped"` groups
  cells by (j - i) mod W and (i + j) mod W instead (W classes of H cells each).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

DIRECTIONS = ("horizontal", "vertical", "diagonal", "anti_diagonal")
DIAGONAL_MODES = ("bands", "wrapped")


def direction_index(h: int, w: int, direction: str, diagonal_mode: str = "bands"):
    """(index (H, W) long tensor, number of index values N) for one pooling direction."""
    i = torch.arange(h).view(h, 1).expand(h, w)
    j = torch.arange(w).view(1, w).expand(h, w)
    if direction == "horizontal":
        return i, h
    if direction == "vertical":
        return j, w
    if direction not in ("diagonal", "anti_diagonal"):
        raise KeyError(f"unknown QIM direction {direction!r}; known: {', '.join(DIRECTIONS)}")
    if diagonal_mode == "bands":
        idx = i - j + (w - 1) if direction == "diagonal" else i + j
        return idx, h + w - 1
    if diagonal_mode == "wrapped":
        idx = (j - i) % w if direction == "diagonal" else (i + j) % w
        return idx, w
    raise KeyError(f"unknown diagonal_mode {diagonal_mode!r}; known: {', '.join(DIAGONAL_MODES)}")


@functools.lru_cache(maxsize=64)
def band_weights(h: int, w: int, t: int, diagonal_mode: str = "bands") -> torch.Tensor:
    """Averaging weights (4, t, H*W): row [d, k] is 1/|band| on the cells of band k of direction
    d, zero elsewhere, so `x.flatten(2) @ weights` pools every stripe at once."""
    if t < 1:
        raise ValueError(f"QIM needs t >= 1 stripes, got t={t}")
    out = torch.zeros(len(DIRECTIONS), t, h * w)
    for d, direction in enumerate(DIRECTIONS):
        idx, n = direction_index(h, w, direction, diagonal_mode)
        idx = idx.reshape(-1)  # (H*W,)
        for k in range(t):
            lo, hi = (k * n) // t, -((-(k + 1) * n) // t)  # floor(kN/t), ceil((k+1)N/t)
            member = (idx >= lo) & (idx < hi)
            out[d, k] = member.float() / member.sum()
    return out


class QIM(nn.Module):
    """(B, C, H, W) -> (B, 4, t, C): t stripe features per direction, in DIRECTIONS order.
    Parameter-free."""

    def __init__(self, t: int = 4, diagonal_mode: str = "bands"):
        super().__init__()
        if diagonal_mode not in DIAGONAL_MODES:
            raise KeyError(
                f"unknown diagonal_mode {diagonal_mode!r}; known: {', '.join(DIAGONAL_MODES)}"
            )
        self.t = t
        self.diagonal_mode = diagonal_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        weights = band_weights(h, w, self.t, self.diagonal_mode).to(x.device, x.dtype)
        pooled = x.flatten(2) @ weights.view(-1, h * w).T  # (B, C, H*W) -> (B, C, 4*t)
        return pooled.view(b, c, len(DIRECTIONS), self.t).permute(0, 2, 3, 1)  # (B, 4, t, C)
