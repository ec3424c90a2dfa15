"""The conditions of one capture (one photo): season, light, sensor.

Two captures of one place differ the way a satellite pass and a street photo taken on
another day do: a season tint on vegetation and ground, a global gain and colour cast, a
different sun direction for wall shading, sensor noise and blur. How much they differ is
set by the knobs (cvgl_core.synth.knobs); with knobs at 0 every capture is `Capture()`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from cvgl_core.synth.knobs import Knobs

# Season tints (multipliers on ground and vegetation): autumn, dry summer, spring, winter.
SEASONS = np.array(
    [[1.25, 1.0, 0.65], [1.15, 1.08, 0.85], [0.85, 1.12, 0.85], [1.05, 1.05, 1.12]], np.float32
)


@dataclass(frozen=True)
class Capture:
    gain: float = 1.0
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    season: tuple[float, float, float] = (1.0, 1.0, 1.0)
    sun_az: float = 150.0  # degrees clockwise from north; shades walls in ground/drone views
    noise: float = 0.0  # std of additive Gaussian noise, in [0, 1] intensity units
    blur: float = 0.0  # Gaussian sigma in output pixels
    occluders: float = 0.0  # mean number of transient occluders (vehicles, poles)


def sample_capture(rng: np.random.Generator, knobs: Knobs) -> Capture:
    L, S = knobs.lighting, knobs.season_shift
    tint = SEASONS[rng.integers(len(SEASONS))]
    strength = S * rng.uniform(0.3, 1.0)
    return Capture(
        gain=float(np.exp(rng.normal(0, 0.22 * L))),
        cast=tuple(float(x) for x in np.exp(rng.normal(0, 0.07 * L, 3))),
        season=tuple(float(x) for x in 1 + strength * (tint - 1)),
        sun_az=float(150 + L * rng.uniform(-180, 180)),
        noise=0.08 * knobs.noise * float(rng.uniform(0.5, 1.0)),
        blur=1.5 * knobs.blur * float(rng.uniform(0.5, 1.0)),
        occluders=3.0 * knobs.occlusion,
    )


def finish(
    img: np.ndarray, cap: Capture, rng: np.random.Generator | None, wrap: bool = False
) -> np.ndarray:
    """Float RGB (H, W, 3) -> uint8 after gain, cast, blur and noise. `wrap`: panoramas blur
    across the 0/360 degree seam."""
    img = img * (cap.gain * np.asarray(cap.cast, np.float32))
    if cap.blur > 0:
        mode = ["nearest", "wrap" if wrap else "nearest", "nearest"]
        img = gaussian_filter(img, sigma=(cap.blur, cap.blur, 0), mode=mode)
    if cap.noise > 0 and rng is not None:
        img = img + rng.normal(0, cap.noise, img.shape).astype(np.float32)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
