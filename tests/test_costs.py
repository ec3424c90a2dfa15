"""cvgl_core.costs: input sizes from the config alone, the cost row's columns, the
parameter counts at the papers' sizes against create_model, the scaled retrieval timing."""

import os
from pathlib import Path

import pytest
import torch
import yaml

from cvgl_core.config import load_config
from cvgl_core.costs import (
    build_cost_model,
    cost_row,
    cost_table,
    input_shapes,
    retrieval_ms,
)
from cvgl_core.models import create_model
from cvgl_core.models.flops import count_parameters

REPO = Path(__file__).resolve().parent.parent
SMOKE_DATA = Path(os.environ.get("CVGL_SMOKE_DATA", REPO / ".scratch" / "smoke" / "data"))
NO_WEIGHTS = {"model.kwargs.pretrained": False}


def config(path: str, **overrides):
    return load_config(REPO / path, overrides={**NO_WEIGHTS, **overrides})


@pytest.mark.parametrize(
    "path, overrides",
    [
        ("configs/baseline/cvusa_smoke.yaml", {}),
        ("configs/awm/cvusa_smoke.yaml", {}),  # polar satellite, 90-degree ground crops
        ("configs/frg/vigor_smoke.yaml", {}),  # polar satellite
        ("configs/frg/vigor_smoke.yaml", {"data.options.polar_size": [24, 96]}),
        ("configs/lrfr/university1652_smoke.yaml", {}),
        ("configs/glqinet/sues200_smoke.yaml", {}),
        ("configs/mfrgn/cvact_smoke.yaml", {"data.options.crop_middle_half": True}),
    ],
)
def test_input_shapes_are_those_of_real_items(path, overrides):
    from cvgl_core.data import build_dataset
    from cvgl_core.synth import ensure_dataset

    cfg = config(path, **overrides)
    root = ensure_dataset(cfg.data.dataset, SMOKE_DATA, "smoke", seed=cfg.data.synth_seed)
    views = {}
    for role in ("query", "reference"):
        ds = build_dataset(cfg.data.dataset, root, cfg.data.eval_split, role, **cfg.data.options)
        views[ds.view] = tuple(ds[0]["image"].shape[1:])  # (3, H, W) -> (H, W)
    assert input_shapes(cfg) == views  # the query view first, then the satellite
    assert list(input_shapes(cfg)) == list(views)


def test_input_shapes_at_the_papers_sizes_by_hand():
    assert input_shapes(config("configs/awm/cvusa_paper.yaml")) == {
        "ground": (128, 128),  # 90 / 360 * 512 columns of the 128 x 512 panorama
        "satellite": (128, 512),  # 750 x 750, polar-transformed to polar_size
    }
    awm70 = config("configs/awm/cvusa_paper.yaml", **{"data.options.fov": 70})
    assert input_shapes(awm70)["ground"] == (128, 99)  # int(70 / 360 * 512)
    assert input_shapes(config("configs/frg/vigor_paper.yaml")) == {
        "ground": (112, 616),
        "satellite": (112, 616),
    }
    assert input_shapes(config("configs/mfrgn/vigor_paper.yaml")) == {
        "ground": (320, 640),
        "satellite": (320, 320),
    }
    assert input_shapes(config("configs/lrfr/university1652_paper.yaml")) == {
        "drone": (384, 384),
        "satellite": (384, 384),
    }
    # CVUSA's stored polarmap is resized to polar_size, polar transform or not
    polarmap = config(
        "configs/mfrgn/cvusa_cpu.yaml",
        **{"data.options.polarmap": True, "data.options.polar_size": [16, 64]},
    )
    assert input_shapes(polarmap)["satellite"] == (16, 64)
    # no sizes in the config: the dataset's defaults (VIGOR 320 x 640 and 320 x 320)
    bare = config("configs/mfrgn/vigor_cpu.yaml", **{"data.options.sizes": {}})
    assert input_shapes(bare) == {"ground": (320, 640), "satellite": (320, 320)}


def test_bad_input_names_the_key():
    cfg = config("configs/mfrgn/cvusa_cpu.yaml")
    with pytest.raises(KeyError, match="view 'aerial' unknown"):
        input_shapes(cfg, views=("aerial",))
    no_size = config("configs/mfrgn/cvusa_cpu.yaml", **{"data.options.sizes.ground": None})
    with pytest.raises(ValueError, match=r"data\.options\.sizes\.ground: no size"):
        input_shapes(no_size)
    polar = config(
        "configs/mfrgn/cvusa_cpu.yaml",
        **{"data.options.sizes.ground": None, "data.options.polarmap": True},
    )
    with pytest.raises(ValueError, match=r"data\.options\.polar_size"):
        input_shapes(polar, views=("satellite",))
    wrong_view = config("configs/mfrgn/cvusa_cpu.yaml", **{"data.options.sizes.aerial": 8})
    with pytest.raises(KeyError, match=r"data\.options: sizes: unknown view 'aerial'"):
        input_shapes(wrong_view)
    with pytest.raises(KeyError, match="data.dataset: unknown dataset 'cvusb'"):
        input_shapes(config("configs/mfrgn/cvusa_cpu.yaml", **{"data.dataset": "cvusb"}))
    with pytest.raises(KeyError, match="model.kwargs.num_classes"):
        build_cost_model(config("configs/glqinet/sues200_cpu.yaml", **{"data.dataset": "cvusa"}))
    with pytest.raises(ValueError, match="pass profile="):
        cost_table({"x": "configs/baseline/cvusa_{profile}.yaml"})


# The cheapest paper config of each method; GLQINet's heads get the paper's 701 classes.
PAPER = {
    "lrfr": "configs/lrfr/university1652_paper.yaml",
    "awm": "configs/awm/cvusa_paper.yaml",
    "mfrgn": "configs/mfrgn/cvusa_paper.yaml",
    "frg": "configs/frg/cvusa_paper.yaml",
    "glqinet": "configs/glqinet/university1652_paper.yaml",
}
if (REPO / "configs/baseline/cvusa_paper.yaml").is_file():
    PAPER["baseline"] = "configs/baseline/cvusa_paper.yaml"


@pytest.mark.parametrize("method", PAPER)
def test_parameter_counts_at_the_papers_sizes_equal_create_model(method):
    model = yaml.safe_load((REPO / PAPER[method]).read_text())["model"]
    kwargs = {**model["kwargs"], "pretrained": False}
    if method == "glqinet":
        kwargs["num_classes"] = 701  # University-1652's training buildings
    with torch.device("meta"):  # shapes only: no memory, no initialisation time
        expected = count_parameters(create_model(model["name"], **kwargs))
        got = count_parameters(build_cost_model(config(PAPER[method])))
    assert got == expected


def test_awm_paper_row_goes_the_scaled_way():
    row = cost_row(
        config(PAPER["awm"]), repeats=1, queries=2, memory_cap=2**25
    )  # 32 MiB: 68 tiles of 122,880 floats
    with torch.device("meta"):
        params = count_parameters(
            create_model("awm", fov=90, satellite_size=(128, 512), backbone="resnet18")
        )
    assert row["parameters (M)"] == pytest.approx(params / 1e6)
    assert (row["query input"], row["satellite input"]) == ("128x128", "128x512")
    d = 64 * 32 * 32 + 128 * 16 * 16 + 256 * 8 * 8 + 512 * 4 * 4  # blocks 1-4, 128-wide crops
    assert d == 122_880
    assert row["D query"] == row["D reference"] == row["descriptor D"] == d
    assert row["descriptor bytes"] == 4 * d
    assert row["gallery GiB @90,618"] == pytest.approx(41.48, abs=0.01)
    assert row["retrieval measured on"] == "68, scaled"
    assert row["retrieval ms / query @90,618"] >= 0 and row["GFLOPs / pair"] > 0


def test_smoke_rows_by_hand():
    table = cost_table(
        {"baseline": REPO / "configs/baseline/cvusa_{profile}.yaml"},
        profile="smoke",
        gallery=1000,
        repeats=1,
        queries=2,
    )
    row = table.loc["baseline"]
    cfg = config("configs/baseline/cvusa_smoke.yaml")
    model = build_cost_model(cfg)
    with torch.no_grad():
        d = model(torch.randn(1, 3, 32, 128), view="ground").shape[1]
    assert row["descriptor D"] == row["D query"] == d and row["descriptor bytes"] == 4 * d
    assert row["gallery GiB @1,000"] == pytest.approx(d * 4 * 1000 / 2**30)
    assert row["retrieval measured on"] == "1,000" and row["scoring"] == "dot product"
    assert row["parameters (M)"] == pytest.approx(count_parameters(model) / 1e6)
    assert row["device"].startswith("cpu") and row["extract ms / image"] > 0


def test_pairwise_awm_is_ranked_with_its_similarity():
    cfg = config("configs/awm/cvusa_smoke.yaml", **{"model.kwargs.fca_mode": "correlation"})
    row = cost_row(cfg, gallery=500, repeats=1, queries=2, memory_cap=2**22)
    model = build_cost_model(cfg)
    assert model.pairwise and row["scoring"] == "model.similarity (pairwise)"
    assert row["D query"] == model.descriptor_dim("ground")
    assert row["D reference"] == model.descriptor_dim("satellite") > row["D query"]
    assert row["retrieval measured on"].endswith("scaled")


def test_scaled_retrieval_agrees_with_the_direct_one():
    direct, on = retrieval_ms(512, 512, 40_000, repeats=5, queries=32)
    scaled, on_part = retrieval_ms(512, 512, 40_000, repeats=5, queries=32, memory_cap=2**23)
    assert on == "40,000"
    assert on_part == f"{2**23 // (4 * 512 + 8 * 32):,}, scaled"
    assert direct > 0 and scaled > 0
    assert 0.1 < scaled / direct < 10  # the same work per tile (no speed asserted)
