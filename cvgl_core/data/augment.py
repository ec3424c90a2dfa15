"""Photometric training augmentation of one view, built on torchvision.transforms.v2.

Sample4Geo (Deuser et al., ICCV 2023; Skyy93/Sample4Geo sample4geo/transforms.py) trains
with an albumentations pipeline that the LRFR authors (WenjianGan/LRFR
datasets/university.py `get_transforms`) and the MFRGN authors (HUST-IAL/MFRGN
sample4geo/transforms.py) copy unchanged. Per view, each step with its probability:

    JPEG re-compression, quality 90-100                                       p 0.5
    colour jitter, brightness = contrast = saturation = hue = 0.15            p 0.5
    one of {blur, sharpen}                                                    p 0.3
    one of {grid dropout (ratio 0.4 satellite, 0.5 ground),
            coarse dropout (10-25 holes of 0.1-0.2 H per side)}               p 0.3

(the joint flips and quarter turns are geometric and live in transforms.JointAugment).

Where we depart from albumentations (no albumentations here): the steps run on the resized
float image in [0, 1] (Sample4Geo compresses before resizing); AdvancedBlur (a random
anisotropic generalised-Gaussian kernel) is a Gaussian blur, kernel 7, sigma in [0.2, 1];
Sharpen (alpha 0.2-0.5) is torchvision's adjust_sharpness with a factor drawn in [1.2, 2];
GridDropout's defaults are reproduced (a 10 x 10 grid of units, the top-left
`ratio` x unit of each unit zeroed); dropped pixels are 0 (black before normalisation, as
there). Every random draw uses torch's global RNG, so a seed makes it repeatable.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF


def _uniform(lo: float, hi: float) -> float:
    return float(lo + (hi - lo) * torch.rand(()).item())


class GridDropout(nn.Module):
    """albumentations GridDropout with its defaults: units of H/10 x W/10, the top-left
    `ratio` of each unit (per side) set to 0."""

    def __init__(self, ratio: float = 0.5, units: int = 10):
        super().__init__()
        self.ratio, self.units = ratio, units

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (C, H, W) -> (C, H, W)
        h, w = x.shape[-2:]
        uh, uw = max(2, h // self.units), max(2, w // self.units)
        hh, hw = max(1, int(uh * self.ratio)), max(1, int(uw * self.ratio))
        rows = (torch.arange(h) % uh) < hh  # (H,)
        cols = (torch.arange(w) % uw) < hw  # (W,)
        return x.masked_fill(rows[:, None] & cols[None, :], 0.0)


class CoarseDropout(nn.Module):
    """n holes (n uniform in [min_holes, max_holes]) of side lengths drawn in
    [min_size, max_size] x H pixels (Sample4Geo sizes width by H as well), set to 0."""

    def __init__(self, min_holes=10, max_holes=25, min_size=0.1, max_size=0.2):
        super().__init__()
        self.min_holes, self.max_holes = min_holes, max_holes
        self.min_size, self.max_size = min_size, max_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        lo, hi = max(1, int(self.min_size * h)), max(1, int(self.max_size * h))
        x = x.clone()
        n = int(torch.randint(self.min_holes, self.max_holes + 1, ()).item())
        for _ in range(n):
            hh, hw = (int(torch.randint(lo, hi + 1, ()).item()) for _ in range(2))
            y0 = int(torch.randint(0, max(1, h - hh + 1), ()).item())
            x0 = int(torch.randint(0, max(1, w - hw + 1), ()).item())
            x[..., y0 : y0 + hh, x0 : x0 + hw] = 0.0
        return x


class RandomSharpen(nn.Module):
    def __init__(self, factor=(1.2, 2.0)):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return TF.adjust_sharpness(x, _uniform(*self.factor))


class Jpeg(nn.Module):
    """JPEG round trip of a float image in [0, 1] at a quality drawn in `quality`, through PIL
    (torchvision's JPEG codec is deprecated in 0.29)."""

    def __init__(self, quality=(90, 100)):
        super().__init__()
        self.quality = quality

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = int(torch.randint(self.quality[0], self.quality[1] + 1, ()).item())
        u8 = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, 3)
        buf = io.BytesIO()
        Image.fromarray(u8).save(buf, format="JPEG", quality=q)
        buf.seek(0)
        with Image.open(buf) as im:
            out = np.asarray(im.convert("RGB"), dtype=np.uint8)
        return torch.from_numpy(out.copy()).permute(2, 0, 1).float().div_(255.0)


@dataclass
class Photometric:
    """One view's photometric pipeline (parameters: the module docstring; p = 0 drops a step).

    Call on an unnormalised float image (3, H, W) in [0, 1]; returns the same shape."""

    jpeg_p: float = 0.5
    jpeg_quality: tuple[int, int] = (90, 100)
    colour_jitter: float = 0.15  # brightness, contrast, saturation and hue
    colour_jitter_p: float = 0.5
    blur_sharpen_p: float = 0.3
    blur_sigma: tuple[float, float] = (0.2, 1.0)
    sharpen_factor: tuple[float, float] = (1.2, 2.0)
    dropout_p: float = 0.3
    grid_dropout_ratio: float = 0.5
    coarse_holes: tuple[int, int] = (10, 25)
    coarse_size: tuple[float, float] = (0.1, 0.2)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            if f.name.endswith("_p") and not 0.0 <= getattr(self, f.name) <= 1.0:
                raise ValueError(
                    f"photometric {f.name} must be in [0, 1], got {getattr(self, f.name)}"
                )
        j = self.colour_jitter
        self.pipeline = v2.Compose(
            [
                v2.RandomApply([Jpeg(tuple(self.jpeg_quality))], p=self.jpeg_p),
                v2.RandomApply([v2.ColorJitter(j, j, j, min(j, 0.5))], p=self.colour_jitter_p),
                v2.RandomApply(
                    [
                        v2.RandomChoice(
                            [
                                v2.GaussianBlur(7, sigma=tuple(self.blur_sigma)),
                                RandomSharpen(tuple(self.sharpen_factor)),
                            ]
                        )
                    ],
                    p=self.blur_sharpen_p,
                ),
                v2.RandomApply(
                    [
                        v2.RandomChoice(
                            [
                                GridDropout(self.grid_dropout_ratio),
                                CoarseDropout(*self.coarse_holes, *self.coarse_size),
                            ]
                        )
                    ],
                    p=self.dropout_p,
                ),
            ]
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[0] != 3:
            raise ValueError(f"photometric augmentation expects (3, H, W), got {tuple(x.shape)}")
        return self.pipeline(x).clamp_(0.0, 1.0)


# preset -> role -> Photometric fields. "query" is the ground/drone/street view, "reference"
# the satellite (Sample4Geo: grid dropout ratio 0.5 on the ground view, 0.4 on the satellite;
# the LRFR authors' University-1652 pipeline uses 0.4 on both, `query: {grid_dropout_ratio: 0.4}`).
PRESETS = {
    "sample4geo": {"query": {"grid_dropout_ratio": 0.5}, "reference": {"grid_dropout_ratio": 0.4}},
    # a light pipeline for the small synthetic images of the cpu/smoke profiles
    "light": {
        role: {"jpeg_p": 0.0, "blur_sharpen_p": 0.0, "dropout_p": 0.0, "colour_jitter_p": 0.5}
        for role in ("query", "reference")
    },
}
ROLES = ("query", "reference")


def build_photometric(spec, role: str) -> Photometric | None:
    """The pipeline of `role` ("query" | "reference") from a `photometric` data option:
    None/False (off), a preset name, or {"preset": name, "query": {...}, "reference": {...}}
    whose per-role dicts override the preset's Photometric fields."""
    if role not in ROLES:
        raise KeyError(f"photometric role must be one of {ROLES}, got {role!r}")
    if spec is None or spec is False:
        return None
    if isinstance(spec, str):
        spec = {"preset": spec}
    if not isinstance(spec, dict):
        raise ValueError(f"photometric must be null, a preset name or a mapping, got {spec!r}")
    unknown = set(spec) - {"preset", *ROLES}
    if unknown:
        raise KeyError(
            f"photometric: unknown key(s) {sorted(unknown)}; known: preset, query, reference"
        )
    name = spec.get("preset", "sample4geo")
    if name not in PRESETS:
        raise KeyError(f"photometric: unknown preset {name!r}; known: {', '.join(PRESETS)}")
    fields = {f.name for f in dataclasses.fields(Photometric)}
    kw = {**PRESETS[name][role], **(spec.get(role) or {})}
    bad = sorted(set(kw) - fields)
    if bad:
        raise KeyError(f"photometric.{role}: unknown field(s) {bad}; known: {sorted(fields)}")
    return Photometric(**kw)
