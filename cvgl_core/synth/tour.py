"""Helpers for notebooks/00_data_tour.ipynb: every view of one place, style comparisons,
folder trees. The notebook only calls these and plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cvgl_core.data.transforms import crop_at_heading
from cvgl_core.synth.capture import sample_capture
from cvgl_core.synth.io import rng_for, sample_sites
from cvgl_core.synth.knobs import make_knobs
from cvgl_core.synth.layouts import sues200
from cvgl_core.synth.render import drone_view, panorama, satellite_tile
from cvgl_core.synth.world import World, make_world

TOUR_TOWN_M = 256.0


def tour_site(style: str, seed: int = 0, **knobs) -> tuple[World, tuple[float, float]]:
    """A town of `style` and a street camera site near its centre."""
    w = make_world(style, TOUR_TOWN_M, seed=[seed, 7], knobs=make_knobs(**knobs))
    sites = sample_sites(w, 1, rng_for(seed, "tour", style), 10.0, TOUR_TOWN_M / 2 - 30, True)
    if not sites:  # no street near the centre: any free spot
        sites = sample_sites(w, 1, rng_for(seed, "tour", style), 10.0, 60.0)
    return w, sites[0]


def all_views(
    style: str = "campus",
    seed: int = 0,
    sat_size: int = 128,
    pano_hw: tuple[int, int] = (128, 512),
    drone_size: int = 128,
    **knobs,
) -> dict[str, np.ndarray]:
    """Satellite, panorama, 70/90/180/270-degree crops facing north, and drone views at
    the four SUES-200 altitudes (scaled), all of one place, as uint8 images."""
    k = make_knobs(**knobs)
    w, pos = tour_site(style, seed, **knobs)

    def cap(name):
        rng = rng_for(seed, "tour", name)
        return sample_capture(rng, k), rng

    views = {"satellite": satellite_tile(w, pos, round(96 / w.mpp), sat_size, *cap("sat"))}
    pano = panorama(w, pos, pano_hw, *cap("pano"))
    views["panorama"] = pano
    for fov in (70, 90, 180, 270):
        views[f"crop {fov} deg"] = crop_at_heading(pano, 0.0, fov)
    for h in sues200.HEIGHTS:
        alt = h * sues200.ALT_SCALE
        c, r = cap(f"drone{h}")
        views[f"drone {h} m"] = drone_view(w, pos, alt, 30.0, alt / 2, drone_size, cap=c, rng=r)
    return views


def difficulty_strip(style: str = "suburb", seed: int = 0, hw=(64, 256)) -> dict[str, np.ndarray]:
    """The same panorama with every knob at 0, at its default, and at 1."""
    out = {}
    w, pos = tour_site(style, seed)
    for label, value in (("knobs = 0", 0.0), ("defaults", None), ("knobs = 1", 1.0)):
        knobs = (
            {}
            if value is None
            else dict(season_shift=value, lighting=value, noise=value, blur=value)
        )
        k = make_knobs(**knobs)
        rng = rng_for(seed, "strip", label)
        out[label] = panorama(w, pos, hw, sample_capture(rng, k), rng)
    return out


def folder_tree(root: str | Path, max_per_dir: int = 3, max_depth: int = 5) -> str:
    """`tree`-like listing; long folders show their first entries and a count of the rest."""
    root = Path(root)
    lines = [root.name + "/"]

    def walk(d: Path, prefix: str, depth: int) -> None:
        entries = sorted(d.iterdir(), key=lambda p: (p.is_file(), p.name))
        shown = entries[:max_per_dir] if len(entries) > max_per_dir + 1 else entries
        for i, p in enumerate(shown):
            last = i == len(shown) - 1 and len(shown) == len(entries)
            lines.append(f"{prefix}{'`-- ' if last else '|-- '}{p.name}{'/' if p.is_dir() else ''}")
            if p.is_dir() and depth < max_depth:
                walk(p, prefix + ("    " if last else "|   "), depth + 1)
        if len(shown) < len(entries):
            lines.append(f"{prefix}`-- ... ({len(entries) - len(shown)} more)")

    walk(root, "", 1)
    return "\n".join(lines)


def colour_stats(images: list[np.ndarray]) -> np.ndarray:
    """Mean RGB and RGB std per image (N, 6): a crude appearance signature."""
    return np.array([[*im.reshape(-1, 3).mean(0), *im.reshape(-1, 3).std(0)] for im in images])


def area_samples(
    style: str, n: int = 4, seed: int = 0, sat_size: int = 96, pano_hw=(64, 256), **knobs
) -> list[tuple[np.ndarray, np.ndarray]]:
    """n (satellite, panorama) pairs from one town of `style` with independent captures."""
    k = make_knobs(**knobs)
    w = make_world(style, TOUR_TOWN_M, seed=[seed, 11], knobs=k)
    sites = sample_sites(w, n, rng_for(seed, "area", style), 30.0, 52.0, True)
    pairs = []
    for i, pos in enumerate(sites):
        rs, rg = rng_for(seed, style, "sat", i), rng_for(seed, style, "pano", i)
        sat = satellite_tile(w, pos, round(96 / w.mpp), sat_size, sample_capture(rs, k), rs)
        pairs.append((sat, panorama(w, pos, pano_hw, sample_capture(rg, k), rg)))
    return pairs
