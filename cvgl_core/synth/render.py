"""Renderers: satellite tile, ground panorama, limited-FoV crop, drone view (numpy, vectorised).

Conventions (docs/design.md, "Conventions"; shared with the polar transform):
* Positions are continuous world raster coordinates (row, col), row 0 = north.
* Satellite tiles are north-up: tile row 0 is the northern edge.
* Panoramas are equirectangular and north-centred: column `j` of a W-wide panorama looks
  at azimuth (clockwise from north) 180 + 360 * j / W (mod 360), so column 0 = south,
  W/4 = west, W/2 = north, 3W/4 = east. Row i looks at elevation
  top - (i + 0.5) * (top - bottom) / H.
* Headings and azimuths are degrees clockwise from north.

Panorama ray casting: for each column march along the ray at geometrically spaced
distances, take the running maximum of the tangent of the elevation to each sample's top
(the skyline so far); the first sample whose running maximum reaches a row's elevation
is what that row sees (one batched searchsorted for all rows and columns). The sample is a
side (wall, canopy side) if the ray was already below its top at the previous sample,
otherwise the top surface (ground, road, roof).
"""

from __future__ import annotations

import functools

import numpy as np

from cvgl_core.synth.capture import Capture, finish
from cvgl_core.synth.world import FLOOR_M, GROUND, TREE, World, sun_vector

EYE_M = 1.7
NEUTRAL = Capture()  # no appearance change, no sensor effects
FOG_M = 110.0


def _veg_tint(kind: np.ndarray, season) -> np.ndarray:
    """Per-pixel multiplier: the season tint on ground and trees, 1 elsewhere. (..., 3)"""
    veg = (kind == GROUND) | (kind == TREE)
    return np.where(veg[..., None], np.asarray(season, np.float32), np.float32(1.0))


# ---------------------------------------------------------------------------- satellite
@functools.lru_cache(maxsize=32)
def _box_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) area-averaging matrix: output pixel = mean of the input it covers."""
    edges = np.linspace(0, n_in, n_out + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    x = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, x + 1) - np.maximum(lo, x), 0, None)
    return (overlap / overlap.sum(1, keepdims=True)).astype(np.float32)


def _crop(a: np.ndarray, r0: int, c0: int, size: int) -> np.ndarray:
    """a[r0:r0+size, c0:c0+size] with edge replication outside the world."""
    if r0 >= 0 and c0 >= 0 and r0 + size <= a.shape[0] and c0 + size <= a.shape[1]:
        return a[r0 : r0 + size, c0 : c0 + size]
    rows = np.clip(np.arange(r0, r0 + size), 0, a.shape[0] - 1)
    cols = np.clip(np.arange(c0, c0 + size), 0, a.shape[1] - 1)
    return a[np.ix_(rows, cols)]


def satellite_tile(
    world: World,
    centre: tuple[float, float],
    tile_px: int,
    size: int,
    cap: Capture = NEUTRAL,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """North-up tile of `tile_px` world pixels centred on `centre` (rounded to the nearest
    pixel corner), area-resampled to size x size. -> uint8 (size, size, 3)"""
    r0 = int(round(centre[0])) - tile_px // 2
    c0 = int(round(centre[1])) - tile_px // 2
    kind = _crop(world.kind, r0, c0, tile_px)
    img = _crop(world.albedo, r0, c0, tile_px) * _crop(world.shade, r0, c0, tile_px)[..., None]
    veg = ((kind == GROUND) | (kind == TREE)).astype(np.float32)[..., None]
    img = img * (1 + veg * (np.asarray(cap.season, np.float32) - 1))
    T, S = tile_px, size
    if T % S == 0:  # integer factor: a block mean
        img = img.reshape(S, T // S, S, T // S, 3).mean(axis=(1, 3))
    else:
        m = _box_matrix(T, S)
        img = (m @ img.reshape(T, T * 3)).reshape(S, T, 3)  # rows: (T, T, 3) -> (S, T, 3)
        img = (m @ img.transpose(1, 0, 2).reshape(T, S * 3)).reshape(S, S, 3).transpose(1, 0, 2)
    return finish(img, cap, rng)


# ---------------------------------------------------------------------------- panorama
def _sky(elev: np.ndarray, style) -> np.ndarray:
    s = np.sqrt(np.clip(elev / (np.pi / 2), 0, 1))[..., None]
    zen, hor = (np.asarray(c, np.float32) for c in style.sky)
    return hor * (1 - s) + zen * s


def _wall_shade(view_dir: np.ndarray, sun_az: float) -> np.ndarray:
    """Brightness of a wall seen along horizontal direction(s) `view_dir` (south, east):
    its normal points back at the camera."""
    sun = sun_vector(sun_az, 40.0)[:2]
    lam = -(view_dir @ sun) / np.linalg.norm(sun)
    return (0.72 + 0.28 * lam).astype(np.float32)


def _window_bands(z: np.ndarray) -> np.ndarray:
    """Darker window bands on building walls, one per floor."""
    f = np.mod(z, FLOOR_M)
    return np.where((f > 1.0) & (f < 2.1) & (z > FLOOR_M), 0.7, 1.0).astype(np.float32)


def default_vfov(hw: tuple[int, int]) -> tuple[float, float]:
    """Square pixels with the horizon at the middle row: +-180 H / W degrees."""
    half = 180.0 * hw[0] / hw[1]
    return half, -half


def _heights(world: World, rr: np.ndarray, cc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat world index and height at continuous raster positions (height 0 outside)."""
    n_r, n_c = world.shape
    ir, ic = np.floor(rr).astype(np.int32), np.floor(cc).astype(np.int32)
    inside = (ir >= 0) & (ir < n_r) & (ic >= 0) & (ic < n_c)
    flat = np.clip(ir, 0, n_r - 1).astype(np.int64) * n_c + np.clip(ic, 0, n_c - 1)
    return flat, np.where(inside, world.height.ravel()[flat], np.float32(0))


def _shade_surface(
    world: World, f: np.ndarray, side: np.ndarray, z_hit, wall_shade, season, sat_shade: bool
) -> np.ndarray:
    """Colour of the surfaces hit, all inputs flat (N,): the top surface (albedo) or, where
    `side`, the wall with floor bands; then the season tint on vegetation. -> (N, 3)"""
    t = world.table[f]  # (N, 9)
    rgb = t[:, 0:3] * t[:, 8:9] if sat_shade else t[:, 0:3].copy()
    i = np.nonzero(side)[0]
    if len(i):
        ts = t[i]
        k = wall_shade[i] * np.where(ts[:, 7] > 0, _window_bands(z_hit[i]), np.float32(1))
        rgb[i] = ts[:, 3:6] * k[:, None]
    veg = np.nonzero(t[:, 6])[0]
    rgb[veg] *= np.asarray(season, np.float32)
    return rgb


def panorama_rgb(
    world: World,
    pos: tuple[float, float],
    hw: tuple[int, int],
    cap: Capture = NEUTRAL,
    vfov: tuple[float, float] | None = None,
    eye: float = EYE_M,
    max_dist: float = 160.0,
    steps: int = 128,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Float RGB panorama (H, W, 3) seen from `pos` at eye height; see the module docstring."""
    H, W = hw
    top, bottom = vfov or default_vfov(hw)
    mpp = np.float32(world.mpp)
    az = np.deg2rad(180.0 + 360.0 * np.arange(W) / W)  # (W,)
    dirs = np.stack([-np.cos(az), np.sin(az)], -1).astype(np.float32)  # (W, 2) south, east
    d = np.geomspace(0.3, max_dist, steps).astype(np.float32)  # (S,) horizontal distance, m
    dr, dc = dirs[:, :1] / mpp, dirs[:, 1:] / mpp  # (W, 1) pixels per metre
    flat, h = _heights(world, pos[0] + dr * d, pos[1] + dc * d)  # (W, S)
    # where the ray enters an object between two samples, bisect for the entry distance so
    # walls stand where they are (straight window bands, exact silhouettes)
    d_eff = np.broadcast_to(d, (W, steps)).copy()
    prev_h = np.concatenate([np.zeros((W, 1), np.float32), h[:, :-1]], 1)
    wi, si = np.nonzero(h > prev_h + 0.05)
    lo = np.where(si > 0, d[np.maximum(si - 1, 0)], 0.0).astype(np.float32)
    hi = d[si]
    for _ in range(4):
        mid = (lo + hi) / 2
        _, hm = _heights(world, pos[0] + dr[wi, 0] * mid, pos[1] + dc[wi, 0] * mid)
        inside = hm > prev_h[wi, si] + 0.05
        hi, lo = np.where(inside, mid, hi), np.where(inside, lo, mid)
    d_eff[wi, si] = hi
    rising = np.zeros((W, steps), bool)
    rising[wi, si] = True
    # skyline so far: running max of tan(elevation of each sample's top)
    lim = 100.0
    skyline = np.maximum.accumulate(np.clip((h - eye) / d_eff, -lim, lim), axis=1)  # (W, S)
    elev = np.deg2rad(top - (np.arange(H) + 0.5) * (top - bottom) / H)  # (H,)
    tan_e = np.clip(np.tan(elev), -lim, lim).astype(np.float32)  # (H,)
    # Row i sees the first sample whose skyline reaches tan_e[i], i.e. s(i) = #{s: skyline[s]
    # < tan_e[i]}. tan_e falls with i, so with r(s) = #{i: tan_e[i] > skyline[s]} that is
    # #{s: r(s) > i}: a histogram of r per column and a reverse cumulative sum.
    r = np.searchsorted(-tan_e, -skyline.ravel(), side="left").reshape(W, steps)  # (W, S)
    counts = np.bincount((np.arange(W)[:, None] * (H + 1) + r).ravel(), minlength=W * (H + 1))
    s = np.cumsum(counts.reshape(W, H + 1)[:, ::-1], axis=1)[:, ::-1][:, 1:].T  # (H, W)
    out = np.empty((H, W, 3), np.float32)
    out[:] = _sky(elev, world.style)[:, None, :]
    hr, hc = np.nonzero(s < steps)  # pixels that see the world (the rest see sky)
    sh = s[hr, hc]
    dist = d_eff[hc, sh]
    z_hit = eye + dist * tan_e[hr]
    side = rising[hc, sh] & (z_hit < h[hc, sh] - 1e-3)  # entered the object through its side
    wall_shade = _wall_shade(dirs, cap.sun_az)[hc]
    rgb = _shade_surface(world, flat[hc, sh], side, z_hit, wall_shade, cap.season, False)
    fog = (1 - np.exp(-dist / FOG_M))[..., None] * np.float32(0.75)
    haze = np.asarray(world.style.sky[1], np.float32)
    out[hr, hc] = rgb + (haze - rgb) * fog
    if cap.occluders > 0 and rng is not None:
        _draw_occluders(out, elev, rng, cap.occluders, eye)
    return out


def _draw_occluders(img, elev, rng, mean: float, eye: float) -> None:
    """Transient objects near the camera (vehicles, poles) that no satellite image shows."""
    H, W = img.shape[:2]
    for _ in range(int(rng.poisson(mean))):
        dist = rng.uniform(2.5, 8.0)
        if rng.uniform() < 0.7:  # vehicle: 1.5 m tall, 2-5 m wide
            height, width = rng.uniform(1.3, 1.8), rng.uniform(2.0, 5.0)
            colour = rng.uniform(0.05, 0.9, 3)
        else:  # pole
            height, width = rng.uniform(4, 9), rng.uniform(0.2, 0.4)
            colour = np.full(3, rng.uniform(0.2, 0.5))
        e_top, e_bot = np.arctan((height - eye) / dist), np.arctan(-eye / dist)
        rows = (elev <= e_top) & (elev >= e_bot)
        half = np.rad2deg(np.arctan(width / 2 / dist)) / 360 * W
        c0 = rng.uniform(0, W)
        cols = np.arange(int(c0 - half), int(c0 + half) + 1) % W
        img[np.ix_(rows, cols)] = colour.astype(np.float32)


def panorama(
    world: World,
    pos: tuple[float, float],
    hw: tuple[int, int],
    cap: Capture = NEUTRAL,
    rng: np.random.Generator | None = None,
    **kw,
) -> np.ndarray:
    """uint8 panorama (H, W, 3): `panorama_rgb` then the capture's sensor effects."""
    return finish(panorama_rgb(world, pos, hw, cap, rng=rng, **kw), cap, rng, wrap=True)


# ---------------------------------------------------------------------------- drone
def drone_rgb(
    world: World,
    target: tuple[float, float],
    altitude: float,
    azimuth: float,
    radius: float,
    size: int,
    fov: float = 60.0,
    cap: Capture = NEUTRAL,
    step_m: float = 3.0,
) -> np.ndarray:
    """Perspective view from a drone `altitude` m above the ground and `radius` m from
    `target` in direction `azimuth` (from the target, clockwise from north), looking at the
    target. Pinhole camera, horizontal FoV `fov`. Each ray is marched through the slab
    of objects at `step_m` and the first step under the surface is refined by bisection.
    -> float RGB (size, size, 3)"""
    mpp = world.mpp
    a = np.deg2rad(azimuth)
    tgt = np.array([target[0] * mpp, target[1] * mpp, 0.0])  # (south, east, up) in metres
    cam = tgt + np.array([-np.cos(a) * radius, np.sin(a) * radius, altitude])
    fwd = (tgt - cam) / np.linalg.norm(tgt - cam)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    t = np.tan(np.deg2rad(fov) / 2)
    x = (np.arange(size) + 0.5) / size * 2 - 1
    ray = fwd + t * (x[None, :, None] * right - x[:, None, None] * up)  # (size, size, 3)
    ray = (ray / np.linalg.norm(ray, axis=-1, keepdims=True)).astype(np.float32)
    down = np.minimum(ray[..., 2], -1e-3)
    zmax = float(world.height.max()) + 0.5
    t0 = max(float(cam[2]) - zmax, 0.0) / -down  # (size, size) enters the slab of objects
    t1 = float(cam[2]) / -down  # reaches the ground
    steps = int(np.clip(np.ceil((t1 - t0).max() / step_m), 4, 40)) + 1
    frac = np.linspace(0, 1, steps, dtype=np.float32)
    tk = t0[..., None] + (t1 - t0)[..., None] * frac  # (size, size, K)

    cs, ce, cz = (float(v) for v in cam)  # Python floats keep the arrays float32
    inv = 1.0 / mpp

    def at(tt):  # world index, surface height and ray height at ray parameter tt
        e = (Ellipsis, None) if tt.ndim == 3 else (Ellipsis,)
        rs, re, rz = ray[..., 0][e], ray[..., 1][e], ray[..., 2][e]
        f, h = _heights(world, (cs + rs * tt) * inv, (ce + re * tt) * inv)
        return f, h, cz + rz * tt

    _, h, z = at(tk)
    below = z <= h
    below[..., -1] = True  # the last step is on the ground
    k = np.argmax(below, axis=-1)[..., None]  # (size, size, 1) first step under the surface
    hi = np.take_along_axis(tk, k, -1)[..., 0]
    lo = np.where(k[..., 0] > 0, np.take_along_axis(tk, np.maximum(k - 1, 0), -1)[..., 0], hi)
    for _ in range(5):
        mid = (lo + hi) / 2
        _, hm, zm = at(mid)
        under = zm <= hm
        hi, lo = np.where(under, mid, hi), np.where(under, lo, mid)
    f, h_hit, z_hit = at(hi)
    _, _, z_lo = at(lo)
    side = z_lo < h_hit - 0.05  # the ray was below this surface's top just before: a side
    horiz = ray[..., :2] / np.maximum(np.linalg.norm(ray[..., :2], axis=-1, keepdims=True), 1e-6)
    ws = _wall_shade(horiz, cap.sun_az)
    rgb = _shade_surface(
        world, f.ravel(), side.ravel(), z_hit.ravel(), ws.ravel(), cap.season, True
    ).reshape(size, size, 3)
    sky = ray[..., 2] >= 0
    return np.where(sky[..., None], _sky(np.arcsin(ray[..., 2]), world.style), rgb).astype(
        np.float32
    )


def drone_view(world, target, altitude, azimuth, radius, size, fov=60.0, cap=NEUTRAL, rng=None):
    """uint8 drone view: `drone_rgb` then the capture's sensor effects."""
    return finish(drone_rgb(world, target, altitude, azimuth, radius, size, fov, cap), cap, rng)
