"""configs/glqinet: the paper files carry the paper's training setting (Sec. 3.4, 4.3); the
smoke config and every switch notebook 05 uses build a model of the data size, and train."""

from pathlib import Path

import numpy as np
import pytest
import torch

from cvgl_core.config import load_config
from cvgl_core.training.experiment import (
    TRAIN_CLASSES,
    build_datasets,
    build_loss,
    build_model,
    index_classes,
)
from cvgl_core.training.optim import build_optimizer
from cvgl_core.training.schedules import lr_factor

CONFIGS = sorted(Path("configs/glqinet").glob("*.yaml"))
DATASETS = ("university1652", "sues200")


def test_every_dataset_has_the_three_profiles():
    names = {p.stem for p in CONFIGS}
    assert names == {f"{d}_{p}" for d in DATASETS for p in ("smoke", "cpu", "paper")}


@pytest.mark.parametrize("dataset", DATASETS)
def test_paper_config_is_the_papers_setting(dataset):
    """SGD momentum 0.9, wd 5e-4, batch 32, lr 0.003 backbone / 0.01 rest, x0.1 after epochs
    80 and 120 of 200, 256 x 256, ConvNeXt-T pretrained, t = 4, merged attention, 16 x 512,
    CE per head + triplet margin 0.3."""
    cfg = load_config(f"configs/glqinet/{dataset}_paper.yaml")
    o = cfg.optim
    assert (o.name, o.momentum, o.weight_decay, o.lr, o.backbone_lr) == (
        "sgd", 0.9, 5e-4, 0.01, 0.003,
    )  # fmt: skip
    assert cfg.data.batch_size == 32 and cfg.train.epochs == 200
    epochs = (0, 79, 80, 119, 120, 199)
    factors = [lr_factor(e, cfg.schedule, 1, cfg.train.epochs) for e in epochs]
    assert factors == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    assert cfg.data.options["sizes"] == {"drone": [256, 256], "satellite": [256, 256]}
    kw = cfg.model.kwargs
    assert (kw["backbone"], kw["pretrained"], kw["t"], kw["interaction"], kw["head_dim"]) == (
        "convnext_tiny.fb_in1k", True, 4, "merged", 512,
    )  # fmt: skip
    assert kw["stripe_mode"] == "cells"  # the text's stripes of cells, GAP after IGLAM (eq. 10)
    assert kw["num_classes"] == TRAIN_CLASSES
    assert (cfg.loss.name, cfg.loss.kwargs["margin"]) == ("ce_triplet", 0.3)
    assert cfg.loss.kwargs["normalise"] == "eq13"
    assert cfg.eval.kwargs["one_percent"] == "round_plus_one"
    if dataset == "sues200":
        assert cfg.data.options["altitude"] in (150, 200, 250, 300)


def test_paper_optimizer_splits_backbone_and_rest():
    """0.003 on every backbone parameter, 0.01 on QIM/IGLAM/classifier blocks (Sec. 4.3)."""
    cfg = load_config("configs/glqinet/university1652_paper.yaml")
    cfg.model.kwargs.update(backbone="convnext_atto", pretrained=False, num_classes=5)
    model = build_model(cfg)
    opt = build_optimizer(model, build_loss(cfg), cfg.optim)
    groups = {g["name"]: g for g in opt.param_groups}
    assert set(groups) == {"backbone", "heads"}
    assert groups["backbone"]["lr"] == 0.003 and groups["heads"]["lr"] == 0.01
    assert all(g["momentum"] == 0.9 and g["weight_decay"] == 5e-4 for g in groups.values())
    ids = {id(p) for p in groups["backbone"]["params"]}
    assert ids == {id(p) for p in model.backbone.parameters()}
    rest = {id(p) for p in groups["heads"]["params"]}
    assert {id(p) for p in model.iglam.parameters()} <= rest
    assert {id(p) for p in model.heads.parameters()} <= rest


# The overrides notebook 05 uses (Table 1, Fig. 4, Fig. 5, Table 4).
SWITCHES = {
    "full (merged)": {},
    "table1 self": {"model.kwargs.interaction": "self"},
    "table1 cross": {"model.kwargs.interaction": "cross"},
    "table1 co": {"model.kwargs.interaction": "co"},
    "fig4 baseline": {"model.kwargs.use_qim": False, "model.kwargs.use_iglam": False},
    "fig4 +QIM": {"model.kwargs.use_iglam": False},
    "fig4 +IGLAM": {"model.kwargs.use_qim": False},
    "fig5 t=1": {"model.kwargs.t": 1},
    "fig5 t=8": {"model.kwargs.t": 8},
    "table4 convnext": {"model.kwargs.backbone": "profile.convnext"},
    "table4 convnext baseline": {
        "model.kwargs.backbone": "profile.convnext",
        "model.kwargs.use_qim": False,
        "model.kwargs.use_iglam": False,
    },
}


def _one_step(cfg, pair):
    torch.manual_seed(0)
    model = build_model(cfg, pair).train()
    loss = build_loss(cfg)
    first = np.unique(pair.labels, return_index=True)[1][:4]  # 4 buildings, as the sampler
    batch = [pair[int(i)] for i in first]
    q = torch.stack([b["query"] for b in batch])
    r = torch.stack([b["reference"] for b in batch])
    labels = torch.tensor([b["label"] for b in batch])
    value = loss(model(q, view="drone"), model(r, view="satellite"), labels)
    value.backward()
    assert torch.isfinite(value)
    return model


@pytest.mark.parametrize("switch", SWITCHES)
def test_smoke_config_and_its_switches_build_a_model_of_the_data_size(switch, tmp_path):
    cfg = load_config(
        "configs/glqinet/university1652_smoke.yaml",
        overrides={"data.data_dir": str(Path("data/synth/smoke").resolve()), **SWITCHES[switch]},
    )
    pair = build_datasets(cfg, roles=("pair",))["pair"]
    model = _one_step(cfg, pair)
    # num_classes = train_classes: one output per training building, labels 0..R-1
    classes = pair.class_ids
    assert model.heads[0].classifier.out_features == len(classes) == len(np.unique(pair.labels))
    assert pair.labels.min() == 0 and pair.labels.max() == len(classes) - 1
    size = cfg.data.options["sizes"]["drone"]
    model.eval()
    with torch.no_grad():
        d = model(torch.randn(2, 3, *size), view="drone")
    assert d.shape == (2, model.num_features * cfg.model.kwargs["head_dim"])


@pytest.mark.parametrize("altitude", [150, 300])
def test_sues200_smoke_config_trains_per_altitude(altitude):
    cfg = load_config(
        "configs/glqinet/sues200_smoke.yaml",
        overrides={
            "data.data_dir": str(Path("data/synth/smoke").resolve()),
            "data.options.altitude": altitude,
        },
    )
    pair = build_datasets(cfg, roles=("pair",))["pair"]
    assert pair.altitude == altitude
    _one_step(cfg, pair)


def test_index_classes_relabels_once_and_keeps_the_ids():
    class Pairs:
        labels = np.array([7, 3, 7, 12, 3])

    pairs = Pairs()
    ids = index_classes(pairs)
    assert ids.tolist() == [3, 7, 12] and pairs.labels.tolist() == [1, 0, 1, 2, 0]
    assert index_classes(pairs) is ids and pairs.labels.tolist() == [1, 0, 1, 2, 0]
