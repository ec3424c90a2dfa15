"""GLQINet: Global-Local Quadrant Interaction Network (drone <-> satellite retrieval).

Xu, Yin, Zhang, Gao, "Enhancing Cross-View Geo-Localization Through Global-Local Quadrant
Interaction Network", Preprints.org 2025 (doi 10.20944/preprints202503.1203.v1). No public code.

    f_global = F_backbone(x)                      eq. (1), one backbone shared by all views
    stripes  = QIM(f_global)                      eqs. (2)-(6), cvgl_core.models.qim
    f_local  = IGLAM(stripes of a direction, f_global)   eqs. (7)-(9), cvgl_core.models.iglam
    g        = GAP(f_local)                       eq. (10)
    classifier block per feature: Linear(C, 512) -> BN -> ReLU -> Dropout; then Linear(512, R)

Heads. The test-time descriptor is "16 x 512" (Sec. 3.4). With t = 4 stripes (the ablation
default) and 4 directions, QIM+IGLAM gives exactly 4 t = 16 features, so by default the
classifier blocks sit on the stripe features only and f_global enters as keys/values (Fig. 2:
"the feature vectors output by the IGLAM are directed to separate classifier blocks").
`global_head=True` adds a head on GAP(f_global) (4 t + 1 heads). Eq. (13) averages over
"k = 1..3" features, which matches no head count of the paper; the loss (written elsewhere)
averages over however many heads there are.

Two readings of eqs. (2)-(10), `stripe_mode=`:
* "pooled" (the default, the project's first reading): each stripe is pooled to one C-vector
  by QIM, the t stripe vectors of a direction attend (IGLAM) to each other and to the H*W
  cells, and GAP (eq. 10) is the identity on the one output token.
* "cells" (the paper's text): h_i is "in R^{H/t x W x C}", a stripe of cells; IGLAM takes the
  stripe's cells as f_part (eq. 7: f_cat = [stripe cells; all H*W cells]), every cell of the
  stripe asks (Q = W^Q f_part), and g_j = GAP of the attended cells (eq. 10), so GAP does
  what its name says. Each of the 4 t stripes is its own attention call (diagonal bands hold
  different cell counts). The loss side of that reading is `ce_triplet` with
  `normalise="eq13"` (sum over heads divided by 3).

Component switches (Fig. 4): baseline = GAP(f_global) -> one head; +QIM = stripe heads;
+IGLAM without QIM = the H*W cells are the local set (so every variant reduces to attention
among the cells), GAP over the attended cells -> one head; both = the paper's model.
Backbones (Table 4): any timm name through create_backbone (convnext_tiny at the paper
profile, convnext_small, resnet50, resnet101); the last stage's map is used.

Outputs. Train mode: {"logits": [(B, R)] per head, "features": [(B, 512)] per head} for the
CE + triplet loss of eq. (13) (features = classifier-block outputs, what is matched at test
time). Eval mode: each head's 512-D output L2-normalised, concatenated and divided by
sqrt(heads) (LPN/MCCG's test-time normalisation), so the (B, heads * 512) descriptor has unit
norm and cosine similarity averages the per-head cosines.

Init: classifier blocks Kaiming (paper Sec. 4.3; fan_out, as the University-1652 baseline
code does), BN weight N(1, 0.02), final linear N(0, 0.001). Dropout 0.5 (the paper gives no
rate; 0.5 is the University-1652/LPN ClassBlock default).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cvgl_core.models.backbones import create_backbone
from cvgl_core.models.iglam import IGLAM
from cvgl_core.models.qim import DIRECTIONS, QIM, band_weights
from cvgl_core.models.registry import register_model

VIEWS = ("ground", "satellite", "drone", "street")
STRIPE_MODES = ("pooled", "cells")


class ClassBlock(nn.Module):
    """Linear -> BN -> ReLU -> Dropout (the 'classifier block'), then Linear to the classes."""

    def __init__(self, in_dim: int, num_classes: int, bottleneck: int = 512, dropout=0.5):
        super().__init__()
        self.block = nn.Sequential(
            nn.Linear(in_dim, bottleneck),
            nn.BatchNorm1d(bottleneck),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.classifier = nn.Linear(bottleneck, num_classes)
        nn.init.kaiming_normal_(self.block[0].weight, a=0, mode="fan_out")
        nn.init.zeros_(self.block[0].bias)
        nn.init.normal_(self.block[1].weight, 1.0, 0.02)
        nn.init.zeros_(self.block[1].bias)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.block(g)  # (B, C) -> (B, bottleneck)
        return feature, self.classifier(feature)


class GLQINet(nn.Module):
    def __init__(
        self,
        num_classes: int,
        backbone: str = "convnext_tiny",
        pretrained: bool = False,
        t: int = 4,
        use_qim: bool = True,
        use_iglam: bool = True,
        interaction: str = "merged",
        head_dim: int = 512,
        dropout: float = 0.5,
        num_heads: int = 1,
        scaled: bool = True,
        diagonal_mode: str = "bands",
        global_head: bool = False,
        stripe_mode: str = "pooled",
    ):
        super().__init__()
        if stripe_mode not in STRIPE_MODES:
            raise KeyError(f"unknown stripe_mode {stripe_mode!r}; known: {', '.join(STRIPE_MODES)}")
        self.stripe_mode = stripe_mode
        self.diagonal_mode = diagonal_mode
        self.backbone = create_backbone(backbone, pretrained=pretrained, out_indices=(-1,))
        c = self.backbone.channels[-1]
        self.use_qim, self.use_iglam, self.t = use_qim, use_iglam, t
        self.qim = QIM(t, diagonal_mode) if use_qim else None
        self.iglam = IGLAM(c, interaction, num_heads, scaled) if use_iglam else None
        self.global_head = global_head and use_qim  # without QIM the one feature is global
        self.num_features = (len(DIRECTIONS) * t if use_qim else 1) + int(self.global_head)
        self.heads = nn.ModuleList(
            ClassBlock(c, num_classes, head_dim, dropout) for _ in range(self.num_features)
        )
        self.descriptor_dim = self.num_features * head_dim

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The per-head feature vectors g before the classifier blocks: list of (B, C)."""
        f = self.backbone(x)[-1]  # (B, C, H, W)
        b, c = f.shape[:2]
        cells = f.flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, H*W, C)
        g_global = f.mean(dim=(2, 3))  # (B, C)
        if not self.use_qim:
            if not self.use_iglam:
                return [g_global]
            return [self.iglam(cells, cells).mean(dim=1)]  # GAP over the attended cells
        if self.use_iglam and self.stripe_mode == "cells":
            return ([g_global] if self.global_head else []) + self._cell_stripes(cells, f.shape)
        stripes = self.qim(f)  # (B, 4, t, C)
        if self.use_iglam:
            n_dir = len(DIRECTIONS)
            local = stripes.reshape(b * n_dir, self.t, c)  # one direction per sequence
            glob = cells.repeat_interleave(n_dir, dim=0)  # (B*4, H*W, C)
            stripes = self.iglam(local, glob).view(b, n_dir, self.t, c)
        feats = list(stripes.reshape(b, -1, c).unbind(dim=1))  # 4t x (B, C); GAP is identity
        return ([g_global] if self.global_head else []) + feats

    def _cell_stripes(self, cells: torch.Tensor, shape) -> list[torch.Tensor]:
        """The paper's reading: per stripe, IGLAM over its cells, then GAP (eqs. 7-10)."""
        _, _, h, w = shape
        members = band_weights(h, w, self.t, self.diagonal_mode) > 0  # (4, t, H*W)
        feats = []
        for d in range(len(DIRECTIONS)):
            for k in range(self.t):
                idx = members[d, k].nonzero(as_tuple=True)[0].to(cells.device)
                stripe = cells[:, idx]  # (B, n_k, C): the cells of stripe k
                feats.append(self.iglam(stripe, cells).mean(dim=1))  # attend, GAP -> (B, C)
        return feats

    def forward(self, x: torch.Tensor, view: str = "drone"):
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")
        outs = [head(g) for head, g in zip(self.heads, self.features(x))]
        if self.training:
            return {"logits": [o[1] for o in outs], "features": [o[0] for o in outs]}
        desc = torch.cat([F.normalize(o[0], dim=1) for o in outs], dim=1)  # (B, heads * 512)
        return desc / math.sqrt(len(outs))


@register_model("glqinet")
def glqinet(**kwargs) -> GLQINet:
    return GLQINet(**kwargs)
