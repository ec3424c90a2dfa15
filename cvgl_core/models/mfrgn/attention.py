"""MFRGN's Lite-Transformer encoder (LTE) and its dot-product counterpart (Table 5).

Paper: "MFRGN: Multi-scale Feature Representation Generalization Network for
Ground-to-Aerial Geo-localization", ACM Multimedia 2024 (Sec. 3.2, Fig. 4).

Linear attention (Katharopoulos et al., "Transformers are RNNs", ICML 2020), per head:

    phi(x) = elu(x) + 1
    out_l  = phi(Q_l)^T (sum_s phi(K_s) V_s^T) / (phi(Q_l)^T sum_s phi(K_s) + eps)

No 1/sqrt(d) scaling. Cost O(N d^2) instead of the O(N^2 d) of softmax attention.

One LTE layer (Fig. 4; the layer order is the one of the authors' public code, the paper
figure shows the same blocks): Q = W_q q_src, K = W_k kv, V = W_v kv with kv =
Concat(q_src, kv_src) (self- and cross-attention in one call), heads merged by a bias-free
linear, then post-norm residuals:

    x = LN(q_src + Dropout(Merge(Attn(Q, K, V))))
    x = LN(x + Dropout(FFN(x)))          FFN = Linear(d, ffn, no bias), GELU, Dropout, Linear

Paper setting: latent d = 128, 4 heads, ffn = 2048 (the public code uses 1024; the paper
wins). Dropout is not stated in the paper; 0.3 is the public code's value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1


def linear_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """(B, H, L, D), (B, H, S, D), (B, H, S, Dv) -> (B, H, L, Dv); linear in L and S."""
    q, k = elu_feature_map(q), elu_feature_map(k)
    s = k.shape[2]
    # V / S, times S at the end: the same value, but the S-term sums stay in fp16 range.
    kv = k.transpose(2, 3) @ (v / s)  # (B, H, D, S) @ (B, H, S, Dv) -> (B, H, D, Dv)
    k_sum = k.sum(dim=2).unsqueeze(-1)  # (B, H, D, 1)
    z = 1.0 / (q @ k_sum + eps)  # (B, H, L, 1)
    return (q @ kv) * z * s  # (B, H, L, Dv)


def dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Vanilla softmax(Q K^T / sqrt(D)) V; the L x S matrix is materialised (Table 5, LA off)."""
    attn = (q @ k.transpose(2, 3)) * q.shape[-1] ** -0.5  # (B, H, L, S)
    return attn.softmax(dim=-1) @ v  # (B, H, L, Dv)


ATTENTION_FNS = {"linear": linear_attention, "dot": dot_product_attention}


class LiteTransformerEncoder(nn.Module):
    """One LTE layer: tokens `q_src` (B, L, d) attend to Concat(q_src, kv_src) (B, L+S, d)."""

    def __init__(
        self,
        d_model: int = 128,
        heads: int = 4,
        ffn_dim: int = 2048,
        dropout: float = 0.3,
        attention: str = "linear",
    ):
        super().__init__()
        if attention not in ATTENTION_FNS:
            raise ValueError(f"attention must be one of {sorted(ATTENTION_FNS)}, got {attention!r}")
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        self.heads = heads
        self.attention = attention
        self.attn_fn = ATTENTION_FNS[attention]
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.merge = nn.Linear(d_model, d_model, bias=False)
        self.norm1 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, ffn_dim, bias=False),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(ffn_dim, d_model, bias=False),
        )
        self.norm2 = nn.LayerNorm(d_model)
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)  # (B, H, N, d/H)

    def forward(self, q_src: torch.Tensor, kv_src: torch.Tensor) -> torch.Tensor:
        kv = torch.cat([q_src, kv_src], dim=1)  # (B, L + S, d)
        q = self._split(self.q_proj(q_src))
        k, v = self._split(self.k_proj(kv)), self._split(self.v_proj(kv))
        out = self.attn_fn(q, k, v).transpose(1, 2).flatten(2)  # (B, H, L, d/H) -> (B, L, d)
        x = self.norm1(q_src + self.drop1(self.merge(out)))
        return self.norm2(x + self.drop2(self.ffn(x)))
