"""Self and Cross Attention Module (SCAM): MFRGN's global representation flow.

Paper: "MFRGN: Multi-scale Feature Representation Generalization Network for
Ground-to-Aerial Geo-localization", ACM Multimedia 2024 (Sec. 3.2, Eqs. 2-3, Fig. 3-4).
The high/low split is Lite-DETR's (Li et al., CVPR 2023).

F_H = tokens of S2-S4 (high level), F_L = tokens of S1 (low level, PPS-sampled when PPS is
on). With LTE(Q, K=V) a Lite-Transformer encoder layer:

    Eq. 2, A times (A = 2):  F_H <- LTE(Q = F_H, K = V = Concat(F_H, F_L))   (F_L fixed)
    Eq. 3, B times (B = 1):  F_L <- LTE(Q = F_L, K = V = Concat(F_L, F'_H))
    f^g = Concat(F'_L, F'_H)

Each of the A + B updates has its own weights (the public code clones the layer); all A
high-level updates run before the low-level ones, as Eq. 3's "F'_H from the previous
iteration of F_H" and the public code say.
"""

from __future__ import annotations

import torch
from torch import nn

from cvgl_core.models.mfrgn.attention import LiteTransformerEncoder


class SCAM(nn.Module):
    """(F_L (B, N_L, d), F_H (B, N_H, d)) -> (F'_L, F'_H), same shapes."""

    def __init__(
        self,
        d_model: int = 128,
        heads: int = 4,
        ffn_dim: int = 2048,
        dropout: float = 0.3,
        attention: str = "linear",
        A: int = 2,
        B: int = 1,
    ):
        super().__init__()
        if A < 0 or B < 0:
            raise ValueError(f"SCAM update counts must be >= 0, got A={A}, B={B}")

        def lte():
            return LiteTransformerEncoder(d_model, heads, ffn_dim, dropout, attention)

        self.high_updates = nn.ModuleList(lte() for _ in range(A))
        self.low_updates = nn.ModuleList(lte() for _ in range(B))

    def forward(self, f_low: torch.Tensor, f_high: torch.Tensor):
        for layer in self.high_updates:  # Eq. 2
            f_high = layer(f_high, f_low)
        for layer in self.low_updates:  # Eq. 3
            f_low = layer(f_low, f_high)
        return f_low, f_high
