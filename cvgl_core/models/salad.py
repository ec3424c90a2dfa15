"""SALAD: Sinkhorn Algorithm for Locally Aggregated Descriptors (LRFR's aggregator).

Izquierdo, Civera, "Optimal Transport Aggregation for Visual Place Recognition", CVPR 2024
(original repository: serizba/salad); as used by Gan et al., "Learning Robust Feature
Representation for Cross-View Image Geo-Localization" (LRFR), 2025, Sec. II-B, eqs. (5)-(9).

    f_i = F(t_i) = W2 ReLU(W1 t_i + b1) + b2              feature MLP C -> 512 -> l, eq. (5)
    s_i = S(t_i)                                         score MLP  C -> 512 -> m, eq. (6)
    S_bar = [S; z 1_n^T]                                 dustbin row, scalar z (init 1), eq. (7)
    P_bar = Sinkhorn(S_bar), marginals mu = 1_n over features, kappa = [1_m, n - m]  eq. (8)
    V[l, k] = sum_i P[k, i] f_i[l],  P = P_bar without the dustbin row               eq. (9)
    out = L2(flatten(L2_l(V)))                           (m * l)-D, 128 * 64 = 8192 in LRFR

Sinkhorn runs in the log domain for 3 iterations from u = v = 0 with the marginals
normalised by n + m (log a = norm for clusters, norm + log(n - m) for the dustbin,
log b = norm per feature, norm = -log(n + m)) and P = exp(M + u + v - norm), so after the
last v update every feature column sums to exactly 1 (clusters + dustbin) while cluster
rows sum to 1 only approximately (3 iterations do not converge). It needs n > m.

Departures: LRFR's code has no global token (default here); `token_dim > 0` adds the
original's token MLP (C -> 512 -> token_dim) on a global average-pooled feature, since a
CNN has no class token. V is an einsum, never the [B, l, m, n] product of the code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def log_optimal_transport(scores: torch.Tensor, dustbin: torch.Tensor, iters: int = 3):
    """Log transport plan with the dustbin row, scaled so feature columns sum to 1.

    scores (B, m, n) -> log P_bar (B, m + 1, n); exp(log P_bar) has column sums 1 and
    row sums approximately [1, ..., 1, n - m].
    """
    b, m, n = scores.shape
    if n <= m:
        raise ValueError(
            f"SALAD needs more local features than clusters: n = {n} <= m = {m} clusters; "
            f"use a larger input or fewer clusters (num_clusters < h * w)"
        )
    couplings = torch.cat([scores, dustbin.expand(b, 1, n)], dim=1)  # (B, m + 1, n)
    norm = -math.log(n + m)
    log_a = scores.new_full((m + 1,), norm)
    log_a[m] = norm + math.log(n - m)
    log_b = scores.new_full((n,), norm)
    u = torch.zeros_like(couplings[:, :, 0])  # (B, m + 1)
    v = torch.zeros_like(couplings[:, 0, :])  # (B, n)
    for _ in range(iters):
        u = log_a - torch.logsumexp(couplings + v[:, None, :], dim=2)
        v = log_b - torch.logsumexp(couplings + u[:, :, None], dim=1)
    return couplings + u[:, :, None] + v[:, None, :] - norm


def _mlp(in_channels: int, hidden: int, out_channels: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, 1),
        nn.Dropout(dropout),
        nn.ReLU(),
        nn.Conv2d(hidden, out_channels, 1),
    )


class SALAD(nn.Module):
    """(B, C, H, W) -> (B, m * l [+ token_dim]) L2-normalised; needs H * W > m."""

    def __init__(
        self,
        channels: int,
        num_clusters: int = 128,
        cluster_dim: int = 64,
        hidden: int = 512,
        dropout: float = 0.3,
        iters: int = 3,
        token_dim: int = 0,
    ):
        super().__init__()
        self.num_clusters, self.cluster_dim, self.iters = num_clusters, cluster_dim, iters
        self.cluster_features = _mlp(channels, hidden, cluster_dim, dropout)
        self.score = _mlp(channels, hidden, num_clusters, dropout)
        self.dust_bin = nn.Parameter(torch.tensor(1.0))
        self.token = (
            nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, token_dim))
            if token_dim
            else None
        )
        self.out_dim = num_clusters * cluster_dim + token_dim

    def transport_plan(self, x: torch.Tensor) -> torch.Tensor:
        """P (B, m, n): the Sinkhorn assignment without the dustbin row."""
        log_p = log_optimal_transport(self.score(x).flatten(2), self.dust_bin, self.iters)
        return log_p[:, :-1].exp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.cluster_features(x).flatten(2)  # (B, C, H, W) -> (B, l, n)
        p = self.transport_plan(x)  # (B, m, n)
        v = torch.einsum("bln,bmn->blm", f, p)  # (B, l, m)
        out = F.normalize(v, dim=1).flatten(1)  # per-cluster L2, then (B, l * m)
        if self.token is not None:
            t = self.token(x.mean(dim=(2, 3)))  # (B, token_dim)
            out = torch.cat([F.normalize(t, dim=1), out], dim=1)
        return F.normalize(out, dim=1)
