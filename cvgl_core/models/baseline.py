"""The Sample4Geo-style baseline every paper table compares against.

Deuser, Habel, Oswald, "Sample4Geo: Hard Negative Sampling For Cross-View Geo-Localisation",
ICCV 2023: a timm backbone shared by both views, global pooling, L2-normalised descriptor,
trained with symmetric InfoNCE. Options beyond it: separate weights per view (`shared=False`,
the two-branch models of older work), GeM instead of average pooling, a linear projection.

    model = create_model("baseline", backbone="convnext_atto", pool="gem", dim=256)
    desc = model(x, view="ground")  # (B, D), unit norm
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cvgl_core.models.backbones import create_backbone
from cvgl_core.models.pooling import AvgPool, GeM
from cvgl_core.models.registry import register_model

POOLS = {"avg": AvgPool, "gem": GeM}


@register_model("baseline")
class Baseline(nn.Module):
    """backbone -> last feature map (B, C, h, w) -> pool (B, C) -> [linear (B, dim)] -> L2 norm.

    shared: one backbone for every view; otherwise one per name in `views` (params named
    backbone.<view>.*, so optim.backbone_prefix="backbone" covers both branches).
    """

    def __init__(
        self,
        backbone: str = "convnext_atto",
        pretrained: bool = False,
        shared: bool = True,
        pool: str = "avg",
        dim: int | None = None,
        views: tuple[str, ...] | list[str] = ("ground", "satellite"),
        checkpoint: str | None = None,
    ):
        super().__init__()
        if pool not in POOLS:
            raise KeyError(f"unknown pooling {pool!r}; known: {', '.join(POOLS)}")

        def make():
            return create_backbone(
                backbone, pretrained=pretrained, out_indices=(-1,), checkpoint=checkpoint
            )

        self.shared = shared
        self.views = tuple(views)
        self.backbone = make() if shared else nn.ModuleDict({v: make() for v in self.views})
        channels = (self.backbone if shared else self.backbone[self.views[0]]).channels[-1]
        # pooling and projection are per-view too when the backbones are (GeM's p is a weight)
        self.pool = (
            POOLS[pool](normalize=False)
            if shared
            else nn.ModuleDict({v: POOLS[pool](normalize=False) for v in self.views})
        )
        proj = (lambda: nn.Linear(channels, dim)) if dim else nn.Identity
        self.proj = proj() if shared else nn.ModuleDict({v: proj() for v in self.views})
        self.out_dim = dim or channels

    def _branch(self, view: str):
        if self.shared:
            return self.backbone, self.pool, self.proj
        if view not in self.views:
            raise KeyError(
                f"view {view!r} has no branch; this model's views: {', '.join(self.views)}"
            )
        return self.backbone[view], self.pool[view], self.proj[view]

    def forward(self, x: torch.Tensor, view: str = "ground") -> torch.Tensor:
        backbone, pool, proj = self._branch(view)
        f = backbone(x)[-1]  # (B, C, h, w)
        y = proj(pool(f))  # (B, C) -> (B, D)
        return F.normalize(y, dim=1)
