"""NetVLAD: the baseline aggregator of LRFR's Tables III-IV.

Arandjelovic, Gronat, Torii, Pajdla, Sivic, "NetVLAD: CNN Architecture for Weakly
Supervised Place Recognition", CVPR 2016 (PyTorch reference: Nanne/pytorch-NetVlad; the
LRFR authors' copy in WenjianGan/LRFR models/aggregation.py).

    x_i <- x_i / ||x_i||                                local descriptors, C-D
    a_k(x_i) = softmax_k(w_k^T x_i)                     1x1 conv (no bias), K clusters
    V[k] = sum_i a_k(x_i) (x_i - c_k)                   residuals to learnable centroids
    out = L2(flatten(L2_C(V)))                          intra-normalise, flatten, L2: K * C

As in the authors' code the centroids start uniform in [0, 1) and the assignment conv is
not initialised from them (no k-means init, which would need data). V is computed as
a^T x - c * sum_i a, not with a loop over clusters.

Option (not in the paper): `centroid_scale` multiplies that uniform init. With C channels the
authors' centroids have norm ~sqrt(C / 3) against unit-norm features, so every residual
x_i - c_k is dominated by -c_k and all images start with nearly the same descriptor; a
pretrained backbone over 40 epochs moves past that, a from-scratch backbone in a few cpu
epochs barely does. A small scale (e.g. 0.01) starts the residuals at the features. Measured on
the cpu-profile University-1652-like set (3 epochs from scratch, notebooks/01_lrfr.ipynb):
the authors' init stays at chance; scale 0.01 alone collapses (all distances equal);
scale 0.01 with normalize_input=False learns.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NetVLAD(nn.Module):
    """(B, C, H, W) -> (B, K * C) L2-normalised."""

    def __init__(
        self,
        channels: int,
        num_clusters: int = 64,
        normalize_input: bool = True,
        centroid_scale: float = 1.0,
    ):
        super().__init__()
        self.num_clusters = num_clusters
        self.normalize_input = normalize_input
        self.conv = nn.Conv2d(channels, num_clusters, 1, bias=False)
        self.centroids = nn.Parameter(centroid_scale * torch.rand(num_clusters, channels))
        self.out_dim = num_clusters * channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize_input:
            x = F.normalize(x, dim=1)
        a = torch.softmax(self.conv(x).flatten(2), dim=1)  # (B, K, n)
        xf = x.flatten(2)  # (B, C, n)
        vlad = a @ xf.transpose(1, 2) - self.centroids[None] * a.sum(2)[:, :, None]  # (B, K, C)
        return F.normalize(F.normalize(vlad, dim=2).flatten(1), dim=1)
