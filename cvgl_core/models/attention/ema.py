"""EMA: Efficient Multi-scale Attention.

Ouyang, He, Zhang, Wang, Hu, Luo, Guo, Wang, "Efficient Multi-Scale Attention Module with
Cross-Spatial Learning", ICASSP 2023 (original repository: YOLOonMe/EMA-attention-module).
LRFR's Table III.

Per group g of C/G channels (G = `factor` = 32), weights shared across groups:
    x1 = GroupNorm(g * sigmoid(conv1x1(pool_h g)) * sigmoid(conv1x1(pool_w g)))
    x2 = conv3x3(g)
    map = softmax(GAP(x1))^T x2 + softmax(GAP(x2))^T x1        (1, h*w) per group
    out = g * sigmoid(map)
"""

from __future__ import annotations

import torch
from torch import nn

from cvgl_core.models.attention import ATTENTION


class EMA(nn.Module):
    def __init__(self, channels: int, factor: int = 32):
        super().__init__()
        if channels % factor:
            raise ValueError(f"EMA: channels {channels} not divisible by factor {factor}")
        self.groups = factor
        cg = channels // factor
        self.conv1x1 = nn.Conv2d(cg, cg, 1)
        self.conv3x3 = nn.Conv2d(cg, cg, 3, padding=1)
        self.gn = nn.GroupNorm(cg, cg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = x.reshape(b * self.groups, c // self.groups, h, w)  # (bG, C/G, h, w)
        z_h = g.mean(3, keepdim=True)  # (bG, C/G, h, 1)
        z_w = g.mean(2, keepdim=True).transpose(2, 3)  # (bG, C/G, w, 1)
        f_h, f_w = self.conv1x1(torch.cat([z_h, z_w], 2)).split([h, w], 2)
        x1 = self.gn(g * f_h.sigmoid() * f_w.transpose(2, 3).sigmoid())
        x2 = self.conv3x3(g)
        a1 = torch.softmax(x1.mean(dim=(2, 3)), dim=-1)[:, None, :]  # (bG, 1, C/G)
        a2 = torch.softmax(x2.mean(dim=(2, 3)), dim=-1)[:, None, :]
        weights = a1 @ x2.flatten(2) + a2 @ x1.flatten(2)  # (bG, 1, h*w)
        return (g * weights.reshape(-1, 1, h, w).sigmoid()).reshape(b, c, h, w)


@ATTENTION.register("ema")
def _ema(channels: int, **kwargs) -> nn.Module:
    return EMA(channels, **kwargs)
