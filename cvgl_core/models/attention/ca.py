"""Coordinate attention (CA).

Hou, Zhou, Feng, "Coordinate Attention for Efficient Mobile Network Design", CVPR 2021
(original repository: houqb/CoordAttention). Used inside every ResNet18 basic block by
AWM and as one of LRFR's Table III attention modules.

    z^h_c(h) = mean_w x_c(h, w)        z^w_c(w) = mean_h x_c(h, w)
    f = h_swish(BN(F1([z^h, z^w])))     shared 1x1 conv C -> mip, mip = max(8, C // 32)
    g^h = sigmoid(F_h(f^h))             g^w = sigmoid(F_w(f^w))   (1x1 conv mip -> C each)
    y_c(i, j) = x_c(i, j) * g^h_c(i) * g^w_c(j)

Follows the original code (mip = max(8, C // 32), biased convs), not timm's CoordAttn.
`last_gates` keeps (g^h, g^w) of the latest forward so AWM can form its H x W mask.
"""

from __future__ import annotations

import torch
from torch import nn

from cvgl_core.models.attention import ATTENTION


class CoordAtt(nn.Module):
    def __init__(self, channels: int, reduction: int = 32, min_mip: int = 8):
        super().__init__()
        mip = max(min_mip, channels // reduction)
        self.conv1 = nn.Conv2d(channels, mip, 1)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(mip, channels, 1)
        self.conv_w = nn.Conv2d(mip, channels, 1)
        self.last_gates: tuple[torch.Tensor, torch.Tensor] | None = None

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(g_h, g_w): (B, C, H, 1) and (B, C, 1, W), each in (0, 1)."""
        _, _, h, w = x.shape
        z_h = x.mean(dim=3, keepdim=True)  # (B, C, H, 1)
        z_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (B, C, W, 1)
        f = self.act(self.bn1(self.conv1(torch.cat([z_h, z_w], dim=2))))  # (B, mip, H+W, 1)
        f_h, f_w = torch.split(f, [h, w], dim=2)
        g_h = torch.sigmoid(self.conv_h(f_h))  # (B, C, H, 1)
        g_w = torch.sigmoid(self.conv_w(f_w.transpose(2, 3)))  # (B, C, 1, W)
        return g_h, g_w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g_h, g_w = self.gates(x)
        self.last_gates = (g_h, g_w)
        return x * g_h * g_w


@ATTENTION.register("ca")
def _ca(channels: int, **kwargs) -> nn.Module:
    return CoordAtt(channels, **kwargs)
