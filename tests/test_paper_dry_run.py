"""A paper config end to end on synthetic data at the real file sizes: `train --dry-run` (one
step, the pre-resized cache on, a tiny evaluation), then `evaluate` of its checkpoint with
the config's pretrained=true and no weight in the cache (a restore needs none)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from cvgl_core.cli import main
from cvgl_core.synth.paper_sizes import PAPER_SIZES, paper_sized_profile, write_paper_sized

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs/awm/cvusa_paper.yaml")  # ResNet18: the cheapest paper model


@pytest.fixture(scope="module")
def cvusa(tmp_path_factory):
    return write_paper_sized("cvusa", tmp_path_factory.mktemp("paper") / "cvusa", num_locations=6)


def test_paper_sized_world_has_the_real_file_sizes(cvusa):
    with Image.open(next((cvusa / "bingmap").rglob("*.jpg"))) as im:
        assert im.size == (750, 750)
    with Image.open(next((cvusa / "streetview").rglob("*.jpg"))) as im:
        assert im.size == (1232, 224)
    assert paper_sized_profile("vigor").pano_hw == PAPER_SIZES["vigor"]["pano_hw"]
    with pytest.raises(KeyError, match="known: cvusa"):
        paper_sized_profile("kitti")


@pytest.mark.slow
def test_paper_config_dry_run_then_evaluate_without_imagenet_weights(
    cvusa, tmp_path, monkeypatch, capsys
):
    import huggingface_hub.constants as C

    monkeypatch.setattr(C, "HF_HUB_CACHE", str(tmp_path / "empty_hf_cache"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_torch_hub"))
    out = tmp_path / "run"
    common = [
        f"data.root={cvusa}",
        "data.batch_size=2",
        "data.num_workers=0",
        "train.progress=false",
    ]
    rc = main(
        ["train", "--config", CONFIG, "--dry-run", *common, "model.kwargs.pretrained=false"]
        + [f"output.dir={out}", "data.cache=true", f"data.cache_dir={tmp_path / 'cache'}"]
    )
    assert rc == 0, capsys.readouterr().err
    ckpt = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["step"] == 1 and "R@1" in ckpt["history"][-1]
    assert ckpt["config"]["eval"]["max_queries"] == 16  # DRY_RUN_OVERRIDES applied
    # the cache holds the ground panorama at its load size (128 x 512) and the aerial at full
    # size: the paper config polar-transforms the 750 px original, as SAFA does
    assert {p.name for p in (tmp_path / "cache").iterdir()} == {"v1_128x512", "v1_750x750"}

    metrics = tmp_path / "metrics.json"
    rc = main(
        ["evaluate", "--config", CONFIG, "--checkpoint", str(out / "last.pt")]
        + [*common, "eval.max_queries=16", "--out", str(metrics)]
    )  # the config keeps pretrained: true, and no weight is cached
    assert rc == 0, capsys.readouterr().err
    assert json.loads(metrics.read_text())["metrics"]["R@1"] == pytest.approx(
        ckpt["history"][-1]["R@1"]
    )
