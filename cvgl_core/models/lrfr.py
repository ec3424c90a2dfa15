"""LRFR: ConvNeXt cut after stage 3 -> attention -> aggregator, one set of weights for all views.

Gan, Zhou, Hu, Zhao, Huang, Hou, "Learning Robust Feature Representation for Cross-View
Image Geo-Localization", IEEE letter 2025 (GRSL format; code: WenjianGan/LRFR), Fig. 1.

    F   = ConvNeXt stem + stages 1-3 (I)     (C, h, w) = (384, H/16, W/16) for ConvNeXt-T
    F_a = GSRA(F)                             Sec. II-A, cvgl_core.models.attention.gsra
    F_g = SALAD(F_a)                          Sec. II-B, cvgl_core.models.salad
    descriptor = L2(F_g)

`create_model("lrfr", attention=..., aggregator=...)` builds every cell of Tables III-IV:
attention in {none, cbam, ca, eca, ema, gsra}, aggregator in {netvlad, salad, gem}
(baseline = attention "none" + NetVLAD). Weights are shared by every view (the authors'
GeoModel runs one LRFR on both images).

Table III's modules: `attention_variant="lrfr_code"` builds CBAM and ECA as the authors' code
does (WenjianGan/LRFR models/attention.py: CBAM residual, bias-free MLP, no BatchNorm; ECA
with k = 3), which produced the paper's numbers; "original" builds them as their own papers'
code does (CBAM with BN, ECA with the adaptive k: 5 at 384 channels). CA, EMA and GSRA are
the same in both. Explicit `attention_kwargs` win over the variant.

Sizes: GSRA's relation embedding is tied to the feature size, so the model is built for a
declared `input_size` (H, W) (or {view: (H, W)}, which must give one feature size while
weights are shared). SALAD needs h * w > num_clusters: 128 clusters need >= 12 x 12
features (>= 192 px); small profiles pass fewer clusters, which is checked here at
construction. Descriptor length: SALAD m * l (8192 in the paper), NetVLAD K * C
(K = num_clusters: 128 in the LRFR configs, 128 * 384 = 49152 for ConvNeXt-T; 64 when
num_clusters is None), GeM C.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cvgl_core.models.attention import create_attention
from cvgl_core.models.backbones import create_backbone
from cvgl_core.models.netvlad import NetVLAD
from cvgl_core.models.pooling import GeM
from cvgl_core.models.registry import register_model
from cvgl_core.models.salad import SALAD

VIEWS = ("ground", "satellite", "drone", "street")
AGGREGATORS = ("netvlad", "salad", "gem")
# attention_variant -> per-module constructor kwargs (see the module docstring)
ATTENTION_VARIANTS = {
    "original": {},
    "lrfr_code": {
        "cbam": {"residual": True, "spatial_bn": False, "mlp_bias": False},
        "eca": {"k_size": 3},
    },
}


def check_view(view: str) -> None:
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")


def input_sizes(input_size) -> dict[str, tuple[int, int]]:
    """(H, W) for every view or {view: (H, W)} -> {view: (H, W)} (missing views absent)."""
    if isinstance(input_size, dict):
        for view in input_size:
            check_view(view)
        return {v: (int(s[0]), int(s[1])) for v, s in input_size.items()}
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    return {v: (int(input_size[0]), int(input_size[1])) for v in VIEWS}


def build_aggregator(name, channels, feature_hw, num_clusters=None, cluster_dim=64, **kw):
    if name == "salad":
        m = 128 if num_clusters is None else num_clusters
        h, w = feature_hw
        if h * w <= m:
            raise ValueError(
                f"SALAD needs more local features than clusters: the declared input gives "
                f"{h} x {w} = {h * w} features <= {m} clusters; declare a larger input_size "
                f"or pass num_clusters < {h * w}"
            )
        return SALAD(channels, num_clusters=m, cluster_dim=cluster_dim, **kw)
    if name == "netvlad":
        return NetVLAD(channels, num_clusters=64 if num_clusters is None else num_clusters, **kw)
    if name == "gem":
        agg = GeM(**kw)
        agg.out_dim = channels
        return agg
    raise KeyError(f"unknown LRFR aggregator {name!r}; known: {', '.join(AGGREGATORS)}")


@register_model("lrfr")
class LRFR(nn.Module):
    def __init__(
        self,
        backbone: str = "convnext_tiny",
        attention: str = "gsra",
        aggregator: str = "salad",
        input_size=(384, 384),
        pretrained: bool = False,
        checkpoint: str | None = None,
        num_clusters: int | None = None,
        cluster_dim: int = 64,
        attention_kwargs: dict | None = None,
        aggregator_kwargs: dict | None = None,
        attention_variant: str = "original",
    ):
        super().__init__()
        if attention_variant not in ATTENTION_VARIANTS:
            raise KeyError(
                f"unknown LRFR attention_variant {attention_variant!r}; "
                f"known: {', '.join(ATTENTION_VARIANTS)}"
            )
        attention_kwargs = {
            **ATTENTION_VARIANTS[attention_variant].get(attention, {}),
            **(attention_kwargs or {}),
        }
        self.backbone = create_backbone(
            backbone, pretrained=pretrained, out_indices=(2,), checkpoint=checkpoint
        )
        channels = self.backbone.channels[0]
        sizes = {v: self.feature_size_for(s) for v, s in input_sizes(input_size).items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(
                f"LRFR shares its weights across views, and its size-tied modules need one "
                f"feature size, but the declared input sizes give {sizes}"
            )
        self.feature_hw = next(iter(sizes.values()))
        self.attention = create_attention(
            attention, channels, feature_hw=self.feature_hw, **attention_kwargs
        )
        self.aggregator = build_aggregator(
            aggregator, channels, self.feature_hw, num_clusters, cluster_dim,
            **(aggregator_kwargs or {}),
        )  # fmt: skip
        self.out_dim = self.aggregator.out_dim

    def feature_size_for(self, input_hw) -> tuple[int, int]:
        return self.backbone.feature_sizes(tuple(input_hw))[0]

    def forward(self, x: torch.Tensor, view: str = "satellite") -> torch.Tensor:
        check_view(view)  # one set of weights for every view
        f = self.backbone(x)[0]  # (B, 3, H, W) -> (B, C, H/16, W/16)
        return F.normalize(self.aggregator(self.attention(f)), dim=1)  # (B, D)


def attention_cost(backbone: str, input_size, attention: str = "gsra") -> dict:
    """Parameters of LRFR's attention module against its cut backbone's, at `input_size`
    (GSRA's relation embedding grows with the feature size, N^2 + 1.5 N + 2 for N = h * w).
    Counted on a model built on the meta device: no weights, memory or download."""
    from cvgl_core.models.flops import count_parameters

    with torch.device("meta"):
        m = LRFR(backbone, attention=attention, aggregator="gem", input_size=input_size)
    a, b = count_parameters(m.attention), count_parameters(m.backbone)
    return {
        "features": "x".join(map(str, m.feature_hw)),
        "backbone params": b,
        f"{attention.upper()} params": a,
        f"{attention.upper()} / backbone %": round(100 * a / b, 3),
    }
