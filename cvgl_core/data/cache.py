"""A one-time pre-resized copy of a dataset's images at the training size (`data.cache: true`).

Real releases store large originals (CVACT 1200 px tiles and 832 x 1664 panoramas, VIGOR
640 px / 1024 x 2048); the paper configs train at 256-384 px, so decoding the originals
every epoch costs most of a loader's time (the MFRGN authors train VIGOR from a processed,
pre-resized folder for the same reason). The cache stores what `ViewTransform.load` returns
(row crop + resize, before augmentation, polar transform and FoV crop) as lossless PNG (or
raw .npy, data.cache_format), so a cached read gives the very same tensor as an uncached one.

Layout: <cache_dir>/<setting>/<hh>/<hash>.png|npy, where <setting> names the load settings
("256x512", "256x512_rows0.25-0.75", "orig") and <hash> the source file's absolute path,
size and modification time: a changed source is a new entry (the stale one is just unused;
delete the folder to reclaim it). Entries are written on first read, atomically (a
temporary file then os.replace), so concurrent loader workers and ranks are safe.
Default cache_dir: <dataset root>/.cvgl_cache (set data.cache_dir where the root is
read-only). `warm_cache(dataset, num_workers)` fills it ahead of training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

CACHE_VERSION = 1  # bump when the stored content changes


# ViewTransform fields that only `finish` reads: they do not change a cached image. Every
# other field (a new one included) is part of the key, so a cache is never silently stale.
FINISH_ONLY = {
    "polar_hw",
    "polar_convention",
    "fov",
    "fov_noise",
    "fov_pad",
    "normalize",
    "photometric",
}


def setting_name(transform) -> str:
    """Folder name of one load setting: "v1_256x512", "v1_256x512_rows0.25-0.75", ..."""
    fields = {f.name: getattr(transform, f.name) for f in dataclasses.fields(transform)}
    size, row_crop = fields.pop("size", None), fields.pop("row_crop", None)
    name = f"{size[0]}x{size[1]}" if size is not None else "orig"
    if row_crop is not None:
        name += f"_rows{row_crop[0]:g}-{row_crop[1]:g}"
    rest = {k: v for k, v in sorted(fields.items()) if k not in FINISH_ONLY}
    if rest:  # load settings added later: a short digest keeps the name readable
        name += "_" + hashlib.sha1(repr(rest).encode()).hexdigest()[:8]
    return f"v{CACHE_VERSION}_{name}"


FORMATS = ("png", "npy")


class ImageCache:
    """Cached `transform.load(load_image(path))`; see the module docstring.

    fmt "png" (lossless, ~half the raw size; decoding is most of a cached read) or "npy"
    (raw uint8: no decoding, ~2x faster reads, 3 bytes a pixel on disk)."""

    def __init__(self, cache_dir: str | os.PathLike, fmt: str = "png"):
        if fmt not in FORMATS:
            raise ValueError(f"data.cache_format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self.dir = Path(cache_dir).expanduser()
        self.fmt = fmt

    def entry(self, path: str | os.PathLike, transform) -> Path:
        st = os.stat(path)  # FileNotFoundError for a missing source, as an uncached read
        key = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
        h = hashlib.sha1(key.encode()).hexdigest()
        return self.dir / setting_name(transform) / h[:2] / f"{h}.{self.fmt}"

    def load(self, path: str | os.PathLike, transform) -> torch.Tensor:
        """(3, H, W) float in [0, 1], equal to transform.load(load_image(path))."""
        from cvgl_core.data.base import load_image
        from cvgl_core.data.transforms import to_tensor

        entry = self.entry(path, transform)
        try:
            if self.fmt == "npy":
                return to_tensor(np.load(entry, allow_pickle=False))
            with Image.open(entry) as im:
                return to_tensor(im.convert("RGB"))
        except (FileNotFoundError, OSError, SyntaxError, ValueError):
            pass  # not cached yet (or a torn file from a killed writer): rebuild it
        x = transform.load(load_image(path))
        # x is uint8 / 255 (PIL resize output): the round trip through uint8 is exact
        arr = (x.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
        _atomic_write(entry, arr, self.fmt)
        return x


def _atomic_write(path: Path, arr: np.ndarray, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if fmt == "npy":
                np.save(f, arr, allow_pickle=False)
            else:
                Image.fromarray(arr).save(f, format="PNG", compress_level=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _count(batch) -> int:
    return len(batch)


def warm_cache(dataset, num_workers: int = 0, batch_size: int = 16) -> int:
    """Read every item of `dataset` once so its cache is filled; return the item count."""
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=_count
    )
    return sum(loader)
