"""`weights`: the tags the paper configs need, the offline cache check, the fetch (with a fake
downloader: no test downloads), and the one-line error before any dataset is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from cvgl_core import weights as W
from cvgl_core.cli import main
from cvgl_core.config import load_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """Empty HF and torch hub caches (whatever this machine has cached)."""
    import huggingface_hub.constants as C
    import torch

    monkeypatch.setattr(C, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch"))
    return tmp_path


def test_tag_rules():
    assert W.full_tag("resnet18", "tv_in1k") == "resnet18.tv_in1k"
    assert W.full_tag("convnext_tiny.fb_in1k") == "convnext_tiny.fb_in1k"
    assert W.full_tag("convnext_tiny").startswith("convnext_tiny.")  # timm's default tag
    assert W.requests_for("lrfr", {"pretrained": False}, "x") == []
    (r,) = W.requests_for("awm", {"pretrained": "resnet18.tv_in1k"}, "x")
    assert (r.backbone, r.tag) == ("resnet18", "resnet18.tv_in1k")
    (r,) = W.requests_for("frg", {"pretrained": True, "pretrained_tag": "tv_in1k"}, "x")
    assert r.tag == "resnet50.tv_in1k"  # FRG's default backbone
    (r,) = W.requests_for("awm", {"pretrained": True}, "x")
    assert r.backbone == "resnet18"


def test_paper_profile_collects_every_backbone_once():
    reqs = W.profile_requests("paper", ROOT / "configs")
    tags = [r.tag for r in reqs]
    assert len(tags) == len(set(tags))
    assert {r.backbone for r in reqs} >= {"convnext_tiny", "resnet18", "resnet50"}
    assert W.profile_requests("smoke", ROOT / "configs") == []  # pretrained=False there


def test_every_tag_a_notebook_names_is_fetched():
    # a notebook that swaps a backbone at the paper profile (GLQINet Table 4, MFRGN Tables
    # 4-5) must not stop days into a run for a weight `weights fetch` never brought
    import re

    named = set()
    for book in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        named |= set(re.findall(r"\b[a-z0-9_]+\.(?:fb|tv)_in[a-z0-9_]*", book.read_text()))
    assert {"convnext_small.fb_in1k", "resnet101.tv_in1k"} <= named  # the pattern finds them
    fetched = {r.tag for r in W.profile_requests("paper", ROOT / "configs")}
    assert named <= fetched, sorted(named - fetched)
    from timm.models import get_pretrained_cfg

    for tag in W.NOTEBOOK_WEIGHTS:  # real timm tags (registry lookup, nothing downloaded)
        assert get_pretrained_cfg(tag) is not None, tag


def test_list_and_fetch_with_a_fake_downloader(empty_cache, monkeypatch, capsys):
    assert main(["weights", "fetch", "--list", "--configs", str(ROOT / "configs")]) == 0
    out = capsys.readouterr().out
    assert "missing" in out and "resnet50" in out

    import huggingface_hub.constants as C

    monkeypatch.setattr(C, "HF_HUB_OFFLINE", False)
    got = []
    reqs = W.profile_requests("paper", ROOT / "configs")
    monkeypatch.setattr(W, "is_cached", lambda tag: tag in got)
    assert W.fetch(reqs, download=got.append, log=lambda s: None) == [r.tag for r in reqs]
    assert W.fetch(reqs, download=got.append, log=lambda s: None) == []  # all cached now


def test_fetch_says_how_when_the_shell_is_offline(empty_cache, monkeypatch):
    import huggingface_hub.constants as C

    monkeypatch.setattr(C, "HF_HUB_OFFLINE", True)
    reqs = W.requests_for("awm", {"pretrained": True}, "x")
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE=0 python -m cvgl_core weights fetch"):
        W.fetch(reqs, download=lambda t: None, log=lambda s: None)


def test_missing_weight_is_one_line_before_any_dataset(empty_cache, tmp_path, capsys):
    cfg_path = ROOT / "configs/awm/cvusa_paper.yaml"
    rc = main(
        ["train", "--config", str(cfg_path), f"data.root={tmp_path / 'nowhere'}"]
    )  # a missing data.root would be the error if datasets came first
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "backbone 'resnet18'" in err and "weights fetch" in err and "resnet18." in err


def test_backbone_build_turns_hub_errors_into_the_same_line(empty_cache, monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError

    from cvgl_core.models.backbones import create_backbone
    from cvgl_core.models.resnet_ca import ResNet18_CA

    def offline(*a, **k):
        raise LocalEntryNotFoundError("not cached")

    monkeypatch.setattr("timm.create_model", offline)
    with pytest.raises(W.MissingWeightsError, match="'convnext_atto'.*weights fetch"):
        create_backbone("convnext_atto", pretrained=True)
    with pytest.raises(W.MissingWeightsError, match="'resnet18'.*LocalEntryNotFoundError"):
        ResNet18_CA(pretrained=True)


def test_checkpoint_restore_needs_no_imagenet_weights(tmp_path, empty_cache):
    """evaluate_checkpoint builds the model with pretrained=False: the checkpoint has it all."""
    import torch

    from cvgl_core.training.experiment import build_model

    cfg = load_config(
        ROOT / "configs/baseline/cvusa_smoke.yaml", overrides={"model.kwargs.pretrained": True}
    )
    with pytest.raises(W.MissingWeightsError):
        W.require_weights(cfg)
    model = build_model(cfg, pretrained=False)  # no error: nothing is loaded
    assert isinstance(model, torch.nn.Module)
