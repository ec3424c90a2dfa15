"""View transforms: resize + ImageNet normalisation per view, CVACT's middle-half crop,
limited field of view (DSM protocol), and joint augmentations that keep a satellite image
and its north-aligned panorama consistent.

Conventions (docs/design.md, "Conventions"): panorama column c looks at azimuth
c / W * 360 - 180 degrees (0 = north, clockwise), so column 0 is south, W/4 west, W/2 north, 3W/4 east; this is
exactly the column layout of the polar transform (polar.py).

Joint augmentations, derived from the polar transform and tested against it:
* satellite horizontal flip (east <-> west)  <->  panorama mirrored about the north
  column: column j -> (W - j) mod W (columns 0 and W/2 stay). This is torch.flip followed
  by a roll of one column; a plain torch.flip (j -> W-1-j) moves north by one column.
* satellite rotated by k * 90 degrees counter-clockwise (torch.rot90(k), what was north
  now points west)  <->  panorama rolled left by k * W/4 (torch.roll(-k * W // 4)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cvgl_core.data.polar import polar_transform

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """ImageNet normalisation of a float image in [0, 1], (..., 3, H, W)."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x - mean) / std


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB image -> float tensor (3, H, W) in [0, 1]."""
    a = np.asarray(img, dtype=np.uint8)  # (H, W, 3)
    return torch.from_numpy(a.copy()).permute(2, 0, 1).float().div_(255.0)


def crop_rows(img: Image.Image, lo: float, hi: float) -> Image.Image:
    """Keep rows [lo*H, hi*H): (0.25, 0.75) is CVACT's middle half (rows 208:624 of 832)."""
    w, h = img.size
    return img.crop((0, int(round(lo * h)), w, int(round(hi * h))))


# ----------------------------------------------------------------------------------------
# Limited field of view (DSM: Shi et al., "Where am I looking at? Joint location and
# orientation estimation by cross-view matching", CVPR 2020)


def fov_crop_width(width: int, fov: float) -> int:
    """Crop width of a `fov`-degree view of a `width`-column panorama: int(FoV / 360 * W)."""
    if not 0 < fov <= 360:
        raise ValueError(f"field of view must be in (0, 360] degrees, got {fov}")
    return max(1, int(fov / 360.0 * width))


def _max_shift(width: int, noise: float) -> int:
    return max(1, int(width * noise / 360.0))


def sample_fov_shift(width: int, noise: float = 360.0, generator=None) -> int:
    """A random shift s in [0, W * noise / 360) (noise 360 = unknown heading)."""
    hi = _max_shift(width, noise)
    return int(torch.randint(hi, (1,), generator=generator).item())


def fixed_fov_shifts(n: int, width: int, noise: float = 360.0, seed: int = 0) -> np.ndarray:
    """The test protocol's fixed headings: n shifts drawn once from `seed` (np.int64)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, _max_shift(width, noise), size=n, dtype=np.int64)


def shift_to_heading(shift: int, width: int, fov: float) -> float:
    """Heading of the crop centre in degrees in [-180, 180), 0 = north, clockwise."""
    return float(((width - shift) / width * 360.0 + fov / 2.0) % 360.0 - 180.0)


def heading_to_shift(heading: float, width: int, fov: float) -> int:
    """Inverse of shift_to_heading (exact for integer shifts)."""
    start = (heading + 180.0 - fov / 2.0) / 360.0 * width  # first column of the crop
    return int((width - int(round(start)) % width) % width)


def _width_axis(x) -> int:
    # torch: (..., H, W); numpy: (H, W) or (H, W, C)
    return -1 if isinstance(x, torch.Tensor) else 1


def _roll_crop(x, shift: int, crop_w: int):
    if isinstance(x, torch.Tensor):
        return torch.roll(x, shifts=shift, dims=-1)[..., :crop_w]
    return np.roll(x, shift, axis=1)[:, :crop_w]


def fov_crop(pano, fov: float, *, shift: int | None = None, noise: float = 360.0, generator=None):
    """DSM limited-FoV crop of a north-centred panorama -> (crop, heading_degrees).

    The panorama is rolled right by `shift` columns (random in [0, W * noise / 360) when
    None, drawn from torch's RNG or `generator`) and the left int(FoV / 360 * W) columns
    are kept. heading = ((W - s) / W * 360 + FoV / 2) mod 360 - 180 is the azimuth of the
    crop centre (0 = north, clockwise). `crop_at_heading(pano, heading, fov)` gives the
    same crop back. Accepts a torch tensor (..., H, W), a numpy array (H, W[, C]) or a
    PIL image (returned as PIL); shared by the dataset classes and the synthetic world.
    """
    if isinstance(pano, Image.Image):
        crop, heading = fov_crop(
            np.asarray(pano), fov, shift=shift, noise=noise, generator=generator
        )
        return Image.fromarray(np.ascontiguousarray(crop)), heading
    width = pano.shape[_width_axis(pano)]
    crop_w = fov_crop_width(width, fov)
    if shift is None:
        shift = sample_fov_shift(width, noise, generator)
    return _roll_crop(pano, int(shift), crop_w), shift_to_heading(int(shift), width, fov)


def uncrop(crop: torch.Tensor, width: int, shift: int) -> torch.Tensor:
    """A `fov_crop` crop (cut with `shift`) back at its own columns of a `width`-column
    panorama, zeros elsewhere: crop column j is panorama column (j - shift) mod width.
    (..., H, w) -> (..., H, width)"""
    return torch.roll(F.pad(crop, (0, width - crop.shape[-1])), shifts=-int(shift), dims=-1)


def crop_at_heading(pano, heading: float, fov: float):
    """The `fov`-degree crop of `pano` whose centre looks at `heading` (as fov_crop returns)."""
    if isinstance(pano, Image.Image):
        return Image.fromarray(
            np.ascontiguousarray(crop_at_heading(np.asarray(pano), heading, fov))
        )
    width = pano.shape[_width_axis(pano)]
    return _roll_crop(pano, heading_to_shift(heading, width, fov), fov_crop_width(width, fov))


# ----------------------------------------------------------------------------------------
# Joint augmentations (satellite, panorama)


def mirror_panorama(pano: torch.Tensor) -> torch.Tensor:
    """Mirror about the north (and south) column: column j -> (W - j) mod W."""
    return torch.roll(torch.flip(pano, dims=[-1]), shifts=1, dims=-1)


def roll_panorama(pano: torch.Tensor, k: int) -> torch.Tensor:
    """The panorama seen after the aerial view is rotated by k * 90 degrees counter-clockwise."""
    w = pano.shape[-1]
    if w % 4:
        raise ValueError(f"a quarter-turn roll needs a panorama width divisible by 4, got {w}")
    return torch.roll(pano, shifts=-k * (w // 4), dims=-1)


def joint_hflip(sat: torch.Tensor, pano: torch.Tensor, sat_is_polar: bool = False):
    """Flip the satellite east-west and mirror the panorama consistently."""
    sat = mirror_panorama(sat) if sat_is_polar else torch.flip(sat, dims=[-1])
    return sat, mirror_panorama(pano)


def joint_rot90(sat: torch.Tensor, pano: torch.Tensor, k: int, sat_is_polar: bool = False):
    """Rotate the satellite by k * 90 degrees counter-clockwise and roll the panorama."""
    sat = roll_panorama(sat, k) if sat_is_polar else torch.rot90(sat, k, dims=(-2, -1))
    return sat, roll_panorama(pano, k)


AUGMENT_MODES = ("panorama", "paired", "independent")


@dataclass
class JointAugment:
    """Random joint augmentation of a (query, reference) pair of unnormalised tensors.

    mode "panorama": the query is a north-centred panorama and the reference its satellite
    image (or, with reference_is_polar, its polar transform): flip with probability flip_p,
    rotate by a random quarter turn (1-3) with probability rotate_p, consistently (Sample4Geo
    sample4geo/dataset/cvusa.py uses 0.5 and 0.75). mode "paired" (drone/street vs
    satellite, the LRFR authors' University-1652 loader, WenjianGan/LRFR
    datasets/university.py): one flip decision (flip_p) flips both views together, then
    the satellite alone is turned by k quarter turns, k uniform in {0, 1, 2, 3}, with
    probability rotate_p (their RandomRotate90(p=1.0): rotate_p 1). mode "independent":
    each view flipped on its own, the satellite turned by a random quarter turn (1-3) with
    probability rotate_p.
    """

    mode: str = "panorama"
    flip_p: float = 0.5
    rotate_p: float = 0.75
    reference_is_polar: bool = False

    def __post_init__(self):
        if self.mode not in AUGMENT_MODES:
            raise ValueError(f"unknown joint augmentation mode {self.mode!r}")

    def __call__(self, query: torch.Tensor, reference: torch.Tensor):
        u = torch.rand(4).tolist()
        if self.mode == "panorama":
            if u[0] < self.flip_p:
                reference, query = joint_hflip(reference, query, self.reference_is_polar)
            if u[1] < self.rotate_p:
                k = int(torch.randint(1, 4, (1,)).item())
                reference, query = joint_rot90(reference, query, k, self.reference_is_polar)
            return query, reference
        if self.mode == "paired":
            if u[0] < self.flip_p:
                query, reference = torch.flip(query, dims=[-1]), torch.flip(reference, dims=[-1])
            if u[1] < self.rotate_p:
                k = int(torch.randint(0, 4, (1,)).item())
                reference = torch.rot90(reference, k, dims=(-2, -1))
            return query, reference
        if u[0] < self.flip_p:
            query = torch.flip(query, dims=[-1])
        if u[1] < self.flip_p:
            reference = torch.flip(reference, dims=[-1])
        if u[2] < self.rotate_p:
            reference = torch.rot90(reference, int(torch.randint(1, 4, (1,)).item()), dims=(-2, -1))
        return query, reference


# ----------------------------------------------------------------------------------------
# Per-view pipeline


@dataclass
class ViewTransform:
    """How one view is turned from a PIL image into a model input.

    load():   optional row crop (CVACT middle half) -> resize to `size` (H, W) -> float [0, 1]
    finish(): optional polar transform to `polar_hw` -> optional FoV crop -> optional
              photometric augmentation (on what the model sees, as Sample4Geo) -> normalisation
    Joint augmentations run between the two, on unnormalised square/panorama tensors.
    """

    size: tuple[int, int] | None = None
    row_crop: tuple[float, float] | None = None
    polar_hw: tuple[int, int] | None = None
    polar_convention: str = "center"
    fov: float | None = None
    fov_noise: float = 360.0
    fov_pad: bool = False  # the crop back at its own columns of the panorama, zeros elsewhere
    normalize: bool = True
    photometric: Callable | None = None  # training only: augment.Photometric, before normalise

    def load(self, img: Image.Image) -> torch.Tensor:
        if self.row_crop is not None:
            img = crop_rows(img, *self.row_crop)
        if self.size is not None and img.size != (self.size[1], self.size[0]):
            img = img.resize((self.size[1], self.size[0]), Image.BILINEAR)
        return to_tensor(img)

    def finish(self, x: torch.Tensor, shift: int | None = None):
        """-> (tensor, heading or None)."""
        if self.polar_hw is not None:
            x = polar_transform(x, self.polar_hw, self.polar_convention)
        heading = None
        width = x.shape[-1]
        if self.fov is not None:
            if shift is None:
                shift = sample_fov_shift(width, self.fov_noise)
            x, heading = fov_crop(x, self.fov, shift=shift)
            x = x.contiguous()
        if self.photometric is not None:
            x = self.photometric(x)
        if self.normalize:
            x = normalize(x)
        if self.fov is not None and self.fov_pad:  # zero = the mean colour once normalised
            x = uncrop(x, width, shift)
        return x, heading

    @property
    def panorama_width(self) -> int | None:
        return None if self.size is None else int(self.size[1])
