"""configs/frg: the paper files carry the paper's training setting; every file builds its model,
including with the switches notebook 04 uses (Tables 2-5)."""

from pathlib import Path

import pytest
import torch

from cvgl_core.config import load_config
from cvgl_core.models import create_model
from cvgl_core.training.schedules import lr_factor

CONFIGS = sorted(Path("configs/frg").glob("*.yaml"))


def test_every_dataset_has_the_three_profiles():
    names = {p.stem for p in CONFIGS}
    assert names == {f"{d}_{p}" for d in ("cvusa", "vigor") for p in ("smoke", "cpu", "paper")}


@pytest.mark.parametrize("dataset", ["cvusa", "vigor"])
def test_paper_config_is_the_papers_setting(dataset):
    """Sec. 4.2: Adam, wd 1e-4, lr 1e-5 / 1e-6 from epoch 30 / 1e-7 from 50, batch 8,
    gamma 10 over all in-batch triplets, 112 x 616 inputs, aerial 256 x 256 before polar."""
    cfg = load_config(f"configs/frg/{dataset}_paper.yaml")
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay) == ("adam", 1e-5, 1e-4)
    assert cfg.data.batch_size == 8
    assert (cfg.loss.name, cfg.loss.kwargs["alpha"]) == ("soft_triplet", 10.0)
    epochs = (0, 29, 30, 49, 50)
    lrs = [cfg.optim.lr * lr_factor(e, cfg.schedule, 1, cfg.train.epochs) for e in epochs]
    assert lrs == pytest.approx([1e-5, 1e-5, 1e-6, 1e-6, 1e-7])
    kw = cfg.model.kwargs
    assert (kw["backbone"], kw["pretrained"], kw["attention"], kw["deformable"]) == (
        "resnet50.tv_in1k", True, "mc_gra", True,
    )  # fmt: skip
    assert kw["input_size"] == {"ground": [112, 616], "satellite": [112, 616]}
    assert kw["mixvpr_kwargs"]["out_channels"] * kw["mixvpr_kwargs"]["out_rows"] == 4096
    opts = cfg.data.options
    assert opts["polar"] and opts["polar_size"] == [112, 616]
    assert opts["sizes"] == {"ground": [112, 616], "satellite": [256, 256]}
    assert opts["polar_convention"] == "safa"  # SAFA's formula on pixel indices, not eqs. 1-2
    assert cfg.eval.kwargs["one_percent"] == "floor_plus_one"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_sync_bn_only_at_the_paper_profile(path):
    """Batch 8 split over GPUs leaves BatchNorm a few images each: the paper files sync it.
    The trainer refuses sync_bn on CPU ranks, so the smoke and cpu files must not ask."""
    cfg = load_config(path)
    assert cfg.train.sync_bn is (cfg.profile == "paper")


SWITCHES = {
    "full": {},
    "table4 cbam": {"model.kwargs.attention": "cbam"},
    "table5 standard": {"model.kwargs.deformable": False},
    "table2 no polar": {"data.options.polar": False, "model.kwargs.input_size.satellite": [48, 48]},
    "table3 270": {"data.options.fov": 270, "model.kwargs.input_size.ground": [32, 96]},
}


@pytest.mark.parametrize("switch", SWITCHES)
def test_smoke_config_and_its_switches_build_a_model_of_the_data_size(switch):
    cfg = load_config("configs/frg/cvusa_smoke.yaml", overrides=SWITCHES[switch])
    torch.manual_seed(0)
    model = create_model(cfg.model.name, **cfg.model.kwargs).eval()
    opts = cfg.data.options
    ground = list(cfg.model.kwargs["input_size"]["ground"])
    if opts.get("fov"):  # the crop keeps int(fov / 360 * W) of the resized panorama's columns
        h, w = opts["sizes"]["ground"]
        assert ground == [h, opts["fov"] * w // 360]
    else:
        assert ground == opts["sizes"]["ground"]
    # the aerial branch gets the polar image (ground size) or the tile as it is
    aerial = opts["sizes"]["ground"] if opts["polar"] else [opts["sizes"]["satellite"]] * 2
    assert list(cfg.model.kwargs["input_size"]["satellite"]) == list(aerial)
    with torch.no_grad():
        g = model(torch.randn(2, 3, *ground), view="ground")
        s = model(torch.randn(2, 3, *aerial), view="satellite")
    assert g.shape == s.shape == (2, model.out_dim)
