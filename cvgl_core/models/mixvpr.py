"""MixVPR: feature-mixing aggregation (FRG's aggregator).

Ali-bey, Chaib-draa, Giguere, "MixVPR: Feature Mixing for Visual Place Recognition",
WACV 2023 (original repository: amaralibey/MixVPR); as used by Hou et al., "Feature
Relation Guided Cross-View Image Based Geo-Localization", Remote Sensing 2023, eqs. (14)-(16).

    F: (C, n) flattened feature maps, n = h * w
    FM(X) = X + W2 ReLU(W1 LayerNorm_n(X))        mixing along the spatial axis, n -> r n -> n
    Z = FM_L(... FM_1(F))                         eq. (14)
    Z' = W_d Z^T: (C, n) -> (d, n)                channel ("depth") projection, eq. (15)
    O = W_r Z'^T: (d, n) -> (d, r)                row projection, eq. (16)
    out = L2(flatten(O))                          d * r dimensions

FRG does not state its MixVPR setting, so the MixVPR paper's is the default: depth L = 4,
mlp ratio 1, d = out_channels = 1024, r = out_rows = 4 (4096-D). The mixer Linears start
trunc-normal(0.02) with zero bias as in the original. Like FRG's relation branch, the
mixer works on n = h * w features, so it is built for one `feature_hw`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FeatureMixerLayer(nn.Module):
    def __init__(self, n: int, mlp_ratio: float = 1.0):
        super().__init__()
        hidden = int(n * mlp_ratio)
        self.mix = nn.Sequential(
            nn.LayerNorm(n), nn.Linear(n, hidden), nn.ReLU(), nn.Linear(hidden, n)
        )
        for m in self.mix:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(x)


class MixVPR(nn.Module):
    """(B, C, h, w) -> (B, out_channels * out_rows) L2-normalised, for the declared (h, w)."""

    def __init__(
        self,
        channels: int,
        feature_hw: tuple[int, int],
        out_channels: int = 1024,
        out_rows: int = 4,
        mix_depth: int = 4,
        mlp_ratio: float = 1.0,
    ):
        super().__init__()
        self.feature_hw = (int(feature_hw[0]), int(feature_hw[1]))
        n = self.feature_hw[0] * self.feature_hw[1]
        self.mix = nn.Sequential(*[FeatureMixerLayer(n, mlp_ratio) for _ in range(mix_depth)])
        self.channel_proj = nn.Linear(channels, out_channels)
        self.row_proj = nn.Linear(n, out_rows)
        self.out_dim = out_channels * out_rows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.feature_hw:
            h, w = self.feature_hw
            raise ValueError(
                f"MixVPR was built for a {h} x {w} feature map (from the declared input size) "
                f"but got {x.shape[-2]} x {x.shape[-1]}"
            )
        z = self.mix(x.flatten(2))  # (B, C, n)
        z = self.channel_proj(z.transpose(1, 2))  # (B, n, d)
        o = self.row_proj(z.transpose(1, 2))  # (B, d, r)
        return F.normalize(o.flatten(1), dim=1)
