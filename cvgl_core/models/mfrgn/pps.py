"""Pyramid pooling sampling (PPS), MFRGN Sec. 3.2 "Strategy 2" and Fig. 5.

Paper: "MFRGN: Multi-scale Feature Representation Generalization Network for
Ground-to-Aerial Geo-localization", ACM Multimedia 2024. The pooling pyramid is PSPNet's
(Zhao et al., CVPR 2017).

S1 (B, C, H, W) is average-pooled adaptively to each size of a list, each map is flattened
and the maps are concatenated along the token axis: n = sum(h_k * w_k) tokens, n << H*W.
Fig. 5's example (1, 3, 6, 8) gives 110 tokens. Implementation details (Sec. 4.1):
satellite (1x1, 6x6, 12x12, 21x21) -> 622 tokens; street view (1x1, 3x12, 6x24, 7x36) ->
433 tokens. Departure noted: the authors' public code uses 7x63 for the last street level
(441 tokens, 622 in all as for the satellite); pass `PPS_GROUND_PUBLIC_CODE` to get it.
A size larger than the map (e.g. at smoke resolutions) still works: adaptive pooling then
repeats pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Size = tuple[int, int]

PPS_SATELLITE: tuple[Size, ...] = ((1, 1), (6, 6), (12, 12), (21, 21))  # 622 tokens
PPS_GROUND: tuple[Size, ...] = ((1, 1), (3, 12), (6, 24), (7, 36))  # 433 tokens
PPS_GROUND_PUBLIC_CODE: tuple[Size, ...] = ((1, 1), (3, 12), (6, 24), (7, 63))  # 622 tokens


def as_sizes(sizes) -> tuple[Size, ...]:
    """Accept 6 or (3, 12) per level; return ((h, w), ...)."""
    out = []
    for s in sizes:
        h, w = (s, s) if isinstance(s, int) else tuple(s)
        if h < 1 or w < 1:
            raise ValueError(f"PPS sizes must be positive, got {sizes!r}")
        out.append((int(h), int(w)))
    if not out:
        raise ValueError("PPS needs at least one pooling size")
    return tuple(out)


class PyramidPoolingSampling(nn.Module):
    """(B, C, H, W) -> (B, C, n) with n = sum(h * w); `pieces` keeps the 2-D maps per level."""

    def __init__(self, sizes=PPS_SATELLITE):
        super().__init__()
        self.sizes = as_sizes(sizes)

    @property
    def num_tokens(self) -> int:
        return sum(h * w for h, w in self.sizes)

    def pieces(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [F.adaptive_avg_pool2d(x, s) for s in self.sizes]  # [(B, C, h_k, w_k)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([p.flatten(2) for p in self.pieces(x)], dim=2)  # (B, C, n)
