"""Global pooling heads shared by the baselines and the papers' aggregator switches.

GeM: Radenovic, Tolias, Chum, "Fine-tuning CNN Image Retrieval with No Human
Annotation", TPAMI 2018:  f_c = (mean_{h,w} clamp(x_c, eps)^p)^(1/p), p learnable (init 3).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GeM(nn.Module):
    """(B, C, H, W) -> (B, C), L2-normalised unless normalize=False."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, normalize: bool = True):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)))
        self.eps = eps
        self.normalize = normalize
        self.out_dim_factor = 1  # descriptor length = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.clamp(min=self.eps).pow(self.p).mean(dim=(2, 3)).pow(1.0 / self.p)  # (B, C)
        return F.normalize(y, dim=1) if self.normalize else y


class AvgPool(nn.Module):
    """Global average pooling, (B, C, H, W) -> (B, C), L2-normalised unless normalize=False."""

    def __init__(self, normalize: bool = True):
        super().__init__()
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=(2, 3))
        return F.normalize(y, dim=1) if self.normalize else y
