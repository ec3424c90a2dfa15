"""Pieces shared by the one-to-one layouts (CVUSA-, CVACT-like): towns and sites in them."""

from __future__ import annotations

from collections.abc import Iterator

from cvgl_core.synth.io import _key, rng_for, sample_sites
from cvgl_core.synth.knobs import Knobs
from cvgl_core.synth.world import World, make_world

TOWN_M = 640.0  # side of one generated town; a layout uses as many towns as it needs


def _fill_from_towns(style, n, seed, layout, knobs, town_m, pick, what: str):
    """Yield n (town index, town, item), generating towns one at a time (only one town is
    in memory) and taking from each the items `pick(t, town, still_missing)` returns."""
    done, t = 0, 0
    while done < n:
        world = make_world(style, town_m, seed=[int(seed), _key(layout), t], knobs=knobs)
        items = pick(t, world, n - done)
        for item in items:
            yield t, world, item
        done += len(items)
        t += 1
        if t > 10 * n + 10:
            raise RuntimeError(f"could not place {n} {what} in style {style!r}")


def sites_in_towns(
    style: str,
    n: int,
    seed: int,
    layout: str,
    knobs: Knobs,
    tile_m: float,
    min_sep_m: float,
    on_road: bool,
    town_m: float = TOWN_M,
) -> Iterator[tuple[int, World, tuple[float, float]]]:
    """Yield n (town index, town, camera position) triples, sampling camera sites in
    successive towns."""
    per_town = max(1, int((town_m - tile_m) ** 2 / (1.6 * min_sep_m**2)))

    def pick(t, world, missing):
        rng = rng_for(seed, layout, "sites", t)
        return sample_sites(world, min(per_town, missing), rng, min_sep_m, tile_m / 2 + 4, on_road)

    return _fill_from_towns(style, n, seed, layout, knobs, town_m, pick, "sites")


def targets_in_towns(
    style: str,
    n: int,
    seed: int,
    layout: str,
    knobs: Knobs,
    min_sep_m: float,
    margin_m: float,
    town_m: float = TOWN_M,
) -> Iterator[tuple[int, World, tuple[float, float]]]:
    """Yield n (town index, town, target building centre): the largest buildings of each
    town at least min_sep_m apart (University-1652 and SUES-200 classes are buildings)."""

    def pick(t, world, missing):
        lo, hi = margin_m / world.mpp, world.shape[0] - margin_m / world.mpp
        blds = [b for b in world.buildings if lo < b["r"] < hi and lo < b["c"] < hi]
        blds.sort(key=lambda b: -b["a"] * b["b"])
        taken: list[tuple[float, float]] = []
        sep = min_sep_m / world.mpp
        for b in blds:
            if len(taken) == missing:
                break
            if all((b["r"] - r) ** 2 + (b["c"] - c) ** 2 >= sep**2 for r, c in taken):
                taken.append((float(round(b["r"])), float(round(b["c"]))))
        return taken

    return _fill_from_towns(style, n, seed, layout, knobs, town_m, pick, "target buildings")
