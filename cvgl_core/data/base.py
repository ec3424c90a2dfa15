"""Shared pieces of the dataset classes: image loading, the two item types of the data
contract (below), the options every dataset understands, and how bad input is told.

Items
* pair (training):  {"query": (3,H,W), "reference": (3,h,w), "label": int, "index": int}
  plus "heading" (degrees) when the ground view is a limited-FoV crop.
* single view:      {"image": (3,H,W), "label": int, "index": int} (+ "heading").

Every dataset records where each image path came from (a split-file line, a .mat entry,
a folder) so that a missing or unreadable file is reported with what was expected there.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from cvgl_core.data.augment import build_photometric
from cvgl_core.data.transforms import AUGMENT_MODES, JointAugment, ViewTransform, fixed_fov_shifts

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIEWS = ("ground", "satellite", "drone", "street")


class CorruptImageError(ValueError):
    """An image file exists but cannot be decoded (truncated, not an image, ...)."""


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open an image as RGB, fully decoded; one error naming the path otherwise."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")  # convert() forces the full decode
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: image file not found") from None
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as e:
        raise CorruptImageError(f"{path}: cannot read image ({e})") from None


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def existing_root(root: str | os.PathLike, what: str) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{what} root {root} does not exist")
    if not root.is_dir():
        raise ValueError(f"{what} root {root} is not a folder")
    return root


def resolve_layout(root, title: str, detect, expected: str) -> Path:
    """The dataset folder under `root` (detect may look one level down), or one clear error."""
    root = existing_root(root, title)
    found = detect(root)
    if found is None:
        raise ValueError(f"{root} does not look like {title}: expected {expected}")
    return Path(found)


class Problems:
    """Bad input found while reading a layout. Strict: raise at once; lenient (data check):
    collect every problem and go on."""

    def __init__(self, strict: bool = True):
        self.strict = strict
        self.items: list[tuple[str, str]] = []  # (kind, message)

    def malformed(self, message: str) -> None:
        if self.strict:
            raise ValueError(message)
        self.items.append(("malformed", message))

    def empty(self, message: str) -> None:
        if self.strict:
            raise ValueError(message)
        self.items.append(("empty", message))

    def missing(self, path: Path, origin: str) -> None:
        message = f"{path}: file not found (expected by {origin})"
        if self.strict:
            raise FileNotFoundError(message)
        self.items.append(("missing", message))


def check_exist(paths, origins, view: str, problems: Problems) -> np.ndarray:
    """Boolean mask of existing files; each missing one is reported with its origin."""
    ok = np.ones(len(paths), dtype=bool)
    for i, (p, o) in enumerate(zip(paths, origins)):
        if not os.path.isfile(p):
            ok[i] = False
            problems.missing(p, f"{o} ({view} image)")
    return ok


# ----------------------------------------------------------------------------------------
# Options shared by every dataset


def _hw(value, name: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    try:
        h, w = value
        return (int(h), int(w))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or (H, W), got {value!r}") from None


@dataclass
class DataOptions:
    """Options accepted by every `build_dataset` call (dataset-specific ones are separate).

    sizes: view -> (H, W) after resizing, merged over the dataset's defaults (None keeps
        the stored size). With polar=True the satellite is resized to sizes["satellite"]
        first and then polar-transformed to polar_size (default: the ground size).
    fov: limited field of view of the ground view in degrees (None = full panorama);
        fov_mode "random" draws a heading on every read, "fixed" uses headings drawn once
        from fov_seed (the test protocol); None picks random for role "pair" and fixed
        otherwise. fov_noise bounds the heading range (360 = unknown heading). fov_pad puts
        each crop back at the columns it was cut from, zeros (the mean colour) elsewhere, so
        every FoV reaches the model at the panorama's size (data.padded_fov does the same
        for evaluation only).
    augment: joint augmentations for pairs (flip_p, rotate_p; see transforms.JointAugment);
        augment_mode overrides the dataset's mode (panorama | paired | independent).
    photometric: per-view photometric augmentation of pairs (None: off; a preset name such
        as "sample4geo", or {"preset": ..., "query": {...}, "reference": {...}}; see
        augment.build_photometric). Only training pairs are augmented.
    check_files: verify at construction that every listed file exists.
    cache_dir: read images through cvgl_core.data.cache.ImageCache there (data.cache).
    strict: raise on the first malformed line / missing file (False: collect them in
        `.problems`, used by `data check`).
    """

    sizes: dict = field(default_factory=dict)
    polar: bool = False
    polar_size: tuple[int, int] | None = None
    polar_convention: str = "center"
    fov: float | None = None
    fov_mode: str | None = None
    fov_noise: float = 360.0
    fov_seed: int = 0
    fov_pad: bool = False
    augment: bool = False
    augment_mode: str | None = None
    flip_p: float = 0.5
    rotate_p: float = 0.75
    photometric: str | dict | None = None
    normalize: bool = True
    check_files: bool = True
    strict: bool = True
    cache_dir: str | None = None  # pre-resized copies (cvgl_core.data.cache); None: off
    cache_format: str = "png"  # png (lossless, compressed) | npy (raw, fastest)

    @classmethod
    def parse(cls, defaults: dict, options: dict) -> DataOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise KeyError(
                f"unknown dataset option(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(known))} and the dataset's own options"
            )
        opts = cls(**options)
        sizes = {k: _hw(v, f"sizes[{k!r}]") for k, v in defaults.items()}
        for k, v in (options.get("sizes") or {}).items():
            if k not in VIEWS:
                raise KeyError(f"sizes: unknown view {k!r}; known: {', '.join(VIEWS)}")
            sizes[k] = _hw(v, f"sizes[{k!r}]")
        opts.sizes = sizes
        opts.polar_size = _hw(opts.polar_size, "polar_size")
        if opts.augment_mode not in (None, *AUGMENT_MODES):
            raise ValueError(
                f"augment_mode must be one of {', '.join(AUGMENT_MODES)} or None, "
                f"got {opts.augment_mode!r}"
            )
        for role in ("query", "reference"):  # fail at construction, naming the bad key
            build_photometric(opts.photometric, role)
        if opts.fov_mode not in (None, "random", "fixed"):
            raise ValueError(f"fov_mode must be 'random', 'fixed' or None, got {opts.fov_mode!r}")
        return opts

    def transform(
        self, view: str, *, row_crop=None, already_polar: bool = False, role: str | None = None
    ) -> ViewTransform:
        """role "query"/"reference" of a training pair adds that role's photometric pipeline."""
        size = self.sizes.get(view)
        polar_hw = None
        if view == "satellite" and (self.polar or already_polar):
            polar_hw = self.polar_size or self.sizes.get("ground")
            if already_polar:  # stored polar images (CVUSA polarmap): just resize
                size, polar_hw = polar_hw, None
        return ViewTransform(
            size=size,
            row_crop=row_crop if view == "ground" else None,
            polar_hw=polar_hw,
            polar_convention=self.polar_convention,
            fov=self.fov if view == "ground" else None,
            fov_noise=self.fov_noise,
            fov_pad=self.fov_pad,
            normalize=self.normalize,
            photometric=build_photometric(self.photometric, role) if role else None,
        )

    def fov_fixed(self, role: str) -> bool:
        return (self.fov_mode or ("random" if role == "pair" else "fixed")) == "fixed"


# ----------------------------------------------------------------------------------------
# The two dataset types


class _Base(torch.utils.data.Dataset):
    name = "dataset"

    def _init_common(self, split: str, labels, problems: Problems | None, opts=None) -> None:
        self.split = split
        self.cache = None
        if opts is not None and opts.cache_dir:
            from cvgl_core.data.cache import ImageCache

            self.cache = ImageCache(opts.cache_dir, opts.cache_format)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.problems = problems.items if problems is not None else []
        already = problems is not None and any(k == "empty" for k, _ in problems.items)
        if len(self.labels) == 0 and not already:  # an empty listing, or all files missing
            (problems or Problems()).empty(
                f"{self.name} split {split!r} has no items: its split listing is empty "
                "(check the split files of this layout with `python -m cvgl_core data check`)"
            )

    def _load(self, path: Path, transform: ViewTransform) -> torch.Tensor:
        if self.cache is not None:
            return self.cache.load(path, transform)
        return transform.load(load_image(path))

    def _fov_shifts(self, transform: ViewTransform, opts: DataOptions, role: str):
        if transform.fov is None or not opts.fov_fixed(role):
            return None
        if transform.panorama_width is None:
            raise ValueError("a limited field of view needs a ground size (sizes['ground'])")
        return fixed_fov_shifts(len(self), transform.panorama_width, opts.fov_noise, opts.fov_seed)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, split={self.split!r}, n={len(self)})"


class ViewDataset(_Base):
    """Single-view dataset (queries or references of an evaluation)."""

    def __init__(
        self,
        paths,
        labels,
        *,
        view: str,
        split: str,
        opts: DataOptions,
        role: str,
        origins=None,
        row_crop=None,
        already_polar: bool = False,
        problems: Problems | None = None,
        name: str = "dataset",
    ):
        self.name = name
        self.paths = [Path(p) for p in paths]
        self.origins = list(origins) if origins is not None else ["listing"] * len(self.paths)
        self.view = view
        self._init_common(split, labels, problems, opts)
        self.transform = opts.transform(view, row_crop=row_crop, already_polar=already_polar)
        self.fov_shifts = self._fov_shifts(self.transform, opts, role)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        x = self._load(self.paths[index], self.transform)
        shift = None if self.fov_shifts is None else int(self.fov_shifts[index])
        x, heading = self.transform.finish(x, shift=shift)
        item = {"image": x, "label": int(self.labels[index]), "index": int(index)}
        if heading is not None:
            item["heading"] = heading
        return item

    def files(self) -> list[tuple[str, Path, str]]:
        """(view, path, origin) of every image, for `data check`."""
        return [(self.view, p, o) for p, o in zip(self.paths, self.origins)]


class PairDataset(_Base):
    """Training pairs (query view, reference view) sharing a location label."""

    def __init__(
        self,
        query_paths,
        reference_paths,
        labels,
        *,
        query_view: str,
        reference_view: str,
        split: str,
        opts: DataOptions,
        origins=None,
        row_crop=None,
        already_polar: bool = False,
        augment_mode: str = "panorama",
        problems: Problems | None = None,
        name: str = "dataset",
    ):
        self.name = name
        self.query_paths = [Path(p) for p in query_paths]
        self.reference_paths = [Path(p) for p in reference_paths]
        self.origins = list(origins) if origins is not None else ["listing"] * len(labels)
        self.query_view, self.reference_view = query_view, reference_view
        self._init_common(split, labels, problems, opts)
        self.query_transform = opts.transform(query_view, row_crop=row_crop, role="query")
        self.reference_transform = opts.transform(
            reference_view, already_polar=already_polar, role="reference"
        )
        self.augment = None
        if opts.augment:
            self.augment = JointAugment(
                opts.augment_mode or augment_mode,
                opts.flip_p,
                opts.rotate_p,
                reference_is_polar=already_polar,
            )
        self.fov_shifts = self._fov_shifts(self.query_transform, opts, "pair")

    def __len__(self) -> int:
        return len(self.query_paths)

    def __getitem__(self, index: int) -> dict:
        q = self._load(self.query_paths[index], self.query_transform)
        r = self._load(self.reference_paths[index], self.reference_transform)
        if self.augment is not None:
            q, r = self.augment(q, r)
        shift = None if self.fov_shifts is None else int(self.fov_shifts[index])
        q, heading = self.query_transform.finish(q, shift=shift)
        r, _ = self.reference_transform.finish(r)
        item = {"query": q, "reference": r, "label": int(self.labels[index]), "index": int(index)}
        if heading is not None:
            item["heading"] = heading
        return item

    def files(self) -> list[tuple[str, Path, str]]:
        return [(self.query_view, p, o) for p, o in zip(self.query_paths, self.origins)] + [
            (self.reference_view, p, o) for p, o in zip(self.reference_paths, self.origins)
        ]
