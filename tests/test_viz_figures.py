"""Figure polish: one dpi, colour bars on heat maps and masks, integer ticks, chance lines,
seed spread, and the true match of a missed retrieval row."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from PIL import Image  # noqa: E402

from cvgl_core.viz import (  # noqa: E402
    DPI,
    chance_recall,
    heatmap_panel,
    integer_axis,
    mask_panel,
    plot_heatmap,
    plot_learning_curve,
    plot_recall_curves,
    plot_seed_bars,
    retrieval_grid,
    save_figure,
    seed_summary,
    to_rgb,
)
from cvgl_core.viz.grids import CORRECT, TRUE_MATCH, WRONG  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def is_integer_locator(axis) -> bool:
    loc = axis.get_major_locator()
    return isinstance(loc, MaxNLocator) and loc._integer


def chance_lines(ax):
    return [line for line in ax.lines if line.get_label() == "chance"]


def test_save_figure_writes_png_at_the_one_dpi(tmp_path):
    fig = plt.figure(figsize=(3, 2))
    ax = fig.add_axes([0, 0, 1, 1])  # filled edge to edge: the tight box is the figure
    ax.imshow(np.zeros((20, 30)), aspect="auto")
    ax.axis("off")
    save_figure(fig, tmp_path / "f.png")
    with Image.open(tmp_path / "f.png") as im:
        # (figsize + 2 x 0.1 in tight padding) x DPI
        assert im.size == (round(3.2 * DPI), round(2.2 * DPI))
        assert im.info["dpi"] == pytest.approx((DPI, DPI), abs=0.1)


def test_integer_axis_sets_an_integer_locator():
    _, ax = plt.subplots()
    integer_axis(ax, "y")
    assert is_integer_locator(ax.yaxis) and not is_integer_locator(ax.xaxis)
    with pytest.raises(ValueError, match="'x' or 'y'"):
        integer_axis(ax, "z")


def test_heatmap_panel_overlay_values_and_colour_bar():
    fig, ax = plt.subplots()
    rgb = np.zeros((2, 2, 3), np.float32)
    hm = np.array([[0.0, 2.0], [4.0, 4.0]])  # min-max scaled -> [[0, .5], [1, 1]]
    bar = heatmap_panel(ax, rgb, hm, alpha=1.0, label="Grad-CAM")
    jet = matplotlib.colormaps["jet"](np.array([[0.0, 0.5], [1.0, 1.0]]))[..., :3]
    assert np.allclose(ax.images[0].get_array(), jet, atol=1e-6)
    assert len(fig.axes) == 2 and bar.ax is fig.axes[1]
    assert (bar.norm.vmin, bar.norm.vmax) == (0.0, 1.0)
    assert bar.ax.get_ylabel() == "Grad-CAM (min-max scaled, 0-1)"
    fig, ax = plt.subplots()
    assert heatmap_panel(ax, rgb, hm, colorbar=False) is None and len(fig.axes) == 1


def test_mask_panel_draws_raw_values_with_their_colour_bar():
    fig, ax = plt.subplots()
    mask = torch.tensor([[0.2, 0.4], [0.6, 0.8]])
    bar = mask_panel(ax, mask, label="M_g", vmin=0, vmax=1)
    im = ax.images[0]
    assert im.colorbar is bar and bar.ax.get_ylabel() == "M_g"
    assert np.allclose(im.get_array(), mask.numpy()) and im.get_clim() == (0, 1)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match=r"2-D \(H, W\), got shape \(1, 2, 2\)"):
        mask_panel(ax, mask[None])


def test_plot_heatmap_gives_every_overlay_a_colour_bar():
    fig = plot_heatmap(torch.rand(3, 8, 8), [np.eye(4), np.ones((2, 3))], label="gate")
    bars = [a for a in fig.axes if a.get_ylabel().startswith("gate (min-max")]
    assert len(fig.axes) == 5 and len(bars) == 2  # image, 2 overlays, 2 bars
    assert len(plot_heatmap(torch.rand(3, 8, 8), np.eye(4), colorbar=False).axes) == 2


def test_chance_recall_by_hand():
    assert np.allclose(chance_recall([1, 5, 10], 50), [2.0, 10.0, 20.0])  # K / N
    assert np.allclose(chance_recall([60], 50), [100.0])  # K past the gallery
    # 2 positives among 4: K=1 -> 2/4; K=2 -> 1 - C(2,2)/C(4,2) = 5/6
    assert np.allclose(chance_recall([1, 2, 3], 4, positives=2), [50.0, 500 / 6, 100.0])
    assert chance_recall(3, 12) == pytest.approx(25.0)
    with pytest.raises(ValueError, match="positives <= gallery_size"):
        chance_recall([1], 3, positives=4)


def test_recall_curves_chance_line_labels_and_integer_k():
    ks = np.arange(1, 11)
    curves = {"a": (ks, np.linspace(30, 80, 10)), "b": (ks[:5], np.linspace(10, 40, 5))}
    fig = plot_recall_curves(curves, chance=40)
    ax = fig.axes[0]
    (line,) = chance_lines(ax)
    assert list(line.get_xdata()) == list(range(1, 11))
    assert np.allclose(line.get_ydata(), [k / 40 * 100 for k in range(1, 11)])
    assert line.get_linestyle() == "--"
    assert "chance" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_xlabel().startswith("K") and ax.get_ylabel() == "recall@K (%)"
    assert is_integer_locator(ax.xaxis)
    # an array (one value per K) and a callable give the same line
    by_hand = np.arange(1, 11) / 40 * 100
    for chance in (by_hand, lambda k: np.asarray(k) / 40 * 100):
        (line,) = chance_lines(plot_recall_curves(curves, chance=chance).axes[0])
        assert np.allclose(line.get_ydata(), by_hand)
    assert not chance_lines(plot_recall_curves(curves).axes[0])
    with pytest.raises(ValueError, match=r"gives \(3,\) values for the curves' \(10,\)"):
        plot_recall_curves(curves, chance=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="gallery size"):
        plot_recall_curves(curves, chance=2.5)


def test_learning_curve_chance_line_on_the_metric_axis():
    h = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [2.0, 1.5, 1.2], "R@1": [5.0, 9.0, 14.0]})
    fig = plot_learning_curve(h, chance=100 / 40)
    loss_ax, metric_ax = fig.axes
    (line,) = chance_lines(metric_ax)
    assert np.allclose(line.get_ydata(), [2.5, 2.5])
    assert is_integer_locator(loss_ax.xaxis)
    assert (loss_ax.get_xlabel(), loss_ax.get_ylabel(), metric_ax.get_ylabel()) == (
        "epoch",
        "train loss",
        "R@1 (%)",
    )
    legend = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert legend == ["train loss", "R@1", "chance"]
    # no metric, no metric axis: the chance line goes with it
    assert len(plot_learning_curve(h.drop(columns="R@1"), chance=2.5).axes) == 1


def seed_table():
    return pd.DataFrame(
        {
            "model": ["base"] * 3 + ["ours"] * 3 + ["single"],
            "seed": [0, 1, 2, 0, 1, 2, 0],
            "R@1": [10.0, 12.0, 14.0, 20.0, 20.0, 23.0, 7.0],
            "paper R@1": [50.0] * 3 + [90.0] * 3 + [np.nan],
        }
    )


def test_seed_summary_mean_and_sample_sd_by_hand():
    s = seed_summary(seed_table(), "R@1")
    assert list(s["label"]) == ["base", "ours", "single"]
    assert np.allclose(s["mean"], [12.0, 21.0, 7.0])
    # sd with ddof=1: base sqrt((4 + 0 + 4) / 2) = 2; ours sqrt((1 + 1 + 4) / 2) = sqrt(3)
    assert np.allclose(s["sd"][:2], [2.0, np.sqrt(3.0)]) and np.isnan(s["sd"][2])
    assert list(s["n"]) == [3, 3, 1]
    with pytest.raises(ValueError, match=r"no column\(s\) \['R@5'\]"):
        seed_summary(seed_table(), "R@5")


def test_seed_bars_means_seeds_chance_and_paper_on_its_own_panel():
    fig = plot_seed_bars(seed_table(), "R@1", chance=2.5, paper=True)
    ax, pax = fig.axes
    widths = [p.get_width() for p in ax.patches]
    assert np.allclose(widths, [12.0, 21.0, 7.0])
    dots = np.concatenate([line.get_xdata() for line in ax.lines if line.get_marker() == "o"])
    assert sorted(dots) == sorted(seed_table()["R@1"])
    (chance,) = chance_lines(ax)
    assert np.allclose(chance.get_xdata(), [2.5, 2.5])
    # the paper's numbers: only on the second panel, titled "paper"
    assert pax.get_title() == "paper"
    assert np.allclose(pax.lines[0].get_xdata(), [50.0, 90.0, np.nan], equal_nan=True)
    ours = np.concatenate([np.asarray(line.get_xdata(), float) for line in ax.lines])
    assert not np.isin([50.0, 90.0], ours).any()
    y = {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()}
    assert y["base"] > y["ours"] > y["single"]  # the table's order, top down
    assert len(plot_seed_bars(seed_table(), "R@1").axes) == 1
    fig = plot_seed_bars(seed_table(), "R@1", paper={"ours": 88.0})
    assert np.allclose(fig.axes[1].lines[0].get_xdata(), [np.nan, 88.0, np.nan], equal_nan=True)
    with pytest.raises(ValueError, match="unknown rows"):
        plot_seed_bars(seed_table(), "R@1", paper={"nope": 1.0})


class ImageSet(torch.utils.data.Dataset):
    def __init__(self, images, labels):
        self.images, self.labels = images, np.asarray(labels)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "label": int(self.labels[i]), "index": i}


def edge(ax):
    return matplotlib.colors.to_hex(ax.spines["left"].get_edgecolor())


def test_retrieval_grid_shows_the_missed_true_match_with_its_rank():
    torch.manual_seed(0)
    r = F.normalize(torch.randn(20, 8), dim=1)
    q = F.normalize(r[:2] + 0.05 * torch.randn(2, 8), dim=1)  # query i near reference i
    order = torch.argsort(q @ r.T, dim=1, descending=True)  # independent ranking: a sort
    assert order[0, 0] == 0  # query 0's match is its top 1
    missed_ref = int(order[1, 9])  # query 1's "true match": 10th best, rank 10
    q_ds = ImageSet(torch.rand(2, 3, 8, 8), [0, missed_ref])
    r_ds = ImageSet(torch.rand(20, 3, 8, 8), np.arange(20))
    k = 3
    fig = retrieval_grid(q_ds, r_ds, q, r, [0, 1], k=k)
    axes = np.array(fig.axes).reshape(2, k + 2)  # query, k results, the true-match column
    assert not axes[0, -1].get_visible()  # query 0 hit: no extra panel
    assert edge(axes[0, 1]) == CORRECT and edge(axes[1, 1]) == WRONG  # frames kept
    extra = axes[1, -1]
    assert extra.get_visible() and edge(extra) == TRUE_MATCH
    rank = int((order[1] == missed_ref).nonzero()) + 1
    assert rank == 10 and extra.get_title() == f"true match, rank {rank}"
    assert np.allclose(extra.images[0].get_array(), to_rgb(r_ds[missed_ref]["image"]))
    # every row hits: no extra column at all; show_true_match=False: none either
    assert len(retrieval_grid(q_ds, r_ds, q, r, [0], k=k).axes) == k + 1
    assert len(retrieval_grid(q_ds, r_ds, q, r, [1], k=k, show_true_match=False).axes) == k + 1


def test_retrieval_grid_true_match_is_the_best_of_several_positives():
    torch.manual_seed(1)
    r = F.normalize(torch.randn(30, 8), dim=1)
    q = F.normalize(torch.randn(1, 8), dim=1)
    order = (q @ r.T)[0].argsort(descending=True)
    best, worse = int(order[6]), int(order[20])  # ranks 7 and 21
    q_ds = ImageSet(torch.rand(1, 3, 8, 8), [0])
    q_ds.positives = np.array([[worse, best, -1]])  # a padded [Q, P] array
    r_ds = ImageSet(torch.rand(30, 3, 8, 8), np.arange(30))
    fig = retrieval_grid(q_ds, r_ds, q, r, [0], k=4)
    extra = fig.axes[-1]
    assert extra.get_title() == "true match, rank 7"
    assert np.allclose(extra.images[0].get_array(), to_rgb(r_ds[best]["image"]))
