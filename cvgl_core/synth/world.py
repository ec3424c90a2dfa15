"""A synthetic town: ground cover, roads, buildings and trees as rasters (top-down map).

`make_world(style, size_m, seed, knobs)` builds one square town. Rasters are indexed
(row, col) with row 0 = north and col 0 = west, one pixel = `mpp` metres; positions are
continuous raster coordinates with the pixel corner as origin (pixel (i, j) covers
[i, i+1) x [j, j+1)). Every random draw comes from one numpy Generator seeded by `seed`,
so a town is a pure function of (style, size, seed, knobs).

Rasters:
  albedo (H, W, 3)  colour of the top surface (ground, road, roof, canopy)
  wall   (H, W, 3)  colour of the sides (building walls, canopy seen from the side)
  height (H, W)     metres above the ground (0 for ground, roads, water)
  kind   (H, W)     GROUND, ROAD, SIDEWALK, WATER, BUILDING, TREE
  shade  (H, W)     satellite shading: sun on sloped roofs and tree domes, cast shadows
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cvgl_core.synth.knobs import Knobs
from cvgl_core.synth.styles import AreaStyle, get_style

GROUND, ROAD, SIDEWALK, WATER, BUILDING, TREE = range(6)
SIDEWALK_M = 2.0  # sidewalk band on each side of a road
SETBACK_M = 2.0  # free margin around a building
FLOOR_M = 3.2


@dataclass
class World:
    style: AreaStyle
    mpp: float
    albedo: np.ndarray
    wall: np.ndarray
    height: np.ndarray
    kind: np.ndarray
    shade: np.ndarray
    sun: tuple[float, float]  # (azimuth clockwise from north, elevation), degrees
    buildings: list[dict] = field(default_factory=list)

    _table: np.ndarray | None = None
    _free: dict = field(default_factory=dict)

    @property
    def table(self) -> np.ndarray:
        """(H*W, 9) float32 per world pixel: albedo RGB, wall RGB, vegetation flag, building
        flag, satellite shade. One row gather gives a renderer everything it needs."""
        if self._table is None:
            k = self.kind.ravel()
            self._table = np.concatenate(
                [
                    self.albedo.reshape(-1, 3),
                    self.wall.reshape(-1, 3),
                    ((k == GROUND) | (k == TREE))[:, None],
                    (k == BUILDING)[:, None],
                    self.shade.reshape(-1, 1),
                ],
                axis=1,
                dtype=np.float32,
            )
        return self._table

    @property
    def shape(self) -> tuple[int, int]:
        return self.height.shape

    @property
    def size_m(self) -> float:
        return self.height.shape[0] * self.mpp

    def free_mask(self, clearance_m: float = 1.5) -> np.ndarray:
        """Where a ground camera can stand: no building, tree or water within clearance_m.
        Computed once per world (treat the result as read-only)."""
        from scipy.ndimage import maximum_filter

        if clearance_m not in self._free:
            blocked = ((self.height > 0) | (self.kind == WATER)).astype(np.uint8)
            k = max(1, int(round(clearance_m / self.mpp)))
            self._free[clearance_m] = maximum_filter(blocked, size=2 * k + 1) == 0
        return self._free[clearance_m]


# ---------------------------------------------------------------------------- noise
def _interp_matrix(n: int, scale: float, offset: float) -> tuple[np.ndarray, int]:
    """(n, g) matrix that interpolates a coarse grid of g nodes, `scale` pixels apart."""
    x = np.arange(n) / scale + offset
    i0 = np.floor(x).astype(int)
    t = x - i0
    t = t * t * (3 - 2 * t)  # smoothstep: no visible grid creases
    g = int(i0.max()) + 2
    m = np.zeros((n, g), np.float32)
    m[np.arange(n), i0] = 1 - t
    m[np.arange(n), i0 + 1] = t
    return m, g


def smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int], scale_px: float, octaves: int = 3
) -> np.ndarray:
    """Value noise in [0, 1]: a sum of octaves, each a coarse random grid interpolated by two
    matrix products (separable, so no per-pixel Python)."""
    out = np.zeros(shape, np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        s = max(scale_px / 2**o, 1.0)
        mr, gr = _interp_matrix(shape[0], s, rng.uniform(0, 1))
        mc, gc = _interp_matrix(shape[1], s, rng.uniform(0, 1))
        grid = rng.uniform(0, 1, (gr, gc)).astype(np.float32)
        out += amp * (mr @ grid @ mc.T)
        total += amp
        amp *= 0.5
    out /= total
    lo, hi = out.min(), out.max()
    return (out - lo) / max(hi - lo, 1e-6)


def _palette(colours: tuple, t: np.ndarray) -> np.ndarray:
    """Piecewise-linear blend of a palette along t in [0, 1] -> (..., 3)."""
    pal = np.asarray(colours, np.float32)
    if len(pal) == 1:
        return np.broadcast_to(pal[0], (*t.shape, 3)).copy()
    x = t * (len(pal) - 1)
    i = np.clip(np.floor(x).astype(int), 0, len(pal) - 2)
    f = (x - i)[..., None]
    return pal[i] * (1 - f) + pal[i + 1] * f


# ---------------------------------------------------------------------------- roads
def _line_distance(u: np.ndarray, rng, spacing, width) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each u to the nearest of a set of parallel lines, and that line's width."""
    lo, hi = float(u.min()) - spacing[1], float(u.max()) + spacing[1]
    lines = [lo + rng.uniform(0, spacing[1])]
    while lines[-1] < hi:
        lines.append(lines[-1] + rng.uniform(*spacing))
    lines = np.asarray(lines)
    widths = rng.uniform(*width, size=len(lines))
    j = np.clip(np.searchsorted(lines, u), 1, len(lines) - 1)
    d0, d1 = np.abs(u - lines[j - 1]), np.abs(lines[j] - u)
    near = np.where(d0 < d1, j - 1, j)
    return np.minimum(d0, d1), widths[near]


def _roads(style: AreaStyle, n: int, mpp: float, rng) -> tuple[np.ndarray, np.ndarray, float]:
    """(distance to the nearest road centre in m, that road's half width in m, angle in rad)."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) * mpp  # y: metres south, x: metres east
    angle = np.deg2rad(style.angle if style.angle is not None else rng.uniform(0, 90))
    if style.road_pattern == "radial":
        cy, cx = (n * mpp / 2) + rng.uniform(-20, 20, 2)
        rho = np.hypot(y - cy, x - cx)
        phi = np.arctan2(y - cy, x - cx)
        d_ring, w_ring = _line_distance(rho, rng, style.road_spacing, style.road_width)
        k = int(rng.integers(5, 9))
        spoke = (phi - angle) % (2 * np.pi / k)
        d_spoke = rho * np.abs(np.sin(np.minimum(spoke, 2 * np.pi / k - spoke)))
        w_spoke = np.full_like(d_spoke, np.mean(style.road_width))
        use_ring = d_ring < d_spoke
        return np.where(use_ring, d_ring, d_spoke), np.where(use_ring, w_ring, w_spoke) / 2, angle
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    if style.road_pattern == "organic":
        warp = 14.0
        u = u + warp * (smooth_noise(rng, (n, n), 90 / mpp, 2) - 0.5) * 2
        v = v + warp * (smooth_noise(rng, (n, n), 90 / mpp, 2) - 0.5) * 2
    elif style.road_pattern != "grid":
        raise ValueError(f"unknown road pattern {style.road_pattern!r}")
    du, wu = _line_distance(u, rng, style.road_spacing, style.road_width)
    dv, wv = _line_distance(v, rng, style.road_spacing, style.road_width)
    use_u = du < dv
    return np.where(use_u, du, dv), np.where(use_u, wu, wv) / 2, angle


# ---------------------------------------------------------------------------- objects
def _window(n: int, r: float, c: float, half: float):
    r0, r1 = max(int(r - half), 0), min(int(r + half) + 2, n)
    c0, c1 = max(int(c - half), 0), min(int(c + half) + 2, n)
    if r1 <= r0 or c1 <= c0:
        return None
    rr, cc = np.mgrid[r0:r1, c0:c1].astype(np.float32) + 0.5
    return (slice(r0, r1), slice(c0, c1)), rr - r, cc - c


def _jitter(rng, amount: float) -> np.ndarray:
    return rng.normal(0, amount, 3).astype(np.float32)


def _place_buildings(w: World, rng, knobs: Knobs, angle: float, occupied: np.ndarray) -> None:
    st, mpp, n = w.style, w.mpp, w.shape[0]
    rep = min(1.0, knobs.repetitiveness + st.repetitiveness)
    n_mat = max(1, int(round(len(st.materials) - rep * (len(st.materials) - 1))))
    mats = rng.permutation(len(st.materials))[:n_mat]
    proto = rng.uniform(*st.footprint, 2)  # a shared footprint: repetitive towns copy it
    colour_jitter = 0.10 * (1 - rep) + 0.02
    target = st.building_density * float((~occupied).sum())
    covered, tries = 0.0, 0
    max_tries = int(12 * target * mpp**2 / np.mean(st.footprint) ** 2) + 50
    while covered < target and tries < max_tries:
        tries += 1
        r, c = rng.uniform(0, n, 2)
        if occupied[int(r), int(c)]:
            continue
        size = proto * rng.uniform(0.9, 1.1, 2) if rng.uniform() < rep else None
        if size is None:
            size = rng.uniform(*st.footprint, 2)
        a, b = size / mpp / 2  # half sides, px
        theta = angle + (rng.normal(0, 0.25) if st.road_pattern == "organic" else 0.0)
        gap = SETBACK_M / mpp
        win = _window(n, r, c, np.hypot(a, b) + gap)
        if win is None:
            continue
        sl, dr, dc = win
        # local frame of the footprint (rows south, cols east)
        p = dc * np.cos(theta) + dr * np.sin(theta)
        q = -dc * np.sin(theta) + dr * np.cos(theta)
        inside = (np.abs(p) < a) & (np.abs(q) < b)
        if not inside.any() or (occupied[sl] & inside).any():
            continue
        hb = np.exp(rng.uniform(*np.log(st.height)))
        hb = max(FLOOR_M, round(hb / FLOOR_M) * FLOOR_M)
        m = st.materials[mats[rng.integers(n_mat)]]
        jit = _jitter(rng, colour_jitter)
        roof = np.clip(np.asarray(m[0]) + jit, 0.02, 1)
        wall = np.clip(np.asarray(m[1]) + 0.8 * jit + _jitter(rng, 0.3 * colour_jitter), 0.02, 1)
        gable = rng.uniform() < st.gable
        if gable:  # ridge along the longer side
            across = np.abs(q) / b if a >= b else np.abs(p) / a
            hmap = hb + min(a, b) * mpp * 0.6 * (1 - across)
            roof_rgb = np.broadcast_to(roof, (*inside.shape, 3))
        else:  # flat roof with a lighter parapet rim
            rim = 0.8 / mpp
            inner = (np.abs(p) < a - rim) & (np.abs(q) < b - rim)
            hmap = np.full(inside.shape, hb, np.float32)
            roof_rgb = np.where(inner[..., None], roof, np.clip(roof * 1.25 + 0.05, 0, 1))
        w.height[sl] = np.where(inside, hmap, w.height[sl])
        w.kind[sl][inside] = BUILDING
        w.albedo[sl] = np.where(inside[..., None], roof_rgb, w.albedo[sl])
        w.wall[sl][inside] = wall
        occupied[sl] |= (np.abs(p) < a + gap) & (np.abs(q) < b + gap)
        covered += float(inside.sum())
        w.buildings.append(
            dict(r=float(r), c=float(c), a=float(a), b=float(b), angle=float(theta), height=hb)
        )


def _place_trees(w: World, rng, knobs: Knobs) -> None:
    st, mpp, n = w.style, w.mpp, w.shape[0]
    area_ha = (n * mpp) ** 2 / 1e4
    count = int(rng.poisson(st.tree_density * area_ha * 2 * knobs.occlusion))
    canopy = np.asarray(st.canopy, np.float32)
    for _ in range(count):
        r, c = rng.uniform(0, n, 2)
        if w.kind[int(r), int(c)] not in (GROUND, SIDEWALK):
            continue
        rad = rng.uniform(*st.tree_radius) / mpp
        top = rng.uniform(*st.tree_height)
        win = _window(n, r, c, rad)
        if win is None:
            continue
        sl, dr, dc = win
        d2 = (dr**2 + dc**2) / rad**2
        inside = (d2 < 1) & (w.kind[sl] != BUILDING) & (w.kind[sl] != WATER)
        crown = min(rad * mpp, top / 2)
        h = top - crown + crown * np.sqrt(np.clip(1 - d2, 0, 1))
        col = np.clip(canopy[rng.integers(len(canopy))] + _jitter(rng, 0.03), 0, 1)
        upd = inside & (h > w.height[sl])
        w.height[sl] = np.where(upd, h, w.height[sl])
        w.kind[sl][upd] = TREE
        w.albedo[sl][upd] = col * (0.8 + 0.2 * np.sqrt(np.clip(1 - d2[upd], 0, 1)))[:, None]
        w.wall[sl][upd] = col * 0.75


# ---------------------------------------------------------------------------- shading
def sun_vector(az_deg: float, el_deg: float) -> np.ndarray:
    """Unit vector toward the sun in (south, east, up) coordinates."""
    az, el = np.deg2rad(az_deg), np.deg2rad(el_deg)
    return np.array([-np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])


def satellite_shade(
    height: np.ndarray, mpp: float, sun: tuple[float, float], shadows: float
) -> np.ndarray:
    """Lambert shading of the top surface (flat ground = 1) times cast shadows."""
    gs, ge = np.gradient(height, mpp)
    normal = np.stack([-gs, -ge, np.ones_like(height)], -1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    L = sun_vector(*sun)
    shade = np.clip(normal @ L / L[2], 0.35, 1.5).astype(np.float32)
    if shadows <= 0 or height.max() <= 0:
        return shade
    n = height.shape[0]
    rise = mpp * np.tan(np.deg2rad(sun[1]))  # metres the sun ray climbs per pixel
    kmax = int(min(np.ceil(height.max() / rise), n - 1))
    ks = np.unique(np.concatenate([np.arange(1, 24), np.geomspace(24, max(kmax, 24), 24)]))
    ks = ks[ks <= kmax].astype(int)
    pad = kmax + 1
    hp = np.pad(height, pad)
    shadow = np.zeros(height.shape, bool)
    for k in ks:  # a point is shadowed if the terrain toward the sun rises above the sun ray
        orow = pad + int(round(k * L[0] / np.hypot(L[0], L[1])))
        ocol = pad + int(round(k * L[1] / np.hypot(L[0], L[1])))
        shadow |= hp[orow : orow + n, ocol : ocol + n] - height > k * rise
    return shade * (1 - 0.6 * shadows * shadow)


# ---------------------------------------------------------------------------- world
def make_world(
    style: str | AreaStyle,
    size_m: float,
    seed,
    knobs: Knobs | None = None,
    mpp: float = 0.5,
) -> World:
    """Generate one square town of side `size_m` metres (deterministic in `seed`)."""
    st = get_style(style) if isinstance(style, str) else style
    knobs = knobs or Knobs()
    rng = np.random.default_rng(seed)
    n = int(round(size_m / mpp))
    # ground cover: smooth noise through the style's palette, plus fine texture
    cover = smooth_noise(rng, (n, n), 45 / mpp, 3)
    texture = smooth_noise(rng, (n, n), 2.5 / mpp, 2)
    albedo = _palette(st.ground, cover) * (0.88 + 0.24 * texture)[..., None]
    kind = np.full((n, n), GROUND, np.uint8)
    if st.water > 0:
        wet = smooth_noise(rng, (n, n), 70 / mpp, 2)
        water = wet > np.quantile(wet, 1 - st.water)
        kind[water] = WATER
        albedo[water] = np.array([0.12, 0.22, 0.28]) * (0.9 + 0.2 * texture[water, None])
    dist, half, angle = _roads(st, n, mpp, rng)
    road = dist < half
    side = (dist < half + SIDEWALK_M) & ~road
    kind[side & (kind != WATER)] = SIDEWALK
    kind[road] = ROAD
    albedo[kind == SIDEWALK] = st.sidewalk
    albedo[road] = np.asarray(st.road) * (0.92 + 0.16 * texture[road, None])
    albedo = albedo.astype(np.float32)
    w = World(
        style=st,
        mpp=mpp,
        albedo=albedo,
        wall=albedo.copy(),
        height=np.zeros((n, n), np.float32),
        kind=kind,
        shade=np.ones((n, n), np.float32),
        sun=(float(rng.uniform(*st.sun_azimuth) % 360), float(rng.uniform(35, 60))),
    )
    occupied = kind != GROUND
    _place_buildings(w, rng, knobs, angle, occupied)
    _place_trees(w, rng, knobs)
    w.shade = satellite_shade(w.height, mpp, w.sun, knobs.shadows)
    return w
