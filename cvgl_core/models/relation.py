"""Spatial relation features: the relation part shared by LRFR's GSRA and FRG's MC_GRA.

Zhang, Lan, Zeng, Jin, Chen, "Relation-Aware Global Attention for Person
Re-identification", CVPR 2020 (original repository: microsoft/Relation-Aware-Global-Attention-
Networks). Used as:
  * GSRA, Gan et al., "Learning Robust Feature Representation for Cross-View Image
    Geo-Localization", IEEE letter 2025 (GRSL format), eqs. (3)-(4), per channel group;
  * MC_GRA, Hou et al., "Feature Relation Guided Cross-View Image Based Geo-Localization",
    Remote Sensing 2023, eqs. (7)-(10).

    theta(x) = ReLU(BN(W_theta x)),  phi(x) = ReLU(BN(W_phi x))      1x1 convs
    r_ij = theta(x_i)^T phi(x_j)                                     R: (N, N), N = h * w
    r_i = [R(i, :), R(:, i)]                                         2N channels at position i
    embed: 1x1 conv + BN (+ ReLU) layers, 2N -> widths[-1] channels

`groups=2` in the first embedding layer embeds R(i, :) and R(:, i) separately and
concatenates them, which is FRG's eq. (10) S = (U'', U'''); `groups=1` embeds the stacked
vector jointly (RGA and the LRFR authors' GSRA code).

The embedding has N = h * w input channels, so the module is tied to ONE feature-map
size, `feature_hw`, given at construction (models derive it from their declared input
size with `Backbone.feature_sizes`). Any other size raises a ValueError naming both.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class SpatialRelation(nn.Module):
    """(B, C, h, w) -> (B, widths[-1], h, w) relation embedding, for the declared (h, w) only.

    Args:
        in_channels: C of the input map.
        feature_hw: the (h, w) the module is built for.
        inter_channels: channels of the theta / phi embeddings.
        widths: output channels of the embedding's 1x1 conv layers (each conv + BN).
        groups: groups of the first embedding conv (2 = rows and columns embedded apart).
        inner_act: ReLU after every layer (True) or only after the last one (False, as the
            LRFR authors' GSRA code does).
    """

    def __init__(
        self,
        in_channels: int,
        feature_hw: tuple[int, int],
        inter_channels: int,
        widths: tuple[int, ...],
        groups: int = 1,
        inner_act: bool = True,
    ):
        super().__init__()
        self.feature_hw = (int(feature_hw[0]), int(feature_hw[1]))
        n = self.feature_hw[0] * self.feature_hw[1]
        if groups == 2 and widths[0] % 2:
            raise ValueError(f"groups=2 needs an even first width, got {widths[0]}")
        self.theta = conv_bn_relu(in_channels, inter_channels)
        self.phi = conv_bn_relu(in_channels, inter_channels)
        layers: list[nn.Module] = []
        c = 2 * n
        for k, width in enumerate(widths):
            layers += [
                nn.Conv2d(c, width, 1, bias=False, groups=groups if k == 0 else 1),
                nn.BatchNorm2d(width),
            ]
            if inner_act or k == len(widths) - 1:
                layers.append(nn.ReLU())
            c = width
        self.embed = nn.Sequential(*layers)
        self.out_channels = c

    def check_size(self, h: int, w: int) -> None:
        if (h, w) != self.feature_hw:
            raise ValueError(
                f"relation branch was built for a {self.feature_hw[0]} x {self.feature_hw[1]} "
                f"feature map (from the declared input size) but got {h} x {w}; build the "
                f"model with the input size it is run on"
            )

    def affinity(self, x: torch.Tensor) -> torch.Tensor:
        """R[b, i, j] = theta(x_i) . phi(x_j): (B, C, h, w) -> (B, N, N), eqs. (3) / (7)."""
        self.check_size(*x.shape[-2:])
        theta = self.theta(x).flatten(2)  # (B, c', N)
        phi = self.phi(x).flatten(2)  # (B, c', N)
        return theta.transpose(1, 2) @ phi  # (B, N, N)

    def stacked(self, x: torch.Tensor) -> torch.Tensor:
        """[R(i, :), R(:, i)] as 2N channels at each position i: (B, 2N, h, w), eq. (4)."""
        b, _, h, w = x.shape
        r = self.affinity(x)
        rows = r.transpose(1, 2).reshape(b, h * w, h, w)  # channel j at i: R[i, j]
        cols = r.reshape(b, h * w, h, w)  # channel j at i: R[j, i]
        return torch.cat([rows, cols], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.stacked(x))
