"""A tiny model saved as a trainer checkpoint (random weights, no training) on a VIGOR-layout
folder, for the localize / index / explorer tests."""

from __future__ import annotations

from pathlib import Path

import torch

from cvgl_core.config import config_from_dict
from cvgl_core.training.experiment import build_model
from cvgl_core.training.trainer import CHECKPOINT_FORMAT
from cvgl_core.utils import atomic_torch_save
from tests.data_fixtures import write_image, write_vigor


def toy_config(root, dataset: str = "vigor", out: str | None = None, **kwargs):
    data = {
        "dataset": dataset,
        "root": str(root),
        "eval_split": "test",
        "options": {"sizes": {"ground": [16, 32], "satellite": [16, 16], "drone": [16, 16]}},
    }
    model = {"name": "baseline", "kwargs": {"backbone": "test_resnet", "pretrained": False}}
    model["kwargs"].update(kwargs)
    return config_from_dict({"name": "toy", "data": data, "model": model, "output": {"dir": out}})


def save_checkpoint(path, cfg, seed: int = 0) -> Path:
    """A checkpoint in the trainer's format holding a randomly initialised model."""
    torch.manual_seed(seed)
    model = build_model(cfg)
    ckpt = {"format": CHECKPOINT_FORMAT, "model": model.state_dict(), "config": cfg.to_dict()}
    return atomic_torch_save(ckpt, path)


def vigor_world(tmp: Path, tiles: int = 6, panos: int = 2) -> Path:
    """write_vigor's folder with every tile image distinct (write_vigor repeats them across
    cities, which would tie their scores exactly)."""
    root = tmp / "VIGOR"
    write_vigor(root, tiles=tiles, panos=panos)
    for n, tile in enumerate(sorted(root.glob("*/satellite/*.png"))):
        write_image(tile, (16, 16), 100 + n)
    return root
