"""University-1652-like layout (docs/datasets.md, "University-1652"): one class per building.

    train/satellite/<cls>/<cls>.jpg            north-up tile centred on the building
    train/drone/<cls>/image-01.jpeg ...        a descending spiral around the building
    train/street/<cls>/street-01.jpg ...       90-degree ground views facing the building
    train/google/<cls>/google-01.jpg           about half the classes; the rest are empty
    test/query_drone/<cls>/..., test/gallery_drone/<cls>/...
    test/query_satellite/<cls>/<cls>.jpg, test/gallery_satellite/<cls>/<cls>.jpg
    test/query_street/<cls>/..., test/gallery_street/<cls>/...

<cls> is a 4-digit id; train and test buildings are disjoint. The galleries also hold
distractor buildings (250 : 701 in the real set) that appear in no query folder. The
real drone flight descends from 256 m to 121.5 m while circling; altitudes here are
scaled by ALT_SCALE to the synthetic world (radius = altitude: 45-degree view). The
satellite file is named after its class as in the real set (train/satellite/0001/0001.jpg).
4K_drone is not written.
"""

from __future__ import annotations

import numpy as np

from cvgl_core.data.transforms import crop_at_heading
from cvgl_core.profiles import Profile
from cvgl_core.synth.io import Out, capture_pair, encode, rng_for
from cvgl_core.synth.knobs import Knobs
from cvgl_core.synth.layouts.common import targets_in_towns
from cvgl_core.synth.render import drone_view, panorama, satellite_tile

STYLE = "campus"
TILE_M = 96.0
MIN_SEP_M = 50.0
TOWN_M = 512.0
ALT_SCALE = 0.2  # synthetic metres per real metre of drone altitude
ALTITUDES = (256.0, 121.5)  # real flight: first and last altitude
DISTRACTOR_FRAC = 250 / 701
STREET_FOV = 90.0


def drone_orbit(n: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(altitude m, azimuth deg) of n views on a descending spiral (one turn per 18 views)."""
    turns = max(1, int(np.ceil(n / 18)))
    a0 = rng.uniform(0, 360)
    frac = np.linspace(0, 1, n) if n > 1 else np.zeros(1)
    alt = (ALTITUDES[0] + (ALTITUDES[1] - ALTITUDES[0]) * frac) * ALT_SCALE
    az = a0 + 360.0 * turns * np.arange(n) / n
    return [(float(h), float(a % 360)) for h, a in zip(alt, az)]


def street_views(world, target, n, hw, seed, item, knobs, rng) -> list[np.ndarray]:
    """n limited-FoV ground images looking at the target from free ground 12-35 m away."""
    free = world.free_mask()
    views = []
    for v in range(n):
        pos = None
        for _ in range(60):
            ang, dist = rng.uniform(0, 2 * np.pi), rng.uniform(12, 35) / world.mpp
            p = (target[0] - np.cos(ang) * dist, target[1] + np.sin(ang) * dist)
            if (
                0 <= p[0] < world.shape[0]
                and 0 <= p[1] < world.shape[1]
                and free[int(p[0]), int(p[1])]
            ):
                pos = p
                break
        if pos is None:
            pos = (target[0] + 40 / world.mpp, target[1])
        heading = np.rad2deg(np.arctan2(target[1] - pos[1], -(target[0] - pos[0])))
        cap, crng = capture_pair(seed, "university1652", f"{item}/street{v}", knobs, ("g",))["g"]
        views.append(crop_at_heading(panorama(world, pos, hw, cap, crng), heading, STREET_FOV))
    return views


def write(root, prof: Profile, seed: int, knobs: Knobs) -> dict:
    out = Out(root)
    n_train = n_test = prof.num_buildings
    n_dis = max(1, int(round(prof.num_buildings * DISTRACTOR_FRAC)))
    n = n_train + n_test + n_dis
    n_street = 2 if prof.drone_views >= 8 else 1
    for k, (_, world, target) in enumerate(
        targets_in_towns(STYLE, n, seed, "university1652", knobs, MIN_SEP_M, TILE_M / 2 + 8, TOWN_M)
    ):
        cls = f"{k + 1:04d}"
        role = "train" if k < n_train else ("test" if k < n_train + n_test else "distractor")
        rng = rng_for(seed, "university1652", "views", k)
        cap = capture_pair(seed, "university1652", cls, knobs, ("sat",))["sat"]
        sat = encode(
            satellite_tile(world, target, round(TILE_M / world.mpp), prof.sat_size, *cap), "jpg"
        )
        drones = []
        for v, (alt, az) in enumerate(drone_orbit(prof.drone_views, rng)):
            dcap = capture_pair(seed, "university1652", f"{cls}/drone{v}", knobs, ("d",))["d"]
            img = drone_view(world, target, alt, az, alt, prof.drone_size, cap=dcap[0], rng=dcap[1])
            drones.append((f"image-{v + 1:02d}.jpeg", encode(img, "jpg")))
        streets = []
        if role != "distractor":
            for v, img in enumerate(
                street_views(world, target, n_street, prof.pano_hw, seed, cls, knobs, rng)
            ):
                streets.append((f"street-{v + 1:02d}.jpg", encode(img, "jpg")))
        if role == "train":
            out.put(f"train/satellite/{cls}/{cls}.jpg", sat, "train/satellite")
            for name, data in drones:
                out.put(f"train/drone/{cls}/{name}", data, "train/drone")
            for name, data in streets:
                out.put(f"train/street/{cls}/{name}", data, "train/street")
            out.mkdir(f"train/google/{cls}")
            if rng.uniform() < 0.5:
                g = street_views(world, target, 1, prof.pano_hw, seed, f"{cls}/google", knobs, rng)
                out.put(f"train/google/{cls}/google-01.jpg", encode(g[0], "jpg"), "train/google")
            continue
        out.put(f"test/gallery_satellite/{cls}/{cls}.jpg", sat, "test/gallery_satellite")
        for name, data in drones:
            out.put(f"test/gallery_drone/{cls}/{name}", data, "test/gallery_drone")
        if role == "test":
            out.put(f"test/query_satellite/{cls}/{cls}.jpg", sat, "test/query_satellite")
            for name, data in drones:
                out.put(f"test/query_drone/{cls}/{name}", data, "test/query_drone")
            for name, data in streets:
                out.put(f"test/query_street/{cls}/{name}", data, "test/query_street")
                out.put(f"test/gallery_street/{cls}/{name}", data, "test/gallery_street")
    return dict(out.counts)
