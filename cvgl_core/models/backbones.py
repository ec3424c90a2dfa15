"""Backbones: timm feature extractors cut where each paper cuts them.

`create_backbone("convnext_tiny", out_indices=(2,))` is LRFR's ConvNeXt after its third
stage (384 channels at stride 16); stages after the last requested index are not built.
`pretrained=True` needs the weights in the local timm/HF cache (`python -m cvgl_core weights
fetch` puts them there); a path loads that timm state dict instead (the synthetic ImageNet
stand-in of the cpu profile, `cvgl_core.standin`); a missing weight is one
MissingWeightsError naming the backbone, its tag and that command, whatever the hub raised
(LocalEntryNotFoundError, OSError, ...).

Names may carry a timm pretrained tag, `architecture.tag`: the paper configs name the exact
weights their authors started from (`convnext_tiny.fb_in1k` = torchvision's ImageNet-1k
ConvNeXt-T, `resnet18.tv_in1k` / `resnet50.tv_in1k` = torchvision's ResNets,
`convnext_base.fb_in22k_ft_in1k` = MFRGN's), because timm's untagged defaults are other
weights (`convnext_tiny.in12k_ft_in1k`, `resnet*.a1_in1k`). `timm.is_model` accepts any tag,
so `check_model_name` validates the tag against timm's registry (no download).
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from cvgl_core.standin import timm_kwargs
from cvgl_core.weights import LOAD_ERRORS, load_failure


class Backbone(nn.Module):
    """Wraps `timm.create_model(features_only=True)`; returns a list of feature maps."""

    def __init__(
        self,
        name: str,
        pretrained: bool | str = False,
        out_indices: tuple[int, ...] = (-1,),
        checkpoint: str | None = None,
        **kwargs,
    ):
        super().__init__()
        try:
            self.body = timm.create_model(
                name,
                features_only=True,
                out_indices=out_indices,
                **timm_kwargs(name, pretrained),
                **kwargs,
            )
        except LOAD_ERRORS as e:
            if not pretrained:
                raise
            raise load_failure(name, e) from e
        if checkpoint:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            missing, unexpected = self.body.load_state_dict(state, strict=False)
            if unexpected:
                raise KeyError(f"{checkpoint}: keys not in backbone {name!r}: {unexpected[:5]}")
        info = self.body.feature_info
        self.channels: list[int] = info.channels()
        self.reductions: list[int] = info.reduction()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.body(x)

    @torch.no_grad()
    def feature_sizes(self, input_hw: tuple[int, int]) -> list[tuple[int, int]]:
        """(h, w) of each returned map for an (H, W) input, by one probe forward in eval mode.

        Exact for any timm backbone (padding and rounding included); size-tied modules
        (GSRA, MC_GRA, MixVPR) are built from it. Running statistics are not touched.
        """
        was_training = self.training
        device = next(self.parameters()).device
        self.eval()
        try:
            feats = self(torch.zeros(1, 3, *input_hw, device=device))
        finally:
            self.train(was_training)
        return [tuple(f.shape[-2:]) for f in feats]


def check_model_name(name: str) -> None:
    """KeyError unless `name` is a timm architecture, or architecture.tag with a known tag."""
    arch, _, tag = name.partition(".")
    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch.split('_')[0]}*")[:8]
        raise KeyError(f"unknown backbone {name!r}; similar timm models: {', '.join(close)}")
    if tag and not timm.list_pretrained(name):
        tags = timm.list_pretrained(f"{arch}.*")
        raise KeyError(
            f"backbone {name!r}: timm has no pretrained tag {tag!r} for {arch!r}; "
            f"known: {', '.join(tags) or 'none'}"
        )


def create_backbone(name: str, pretrained: bool = False, out_indices=(-1,), **kwargs) -> Backbone:
    check_model_name(name)
    return Backbone(name, pretrained=pretrained, out_indices=tuple(out_indices), **kwargs)
