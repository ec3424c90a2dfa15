"""CVUSA-like layout (docs/datasets.md, "CVUSA"): suburban towns, north-centred panoramas.

    bingmap/19/<id>.jpg             satellite tile, sat_size px, TILE_M metres, north up
    streetview/panos/<id>.jpg       panorama pano_hw, horizon at the middle row, north at W/2
    splits/train-19zl.csv, splits/val-19zl.csv
        bingmap/19/<id>.jpg,streetview/panos/<id>.jpg,streetview/annotations/<id>.png

<id> is the 7-digit location number. The third CSV column is written as in the real
files but no annotation image exists (real loaders never open it). Cameras stand on
roads (street-view cars); train/val is a random 80/20 split of the locations (CVUSA's
ratio 35,532 : 8,884).
"""

from __future__ import annotations

from cvgl_core.profiles import Profile
from cvgl_core.synth.io import Out, capture_pair, encode, rng_for, split_train
from cvgl_core.synth.knobs import Knobs
from cvgl_core.synth.layouts.common import sites_in_towns
from cvgl_core.synth.render import panorama, satellite_tile

STYLE = "suburb"
TILE_M = 96.0
MIN_SEP_M = 40.0
TRAIN_FRAC = 35532 / (35532 + 8884)


def write(root, prof: Profile, seed: int, knobs: Knobs) -> dict:
    out = Out(root)
    n = prof.num_locations
    train = split_train(n, TRAIN_FRAC, rng_for(seed, "cvusa", "split"))
    lines = {"train": [], "val": []}
    sites = sites_in_towns(STYLE, n, seed, "cvusa", knobs, TILE_M, MIN_SEP_M, on_road=True)
    for k, (_, world, pos) in enumerate(sites):
        lid = f"{k + 1:07d}"
        split = "train" if train[k] else "val"
        cap = capture_pair(seed, "cvusa", k, knobs)
        sat = satellite_tile(world, pos, round(TILE_M / world.mpp), prof.sat_size, *cap["sat"])
        pano = panorama(world, pos, prof.pano_hw, *cap["ground"])
        out.put(f"bingmap/19/{lid}.jpg", encode(sat, "jpg"), f"{split}/satellite")
        out.put(f"streetview/panos/{lid}.jpg", encode(pano, "jpg"), f"{split}/ground")
        lines[split].append(
            f"bingmap/19/{lid}.jpg,streetview/panos/{lid}.jpg,streetview/annotations/{lid}.png"
        )
    out.put("splits/train-19zl.csv", "\n".join(lines["train"]) + "\n")
    out.put("splits/val-19zl.csv", "\n".join(lines["val"]) + "\n")
    return dict(out.counts)
