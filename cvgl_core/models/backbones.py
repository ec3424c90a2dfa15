"""Backbones: timm feature extractors cut where each paper cuts them.

`create_backbone("convnext_tiny", out_indices=(2,))` is LRFR's ConvNeXt after its third
stage (384 channels at stride 16); stages after the last requested index are not built.
`pretrained=True` needs the weights in the local timm/HF cache (`python -m cvgl_core weights
fetch` puts them there); a missing weight is one MissingWeightsError naming the backbone, its
tag and that command, whatever the hub raised (LocalEntryNotFoundError, OSError, ...).
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from cvgl_core.weights import LOAD_ERRORS, load_failure


class Backbone(nn.Module):
    """Wraps `timm.create_model(features_only=True)`; returns a list of feature maps."""

    def __init__(
        self,
        name: str,
        pretrained: bool = False,
        out_indices: tuple[int, ...] = (-1,),
        checkpoint: str | None = None,
        **kwargs,
    ):
        super().__init__()
        try:
            self.body = timm.create_model(
                name, pretrained=pretrained, features_only=True, out_indices=out_indices, **kwargs
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


def create_backbone(name: str, pretrained: bool = False, out_indices=(-1,), **kwargs) -> Backbone:
    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('_')[0]}*")[:8]
        raise KeyError(f"unknown backbone {name!r}; similar timm models: {', '.join(close)}")
    return Backbone(name, pretrained=pretrained, out_indices=tuple(out_indices), **kwargs)
