"""FRG: ResNet-50 up to layer3 -> MC_GRA -> MixVPR, one branch per view.

Hou, Lu, Guo, Liu, Gong, Zhu, Ping, "Feature Relation Guided Cross-View Image Based
Geo-Localization", Remote Sensing 15(20):5029, 2023, Sec. 3 and Fig. 1 (not the AAAI-24
"FRGeo"). Ground panoramas and polar-transformed aerial images (both 112 x 616 in the
paper) each go through

    F  = ResNet-50 stem + layer1-3 (I)       fourth residual stage, pool and fc removed
    F' = MC_GRA(F)                           eqs. (5)-(13), cvgl_core.models.mc_gra
    d  = MixVPR(F')                          eqs. (14)-(16), cvgl_core.models.mixvpr

Weights per view: the paper calls the architecture "a Siamese neural network" like SAFA
and CVM-Net, which it cites for it; both use two branches WITHOUT shared weights, and FRG
feeds two different image domains, so `share_weights=False` (a ground and an aerial
branch) is the default and `share_weights=True` the alternative reading. Views
ground / street use the ground branch, satellite / drone the aerial one.

Table 4 and 5 switches: `attention` in {"mc_gra", "maxpool", "cbam", "none"} and
`deformable` (MC_GRA's deformable or standard convs). "maxpool" is the paper's baseline
("max pooling ... to replace the MC_GRA module"); the paper gives no size, so it is a
shape-preserving 3 x 3, stride 1 max pooling here (our reading).

Initial weights: `pretrained` (timm's ImageNet weights, the paper's) or `checkpoint`, a
backbone state dict for every branch (a path) or per branch ({"ground": path, "aerial": path};
a branch left out starts as `pretrained` says), e.g. the ground backbone of a model trained
on another dataset.

Sizes: MC_GRA and MixVPR are tied to the feature size, so each branch is built for its
declared input size: `input_size=(H, W)` for both views or {view: (H, W)} (e.g. square
aerial images without polar transform for VIGOR). Paper: 112 x 616 -> 1024 x 7 x 39
features, 4096-D descriptors (MixVPR d = 1024, r = 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cvgl_core.models.attention import create_attention
from cvgl_core.models.backbones import create_backbone
from cvgl_core.models.lrfr import check_view, input_sizes
from cvgl_core.models.mc_gra import MCGRA
from cvgl_core.models.mixvpr import MixVPR
from cvgl_core.models.registry import register_model

BRANCH_OF_VIEW = {"ground": "ground", "street": "ground", "satellite": "aerial", "drone": "aerial"}
FRG_ATTENTION = ("mc_gra", "maxpool", "cbam", "none")


class FRGBranch(nn.Module):
    def __init__(self, backbone, attention, deformable, input_hw, pretrained, checkpoint,
                 attention_kwargs, mixvpr_kwargs):  # fmt: skip
        super().__init__()
        # timm resnet features: 0 = act1, 1-4 = layer1-4; index 3 = layer3 (stride 16)
        self.backbone = create_backbone(
            backbone, pretrained=pretrained, out_indices=(3,), checkpoint=checkpoint
        )
        c = self.backbone.channels[0]
        self.feature_hw = self.backbone.feature_sizes(input_hw)[0]
        if attention == "mc_gra":
            self.attention = MCGRA(c, self.feature_hw, deformable=deformable, **attention_kwargs)
        elif attention == "maxpool":
            self.attention = nn.MaxPool2d(3, stride=1, padding=1)
        elif attention in ("cbam", "none"):
            self.attention = create_attention(attention, c, **attention_kwargs)
        else:
            raise KeyError(f"unknown FRG attention {attention!r}; known: {FRG_ATTENTION}")
        self.aggregator = MixVPR(c, self.feature_hw, **mixvpr_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone(x)[0]  # (B, 3, H, W) -> (B, C, H/16, W/16)
        return self.aggregator(self.attention(f))  # (B, d * r)


@register_model("frg")
class FRG(nn.Module):
    def __init__(
        self,
        backbone: str = "resnet50",
        attention: str = "mc_gra",
        deformable: bool = True,
        input_size=(112, 616),
        share_weights: bool = False,
        pretrained: bool = False,
        checkpoint: str | dict | None = None,
        attention_kwargs: dict | None = None,
        mixvpr_kwargs: dict | None = None,
    ):
        super().__init__()
        sizes = input_sizes(input_size)
        per_branch: dict[str, tuple[int, int]] = {}
        for view, hw in sizes.items():
            branch = "shared" if share_weights else BRANCH_OF_VIEW[view]
            if per_branch.setdefault(branch, hw) != hw:
                raise ValueError(
                    f"views sharing the {branch!r} branch declare different input sizes "
                    f"{per_branch[branch]} and {hw}; its size-tied modules need one"
                )
        self.share_weights = share_weights
        args = (attention, deformable)
        if isinstance(checkpoint, dict) and set(checkpoint) - set(per_branch):
            raise KeyError(
                f"checkpoint for unknown FRG branch(es) {sorted(set(checkpoint) - set(per_branch))}"
                f"; branches: {sorted(per_branch)}"
            )
        ckpt = checkpoint if isinstance(checkpoint, dict) else dict.fromkeys(per_branch, checkpoint)
        extra = (attention_kwargs or {}, mixvpr_kwargs or {})
        self.branches = nn.ModuleDict(
            {
                name: FRGBranch(backbone, *args, hw, pretrained, ckpt.get(name), *extra)
                for name, hw in per_branch.items()
            }
        )
        self.out_dim = next(iter(self.branches.values())).aggregator.out_dim

    def branch_for(self, view: str) -> FRGBranch:
        check_view(view)
        name = "shared" if self.share_weights else BRANCH_OF_VIEW[view]
        if name not in self.branches:
            raise KeyError(f"no FRG branch for view {view!r}: no input size was declared for it")
        return self.branches[name]

    def feature_size_for(self, input_hw, view: str = "ground") -> tuple[int, int]:
        return self.branch_for(view).backbone.feature_sizes(tuple(input_hw))[0]

    def forward(self, x: torch.Tensor, view: str = "ground") -> torch.Tensor:
        return F.normalize(self.branch_for(view)(x), dim=1)  # (B, D)


def branch_costs(input_hw, **kwargs) -> dict:
    """Forward cost of one (H, W) ground image through an FRG built with `kwargs`: the
    backbone's feature map "CxHxW", "MC_GRA MFLOPs" and "MC_GRA params" (the attention
    module alone), "branch GFLOPs" and "branch params (M)" (backbone + attention + MixVPR).
    Random weights and input (FLOPs depend on neither); deformable sampling is counted by
    `models.flops` (8 FLOPs per sampled value), a multiply-add as 2 FLOPs."""
    from cvgl_core.models.flops import count_flops, count_parameters

    hw = tuple(int(v) for v in input_hw)
    model = FRG(**{**kwargs, "pretrained": False, "input_size": {"ground": hw}}).eval()
    branch = model.branches["ground"]
    x = torch.randn(1, 3, *hw)
    with torch.no_grad():
        feat = branch.backbone(x)[0]  # (1, C, h, w): layer3's output
    return {
        "feature map": "x".join(map(str, feat.shape[1:])),
        "MC_GRA MFLOPs": count_flops(branch.attention, feat) / 1e6,
        "MC_GRA params": count_parameters(branch.attention),
        "branch GFLOPs": count_flops(model, x, view="ground") / 1e9,
        "branch params (M)": count_parameters(branch) / 1e6,
    }
