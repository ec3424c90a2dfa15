"""The synthetic world (docs/design.md, "The synthetic world").

A seeded procedural world (towns of named area styles: ground cover, roads, buildings,
trees), renderers for every view (north-up satellite tile, north-centred 360-degree
panorama by ray casting, limited-FoV crop, perspective drone view), named difficulty
knobs, and writers that emit the real on-disk layouts of docs/datasets.md so the real
dataset classes read them unchanged.

    write_dataset(layout, out, profile="smoke", seed=0, overwrite=False, **knobs) -> counts
    ensure_dataset(layout, data_dir, profile, seed=0, **knobs) -> data_dir/<layout>
    LAYOUTS: cvusa, cvact, vigor, university1652, sues200
"""

from cvgl_core.synth.api import LAYOUTS, MANIFEST, ensure_dataset, world_knobs, write_dataset
from cvgl_core.synth.capture import Capture, sample_capture
from cvgl_core.synth.knobs import CLEAN, KNOB_NAMES, Knobs, make_knobs
from cvgl_core.synth.render import (
    drone_rgb,
    drone_view,
    panorama,
    panorama_rgb,
    satellite_tile,
)
from cvgl_core.synth.styles import STYLES, VIGOR_CITIES, AreaStyle, get_style
from cvgl_core.synth.world import World, make_world

__all__ = [
    "CLEAN",
    "KNOB_NAMES",
    "LAYOUTS",
    "MANIFEST",
    "STYLES",
    "VIGOR_CITIES",
    "AreaStyle",
    "Capture",
    "Knobs",
    "World",
    "drone_rgb",
    "drone_view",
    "ensure_dataset",
    "world_knobs",
    "get_style",
    "make_knobs",
    "make_world",
    "panorama",
    "panorama_rgb",
    "sample_capture",
    "satellite_tile",
    "write_dataset",
]
