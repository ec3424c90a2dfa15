"""configs/mfrgn: the paper files carry the authors' setting (their code where the text is
silent or differs, Sec. 4.1 otherwise); the smoke file and every
switch notebook 03 uses build a model of the data size that trains a step; the GPS
hard-negative sampler of the "w/ Sampling" rows."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from cvgl_core.config import load_config
from cvgl_core.losses import create_loss
from cvgl_core.models import create_model
from cvgl_core.models.mfrgn import PAPER_INPUT_SIZES
from cvgl_core.training.experiment import build_sampler, pair_coordinates
from cvgl_core.training.schedules import lr_factor

CONFIGS = sorted(Path("configs/mfrgn").glob("*.yaml"))
DATASETS = ("cvusa", "cvact", "vigor")
REPO = Path(__file__).resolve().parent.parent
SMOKE_DATA = Path(os.environ.get("CVGL_SMOKE_DATA", REPO / ".scratch" / "smoke" / "data"))


def test_every_dataset_has_the_three_profiles():
    names = {p.stem for p in CONFIGS}
    assert names == {f"{d}_{p}" for d in DATASETS for p in ("smoke", "cpu", "paper")}


CODE_INPUT_SIZES = {  # HUST-IAL/MFRGN train_*.py: img_size_ground, image_size_sat
    "cvusa": ((128, 512), (256, 256)),
    "cvact": ((128, 512), (256, 256)),
    "vigor": ((320, 640), (320, 320)),
}


@pytest.mark.parametrize("dataset", DATASETS)
def test_paper_config_is_the_authors_setting(dataset):
    """The text (Sec. 4.1) where the code agrees: AdamW lr 1e-4, cosine, batch 64, InfoNCE with
    label smoothing 0.1 (learnable temperature), descriptor 2048 at 7:1, A = 2, B = 1, d 128,
    4 heads, the satellite pyramid. The authors' code where the text is silent or differs:
    ConvNeXt-Base 22k, one warm-up epoch, clipping by value at 100, ffn 1024, the 128 x 512
    street input with its 7 x 63 level, GPAB k = 5 and the 1-D S1 gate, 70 VIGOR epochs,
    Sample4Geo's augmentation, Sample4Geo's R@1% (R // 100)."""
    cfg = load_config(f"configs/mfrgn/{dataset}_paper.yaml")
    epochs = 70 if dataset == "vigor" else 50
    assert (cfg.optim.name, cfg.optim.lr, cfg.data.batch_size, cfg.train.epochs) == (
        "adamw", 1e-4, 64, epochs,
    )  # fmt: skip
    assert (cfg.schedule.name, cfg.schedule.warmup_epochs) == ("cosine", 1.0)
    steps = 100
    f = [lr_factor(s, cfg.schedule, steps, epochs) for s in (0, steps, epochs * steps - 1)]
    assert f[0] < 0.02 and f[1] == pytest.approx(1.0, abs=1e-3) and f[2] < 1e-3
    assert (cfg.train.grad_clip, cfg.train.grad_clip_mode) == (100.0, "value")
    assert cfg.loss.name == "infonce"
    assert cfg.loss.kwargs == {"label_smoothing": 0.1, "learnable_temperature": True}
    kw = cfg.model.kwargs
    assert kw["backbone"] == "convnext_base.fb_in22k_ft_in1k"
    assert (kw["variant"], kw["attention"], kw["pps"], kw["pretrained"]) == (
        "g_l_p", "linear", True, True,
    )  # fmt: skip
    assert (kw["dim"], list(kw["ratio"]), kw["A"], kw["B"]) == (2048, [7, 1], 2, 1)
    assert (kw["d_model"], kw["ffn_dim"], kw["heads"]) == (128, 1024, 4)
    assert (kw["gpab_prompt_kernel"], kw["gpab_s1_spatial"]) == (5, "sequence")
    assert kw["pps_satellite"] == [[1, 1], [6, 6], [12, 12], [21, 21]]
    assert kw["pps_ground"] == [[1, 1], [3, 12], [6, 24], [7, 63]]
    ground, satellite = CODE_INPUT_SIZES[dataset]
    assert (tuple(kw["ground_hw"]), tuple(kw["satellite_hw"])) == (ground, satellite)
    sizes = cfg.data.options["sizes"]
    assert (tuple(sizes["ground"]), tuple(sizes["satellite"])) == (ground, satellite)
    train = cfg.data.train_options
    assert (train["augment"], train["photometric"]) == (True, "sample4geo")
    assert cfg.eval.kwargs["one_percent"] == "floor"
    # the text's sizes stay one override away (PAPER_INPUT_SIZES, Sec. 4.1)
    assert PAPER_INPUT_SIZES[dataset][1] == satellite


@pytest.mark.parametrize("dataset", DATASETS)
def test_model_sizes_match_the_data_sizes(dataset):
    for prof in ("smoke", "cpu"):
        cfg = load_config(f"configs/mfrgn/{dataset}_{prof}.yaml")
        kw, sizes = cfg.model.kwargs, cfg.data.options["sizes"]
        assert list(kw["ground_hw"]) == list(sizes["ground"])
        assert list(kw["satellite_hw"]) == [sizes["satellite"]] * 2


SWITCHES = {
    "full": {},
    **{f"table4 {v}": {"model.kwargs.variant": v, "model.kwargs.pps": False}
       for v in ("baseline", "mbaseline", "l_ini", "g", "g_l_ini", "g_l_p")},
    "table5 dot": {"model.kwargs.attention": "dot", "model.kwargs.pps": False},
    **{f"fig7 {g}:{l}": {"model.kwargs.ratio": [g, l]} for g, l in ((1, 0), (3, 1), (0, 1))},
}  # fmt: skip


@pytest.mark.parametrize("switch", SWITCHES)
def test_smoke_config_and_its_switches_train_a_step(switch):
    cfg = load_config("configs/mfrgn/cvusa_smoke.yaml", overrides=SWITCHES[switch])
    torch.manual_seed(0)
    model = create_model(cfg.model.name, **cfg.model.kwargs)
    loss_fn = create_loss(cfg.loss.name, **cfg.loss.kwargs)
    sizes = cfg.data.options["sizes"]
    g = torch.randn(4, 3, *sizes["ground"])
    s = torch.randn(4, 3, sizes["satellite"], sizes["satellite"])
    loss = loss_fn(model(g, view="ground"), model(s, view="satellite"), torch.arange(4))
    loss.backward()
    assert torch.isfinite(loss)
    dim_g, dim_l = model.descriptor_split
    assert dim_g + dim_l == 2048
    with torch.no_grad():
        assert model.eval()(g, view="ground").shape == (4, 2048)


def test_vigor_cross_area_switch_is_the_cross_protocol():
    cfg = load_config("configs/mfrgn/vigor_smoke.yaml", overrides={"data.options.area": "cross"})
    assert cfg.data.options["area"] == "cross" and cfg.data.eval_split == "test"
    assert load_config("configs/mfrgn/vigor_cpu.yaml").data.options["area"] == "same"


def test_gps_sampler_batches_neighbours_without_repeated_labels():
    from cvgl_core.data import build_dataset
    from cvgl_core.synth import ensure_dataset

    root = ensure_dataset("cvact", SMOKE_DATA, "smoke", seed=0)
    pair = build_dataset("cvact", root, "train", "pair", sizes={"ground": [32, 128]})
    cfg = load_config(
        "configs/mfrgn/cvact_smoke.yaml", overrides={"data.sampler": "gps", "data.batch_size": 8}
    )
    sampler = build_sampler(cfg, pair)
    sampler.set_epoch(0)
    batches = list(sampler)
    assert batches and all(len(b) == 8 for b in batches)
    labels = np.asarray(pair.labels)
    assert all(len(set(labels[b])) == len(b) for b in batches)
    coords, metric = pair_coordinates(pair)
    assert metric == "euclidean" and coords.shape == (len(pair), 2)

    def spread(b):  # mean pairwise distance in a batch, metres
        x = coords[b]
        return np.linalg.norm(x[:, None] - x[None], axis=-1).mean()

    rng = np.random.default_rng(0)
    random = np.mean([spread(rng.choice(len(pair), 8, replace=False)) for _ in range(50)])
    assert np.mean([spread(b) for b in batches]) < random  # hard batches: near places together
    cvusa = load_config("configs/mfrgn/cvusa_smoke.yaml", overrides={"data.sampler": "gps"})
    with pytest.raises(ValueError, match="neither .utm nor .gps"):
        build_sampler(cvusa, object())
