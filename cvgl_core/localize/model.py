"""The model behind a gallery index: rebuilt from a training checkpoint, fingerprinted, and
the photo pipeline that matches the transforms it was trained with.

A checkpoint of `cvgl_core.training.trainer` stores the resolved config (`ckpt["config"]`);
the model is rebuilt from it with `pretrained=False` (no download at run time) and the
checkpoint's weights. The fingerprint (SHA-256 of every state-dict tensor, in key order) is
what an index stores to refuse descriptors from another model.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# The query view of each layout (the reference view is always the satellite tile).
QUERY_VIEW = {
    "cvusa": "ground",
    "cvact": "ground",
    "vigor": "ground",
    "university1652": "drone",
    "sues200": "drone",
}
# A ground panorama is ~2:1 (VIGOR 1:2 H:W, CVUSA 1:4 after the row crop); drone and satellite
# images are square. A photo wider than this is taken for a panorama.
PANORAMA_ASPECT = 1.6


def fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 of the model's state dict (names, shapes and float32 values, in key order):
    equal for the same weights on any device, different for any other weights."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        a = t.detach().cpu()
        a = a.float() if a.is_floating_point() else a
        h.update(np.ascontiguousarray(a.numpy()).tobytes())
    return h.hexdigest()


def config_of(ckpt: dict, source: str):
    """The Config stored in a checkpoint, with pretrained weights off (no download)."""
    from cvgl_core.config import config_from_dict

    data = ckpt.get("config")
    if not isinstance(data, dict):
        raise ValueError(
            f"{source} has no stored config (ckpt['config']): not a trainer checkpoint"
        )
    overrides = {}
    if "pretrained" in ((data.get("model") or {}).get("kwargs") or {}):
        overrides["model.kwargs.pretrained"] = False
    return config_from_dict(data, overrides)


def load_model(checkpoint: str | Path, device="cpu"):
    """(model in eval mode, Config, checkpoint SHA-256) of a trainer checkpoint."""
    from cvgl_core.training.experiment import build_model, file_sha256
    from cvgl_core.training.trainer import load_checkpoint, load_model_state

    ckpt = load_checkpoint(checkpoint)
    cfg = config_of(ckpt, str(checkpoint))
    model = build_model(cfg)
    load_model_state(model, ckpt["model"], str(checkpoint))
    return model.to(device).eval(), cfg, file_sha256(checkpoint)


def data_options(config: dict) -> dict:
    return dict((config.get("data") or {}).get("options") or {})


def view_options(config: dict):
    """DataOptions of the config's dataset (its sizes, polar, FoV, normalisation), leaving
    out the dataset's own options (VIGOR's area, CVACT's crop_middle_half, ...)."""
    import dataclasses

    from cvgl_core.data import DATASETS
    from cvgl_core.data.base import DataOptions

    name = (config.get("data") or {}).get("dataset", "cvusa")
    known = {f.name for f in dataclasses.fields(DataOptions)}
    options = {k: v for k, v in data_options(config).items() if k in known}
    return DataOptions.parse(getattr(DATASETS.get(name), "DEFAULT_SIZES", {}), options)


def view_transform(config: dict, view: str, fov: float | None = None):
    """The dataset's transform of `view` under the config's data options (sizes, polar, FoV).
    fov (degrees) overrides the config's limited field of view of the ground view. CVACT
    ground panoramas keep their middle rows as the dataset does (crop_middle_half)."""
    opts = view_options(config)
    if fov is not None:
        opts.fov = float(fov)
    row_crop = None
    name = (config.get("data") or {}).get("dataset")
    if view == "ground" and name == "cvact" and data_options(config).get("crop_middle_half", True):
        row_crop = (0.25, 0.75)  # cvgl_core.data.cvact: rows [H/4, 3H/4)
    return opts.transform(view, row_crop=row_crop)


def load_photo(photo) -> Image.Image:
    """A path or a PIL image -> RGB PIL image; one clear error for a file that is not one."""
    from cvgl_core.data.base import load_image

    if isinstance(photo, Image.Image):
        return photo.convert("RGB")
    return load_image(photo)


def check_view(img: Image.Image, view: str, name: str) -> None:
    """Refuse a photo whose shape says it is another view: a ~2:1 panorama given to a
    drone/satellite model, or a square image given as a ground panorama."""
    w, h = img.size
    wide = w / max(h, 1) >= PANORAMA_ASPECT
    if view in ("drone", "satellite") and wide:
        raise ValueError(
            f"{name}: looks like a ground panorama ({w}x{h}) but this index expects {view} "
            "photos; use an index built from a ground-to-satellite model"
        )
    if view == "ground" and not wide and w == h:
        raise ValueError(
            f"{name}: square image ({w}x{h}) given as a ground panorama; this index expects "
            "ground panoramas (use --view drone with a drone model's index)"
        )


def photo_tensor(
    config: dict,
    photo,
    view: str,
    *,
    fov: float | None = None,
    heading: float | None = None,
    name: str = "photo",
) -> tuple[torch.Tensor, Image.Image]:
    """(model input (3, H, W), the RGB image) of one photo, as the dataset would load it.

    fov/heading (ground panoramas): the fov-degree crop looking at `heading` (0 = north,
    clockwise), as AWM's limited-FoV queries; heading defaults to 0 when only fov is given.
    """
    from cvgl_core.data.transforms import heading_to_shift

    img = load_photo(photo)
    check_view(img, view, name)
    if heading is not None and fov is None and view == "ground":
        fov = (data_options(config).get("fov")) or 360.0
    t = view_transform(config, view, fov=fov if view == "ground" else None)
    x = t.load(img)  # (3, H, W) in [0, 1], resized
    shift = None
    if t.fov is not None:
        shift = heading_to_shift(0.0 if heading is None else heading, x.shape[-1], t.fov)
    x, _ = t.finish(x, shift=shift)
    return x, img
