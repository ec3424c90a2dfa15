"""CBAM: Convolutional Block Attention Module.

Woo, Park, Lee, Kweon, "CBAM: Convolutional Block Attention Module", ECCV 2018 (original
repository: Jongchan/attention-module). One of LRFR's Table III modules and FRG's Table 4
alternative to MC_GRA.

    M_c(F) = sigmoid(MLP(AvgPool(F)) + MLP(MaxPool(F)))      shared MLP C -> C/r -> C
    F'     = M_c(F) * F
    M_s(F') = sigmoid(BN(f^{7x7}([MaxPool_c(F'); AvgPool_c(F')])))
    F''    = M_s(F') * F'

Follows the original code (biased MLP, BN after the 7x7 conv with momentum 0.01 and eps 1e-5,
Jongchan/attention-module MODELS/cbam.py `BasicConv`; torch's default momentum 0.1 would move
the running statistics 10x faster). The LRFR authors' own CBAM (WenjianGan/LRFR
models/attention.py) differs: bias-free MLP, no BN (a biased 7x7 conv), and a residual
`F'' + F`; `residual=True, spatial_bn=False, mlp_bias=False` reproduces it, and
`create_model("lrfr", attention_variant="lrfr_code")` selects it (lrfr.ATTENTION_VARIANTS).
"""

from __future__ import annotations

import torch
from torch import nn

from cvgl_core.models.attention import ATTENTION


class CBAM(nn.Module):
    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        kernel_size: int = 7,
        spatial_bn: bool = True,
        mlp_bias: bool = True,
        residual: bool = False,
    ):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=mlp_bias),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1, bias=mlp_bias),
        )
        self.spatial = nn.Sequential(
            nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=not spatial_bn),
            nn.BatchNorm2d(1, eps=1e-5, momentum=0.01) if spatial_bn else nn.Identity(),
        )
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        mx = x.amax(dim=(2, 3), keepdim=True)
        y = x * torch.sigmoid(self.mlp(avg) + self.mlp(mx))
        pooled = torch.cat([y.amax(dim=1, keepdim=True), y.mean(dim=1, keepdim=True)], 1)
        y = y * torch.sigmoid(self.spatial(pooled))  # (B, 2, H, W) -> gate (B, 1, H, W)
        return y + x if self.residual else y


@ATTENTION.register("cbam")
def _cbam(channels: int, **kwargs) -> nn.Module:
    return CBAM(channels, **kwargs)
