"""MFRGN, registered as "mfrgn": multi-scale ConvNeXt + SCAM global flow + GPAB local flow.

Paper: "MFRGN: Multi-scale Feature Representation Generalization Network for
Ground-to-Aerial Geo-localization", ACM Multimedia 2024 (Sec. 3, Fig. 3; Tables 4-5).

    S1, S2, S3  = the last three ConvNeXt stages (strides 8, 16, 32), weights shared by views
    S4          = S3 downsampled by 2 (Sec. 3.1; `s4="conv"`: 3x3 stride-2 conv to d + GroupNorm
                  as in the public code, `s4="avgpool"`: 2x2 average pool, then the 1x1 input
                  projection of the other scales)
    tokens      = 1x1 conv to d = 128 + GroupNorm (+ 2-D sine position encoding, public code;
                  the paper does not mention one: `pos_embed=False` drops it)
    F_L         = S1 tokens, PPS-sampled and LayerNorm-ed when `pps` (Sec. 3.2, Strategy 2)
    F_H         = Concat(S2, S3, S4 tokens)
    f^g         = Concat(SCAM(F_L, F_H))                                       (Eqs. 2-3)
    Desc^g      = Linear over the token axis: (B, d, N) -> (B, d, dim_g / d), flattened
    f^l, Desc^l = GPABs on S1 (PPS-sampled), S2, S3, S4 with f^g as prompts     (Eqs. 4-5)
    descriptor  = L2(Concat(Desc^g, Desc^l)), dim = 2048, dim_g : dim_l = `ratio` = 7 : 1

Desc^g projects along tokens, as the public code does (1792 = 128 x 14), so dim_g must be a
multiple of d. The token counts depend on the input size, so the model is built for one
size per view (`ground_hw`, `satellite_hw`; paper: 128x256 / 256x256 for CVUSA and CVACT,
320x640 / 320x320 for VIGOR; see PAPER_INPUT_SIZES). The backbone and the token
projections are shared by the views; SCAM, PPS norms, GPABs and projections are per view
(the public code; token counts differ per view anyway).

Table 4 variants (`variant=`): "baseline" = S4 tokens -> Desc^g only; "mbaseline" = all
scales, no SCAM, no local flow; "l_ini" = mbaseline + local flow prompted by the initial
tokens (S1..S4 before SCAM); "g" = SCAM, no local flow; "g_l_ini" = SCAM + local flow with
initial prompts; "g_l_p" (= "full") = SCAM + local flow with f^g as prompts. Without a local
flow the whole `dim` is Desc^g. Table 5: `attention="linear"|"dot"`, `pps=True|False`.
Note: the paper's Table 4 row MBaseline+G+L_p (88.42 / 47.13) equals its Table 5 row
"LA, no PPS", so Table 4 appears to have been run with pps=False.

GPAB as the public code: `gpab_prompt_kernel=5, gpab_s1_spatial="sequence"` (see gpab.py;
the paper profile sets both). Backbone: the public code (HUST-IAL/MFRGN train_cvusa.py,
train_cvact.py, train_vigor.py) trains `convnext_base.fb_in22k_ft_in1k`, with a
128 x 512 street input whose S1 (16 x 64) the 7 x 63 pyramid level fits
(pps.PPS_GROUND_PUBLIC_CODE); the paper's text gives 128 x 256 and 7 x 36.

Departures: the learnable InfoNCE temperature lives in the loss, not in the model (the
public code keeps a logit_scale in the model). Direction: we evaluate ground -> satellite;
the public code appears to evaluate satellite -> ground for CVUSA/CVACT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cvgl_core.models.backbones import create_backbone
from cvgl_core.models.mfrgn.gpab import (
    GROUND_SPATIAL_KERNELS,
    SATELLITE_SPATIAL_KERNELS,
    LocalFlow,
)
from cvgl_core.models.mfrgn.pps import PPS_GROUND, PPS_SATELLITE, PyramidPoolingSampling
from cvgl_core.models.mfrgn.scam import SCAM
from cvgl_core.models.registry import register_model

PAPER_INPUT_SIZES = {  # dataset -> (ground_hw, satellite_hw), Sec. 4.1
    "cvusa": ((128, 256), (256, 256)),
    "cvact": ((128, 256), (256, 256)),
    "vigor": ((320, 640), (320, 320)),
}
# A drone image is a query view like the ground panorama: it takes the ground branch (notebook
# 06 runs MFRGN on the drone tasks; MFRGN's paper has none).
VIEW_BRANCH = {"ground": "ground", "street": "ground", "drone": "ground", "satellite": "satellite"}


@dataclass(frozen=True)
class Variant:
    multi_scale: bool  # S1..S4 (False: S4 only)
    global_flow: bool  # SCAM on the tokens
    local: str | None  # None, "initial" (L_ini) or "prompt" (L_p)


VARIANTS = {
    "baseline": Variant(False, False, None),
    "mbaseline": Variant(True, False, None),
    "l_ini": Variant(True, False, "initial"),
    "g": Variant(True, True, None),
    "g_l_ini": Variant(True, True, "initial"),
    "g_l_p": Variant(True, True, "prompt"),
}
VARIANTS["full"] = VARIANTS["g_l_p"]


def sine_position_encoding(d: int, h: int, w: int, device=None, dtype=None) -> torch.Tensor:
    """2-D sine encoding (1, d, h, w); channels cycle sin(x), cos(x), sin(y), cos(y)."""
    freq = torch.exp(torch.arange(0, d // 2, 2, device=device) * (-math.log(1e4) / (d // 2)))
    ys = (
        torch.arange(1, h + 1, device=device, dtype=torch.float32)[None, :, None]
        * freq[:, None, None]
    )
    xs = (
        torch.arange(1, w + 1, device=device, dtype=torch.float32)[None, None, :]
        * freq[:, None, None]
    )
    ys, xs = ys.expand(-1, h, w), xs.expand(-1, h, w)  # (d/4, h, w)
    pe = torch.stack([xs.sin(), xs.cos(), ys.sin(), ys.cos()], dim=1)  # (d/4, 4, h, w)
    return pe.reshape(1, d, h, w).to(dtype)


def _proj(c_in: int, d: int, stride: int = 1) -> nn.Module:
    k = 3 if stride == 2 else 1
    groups = math.gcd(32, d // 2)  # 32 as in the public code at d = 128; >= 2 channels/group
    return nn.Sequential(nn.Conv2d(c_in, d, k, stride, k // 2), nn.GroupNorm(groups, d))


class ViewHead(nn.Module):
    """Everything of one view after the shared token projections."""

    def __init__(
        self, variant, feat_hw, channels, d, dims, pps_sizes, kernels, scam_kw, gpab_kw=None
    ):
        super().__init__()
        dim_g, dim_l = dims
        self.variant = variant
        self.pps = PyramidPoolingSampling(pps_sizes) if pps_sizes and variant.multi_scale else None
        self.low_norm = nn.LayerNorm(d) if self.pps is not None else None
        self.scam = SCAM(d, **scam_kw) if variant.global_flow else None
        n_low = self.pps.num_tokens if self.pps is not None else feat_hw[0][0] * feat_hw[0][1]
        self.high_counts = [h * w for h, w in feat_hw[1:]]
        n_tokens = n_low + sum(self.high_counts) if variant.multi_scale else self.high_counts[-1]
        self.global_proj = nn.Linear(n_tokens, dim_g // d) if dim_g else None
        gpab_kw = dict(gpab_kw or {})
        gpab_kw["s1_sequence"] = gpab_kw.get("s1_sequence", False) and self.pps is not None
        self.local = LocalFlow(channels, d, dim_l, kernels, **gpab_kw) if dim_l else None

    def forward(self, feats, src, tok):
        """feats [S1, S2, S3] backbone maps; src/tok 4 x (B, d, h, w) without/with position."""
        if not self.variant.multi_scale:  # Baseline: S4 -> descriptor
            return self.global_proj(tok[3].flatten(2)).flatten(1)  # (B, d, N4) -> (B, dim)
        t = [x.flatten(2).transpose(1, 2) for x in tok]  # 4 x (B, h*w, d)
        if self.pps is not None:
            f_low = self.low_norm(self.pps(tok[0]).transpose(1, 2))  # (B, n_pps, d)
        else:
            f_low = t[0]
        f_high = torch.cat(t[1:], dim=1)  # (B, N_H, d)
        f_low_g, f_high_g = self.scam(f_low, f_high) if self.scam is not None else (f_low, f_high)
        f_g = torch.cat([f_low_g, f_high_g], dim=1)  # f^g: (B, N_L + N_H, d)
        out = []
        if self.global_proj is not None:
            out.append(self.global_proj(f_g.transpose(1, 2)).flatten(1))  # (B, d, k) -> (B, d*k)
        if self.local is not None:
            low, high = (f_low_g, f_high_g) if self.variant.local == "prompt" else (f_low, f_high)
            prompts = [low, *high.split(self.high_counts, dim=1)]
            s1 = self.pps.pieces(feats[0]) if self.pps is not None else [feats[0]]
            out.append(self.local([s1, [feats[1]], [feats[2]], [src[3]]], prompts))
        return torch.cat(out, dim=1)


@register_model("mfrgn")
class MFRGN(nn.Module):
    def __init__(
        self,
        backbone: str = "convnext_tiny",
        pretrained: bool = False,
        checkpoint: str | None = None,
        variant: str = "g_l_p",
        attention: str = "linear",
        pps: bool = True,
        dim: int = 2048,
        ratio: tuple[float, float] = (7, 1),
        d_model: int = 128,
        heads: int = 4,
        ffn_dim: int = 2048,
        A: int = 2,
        B: int = 1,
        dropout: float = 0.3,
        ground_hw: tuple[int, int] = (128, 256),
        satellite_hw: tuple[int, int] = (256, 256),
        pps_ground=PPS_GROUND,
        pps_satellite=PPS_SATELLITE,
        s4: str = "conv",
        pos_embed: bool = True,
        gpab_prompt_kernel: int = 1,
        gpab_s1_spatial: str = "grid",
    ):
        super().__init__()
        if gpab_s1_spatial not in ("grid", "sequence"):
            raise ValueError(
                f"gpab_s1_spatial must be 'grid' or 'sequence', got {gpab_s1_spatial!r}"
            )
        if variant not in VARIANTS:
            raise ValueError(f"unknown MFRGN variant {variant!r}; known: {', '.join(VARIANTS)}")
        if s4 not in ("conv", "avgpool"):
            raise ValueError(f"s4 must be 'conv' or 'avgpool', got {s4!r}")
        if d_model % 4:
            raise ValueError(f"d_model={d_model} must be divisible by 4 (sine position encoding)")
        self.variant = VARIANTS[variant]
        self.variant_name = variant
        self.d_model, self.pos_embed = d_model, pos_embed
        self.descriptor_split = self._split(dim, ratio, d_model, self.variant.local is not None)
        self.dim = dim

        self.backbone = create_backbone(
            backbone, pretrained=pretrained, out_indices=(1, 2, 3), checkpoint=checkpoint
        )
        c1, c2, c3 = self.backbone.channels
        s4_proj = (
            _proj(c3, d_model, 2)
            if s4 == "conv"
            else nn.Sequential(nn.AvgPool2d(2, ceil_mode=True), _proj(c3, d_model))
        )
        # Baseline uses S4 only: no S1-S3 projections, so no unused parameters (DDP).
        ms = self.variant.multi_scale
        self.input_proj = nn.ModuleList(
            [_proj(c, d_model) if ms else nn.Identity() for c in (c1, c2, c3)] + [s4_proj]
        )

        self.input_hw = {"ground": tuple(ground_hw), "satellite": tuple(satellite_hw)}
        self.feature_hw = {k: self._feature_hw(hw) for k, hw in self.input_hw.items()}
        scam_kw = dict(heads=heads, ffn_dim=ffn_dim, dropout=dropout, attention=attention, A=A, B=B)
        channels = (c1, c2, c3, d_model)
        setup = {
            "ground": (pps_ground, GROUND_SPATIAL_KERNELS),
            "satellite": (pps_satellite, SATELLITE_SPATIAL_KERNELS),
        }
        self.heads = nn.ModuleDict(
            {
                view: ViewHead(
                    self.variant,
                    self.feature_hw[view],
                    channels,
                    d_model,
                    self.descriptor_split,
                    sizes if pps else None,
                    kernels,
                    scam_kw,
                    dict(
                        prompt_kernel=gpab_prompt_kernel,
                        s1_sequence=gpab_s1_spatial == "sequence",
                    ),
                )
                for view, (sizes, kernels) in setup.items()
            }
        )

    @staticmethod
    def _split(dim, ratio, d, has_local):
        g, l = ratio
        if g < 0 or l < 0 or g + l <= 0:
            raise ValueError(f"ratio must be two non-negative numbers, not both 0; got {ratio!r}")
        dim_g = round(dim * g / (g + l)) if has_local else dim
        if dim_g % d:
            raise ValueError(
                f"global descriptor dim {dim_g} (dim={dim}, ratio={ratio}) must be a multiple "
                f"of d_model={d}: Desc^g projects along tokens to d x (dim_g / d)"
            )
        return dim_g, dim - dim_g

    def _feature_hw(self, hw):
        h, w = hw
        red = self.backbone.reductions
        if min(h, w) < red[-1]:
            raise ValueError(f"MFRGN input {hw} is smaller than the backbone stride {red[-1]}")
        sizes = [(h // r, w // r) for r in red]  # ConvNeXt stages floor-divide
        h3, w3 = sizes[-1]
        return sizes + [(-(-h3 // 2), -(-w3 // 2))]  # S4: ceil(S3 / 2)

    def forward(self, x: torch.Tensor, view: str = "ground") -> torch.Tensor:
        if view not in VIEW_BRANCH:
            raise ValueError(f"MFRGN view must be one of {sorted(VIEW_BRANCH)}, got {view!r}")
        branch = VIEW_BRANCH[view]
        if tuple(x.shape[-2:]) != self.input_hw[branch]:
            raise ValueError(
                f"MFRGN was built for {branch} input {self.input_hw[branch]}, got "
                f"{tuple(x.shape[-2:])}; pass {branch}_hw= to create_model"
            )
        feats = self.backbone(x)  # [S1, S2, S3]
        if [tuple(f.shape[-2:]) for f in feats] != self.feature_hw[branch][:3]:
            raise ValueError(
                f"backbone maps {[tuple(f.shape) for f in feats]} differ from "
                f"the expected {self.feature_hw[branch][:3]}"
            )
        used = range(4) if self.variant.multi_scale else (3,)
        src = [self.input_proj[i](feats[min(i, 2)]) if i in used else None for i in range(4)]
        tok = [self._add_position(s) if s is not None else None for s in src]
        return F.normalize(self.heads[branch](feats, src, tok), dim=1)

    def _add_position(self, x: torch.Tensor) -> torch.Tensor:
        if not self.pos_embed:
            return x
        return x + sine_position_encoding(x.shape[1], *x.shape[2:], device=x.device, dtype=x.dtype)
