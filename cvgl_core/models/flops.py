"""FLOP, parameter and time costs, with torchvision's deformable convolution included.

Cost columns of the papers' tables: `count_parameters`, `parameters_millions` (what the
papers print as "Params MB"/"Params (M)": 10^6 parameters), `parameter_megabytes` (storage
in MiB at the parameters' own dtype), `extraction_ms_per_query` (descriptor extraction
time, median over repeats, on the machine that runs it).

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

import time
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


def parameters_millions(module: nn.Module) -> float:
    """Parameters in units of 10^6. LRFR's Table II "Params MB" is this number: its 13.1 for
    ConvNeXt-T cut + GSRA + SALAD at 256 x 512 equals 13.10 M parameters, not megabytes."""
    return count_parameters(module) / 1e6


def parameter_megabytes(module: nn.Module) -> float:
    """Storage of the parameters in MiB (2^20 bytes) at their own dtype (fp32: 4 bytes each)."""
    return sum(p.numel() * p.element_size() for p in module.parameters()) / 2**20


@torch.no_grad()
def extraction_ms_per_query(
    model: nn.Module,
    input_hw: tuple[int, int],
    *,
    view: str | None = None,
    batch_size: int = 1,
    warmup: int = 2,
    repeats: int = 10,
    device=None,
    timer=time.perf_counter,
) -> float:
    """Median wall time of one descriptor extraction, in ms per image.

    `model(x, view=view)` (or `model(x)` with view None) on a random (batch_size, 3, H, W)
    batch in eval mode, no grad, `warmup` untimed calls first; each timed call's time is
    divided by batch_size (batch 1: the latency of one query, as the papers report it).
    CUDA is synchronised around each call. The model's train/eval mode is restored.
    `timer` is injectable so tests need no real clock.
    """
    if repeats < 1 or batch_size < 1:
        raise ValueError(f"repeats and batch_size must be >= 1, got {repeats}, {batch_size}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    x = torch.randn(batch_size, 3, *input_hw, device=device)
    kwargs = {} if view is None else {"view": view}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda *a: None)
    was_training = model.training
    model.eval()
    try:
        for _ in range(warmup):
            model(x, **kwargs)
        times = []
        for _ in range(repeats):
            sync(device)
            start = timer()
            model(x, **kwargs)
            sync(device)
            times.append((timer() - start) * 1000.0 / batch_size)
    finally:
        model.train(was_training)
    times.sort()
    mid = len(times) // 2
    return times[mid] if len(times) % 2 else 0.5 * (times[mid - 1] + times[mid])
