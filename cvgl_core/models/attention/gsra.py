"""GSRA: global spatial relation attention (LRFR).

Gan, Zhou, Hu, Zhao, Huang, Hou, "Learning Robust Feature Representation for Cross-View
Image Geo-Localization", IEEE letter 2025 (GRSL format; code: WenjianGan/LRFR), Sec. II-A.

The C channels are split into G groups F_i of C/G channels (G = 32: 12 channels for
ConvNeXt-T's 384); every weight below is shared by all groups (one batch of B*G maps):
    z^h(h) = mean_j x(h, j),  z^w(w) = mean_i x(i, w)                       eqs. (1)-(2)
    [f^h, f^w] = conv1x1([z^h; z^w])      (C/G -> C/G, biased, no BN / activation)
    R = theta(F_i)^T phi(F_i),  r_i = [R(i, :), R(:, i)]                      eqs. (3)-(4)
    g^r = embed(r_i): 1x1 conv 2N -> N/2, BN, 1x1 conv -> 1, BN, ReLU       (N = h * w)
    F_ia = F_i * sigmoid(f^h) * sigmoid(f^w) * sigmoid(g^r)
then, as in the authors' code (not in the paper's text), GroupNorm(C/G, C/G) on each
group and a channel shuffle over the G groups re-splice F_a.

Departures / choices:
  * theta / phi keep C/G channels and the embedding's hidden width is N // 2 as in the
    authors' code (`relation_reduction=2`; RGA's own setting is 8). The relation map goes
    through ReLU and then sigmoid, so that factor lies in [0.5, 1): the authors' code.
  * The relation embedding has N input channels, so GSRA is built for one feature size,
    `feature_hw` (h, w), which the LRFR model derives from its declared input size; any
    other size raises a ValueError. It therefore "works for any size" a config declares,
    not for several sizes with one set of weights.
  * The parameter cost is dominated by the relation embedding, N^2 + 1.5 N + 2 weights:
    0.33 M at 384 x 384 (24 x 24 features) = 2.7 % of ConvNeXt-T cut after stage 3
    (12.35 M), 0.26 M = 2.1 % at 256 x 512; the grouped part has 516 weights for 384
    channels. So "little effect on the parameters" holds for the grouped part and for
    feature maps up to 16 x 16, not at the paper's sizes; the paper's own Table II count
    (13.1 M at 256 x 512) includes the 0.26 M (tests/test_lrfr_modules.py).
"""

from __future__ import annotations

import torch
from torch import nn

from cvgl_core.models.attention import ATTENTION
from cvgl_core.models.relation import SpatialRelation


class GSRA(nn.Module):
    def __init__(
        self,
        channels: int,
        feature_hw: tuple[int, int] | None = None,
        groups: int = 32,
        relation_reduction: int = 2,
    ):
        super().__init__()
        if feature_hw is None:
            raise ValueError(
                "GSRA needs feature_hw=(h, w): its relation embedding is tied to the feature "
                "size; build it through a model that declares its input size"
            )
        if channels % groups:
            raise ValueError(f"GSRA: channels {channels} not divisible by groups {groups}")
        self.groups = groups
        cg = channels // groups
        n = feature_hw[0] * feature_hw[1]
        self.conv1x1 = nn.Conv2d(cg, cg, 1)
        self.relation = SpatialRelation(
            cg, feature_hw, cg, widths=(max(1, n // relation_reduction), 1), inner_act=False
        )
        self.gn = nn.GroupNorm(cg, cg)
        self.feature_hw = self.relation.feature_hw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        self.relation.check_size(h, w)
        g = x.reshape(b * self.groups, c // self.groups, h, w)  # (bG, C/G, h, w)
        z_h = g.mean(3, keepdim=True)  # (bG, C/G, h, 1)
        z_w = g.mean(2, keepdim=True).transpose(2, 3)  # (bG, C/G, w, 1)
        f_h, f_w = self.conv1x1(torch.cat([z_h, z_w], 2)).split([h, w], 2)
        g_r = self.relation(g)  # (bG, 1, h, w)
        gate = f_h.sigmoid() * f_w.transpose(2, 3).sigmoid() * g_r.sigmoid()
        out = self.gn(g * gate)
        # channel shuffle: (b, G, C/G, h, w) -> (b, C/G, G, h, w) -> (b, C, h, w)
        return out.reshape(b, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(x.shape)


@ATTENTION.register("gsra")
def _gsra(channels: int, feature_hw: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    return GSRA(channels, feature_hw=feature_hw, **kwargs)
