"""ResNet18_CA: ResNet18 with coordinate attention between the two 3x3 convs of each block.

Zhu, Sun, Xu, "Cross-View Image Geo-localization Based on Attention Weight Masks",
Information Technology and Control 54(3), 2025 (doi 10.5755/j01.itc.54.3.41802), Sec. 3.3.1,
Fig. 4-5; CA: Hou et al., CVPR 2021 (cvgl_core.models.attention.ca.CoordAtt).

Basic block (Fig. 4, right):  conv3x3 -> BN -> ReLU -> CA -> conv3x3 -> BN -> (+ shortcut) -> ReLU.
The paper's "Block 1-4" are ResNet18's four stages; CA sits in every basic block (two per
stage). Each stage exposes its output feature map and its attention-weight mask, taken from
the CA of the stage's last basic block (same resolution as the stage output).

Attention-weight mask. CA gives g_h (C x H x 1) and g_w (C x 1 x W); the paper multiplies
them into a weighting of every position (h, w) and calls the result the mask, which is an
H x W map (Fig. 6). `mask_mode="gates"` (default): M(h, w) = mean_c g_h(c, h) g_w(c, w), the
weights alone, in (0, 1). `mask_mode="weighted"`: mean_c of the CA output x * g_h * g_w, the
other reading of "multiplying the input feature map with the two attention maps".

Built on timm's resnet18 (same layer names, so `pretrained=True` loads ImageNet weights from
the local timm cache; the CA modules start from their own initialisation). `backbone` names
the weights: "resnet18.tv_in1k" is torchvision's ImageNet-1k ResNet18 (what a PyTorch
"ImageNet-pretrained ResNet18" is); plain "resnet18" is timm's default (a1_in1k).
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from cvgl_core.models.attention.ca import CoordAtt
from cvgl_core.models.backbones import check_model_name
from cvgl_core.standin import timm_kwargs
from cvgl_core.weights import LOAD_ERRORS, load_failure

MASK_MODES = ("gates", "weighted")


def resnet_feature_hw(h: int, w: int) -> list[tuple[int, int]]:
    """Spatial size of ResNet18's stage 1-4 outputs for an h x w input (conv arithmetic)."""

    def conv(n, k, s, p):
        return (n + 2 * p - k) // s + 1

    sizes, hw = [], (conv(conv(h, 7, 2, 3), 3, 2, 1), conv(conv(w, 7, 2, 3), 3, 2, 1))
    for stage in range(4):
        if stage:
            hw = (conv(hw[0], 3, 2, 1), conv(hw[1], 3, 2, 1))
        sizes.append(hw)
    return sizes


class BasicBlockCA(nn.Module):
    """A timm BasicBlock's own layers (shared, not copied) with CA after the first conv."""

    def __init__(self, block: nn.Module, use_ca: bool = True, mask_mode: str = "gates"):
        super().__init__()
        self.conv1, self.bn1, self.act1 = block.conv1, block.bn1, block.act1
        self.conv2, self.bn2, self.act2 = block.conv2, block.bn2, block.act2
        self.downsample = block.downsample
        self.ca = CoordAtt(block.conv1.out_channels) if use_ca else None
        self.mask_mode = mask_mode
        self.last_mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.act1(self.bn1(self.conv1(x)))
        if self.ca is not None:
            y = self.ca(y)
            g_h, g_w = self.ca.last_gates  # (B, C, H, 1), (B, C, 1, W)
            m = g_h * g_w if self.mask_mode == "gates" else y
            self.last_mask = m.mean(dim=1)  # (B, C, H, W) -> (B, H, W)
        y = self.bn2(self.conv2(y))
        return self.act2(y + shortcut)


class ResNet18_CA(nn.Module):  # the paper's name
    """x (B, 3, H, W) -> (features, masks): four stage outputs (B, C_i, H_i, W_i) and their
    masks (B, H_i, W_i) (None without CA). use_ca=False is the plain ResNet18 of Tables 3-4."""

    def __init__(
        self,
        pretrained: bool = False,
        use_ca: bool = True,
        mask_mode: str = "gates",
        backbone: str = "resnet18",
    ):
        super().__init__()
        if mask_mode not in MASK_MODES:
            raise KeyError(f"unknown mask_mode {mask_mode!r}; known: {', '.join(MASK_MODES)}")
        if backbone.partition(".")[0] != "resnet18":
            raise ValueError(
                f"ResNet18_CA needs a resnet18 backbone (optionally tagged), got {backbone!r}"
            )
        check_model_name(backbone)
        try:
            # zero_init_last=False: timm would zero every bn2 weight, which silences conv2 and
            # CA (no gradient, flat masks) until the first step; torchvision does not.
            net = timm.create_model(
                backbone, zero_init_last=False, **timm_kwargs(backbone, pretrained)
            )
        except LOAD_ERRORS as e:
            if not pretrained:
                raise
            raise load_failure(backbone, e) from e
        self.use_ca = use_ca
        self.stem = nn.Sequential(net.conv1, net.bn1, net.act1, net.maxpool)
        self.stages = nn.ModuleList(
            nn.Sequential(*(BasicBlockCA(b, use_ca, mask_mode) for b in layer))
            for layer in (net.layer1, net.layer2, net.layer3, net.layer4)
        )
        self.channels = [64, 128, 256, 512]

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        features, masks = [], []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
            masks.append(stage[-1].last_mask if self.use_ca else None)
        return features, masks
