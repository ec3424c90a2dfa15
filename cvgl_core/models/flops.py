"""FLOP and parameter counts, with torchvision's deformable convolution included.

`torch.utils.flop_counter.FlopCounterMode` has no formula for `torchvision::deform_conv2d`
and silently counts it as zero. `count_flops` passes one in through `custom_mapping`
(no global registration, so importing this module twice is harmless).

Convention, that of torch's own conv formula: a multiply-add is 2 FLOPs, bias ignored.
A deformable conv with input (B, C_in, H, W), weight (C_out, C_in / g, k_h, k_w) and
output (B, C_out, H_o, W_o) costs
    convolution:  2 * B * C_out * H_o * W_o * (C_in / g) * k_h * k_w   (= nn.Conv2d's count)
    sampling:     8 * B * C_in * H_o * W_o * k_h * k_w                 (bilinear: 4 multiply-adds
                                                                        per sampled value)
    modulation:   1 * B * C_in * H_o * W_o * k_h * k_w                 (DCNv2 mask, if used)
Only the forward op has a formula; the conv that predicts the offsets is an ordinary
conv and is counted by torch. Backward passes of deform_conv2d are not counted.
"""

from __future__ import annotations

from math import prod

import torch
import torchvision  # noqa: F401  (registers torch.ops.torchvision)
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def deform_conv2d_flops(x_shape, w_shape, out_shape, use_mask: bool = False) -> int:
    """Hand formula above, from the input, weight and output shapes."""
    b, c_in = x_shape[0], x_shape[1]
    c_out, c_in_per_group, k_h, k_w = w_shape
    out_hw = prod(out_shape[2:])
    conv = 2 * b * c_out * out_hw * c_in_per_group * k_h * k_w
    samples = b * c_in * out_hw * k_h * k_w
    return conv + 8 * samples + (samples if use_mask else 0)


def _deform_conv2d_formula(
    x_shape,
    w_shape,
    offset_shape,
    mask_shape,
    bias_shape,
    stride_h,
    stride_w,
    pad_h,
    pad_w,
    dil_h,
    dil_w,
    groups,
    offset_groups,
    use_mask,
    *,
    out_shape,
    **kwargs,
) -> int:
    return deform_conv2d_flops(x_shape, w_shape, out_shape, use_mask=bool(use_mask))


CUSTOM_FLOPS = {torch.ops.torchvision.deform_conv2d: _deform_conv2d_formula}


def count_flops(model: nn.Module, *inputs, **kwargs) -> int:
    """Total forward FLOPs of `model(*inputs, **kwargs)` (no grad), deformable convs included."""
    counter = FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS)
    with torch.no_grad(), counter:
        model(*inputs, **kwargs)
    return counter.get_total_flops()


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
