"""configs/awm: the paper files carry the paper's setting; the smoke file builds a model of the
data's size with every switch notebook 02 uses (Tables 1-6, the FoV curve) and runs it."""

from pathlib import Path

import pytest
import torch

from cvgl_core.config import load_config
from cvgl_core.data.transforms import fov_crop_width
from cvgl_core.losses import create_loss
from cvgl_core.models import create_model

CONFIGS = sorted(Path("configs/awm").glob("*.yaml"))


def test_every_dataset_has_the_three_profiles():
    names = {p.stem for p in CONFIGS}
    assert names == {f"{d}_{p}" for d in ("cvusa", "cvact") for p in ("smoke", "cpu", "paper")}


@pytest.mark.parametrize("dataset", ["cvusa", "cvact"])
def test_paper_config_is_the_papers_setting(dataset):
    """Sec. 4.1: AdamW lr 5e-5, wd 5e-4, batch 24, 100 epochs, ImageNet ResNet18_CA, weighted
    soft-margin triplet (alpha 10) with batch-hard mining, ground 128 x 99 (70 deg) / 128 x 128
    (90 deg) crops at random headings, polar satellite 128 x 512, CA + FCA + FMC; ours:
    SyncBatchNorm under DDP (the batch of 24 split over GPUs)."""
    cfg = load_config(f"configs/awm/{dataset}_paper.yaml")
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay) == ("adamw", 5e-5, 5e-4)
    assert (cfg.data.batch_size, cfg.train.epochs) == (24, 100)
    assert cfg.train.sync_bn  # DDP: BatchNorm over the batch of 24, not 3 images per GPU
    assert (cfg.loss.name, cfg.loss.kwargs["alpha"]) == ("soft_triplet_hard", 10.0)
    assert cfg.loss.kwargs["distance"] == "euclidean"
    kw = cfg.model.kwargs
    assert (kw["pretrained"], kw["use_ca"], kw["use_fca"], kw["use_fmc"]) == (True,) * 4
    assert kw["fca_mode"] == "satellite_peak" and kw["satellite_size"] == [128, 512]
    opts = cfg.data.options
    assert opts["polar"] and opts["polar_size"] == [128, 512]
    assert opts["sizes"]["ground"] == [128, 512] and opts["fov_noise"] == 360
    assert not cfg.data.train_options.get("augment", False)
    assert opts["fov"] == kw["fov"] == 90
    for fov, width in ((70, 99), (90, 128)):
        assert fov_crop_width(512, fov) == width
        model = create_model("awm", fov=fov, satellite_size=kw["satellite_size"])
        assert model.ground_size == (128, width)


SWITCHES = {
    "full 90": {},
    "full 70": {"data.options.fov": 70, "model.kwargs.fov": 70},
    "ca + fca (table 5)": {"model.kwargs.use_fmc": False},
    "resnet18_ca (tables 3, 5)": {"model.kwargs.use_fca": False, "model.kwargs.use_fmc": False},
    "resnet18 (table 3)": {
        "model.kwargs.use_ca": False,
        "model.kwargs.use_fca": False,
        "model.kwargs.use_fmc": False,
    },
    "fov 180": {"data.options.fov": 180, "model.kwargs.fov": 180},
    "fov 360": {"data.options.fov": 360, "model.kwargs.fov": 360},
    "resnet18 fov 360": {
        "data.options.fov": 360,
        "model.kwargs.fov": 360,
        "model.kwargs.use_ca": False,
        "model.kwargs.use_fca": False,
        "model.kwargs.use_fmc": False,
    },
    "correlation": {"model.kwargs.fca_mode": "correlation"},
}


@pytest.mark.parametrize("dataset", ["cvusa", "cvact"])
@pytest.mark.parametrize("switch", SWITCHES)
def test_smoke_config_and_its_switches_build_a_model_of_the_data_size(dataset, switch):
    cfg = load_config(f"configs/awm/{dataset}_smoke.yaml", overrides=SWITCHES[switch])
    torch.manual_seed(0)
    model = create_model(cfg.model.name, **cfg.model.kwargs).train()
    opts = cfg.data.options
    h, w = opts["sizes"]["ground"]  # the panorama, before the FoV crop
    assert opts["polar"] and tuple(cfg.model.kwargs["satellite_size"]) == (h, w)
    assert model.ground_size == (h, fov_crop_width(w, opts["fov"]))  # the dataset's crop
    g = model(torch.randn(3, 3, *model.ground_size), "ground")
    s = model(torch.randn(3, 3, h, w), "satellite")
    sim = model.similarity(g, s)
    assert sim.shape == (3, 3)
    loss_kw = dict(cfg.loss.kwargs)
    if model.pairwise:
        loss_kw["similarity"] = model.similarity
    loss = create_loss(cfg.loss.name, **loss_kw)(g, s, torch.arange(3))
    loss.backward()
    assert torch.isfinite(loss)
