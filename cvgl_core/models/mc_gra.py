"""MC_GRA: multiscale context and global relations jointly guided attention (FRG).

Hou, Lu, Guo, Liu, Gong, Zhu, Ping, "Feature Relation Guided Cross-View Image Based
Geo-Localization", Remote Sensing 15(20):5029, 2023, Sec. 3.2 (no public code).

Context branch, eqs. (5)-(6), CBAM's spatial operator with deformable convolutions:
    S(F) = MaxPool_c(f^{1x1}(F)) + AvgPool_c(f^{1x1}(F))
    U'   = f^{1x1}(f_D^{3x3}(S(F)), f_D^{5x5}(S(F)))
Relation branch, eqs. (7)-(10), positional encoding added to F first:
    r_ij = theta(x_i)^T phi(x_j), theta / phi = ReLU(BN(1x1 conv))
    S = (U'', U''') = (embed(R(i, :)), embed(R(:, i)))        (cvgl_core.models.relation)
Relation-guided gate, eqs. (11)-(13):
    M(F) = f^{1x1}(U', S)                 -> one channel
    A = sigmoid(W2 ReLU(W1 M(F)))          W1, W2: 1x1 conv + BN
    F' = A * F

Widths the paper does not give, chosen here (all options):
  * f^{1x1} of eq. (5) reduces C -> C / 8 (RGA's channel ratio); theta / phi also C / 8;
    each of R(i, :), R(:, i) is embedded N -> N / 8 channels (RGA's spatial ratio).
  * eq. (5) adds the two channel poolings (`pool_fusion="sum"`, the equation as printed);
    CBAM concatenates them (`pool_fusion="concat"`).
  * the deformable convs output one map each as CBAM's 7x7 conv does
    (`context_channels=1`), fused to one map U'; W1 widens to `gate_hidden=8` maps.
  * the positional encoding is a learned (1, C, h, w) table (`pos_encoding="learned"`,
    trunc-normal 0.02); `"sine"` is a fixed 2-D sinusoidal table, `"none"` drops it.
Deformable convs are torchvision's DeformConv2d; their offsets come from a plain k x k
conv (2 k^2 channels) initialised to zero, so training starts as a standard convolution;
`deformable=False` uses nn.Conv2d of the same size (FRG's Table 5).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import DeformConv2d

from cvgl_core.models.relation import SpatialRelation


class SpatialConv(nn.Module):
    """k x k conv, deformable (offsets from a zero-initialised conv) or standard.

    Both variants keep their kernel in `.conv`, so a standard module can load a
    deformable one's state dict with strict=False (only `offset.*` is extra).
    """

    def __init__(self, in_channels: int, out_channels: int, k: int, deformable: bool):
        super().__init__()
        if deformable:
            self.offset = nn.Conv2d(in_channels, 2 * k * k, k, padding=k // 2)
            nn.init.zeros_(self.offset.weight)
            nn.init.zeros_(self.offset.bias)
            self.conv = DeformConv2d(in_channels, out_channels, k, padding=k // 2)
        else:
            self.offset = None
            self.conv = nn.Conv2d(in_channels, out_channels, k, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.offset is None:
            return self.conv(x)
        return self.conv(x, self.offset(x))  # offsets (B, 2k^2, H, W), interleaved (dy, dx)


def sine_encoding(channels: int, h: int, w: int) -> torch.Tensor:
    """Fixed 2-D sinusoidal table (1, C, h, w): half the channels encode rows, half columns."""
    c_half = channels // 2
    pe = torch.zeros(channels, h, w)
    for axis, (size, c0, nc) in enumerate([(h, 0, c_half), (w, c_half, channels - c_half)]):
        pos = torch.arange(size, dtype=torch.float32)
        freq = torch.exp(-math.log(10000.0) * torch.arange(0, nc, 2) / max(nc, 1))
        angles = pos[:, None] * freq[None]  # (size, ceil(nc / 2))
        table = torch.zeros(size, nc)
        table[:, 0::2] = angles.sin()
        table[:, 1::2] = angles.cos()[:, : nc // 2]
        table = table.T  # (nc, size)
        pe[c0 : c0 + nc] = table[:, :, None] if axis == 0 else table[:, None, :]
    return pe[None]


class MCGRA(nn.Module):
    """(B, C, h, w) -> (B, C, h, w) spatially gated, for the declared (h, w)."""

    def __init__(
        self,
        channels: int,
        feature_hw: tuple[int, int],
        deformable: bool = True,
        reduction: int = 8,
        context_channels: int = 1,
        pool_fusion: str = "sum",
        pos_encoding: str = "learned",
        gate_hidden: int = 8,
    ):
        super().__init__()
        if pool_fusion not in ("sum", "concat"):
            raise ValueError(f"pool_fusion must be 'sum' or 'concat', got {pool_fusion!r}")
        h, w = int(feature_hw[0]), int(feature_hw[1])
        c_r, n = max(1, channels // reduction), h * w
        self.pool_fusion = pool_fusion
        # context branch, eqs. (5)-(6)
        self.context_reduce = nn.Conv2d(channels, c_r, 1)
        c_in = 1 if pool_fusion == "sum" else 2
        self.conv3 = SpatialConv(c_in, context_channels, 3, deformable)
        self.conv5 = SpatialConv(c_in, context_channels, 5, deformable)
        self.context_fuse = nn.Conv2d(2 * context_channels, context_channels, 1)
        # relation branch, eqs. (7)-(10)
        if pos_encoding == "learned":
            self.pos = nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, channels, h, w), std=0.02))
        elif pos_encoding == "sine":
            self.register_buffer("pos", sine_encoding(channels, h, w), persistent=False)
        elif pos_encoding == "none":
            self.pos = None
        else:
            raise ValueError(f"pos_encoding must be learned|sine|none, got {pos_encoding!r}")
        self.relation = SpatialRelation(
            channels, (h, w), c_r, widths=(2 * max(1, n // reduction),), groups=2
        )
        # relation-guided gate, eqs. (11)-(13)
        self.embed = nn.Conv2d(context_channels + self.relation.out_channels, 1, 1)
        self.w1 = nn.Sequential(nn.Conv2d(1, gate_hidden, 1), nn.BatchNorm2d(gate_hidden))
        self.w2 = nn.Sequential(nn.Conv2d(gate_hidden, 1, 1), nn.BatchNorm2d(1))
        self.feature_hw = (h, w)
        self.last_gate: torch.Tensor | None = None

    def context(self, x: torch.Tensor) -> torch.Tensor:
        """U' (B, context_channels, h, w), eqs. (5)-(6)."""
        y = self.context_reduce(x)  # (B, C / r, h, w)
        mx, avg = y.amax(dim=1, keepdim=True), y.mean(dim=1, keepdim=True)
        s = mx + avg if self.pool_fusion == "sum" else torch.cat([mx, avg], 1)
        return self.context_fuse(torch.cat([self.conv3(s), self.conv5(s)], 1))

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """A (B, 1, h, w) in (0, 1), eqs. (11)-(12)."""
        self.relation.check_size(*x.shape[-2:])
        s = self.relation(x if self.pos is None else x + self.pos)  # (B, 2N / r, h, w)
        m = self.embed(torch.cat([self.context(x), s], 1))  # (B, 1, h, w)
        return torch.sigmoid(self.w2(torch.relu(self.w1(m))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.gate(x)
        self.last_gate = a.detach()
        return a * x  # eq. (13)
