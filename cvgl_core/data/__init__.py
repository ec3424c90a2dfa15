"""Real-dataset loaders (they read the synthetic world unchanged), view transforms,
samplers and the layout checker.

    build_dataset(name, root, split, role, **options)

name: cvusa | cvact | vigor | university1652 | sues200; role: pair | query | reference.
Common options: see base.DataOptions; dataset options: see each module's `build`.
"""

from __future__ import annotations

from cvgl_core.data import cvact, cvusa, sues200, university1652, vigor
from cvgl_core.data.base import (
    CorruptImageError,
    DataOptions,
    PairDataset,
    ViewDataset,
    load_image,
)
from cvgl_core.data.polar import PolarTransform, polar_grid, polar_transform
from cvgl_core.data.samplers import (
    NeighbourBatchSampler,
    UniqueLabelBatchSampler,
    gps_neighbours,
    similarity_neighbours,
)
from cvgl_core.data.transforms import (
    JointAugment,
    ViewTransform,
    crop_at_heading,
    fov_crop,
    joint_hflip,
    joint_rot90,
    mirror_panorama,
    normalize,
)
from cvgl_core.utils import Registry

DATASETS = Registry("dataset")
for _name, _mod in {
    "cvusa": cvusa,
    "cvact": cvact,
    "vigor": vigor,
    "university1652": university1652,
    "sues200": sues200,
}.items():
    DATASETS.register(_name)(_mod)

ROLES = ("pair", "query", "reference")


def build_dataset(name: str, root, split: str, role: str, **options):
    """Build one dataset: see the module of `name` for its layout, splits and options."""
    if role not in ROLES:
        raise KeyError(f"role {role!r} unknown; known: {', '.join(ROLES)}")
    return DATASETS.get(name).build(root, split, role, **options)


def detect_layout(root) -> tuple[str, object]:
    """(name, resolved root) of the dataset layout found at `root`; ValueError if none."""
    from pathlib import Path

    from cvgl_core.data.base import existing_root

    root = existing_root(root, "dataset")
    for name in DATASETS.names():
        found = DATASETS.get(name).detect(root)
        if found is not None:
            return name, Path(found)
    looked = "; ".join(f"{m.TITLE}: {m.EXPECTED}" for m in map(DATASETS.get, DATASETS.names()))
    raise ValueError(f"{root} matches no known dataset layout. Looked for {looked}")


__all__ = [
    "DATASETS",
    "CorruptImageError",
    "DataOptions",
    "JointAugment",
    "NeighbourBatchSampler",
    "PairDataset",
    "PolarTransform",
    "UniqueLabelBatchSampler",
    "ViewDataset",
    "ViewTransform",
    "build_dataset",
    "crop_at_heading",
    "detect_layout",
    "fov_crop",
    "gps_neighbours",
    "joint_hflip",
    "joint_rot90",
    "load_image",
    "mirror_panorama",
    "normalize",
    "polar_grid",
    "polar_transform",
    "similarity_neighbours",
]
