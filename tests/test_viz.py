"""Figures: Grad-CAM for retrieval models, heat-map overlays, t-SNE, grids, recall curves."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from cvgl_core.evaluation import recall_curve  # noqa: E402
from cvgl_core.models.attention.ca import CoordAtt  # noqa: E402
from cvgl_core.models.backbones import create_backbone  # noqa: E402
from cvgl_core.viz import (  # noqa: E402
    gate_map,
    plot_heatmap,
    plot_recall_curves,
    plot_retrieval_grid,
    plot_tsne,
    retrieval_gradcam,
    retrieval_grid,
    tsne_2d,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


class TinyTwoBranch(nn.Module):
    """Per-view conv stacks + GeM-free average pooling + L2: the model contract in miniature."""

    def __init__(self, dim=16):
        super().__init__()

        def branch():
            return nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, dim, 3, stride=2, padding=1)
            )

        self.ground, self.satellite = branch(), branch()

    def forward(self, x, view):
        f = (self.ground if view == "ground" else self.satellite)(x)  # (B, D, H/2, W/2)
        return F.normalize(f.mean(dim=(2, 3)), dim=1)


class ConvNeXtAtto(nn.Module):
    """Shared timm convnext_atto (random weights) + average pooling: a real backbone at 32 px."""

    def __init__(self):
        super().__init__()
        self.backbone = create_backbone("convnext_atto", out_indices=(2,))

    def forward(self, x, view):
        return F.normalize(self.backbone(x)[-1].mean(dim=(2, 3)), dim=1)


@pytest.mark.parametrize("view", ["ground", "satellite"])
def test_gradcam_map_finite_image_size_both_views_and_depends_on_reference(view):
    torch.manual_seed(0)
    model = TinyTwoBranch().train()
    image = torch.rand(3, 24, 40)
    ref_a, ref_b = F.normalize(torch.randn(2, 16), dim=1)
    cam_a = retrieval_gradcam(model, image, ref_a, view=view)
    cam_b = retrieval_gradcam(model, image, ref_b, view=view)
    assert cam_a.shape == (24, 40) and np.isfinite(cam_a).all()
    assert cam_a.min() >= 0 and cam_a.max() <= 1 + 1e-6 and cam_a.max() > 0.5
    assert not np.allclose(cam_a, cam_b)
    assert model.training  # mode restored
    # The layer of the requested view is the one used: the other branch gives another map.
    other = "satellite" if view == "ground" else "ground"
    layer = getattr(model, view)[2]
    explicit = retrieval_gradcam(model, image, ref_a, view=view, target_layer=layer)
    assert np.allclose(explicit, cam_a)
    named = retrieval_gradcam(model, image, ref_a, view=view, target_layer=f"{view}.2")
    assert np.allclose(named, cam_a)
    assert not np.allclose(retrieval_gradcam(model, image, ref_a, view=other), cam_a)


def test_gradcam_timm_backbone_batch_and_frozen_weights():
    torch.manual_seed(0)
    model = ConvNeXtAtto()
    for p in model.parameters():
        p.requires_grad_(False)  # still works: the input carries the gradient
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():  # also from inside a no_grad notebook cell
        refs = model(torch.rand(2, 3, 32, 32), view="satellite")
        cams = retrieval_gradcam(
            model, images, refs, view="ground", target_layer="backbone.body.stages_2"
        )
    assert cams.shape == (2, 32, 32) and np.isfinite(cams).all()
    fig = plot_heatmap(images[0], cams[0], titles="Grad-CAM")
    assert len(fig.axes) == 3  # image, overlay, the overlay's colour bar


def test_gradcam_bad_inputs():
    model = TinyTwoBranch()
    with pytest.raises(ValueError, match="16 dims, reference descriptor 5"):
        retrieval_gradcam(model, torch.rand(3, 16, 16), torch.randn(5), view="ground")
    with pytest.raises(ValueError, match="3 reference descriptors for 2 images"):
        retrieval_gradcam(model, torch.rand(2, 3, 16, 16), torch.randn(3, 16), view="ground")
    with pytest.raises(ValueError, match="fp32"):
        retrieval_gradcam(model.half(), torch.rand(3, 16, 16), torch.randn(16), view="ground")


def test_gate_map_overlay_and_atomic_save(tmp_path):
    ca = CoordAtt(16).eval()
    with torch.no_grad():
        ca(torch.randn(1, 16, 6, 10))
    m = gate_map(*ca.last_gates)
    assert m.shape == (6, 10) and ((m > 0) & (m < 1)).all()
    path = tmp_path / "figs" / "ca.png"
    fig = plot_heatmap(torch.randn(3, 48, 80), [m, m.T.copy()], titles=["CA", "other"], path=path)
    assert len(fig.axes) == 5  # image, two overlays, two colour bars
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in path.parent.iterdir()] == ["ca.png"]
    with pytest.raises(ValueError, match="2 titles for 1"):
        plot_heatmap(torch.rand(3, 8, 8), m, titles=["a", "b"])
    with pytest.raises(ValueError, match=r"\(B, C, H, 1\)"):
        gate_map(torch.rand(1, 4, 3, 2), torch.rand(1, 4, 1, 5))


@pytest.mark.slow
def test_tsne_pca_first_and_plot(tmp_path):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (15, 64)), rng.normal(5, 1, (15, 64))]).astype(np.float32)
    xy = tsne_2d(x, seed=0, max_iter=400)
    assert xy.shape == (30, 2) and np.isfinite(xy).all()
    # Two well separated blobs stay separated: every point's nearest neighbour is in its blob.
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(30) * 1e9
    assert ((d.argmin(1) < 15) == (np.arange(30) < 15)).all()
    fig = plot_tsne(
        torch.from_numpy(x),
        ["same-area"] * 15 + ["cross-area"] * 15,
        marker_by=["ground", "satellite"] * 15,
        max_iter=400,
        path=tmp_path / "tsne.pdf",
    )
    assert len(fig.axes[0].collections) == 4
    assert (tmp_path / "tsne.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(ValueError, match="30 entries"):
        plot_tsne(x, ["a"] * 29)


class ImageSet(torch.utils.data.Dataset):
    def __init__(self, images, labels, view):
        self.images, self.labels, self.view = images, np.asarray(labels), view

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "label": int(self.labels[i]), "index": i}


def test_retrieval_grid_frames_correct_and_wrong(tmp_path):
    torch.manual_seed(0)
    q_ds = ImageSet(torch.rand(3, 3, 16, 16), [0, 1, 2], "ground")
    r_ds = ImageSet(torch.rand(6, 3, 16, 16), [0, 1, 2, 3, 4, 5], "satellite")
    q = F.normalize(torch.randn(3, 8), dim=1)
    r = torch.cat([q, F.normalize(torch.randn(3, 8), dim=1)])  # reference i == query i
    fig = retrieval_grid(q_ds, r_ds, q, r, [0, 2], k=3, path=tmp_path / "grid.png")
    axes = np.array(fig.axes).reshape(2, 4)
    for row in range(2):
        top = axes[row, 1]  # rank 1 is the identical reference: correct
        assert matplotlib.colors.to_hex(top.spines["left"].get_edgecolor()) == "#2ca02c"
        for ax in axes[row, 2:]:
            assert matplotlib.colors.to_hex(ax.spines["left"].get_edgecolor()) == "#d62728"
    # Positives on the dataset decide instead of labels.
    q_ds.positives = [np.array([5]), np.array([1]), np.array([2])]
    fig = retrieval_grid(q_ds, r_ds, q, r, [0], k=2)
    assert matplotlib.colors.to_hex(fig.axes[1].spines["top"].get_edgecolor()) == "#d62728"
    with pytest.raises(ValueError, match="2 queries but 1 result rows"):
        plot_retrieval_grid([torch.rand(3, 8, 8)] * 2, [[torch.rand(3, 8, 8)]], [[True]])


def test_recall_curves_from_descriptors(tmp_path):
    rng = np.random.default_rng(0)
    r = rng.normal(size=(300, 16)).astype(np.float32)
    curves = {}
    for name, noise in [("good", 0.5), ("bad", 3.0)]:
        q = r[:50] + noise * rng.normal(size=(50, 16)).astype(np.float32)
        curves[name] = recall_curve(q, r, positives=np.arange(50))
    ks, good = curves["good"]
    assert list(ks) == [1, 2, 3, 4] and (np.diff(good) >= 0).all()
    assert good[-1] >= curves["bad"][1][-1]
    fig = plot_recall_curves(curves, path=tmp_path / "curves.svg")
    assert len(fig.axes[0].lines) == 2 and (tmp_path / "curves.svg").exists()
    with pytest.raises(ValueError, match="no curves"):
        plot_recall_curves({})
