"""Limited-FoV ground views padded back to the panorama's width, for size-tied models.

A model whose layers are built for one input size (FRG: MC_GRA's relation branch has one
channel per feature position, MixVPR's projections one weight per position) cannot read a
270° crop, which is 3/4 as wide. To evaluate such a model trained on 360° panoramas on
limited-FoV queries without retraining (FRG's Table 3 idea: the private Taipei set's
handheld 270° panoramas), each crop is put back at the columns it was cut from and the
missing columns are zero, the mean colour after normalisation:

    queries = padded_fov_views("cvusa", root, "val", 270, **cfg.data.options)
    queries[i]["image"]  # (3, H, W), the crop at its own columns, zeros elsewhere

The crops use the dataset's fixed-heading protocol (fov_mode "fixed": one heading per
query drawn once from fov_seed), so every evaluation reads the same views.
"""

from __future__ import annotations

import numpy as np
import torch

from cvgl_core.data.transforms import uncrop

# Evaluation attributes of a query dataset that index its gallery (VIGOR's positive and
# semi-positive tiles, their offsets, GPS): carried over unchanged.
_CARRIED = ("positives", "semi_positives", "offsets", "gps", "paths")


class PaddedFoV(torch.utils.data.Dataset):
    """`crops` (a ViewDataset of fixed-heading limited-FoV ground views) with each crop
    placed back at its own columns of a `width`-column panorama (default: the width the
    crops were cut from), zeros elsewhere."""

    def __init__(self, crops, width: int | None = None):
        shifts = getattr(crops, "fov_shifts", None)
        if shifts is None:
            raise ValueError(
                f"{crops!r} has no fixed headings (fov_shifts is None): build it with a "
                "limited fov and fov_mode='fixed', so each crop has columns to go back to"
            )
        full = crops.transform.panorama_width
        self.width = int(width or full)
        if self.width < 1:
            raise ValueError(f"panorama width must be >= 1, got {self.width}")
        self.crops, self.shifts = crops, np.asarray(shifts, dtype=np.int64)
        self.view, self.labels = crops.view, crops.labels
        for name in _CARRIED:
            if hasattr(crops, name):
                setattr(self, name, getattr(crops, name))

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i: int) -> dict:
        item = dict(self.crops[i])
        crop = item["image"]  # (C, H, w): column j is column (j - shift) mod W of the panorama
        w = crop.shape[-1]
        if w > self.width:
            raise ValueError(f"item {i}: crop width {w} exceeds the panorama width {self.width}")
        item["image"] = uncrop(crop, self.width, self.shifts[i])  # (C, H, W)
        return item

    def __repr__(self) -> str:
        return f"PaddedFoV({self.crops!r}, width={self.width})"


def padded_fov_views(name: str, root, split: str, fov: float, **options) -> PaddedFoV:
    """The `split` queries of dataset `name` as `fov`-degree crops at fixed headings, padded
    back to the panorama width (`options`: build_dataset options, e.g. a config's
    data.options; their fov and fov_mode are replaced)."""
    from cvgl_core.data import build_dataset

    crops = build_dataset(
        name, root, split, "query", **{**options, "fov": fov, "fov_mode": "fixed"}
    )
    return PaddedFoV(crops)
