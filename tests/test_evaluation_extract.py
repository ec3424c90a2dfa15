"""Descriptor extraction and evaluate_retrieval on a tiny two-branch model and toy datasets."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cvgl_core.evaluation import evaluate_retrieval, extract_descriptors, retrieval_metrics


class TwoBranch(nn.Module):
    """Separate conv per view, GAP, L2 norm; train mode returns a dict (as some models do)."""

    def __init__(self, dim=8):
        super().__init__()
        self.branch = nn.ModuleDict(
            {v: nn.Conv2d(3, dim, 3, padding=1) for v in ("ground", "satellite")}
        )

    def forward(self, x, view):
        y = F.normalize(self.branch[view](x).mean(dim=(2, 3)), dim=1)
        return {"descriptor": y} if self.training else y


class ToyViewDataset(torch.utils.data.Dataset):
    def __init__(self, images, labels, view, positives=None, semi_positives=None):
        self.images, self.labels, self.view = images, np.asarray(labels, np.int64), view
        if positives is not None:
            self.positives = positives
        if semi_positives is not None:
            self.semi_positives = semi_positives

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "label": int(self.labels[i]), "index": i}


def toy_split(n_ref=10, n_query=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    ref_imgs = torch.rand(n_ref, 3, 16, 16, generator=g)
    q_imgs = torch.rand(n_query, 3, 16, 16, generator=g)
    return (
        ToyViewDataset(q_imgs, np.arange(n_query), "ground"),
        ToyViewDataset(ref_imgs, np.arange(n_ref), "satellite"),
    )


def test_extract_descriptors_shapes_order_mode_and_view():
    torch.manual_seed(0)
    model = TwoBranch().train()
    q_ds, _ = toy_split()
    desc, labels = extract_descriptors(model, q_ds, batch_size=3, progress=False)
    assert desc.shape == (7, 8) and desc.dtype == torch.float32 and desc.device.type == "cpu"
    assert labels.dtype == np.int64 and list(labels) == list(range(7))
    assert model.training  # mode restored
    with torch.no_grad():
        expected = model.eval()(q_ds.images, view="ground")
    assert torch.allclose(desc, expected, atol=1e-6)
    other, _ = extract_descriptors(model, q_ds, view="satellite", progress=False)
    assert not torch.allclose(desc, other)  # the view argument reaches the model


def test_extract_requires_view_and_descriptor_output():
    class NoView(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return {"image": torch.zeros(3, 8, 8), "label": i, "index": i}

    with pytest.raises(ValueError, match="no view"):
        extract_descriptors(TwoBranch(), NoView(), progress=False)

    class Bad(nn.Module):
        def forward(self, x, view):
            return x

    with pytest.raises(ValueError, match=r"must return a \(B, D\) tensor"):
        extract_descriptors(Bad(), NoView(), view="ground", progress=False)


def test_evaluate_retrieval_labels_and_positives_forms():
    torch.manual_seed(1)
    model = TwoBranch()
    q_ds, r_ds = toy_split()
    metrics, d = evaluate_retrieval(model, q_ds, r_ds, progress=False, return_descriptors=True)
    assert d.query.shape == (7, 8) and d.reference.shape == (10, 8)
    direct = retrieval_metrics(
        d.query, d.reference, query_labels=d.query_labels, reference_labels=d.reference_labels
    )
    assert metrics == direct and "AP" in metrics
    # Positives on the query dataset win over labels (VIGOR form), semi-positives give hit rate.
    q_ds.positives = [np.array([i]) for i in range(7)]
    q_ds.semi_positives = [np.array([(i + 1) % 10, (i + 2) % 10]) for i in range(7)]
    vigor = evaluate_retrieval(model, q_ds, r_ds, progress=False, ks=(1, 3))
    assert set(vigor) >= {"R@1", "R@3", "R@1%", "hit_rate"} and "AP" not in vigor
    assert vigor["R@1"] == metrics["R@1"]
