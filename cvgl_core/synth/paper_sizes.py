"""The synthetic world at the real datasets' file sizes, for dry runs of the paper configs.

    root = write_paper_sized("cvact", "/tmp/cvact", num_locations=8)
    python -m cvgl_core train --config configs/lrfr/cvact_paper.yaml data.root=/tmp/cvact ...

Same layouts as `write_dataset`, with the image sizes of the real releases, so the paper
profile's loaders decode, crop, polar-transform and resize what they will meet on a GPU
machine (CVUSA: 750 px tiles, 224 x 1232 panoramas; CVACT: 1200 px, 832 x 1664; VIGOR:
640 px, 1024 x 2048; University-1652 and SUES-200: 512 px satellite and drone images) but
with a handful of locations (a dry run, a loader benchmark), not the real counts.
"""

from __future__ import annotations

import os
from pathlib import Path

from cvgl_core.profiles import Profile, get_profile

# Profile fields per layout: the real releases' file sizes.
PAPER_SIZES: dict[str, dict] = {
    "cvusa": {"sat_size": 750, "pano_hw": (224, 1232)},
    "cvact": {"sat_size": 1200, "pano_hw": (832, 1664)},
    "vigor": {"sat_size": 640, "pano_hw": (1024, 2048)},
    "university1652": {"sat_size": 512, "drone_size": 512, "pano_hw": (256, 512)},
    "sues200": {"sat_size": 512, "drone_size": 512},
}


def paper_sized_profile(
    layout: str, num_locations: int = 8, num_buildings: int = 4, views: int = 2
) -> Profile:
    """The paper profile with the real file sizes of `layout` and a few locations/views."""
    if layout not in PAPER_SIZES:
        raise KeyError(f"no paper sizes for layout {layout!r}; known: {', '.join(PAPER_SIZES)}")
    return get_profile("paper").replace(
        name="paper_sizes",
        num_locations=num_locations,
        num_buildings=num_buildings,
        drone_views=views,
        sues_views=views,
        **PAPER_SIZES[layout],
    )


def write_paper_sized(
    layout: str, out: str | os.PathLike, *, seed: int = 0, overwrite: bool = False, **counts
) -> Path:
    """Write `layout` at its real file sizes into `out` (atomically); return `out`."""
    from cvgl_core.synth import write_dataset

    write_dataset(layout, out, paper_sized_profile(layout, **counts), seed, overwrite=overwrite)
    return Path(out)
