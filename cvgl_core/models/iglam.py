"""Integrated Global-Local Attention Module (IGLAM) of GLQINet and the variants of its Table 1.

Xu, Yin, Zhang, Gao, "Enhancing Cross-View Geo-Localization Through Global-Local Quadrant
Interaction Network", Preprints.org 2025, Sec. 3.3, eqs. (7)-(10), Fig. 3, Table 1.

Merged attention (the paper's IGLAM, eqs. 7-9):

    f_cat = concatenate(f_part, f_global)                         (7)
    Q = W^Q f_part,  K = W^K f_cat,  V = W^V f_cat                 (8)
    Attention(Q, K, V) = softmax(Q K^T) V                          (9)

Token layout used by GLQINet: f_part = the t stripe tokens of one QIM direction (C each),
f_global = the H*W cells of the backbone map (the paper's f_global is R^{H x W x C}), so each
stripe token attends to itself, its sibling stripes and every cell. The other variants of
Fig. 3 (after METER, Dou et al., CVPR 2022, the paper's [48]):

    "self"    self-attention over [f_part; f_global], the f_part positions kept
    "cross"   Q from f_part, K and V from f_global
    "co"      cross-attention, then self-attention over its outputs (second weight set)
    "merged"  eqs. (7)-(9)

Output: one token per f_part token; GAP (eq. 10) is done by the caller over each group of
tokens that forms one feature (a stripe token is already pooled, so it is the identity there).

Departures / choices: eq. (9) has no 1/sqrt(d) factor; the cited attention [22] has it, and
768-channel ConvNeXt features saturate an unscaled softmax, so `scaled=True` is the default
and `scaled=False` follows eq. (9) literally. The paper names no head count: eq. (9) is single
head, so `num_heads=1` by default. Exactly the three projections of eq. (8): no output
projection, residual or MLP, since the paper describes none.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

VARIANTS = ("self", "cross", "co", "merged")


class Attention(nn.Module):
    """softmax(Q K^T [/ sqrt(d)]) V with Q = W^Q x_q, K = W^K x_kv, V = W^V x_kv (eqs. 8-9)."""

    def __init__(self, dim: int, num_heads: int = 1, scaled: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention dim {dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.scaled = scaled
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)

    def forward(self, x_q: torch.Tensor, x_kv: torch.Tensor) -> torch.Tensor:
        b, n_q, c = x_q.shape
        h = self.num_heads

        def split(t):  # (B, N, C) -> (B, heads, N, C / heads)
            return t.view(b, t.shape[1], h, c // h).transpose(1, 2)

        q, k, v = split(self.q(x_q)), split(self.k(x_kv)), split(self.v(x_kv))
        scale = None if self.scaled else 1.0  # None: SDPA's default 1/sqrt(d_head)
        out = F.scaled_dot_product_attention(q, k, v, scale=scale)  # (B, heads, Nq, C / heads)
        return out.transpose(1, 2).reshape(b, n_q, c)


class IGLAM(nn.Module):
    """forward(local (B, n, C), global_tokens (B, m, C), queries=None) -> (B, n_q, C).

    `queries` (default: local) are the tokens that ask; the local set enters K and V (merged,
    self) alongside the global tokens. Passing queries with an empty local set shows what the
    merged block attends over: the global tokens alone.
    """

    def __init__(self, dim: int, variant: str = "merged", num_heads: int = 1, scaled=True):
        super().__init__()
        if variant not in VARIANTS:
            raise KeyError(f"unknown IGLAM variant {variant!r}; known: {', '.join(VARIANTS)}")
        self.variant = variant
        self.attn = Attention(dim, num_heads, scaled)
        # Co-attention stacks a second block (self-attention after the cross-attention).
        self.attn2 = Attention(dim, num_heads, scaled) if variant == "co" else None

    def forward(self, local, global_tokens, queries=None) -> torch.Tensor:
        q = local if queries is None else queries
        if self.variant == "merged":
            return self.attn(q, torch.cat([local, global_tokens], dim=1))  # K, V from f_cat
        if self.variant == "cross":
            return self.attn(q, global_tokens)
        if self.variant == "co":
            y = self.attn(q, global_tokens)
            return self.attn2(y, y)
        # "self": one sequence [queries; global], keep the query positions.
        seq = torch.cat([q, global_tokens], dim=1)  # (B, n_q + m, C)
        return self.attn(seq, seq)[:, : q.shape[1]]
