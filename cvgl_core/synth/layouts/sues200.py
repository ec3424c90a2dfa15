"""SUES-200-like layout (docs/datasets.md, "SUES-200"): drone views at four altitudes.

    SUES-200-512x512/drone_view_512/<loc>/<150|200|250|300>/<i>.jpg   i = 0 .. views-1
    SUES-200-512x512/satellite-view/<loc>/0.png
    SUES-200-512x512/Training/<h>/{drone,satellite}/<loc>/...          training locations
    SUES-200-512x512/Testing/<h>/{query_drone,query_satellite}/<loc>/... the other locations
    SUES-200-512x512/Testing/<h>/{gallery_drone,gallery_satellite}/<loc>/...  all locations

<loc> is 4-digit from 0001. As the official split script does, the satellite image is
copied into every height. Training locations: a seeded random 60 % (the real 120 of 200
listed ids, scaled to the profile's count); queries are the rest; galleries hold every
location. The split folders sit inside SUES-200-512x512/ beside drone_view_512/. Altitudes
150-300 m are scaled by ALT_SCALE to the synthetic world; the drone circles the target
looking at it from a steep angle (radius = altitude / 2).
"""

from __future__ import annotations

from cvgl_core.profiles import Profile
from cvgl_core.synth.io import Out, capture_pair, encode, rng_for, split_train
from cvgl_core.synth.knobs import Knobs
from cvgl_core.synth.layouts.common import targets_in_towns
from cvgl_core.synth.render import drone_view, satellite_tile

STYLE = "sues_campus"  # alike blocks: context, so altitude, tells places apart
TILE_M = 96.0
MIN_SEP_M = 50.0
TOWN_M = 512.0
ALT_SCALE = 0.3  # 150 m -> 45 m: above the tallest campus roof (35 m), as a real drone flies
HEIGHTS = (150, 200, 250, 300)
TRAIN_FRAC = 120 / 200
ROOT = "SUES-200-512x512"


def write(root, prof: Profile, seed: int, knobs: Knobs) -> dict:
    out = Out(root)
    n = prof.num_buildings
    train = split_train(n, TRAIN_FRAC, rng_for(seed, "sues200", "split"))
    for k, (_, world, target) in enumerate(
        targets_in_towns(STYLE, n, seed, "sues200", knobs, MIN_SEP_M, TILE_M / 2 + 8, TOWN_M)
    ):
        loc = f"{k + 1:04d}"
        rng = rng_for(seed, "sues200", "views", k)
        cap = capture_pair(seed, "sues200", loc, knobs, ("sat",))["sat"]
        tile = satellite_tile(world, target, round(TILE_M / world.mpp), prof.sat_size, *cap)
        sat = encode(tile, "png")
        out.put(f"{ROOT}/satellite-view/{loc}/0.png", sat, "satellite")
        a0 = rng.uniform(0, 360)
        for h in HEIGHTS:
            alt = h * ALT_SCALE
            for i in range(prof.sues_views):
                az = (a0 + 360.0 * i / prof.sues_views + rng.uniform(-10, 10)) % 360
                dcap = capture_pair(seed, "sues200", f"{loc}/{h}/{i}", knobs, ("d",))["d"]
                img = drone_view(
                    world, target, alt, az, alt / 2, prof.drone_size, cap=dcap[0], rng=dcap[1]
                )
                data = encode(img, "jpg")
                out.put(f"{ROOT}/drone_view_512/{loc}/{h}/{i}.jpg", data, f"drone/{h}")
                if train[k]:
                    out.put(f"{ROOT}/Training/{h}/drone/{loc}/{i}.jpg", data, f"Training/{h}/drone")
                else:
                    out.put(
                        f"{ROOT}/Testing/{h}/query_drone/{loc}/{i}.jpg",
                        data,
                        f"Testing/{h}/query_drone",
                    )
                out.put(
                    f"{ROOT}/Testing/{h}/gallery_drone/{loc}/{i}.jpg",
                    data,
                    f"Testing/{h}/gallery_drone",
                )
            if train[k]:
                out.put(
                    f"{ROOT}/Training/{h}/satellite/{loc}/0.png", sat, f"Training/{h}/satellite"
                )
            else:
                out.put(
                    f"{ROOT}/Testing/{h}/query_satellite/{loc}/0.png",
                    sat,
                    f"Testing/{h}/query_satellite",
                )
            out.put(
                f"{ROOT}/Testing/{h}/gallery_satellite/{loc}/0.png",
                sat,
                f"Testing/{h}/gallery_satellite",
            )
    return dict(out.counts)
