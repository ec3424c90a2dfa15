"""ECA: Efficient Channel Attention.

Wang, Wu, Zhu, Li, Zuo, Hu, "ECA-Net: Efficient Channel Attention for Deep Convolutional
Neural Networks", CVPR 2020 (original repository: BangguWu/ECANet). LRFR's Table III.

    y = GAP(x);  w = sigmoid(Conv1d_k(y)) over the channel axis;  out = x * w
    k = |(log2(C) + b) / gamma| rounded up to odd, gamma = 2, b = 1 (at least 3)

`k_size=None` picks the adaptive k of the paper; the LRFR authors' code fixes k = 3.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cvgl_core.models.attention import ATTENTION


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    t = int(abs((math.log2(channels) + b) / gamma))
    return max(3, t if t % 2 else t + 1)


class ECA(nn.Module):
    def __init__(self, channels: int, k_size: int | None = None):
        super().__init__()
        k = eca_kernel_size(channels) if k_size is None else k_size
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=(2, 3))[:, None, :]  # (B, 1, C): channels are the 1-D sequence
        w = torch.sigmoid(self.conv(y))[:, 0, :, None, None]  # (B, C, 1, 1)
        return x * w


@ATTENTION.register("eca")
def _eca(channels: int, **kwargs) -> nn.Module:
    return ECA(channels, **kwargs)
