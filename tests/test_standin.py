"""The ImageNet stand-in: weights written by `pretrain` are what every backbone cut loads."""

from __future__ import annotations

import json

import pytest
import torch

from cvgl_core import standin
from cvgl_core.models import create_model
from cvgl_core.models.resnet_ca import ResNet18_CA


class _Pairs(torch.utils.data.Dataset):
    """Random (query, reference) pairs, one label each: stands in for the corpus."""

    def __init__(self, n, q_hw, r_hw):
        g = torch.Generator().manual_seed(0)
        self.q = torch.randn(n, 3, *q_hw, generator=g)
        self.r = torch.randn(n, 3, *r_hw, generator=g)

    def __len__(self):
        return len(self.q)

    def __getitem__(self, i):
        return {"query": self.q[i], "reference": self.r[i], "label": i}


@pytest.fixture
def tiny_corpus(monkeypatch, tmp_path):
    monkeypatch.setenv("CVGL_STANDIN_DIR", str(tmp_path))

    def loaders(profile, seed):
        out = {}
        for name, q_hw in (("cvusa", (32, 64)), ("university1652", (32, 32))):
            sampler = torch.utils.data.BatchSampler(range(8), 4, drop_last=True)
            sampler.set_epoch = lambda epoch: None
            ds = _Pairs(8, q_hw, (32, 32))
            out[name] = (torch.utils.data.DataLoader(ds, batch_sampler=sampler), sampler)
        return out

    monkeypatch.setattr(standin, "_loaders", loaders)
    return tmp_path


def test_pretrain_writes_weights_every_cut_loads(tiny_corpus):
    meta = standin.pretrain("convnext_atto", "smoke", epochs=1)
    path = standin.weights_path("convnext_atto", "smoke")
    assert path == tiny_corpus / "smoke" / "convnext_atto.pt"
    saved = torch.load(path, weights_only=True)
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["corpus"]["world_seed"] == standin.STANDIN_SEED != 0
    assert len(meta["history"]) == 1 and set(meta["history"][0]) >= {"loss cvusa", "epoch"}
    # LRFR's ConvNeXt cut after stage 3 gets the saved weights of the stages it keeps
    m = create_model(
        "lrfr",
        backbone="convnext_atto",
        pretrained=str(path),
        attention="none",
        aggregator="gem",
        input_size=(64, 64),
    )
    body = m.backbone.body.state_dict()
    assert torch.equal(body["stem_0.weight"], saved["stem.0.weight"])
    assert torch.equal(
        body["stages_2.blocks.0.conv_dw.weight"], saved["stages.2.blocks.0.conv_dw.weight"]
    )
    assert not any(k.startswith("stages_3") for k in body)  # the cut stage is not built


def test_resnet18_ca_loads_the_standin(tiny_corpus):
    standin.pretrain("resnet18", "smoke", epochs=1)
    path = standin.weights_path("resnet18", "smoke")
    saved = torch.load(path, weights_only=True)
    net = ResNet18_CA(str(path), True, "gates", "resnet18")
    assert torch.equal(net.stem[0].weight, saved["conv1.weight"])
    # the CA blocks wrap timm's blocks: their convolutions carry the pretrained weights
    assert torch.equal(net.stages[3][1].conv2.weight, saved["layer4.1.conv2.weight"])


def test_resolve_builds_once_and_names_the_file(tiny_corpus, monkeypatch):
    built = []
    monkeypatch.setattr(standin, "pretrain", lambda a, p, **k: _fake(a, p, built))
    kw = standin.resolve({"backbone": "convnext_atto.fb_in1k", "pretrained": "standin"}, "smoke")
    assert kw["pretrained"] == str(standin.weights_path("convnext_atto", "smoke"))
    standin.resolve({"backbone": "convnext_atto", "pretrained": "standin"}, "smoke")
    assert built == ["convnext_atto"]  # the second call found current weights
    # a model whose backbone is its constructor's default (AWM: resnet18)
    kw = standin.resolve({"pretrained": "standin"}, "smoke", model="awm")
    assert kw["pretrained"] == str(standin.weights_path("resnet18", "smoke"))
    with pytest.raises(ValueError, match="names no timm backbone"):
        standin.resolve({"pretrained": "standin"}, "smoke")
    # anything but "standin" passes through untouched
    assert standin.resolve({"backbone": "x", "pretrained": True}, "paper") == {
        "backbone": "x",
        "pretrained": True,
    }


def _fake(arch, profile, built):
    built.append(arch)
    path = standin.weights_path(arch, profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"weights")
    path.with_suffix(".json").write_text(json.dumps({"recipe_id": standin.RECIPE_ID}))


def test_a_changed_recipe_is_rebuilt(tiny_corpus, monkeypatch):
    built = []
    _fake("resnet18", "smoke", built)
    assert standin._manifest_ok("resnet18", "smoke")
    monkeypatch.setattr(standin, "RECIPE_ID", "another")
    assert not standin._manifest_ok("resnet18", "smoke")
    with pytest.raises(FileNotFoundError, match="standin build --profile smoke"):
        standin.resolve({"backbone": "resnet18", "pretrained": "standin"}, "smoke", build=False)


def test_missing_weights_file_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="convnext_atto.*nope.pt"):
        create_model("baseline", backbone="convnext_atto", pretrained=str(tmp_path / "nope.pt"))


def test_standin_needs_no_hub_weights():
    from cvgl_core.weights import requests_for

    assert (
        requests_for("baseline", {"backbone": "convnext_atto", "pretrained": "standin"}, "x") == []
    )
    assert (
        requests_for("baseline", {"backbone": "convnext_atto", "pretrained": "/a/b.pt"}, "x") == []
    )


def test_run_key_follows_the_recipe(monkeypatch):
    from cvgl_core.config import load_config
    from cvgl_core.study import run_key

    cfg = load_config("configs/baseline/cvusa_cpu.yaml")
    assert cfg.model.kwargs["pretrained"] == "standin"
    before = run_key(cfg)
    monkeypatch.setattr(standin, "RECIPE_ID", "another")
    assert run_key(cfg) != before  # a new stand-in recipe: runs trained on the old are not reused
