"""AWM: limited-field-of-view ground -> polar satellite retrieval with attention weight masks.

Zhu, Sun, Xu, "Cross-View Image Geo-localization Based on Attention Weight Masks",
Information Technology and Control 54(3), 778-795, 2025 (doi 10.5755/j01.itc.54.3.41802).

Two ResNet18_CA branches with independent weights (Sec. 3.2): the ground branch sees the
limited-FoV crop (128 x 99 at 70 deg, 128 x 128 at 90 deg), the satellite branch the polar
transformed aerial image (128 x 512). Per block i of the used blocks:

    CA masks M_g, M_s (H_i x W_i)                          Sec. 3.3.1, cvgl_core.models.resnet_ca
    FCA: window of the ground feature width w_i slides (wrapping) over the satellite mask;
         the window of largest summed weight selects the satellite columns    Sec. 3.3.2
    FMC: flatten the (cropped) maps of blocks 1-4, concatenate, L2-normalise  Sec. 3.4

so the ground and satellite descriptors both have sum_i C_i * H_i * w_i entries (122,880 at
90 deg, 100,352 at 70 deg for the paper's sizes). The crop width depends on the ground
feature width, so the model is built for one ground size: `ground_size` (H, w), by default
derived from `fov` as the DSM protocol crops it, w = int(fov / 360 * W_sat) (99 and 128 for
a 512-wide panorama); `set_fov` rebuilds the windows for another FoV with the same weights.

Switches (Tables 3-6): use_ca=False is plain ResNet18 (no masks, so FCA needs use_ca);
use_fmc=False keeps block 4 only; use_fca=False replaces FCA by `no_fca`.

Ambiguities, each a named option:
* fca_mode="satellite_peak" (default): steps 1-4 literally, the window is chosen on M_s
  alone, so the satellite descriptor does not depend on the query (ordinary retrieval).
  fca_mode="correlation": the text also says the window "searches for areas corresponding
  to the ground-attention mask M_g"; here the window score is the correlation of M_g with the
  M_s window, so the crop depends on the pair.
* Without FCA the paper does not say how the satellite panorama is matched to the narrower
  ground map. no_fca="dsm" (default): DSM's dense search (Shi et al., CVPR 2020, the
  method the paper builds on, Sec. 3.1): per block the window of highest feature correlation,
  cropped and L2-normalised. no_fca="first_window": the window at column 0, no alignment.
* Mask formation: see resnet_ca (mask_mode="gates" default, "weighted").

Pairwise modes (correlation, dsm): `model.pairwise` is True; `forward` returns a packed
record (ground: normalised descriptor [+ masks]; satellite: full-width features [+ masks])
that only `model.similarity(ground_chunk, satellite_chunk)` reads, so evaluation runs in
chunks of both sides. `similarity` is q @ r.T in the other modes, so callers can always use it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cvgl_core.models.fca import (
    circular_correlation,
    circular_window_sums,
    crop_columns,
    satellite_peak_starts,
)
from cvgl_core.models.registry import register_model
from cvgl_core.models.resnet_ca import ResNet18_CA, resnet_feature_hw

FCA_MODES = ("satellite_peak", "correlation")
NO_FCA_MODES = ("dsm", "first_window")
CHANNELS = (64, 128, 256, 512)


class AWM(nn.Module):
    def __init__(
        self,
        fov: float | None = None,
        ground_size: tuple[int, int] | None = None,
        satellite_size: tuple[int, int] = (128, 512),
        use_ca: bool = True,
        use_fca: bool = True,
        use_fmc: bool = True,
        fca_mode: str = "satellite_peak",
        no_fca: str = "dsm",
        mask_mode: str = "gates",
        pretrained: bool = False,
        backbone: str = "resnet18",  # timm name[.tag] of both ResNet18_CA branches
    ):
        super().__init__()
        if fca_mode not in FCA_MODES:
            raise KeyError(f"unknown fca_mode {fca_mode!r}; known: {', '.join(FCA_MODES)}")
        if no_fca not in NO_FCA_MODES:
            raise KeyError(f"unknown no_fca {no_fca!r}; known: {', '.join(NO_FCA_MODES)}")
        if use_fca and not use_ca:
            raise ValueError(
                "FCA selects windows on the CA masks: use_ca=False needs use_fca=False"
            )
        self.use_ca, self.use_fca, self.use_fmc = use_ca, use_fca, use_fmc
        self.align = fca_mode if use_fca else no_fca
        self.pairwise = self.align in ("correlation", "dsm")
        self.blocks = (0, 1, 2, 3) if use_fmc else (3,)
        self.satellite_size = tuple(satellite_size)
        self.ground = ResNet18_CA(pretrained, use_ca, mask_mode, backbone)
        self.satellite = ResNet18_CA(pretrained, use_ca, mask_mode, backbone)
        self.set_fov(fov, ground_size)

    # ----- geometry -------------------------------------------------------------------------
    def set_fov(self, fov: float | None, ground_size: tuple[int, int] | None = None) -> None:
        """Set the ground input size (from the FoV unless given) and the FCA window widths.
        fov=None means 90 degrees, or the FoV that `ground_size` covers when it is given."""
        hs, ws = self.satellite_size
        if fov is None:
            fov = 90.0 if ground_size is None else ground_size[1] / ws * 360
        if ground_size is None:
            ground_size = (hs, int(fov / 360 * ws))
        hg, wg = ground_size
        if hg != hs or abs(wg - fov / 360 * ws) > 1:
            raise ValueError(
                f"ground_size {tuple(ground_size)} does not match fov={fov} on a satellite "
                f"panorama of {hs}x{ws}: expected ({hs}, {int(fov / 360 * ws)})"
            )
        self.fov, self.ground_size = fov, (hg, wg)
        g_hw, s_hw = resnet_feature_hw(hg, wg), resnet_feature_hw(hs, ws)
        self.ground_shapes = [(CHANNELS[i], *g_hw[i]) for i in self.blocks]  # (C, H, w)
        self.satellite_shapes = [(CHANNELS[i], *s_hw[i]) for i in self.blocks]  # (C, H, W)
        self.widths = [s[2] for s in self.ground_shapes]

    def descriptor_dim(self, view: str = "ground") -> int:
        """Length of forward's output: the descriptor, or the packed record in pairwise modes."""
        full = view == "satellite" and self.pairwise
        shapes = self.satellite_shapes if full else self.ground_shapes
        n = sum(c * h * w for c, h, w in shapes)
        if self.align == "correlation":
            n += sum(h * w for _, h, w in shapes)
        return n

    # ----- branches -------------------------------------------------------------------------
    def _check(self, x: torch.Tensor, view: str) -> None:
        want = self.ground_size if view == "ground" else self.satellite_size
        if tuple(x.shape[-2:]) != want:
            raise ValueError(
                f"AWM {view} input must be {want[0]}x{want[1]} (fov={self.fov}); got "
                f"{tuple(x.shape[-2:])}. Resize, or call set_fov for another FoV."
            )

    def encode(self, x: torch.Tensor, view: str):
        """(features, masks) of the used blocks: lists of (B, C, H, W) and (B, H, W) or None."""
        if view not in ("ground", "satellite"):
            raise ValueError(f"AWM views are 'ground' and 'satellite'; got {view!r}")
        self._check(x, view)
        feats, masks = (self.ground if view == "ground" else self.satellite)(x)
        return [feats[i] for i in self.blocks], [masks[i] for i in self.blocks]

    @torch.no_grad()
    def masks(self, x: torch.Tensor, view: str) -> list[torch.Tensor]:
        """Attention-weight masks of the used blocks, (B, H, W) each (Fig. 6 shows block 4)."""
        if not self.use_ca:
            raise ValueError("masks need coordinate attention (use_ca=True)")
        return self.encode(x, view)[1]

    def window_starts(self, sat_masks: list[torch.Tensor]) -> list[torch.Tensor]:
        """FCA start column (B,) per used block, from the satellite masks (satellite_peak)."""
        return [satellite_peak_starts(m, w) for m, w in zip(sat_masks, self.widths)]

    def forward(self, x: torch.Tensor, view: str = "ground") -> torch.Tensor:
        feats, masks = self.encode(x, view)
        if view == "satellite":
            if self.align == "satellite_peak":
                starts = self.window_starts(masks)
            elif self.align == "first_window":
                starts = [torch.zeros(x.shape[0], dtype=torch.long, device=x.device)] * len(feats)
            else:  # pairwise: keep the full panorama; `similarity` crops per pair
                flat = [f.flatten(1) for f in feats]
                if self.align == "correlation":
                    flat += [m.flatten(1) for m in masks]
                return torch.cat(flat, dim=1)
            feats = [crop_columns(f, s, w) for f, s, w in zip(feats, starts, self.widths)]
        desc = F.normalize(torch.cat([f.flatten(1) for f in feats], dim=1), dim=1)  # FMC
        if view == "ground" and self.align == "correlation":
            desc = torch.cat([desc] + [m.flatten(1) for m in masks], dim=1)
        return desc

    # ----- matching -------------------------------------------------------------------------
    def _unpack(self, rec: torch.Tensor, shapes, with_masks: bool):
        sizes = [c * h * w for c, h, w in shapes] + [h * w for _, h, w in shapes] * with_masks
        parts = rec.split(sizes, dim=1)
        feats = [p.view(-1, *s) for p, s in zip(parts, shapes)]
        masks = [p.view(-1, h, w) for p, (_, h, w) in zip(parts[len(shapes) :], shapes)]
        return feats, masks

    def similarity(self, ground: torch.Tensor, satellite: torch.Tensor) -> torch.Tensor:
        """Cosine similarity (Bq, Bs) between chunks of forward outputs (ground, satellite)."""
        if not self.pairwise:
            return ground @ satellite.T
        corr = self.align == "correlation"
        g_feats, g_masks = self._unpack(ground, self.ground_shapes, corr)
        s_feats, s_masks = self._unpack(satellite, self.satellite_shapes, corr)
        num = ground.new_zeros(ground.shape[0], satellite.shape[0])
        den = torch.zeros_like(num)
        for i, w in enumerate(self.widths):
            dots = circular_correlation(g_feats[i], s_feats[i])  # (Bq, Bs, W): <g, window k>
            if corr:
                score = circular_correlation(g_masks[i][:, None], s_masks[i][:, None])
            else:
                score = dots  # DSM: the window most correlated with the ground features
            k = score.argmax(dim=2, keepdim=True)  # (Bq, Bs, 1)
            sq = circular_window_sums(s_feats[i].pow(2).sum(dim=(1, 2)), w)  # (Bs, W)
            num = num + dots.gather(2, k).squeeze(2)
            den = den + sq.expand(ground.shape[0], -1, -1).gather(2, k).squeeze(2)
        # The ground part is already unit norm; the crop is normalised over all its blocks.
        return num / den.clamp_min(1e-12).sqrt()


@register_model("awm")
def awm(**kwargs) -> AWM:
    return AWM(**kwargs)


def descriptor_memory(fov: float, satellite_size=(128, 512), gallery: int = 1, **switches) -> dict:
    """What retrieval with an AWM of these sizes keeps, float32: the ground descriptor's and
    the satellite record's length (the full-width maps in the pairwise modes), the gallery's
    MiB and one query's KiB. `switches`: AWM keyword arguments (fca_mode, use_fca, ...)."""
    m = AWM(fov=fov, satellite_size=satellite_size, **switches)
    d_g, d_s = m.descriptor_dim("ground"), m.descriptor_dim("satellite")
    return {
        "ground input": "x".join(map(str, m.ground_size)),
        "ground dim": d_g,
        "satellite record dim": d_s,
        "gallery": gallery,
        "gallery MiB (float32)": round(gallery * d_s * 4 / 2**20, 1),
        "per query KiB": round(d_g * 4 / 2**10, 1),
    }
