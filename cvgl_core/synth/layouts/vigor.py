"""VIGOR-like layout (docs/datasets.md, "VIGOR"): four cities, tiles on an overlapping grid.

    <City>/panorama/<panoid>,<lat>,<lng>,.jpg        full sphere (W/2 x W), north at W/2
    <City>/satellite/satellite_<lat>_<lng>.png       sat_size px covering TILE_M metres
    splits/<City>/satellite_list.txt                 tile names, grid order (row-major)
    splits/<City>/same_area_balanced_{train,test}.txt  half of the city's panoramas each
    splits/<City>/pano_label_balanced.txt            every panorama of the city (cross-area)

Cities and styles: Chicago = lakeshore, NewYork = metropolis, SanFrancisco = hillside,
Seattle = evergreen (so the cross-area split NewYork + Seattle -> Chicago + SanFrancisco
crosses styles). Tiles sit on a g x g grid with stride TILE_M / 2 (50 % overlap, as in
VIGOR), so every point of the interior is covered by exactly four tiles. One panorama is
placed in the positive region (the central TILE_M/2 square) of every interior tile
("balanced"), at a uniformly random offset scaled by the `vigor_offset` knob, on free
ground (at offset 0, the centre, or the free ground nearest it). Its positive is that
tile; the semi-positives are the three other tiles covering it (the neighbours toward the
panorama's quadrant). Tiles are crops of one satellite mosaic per city (one capture),
panoramas each have their own capture.

Label lines: `pano sat_pos d_row d_col sat_semi1 d_row d_col ...` (13 fields). Offsets
are in pixels of the REAL 640 px tile whatever the size written here, so real loaders
read them unchanged: the panorama sits at continuous pixel (row, col) =
((320 + d_row) * S / 640, (320 - d_col) * S / 640) of an S-px tile, with (0, 0) the
top-left corner of the tile (`offset_to_pixel`). Lat/lng: north = +lat, east = +lng,
metres converted with 111,320 m per degree (lng scaled by cos(lat)).
"""

from __future__ import annotations

import numpy as np

from cvgl_core.profiles import Profile
from cvgl_core.synth.io import Out, _key, capture_pair, encode, random_id, rng_for
from cvgl_core.synth.knobs import Knobs
from cvgl_core.synth.render import panorama, satellite_tile
from cvgl_core.synth.styles import VIGOR_CITIES
from cvgl_core.synth.world import make_world

TILE_M = 72.0
MARGIN_M = 40.0
REAL_TILE_PX = 640
CITY_LATLNG = {
    "Chicago": (41.8800, -87.6300),
    "NewYork": (40.7500, -73.9900),
    "SanFrancisco": (37.7700, -122.4200),
    "Seattle": (47.6100, -122.3300),
}
M_PER_DEG = 111320.0


def offset_to_pixel(d_row: float, d_col: float, tile_size: int) -> tuple[float, float]:
    """Continuous (row, col) of the panorama in an S-px tile from VIGOR label offsets."""
    s = tile_size / REAL_TILE_PX
    return (REAL_TILE_PX / 2 + d_row) * s, (REAL_TILE_PX / 2 - d_col) * s


def latlng(city: str, row_m: float, col_m: float) -> tuple[float, float]:
    lat0, lng0 = CITY_LATLNG[city]
    return lat0 - row_m / M_PER_DEG, lng0 + col_m / (M_PER_DEG * np.cos(np.deg2rad(lat0)))


def grid_size(num_locations: int) -> int:
    """Tiles per side: enough interior tiles for num_locations / 4 panoramas per city."""
    return int(np.ceil(np.sqrt(num_locations / 4))) + 2


def _pano_position(world, centre, half_px, offset, rng, free) -> tuple[float, float]:
    for _ in range(40):
        p = centre + rng.uniform(-1, 1, 2) * half_px * offset
        if free[int(p[0]), int(p[1])]:
            return float(p[0]), float(p[1])
    # crowded tile (or offset 0 on a roof): the free pixel of the positive region nearest
    # its centre, so no camera stands inside a building
    lo = np.floor(centre - half_px).astype(int)
    hi = np.ceil(centre + half_px).astype(int) + 1
    rr, cc = np.nonzero(free[lo[0] : hi[0], lo[1] : hi[1]])
    if len(rr) == 0:
        return float(centre[0]), float(centre[1])
    j = np.argmin((rr + lo[0] + 0.5 - centre[0]) ** 2 + (cc + lo[1] + 0.5 - centre[1]) ** 2)
    return float(rr[j] + lo[0] + 0.5), float(cc[j] + lo[1] + 0.5)


def _write_city(out: Out, city: str, prof: Profile, seed: int, knobs: Knobs) -> None:
    mpp = 0.5
    tile_px = round(TILE_M / mpp)
    stride = tile_px // 2
    g = grid_size(prof.num_locations)
    margin = round(MARGIN_M / mpp)
    side_m = (2 * margin + tile_px + (g - 1) * stride) * mpp
    world = make_world(VIGOR_CITIES[city], side_m, [int(seed), _key("vigor"), _key(city)], knobs)
    centres = margin + tile_px / 2 + stride * np.arange(g)  # tile centres, px (rows and cols)
    names = {}
    # tiles are crops of one mosaic: one capture per city, so overlapping tiles agree
    sat_cap = capture_pair(seed, "vigor", f"{city}/mosaic", knobs, ("sat",))["sat"][0]
    for i in range(g):
        for j in range(g):
            lat, lng = latlng(city, centres[i] * mpp, centres[j] * mpp)
            names[i, j] = f"satellite_{lat:.7f}_{lng:.7f}.png"
            rng = rng_for(seed, "vigor", city, "tile", i, j)  # sensor noise per tile
            tile = satellite_tile(
                world, (centres[i], centres[j]), tile_px, prof.sat_size, sat_cap, rng
            )
            out.put(f"{city}/satellite/{names[i, j]}", encode(tile, "png"), f"{city}/satellite")
    out.put(f"splits/{city}/satellite_list.txt", "".join(f"{names[k]}\n" for k in sorted(names)))
    free = world.free_mask()
    rng = rng_for(seed, "vigor", city, "panos")
    W = prof.pano_hw[1]
    labels = []
    for i in range(1, g - 1):
        for j in range(1, g - 1):
            c = np.array([centres[i], centres[j]])
            p = _pano_position(world, c, stride / 2, knobs.vigor_offset, rng, free)
            lat, lng = latlng(city, p[0] * mpp, p[1] * mpp)
            name = f"{random_id(rng)},{lat:.6f},{lng:.6f},.jpg"
            cap = capture_pair(seed, "vigor", f"{city}/pano/{i}/{j}", knobs, ("ground",))["ground"]
            pano = panorama(world, p, (W // 2, W), *cap, vfov=(90, -90))
            out.put(f"{city}/panorama/{name}", encode(pano, "jpg"), f"{city}/panorama")
            di = 1 if p[0] >= c[0] else -1
            dj = 1 if p[1] >= c[1] else -1
            fields = [name]
            for ti, tj in ((i, j), (i + di, j), (i, j + dj), (i + di, j + dj)):
                d_row = (p[0] - centres[ti]) / tile_px * REAL_TILE_PX
                d_col = -(p[1] - centres[tj]) / tile_px * REAL_TILE_PX
                fields += [names[ti, tj], f"{d_row:.4f}", f"{d_col:.4f}"]
            labels.append(" ".join(fields) + "\n")
    order = rng.permutation(len(labels))
    half = len(labels) // 2
    out.put(f"splits/{city}/pano_label_balanced.txt", "".join(labels))
    train = sorted(order[:half])
    test = sorted(order[half:])
    out.put(f"splits/{city}/same_area_balanced_train.txt", "".join(labels[k] for k in train))
    out.put(f"splits/{city}/same_area_balanced_test.txt", "".join(labels[k] for k in test))
    out.counts[f"{city}/same_area_train"] += len(train)
    out.counts[f"{city}/same_area_test"] += len(test)


def write(root, prof: Profile, seed: int, knobs: Knobs) -> dict:
    out = Out(root)
    for city in VIGOR_CITIES:
        _write_city(out, city, prof, seed, knobs)
    return dict(out.counts)
