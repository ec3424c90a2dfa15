"""Notebook 02's limited-FoV figures: the FCA window drawn where FCA cropped (wrapping past the
seam), a colour bar per mask, and the data-preparation panels."""

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from cvgl_core.awm_figures import _window_spans, plot_fov_views, plot_masks  # noqa: E402
from cvgl_core.models import create_model  # noqa: E402
from cvgl_core.models.fca import crop_columns  # noqa: E402


def test_window_spans_split_at_the_seam():
    assert _window_spans(3, 2, 16) == [(3, 5)]
    assert _window_spans(14, 5, 16) == [(14, 16), (0, 3)]  # columns 14, 15, 0, 1, 2
    assert _window_spans(0, 16, 16) == [(0, 16)]


def test_plot_masks_marks_the_window_fca_keeps(tmp_path):
    torch.manual_seed(0)
    model = create_model("awm", fov=70, satellite_size=(32, 128)).eval()
    ground, sat = torch.randn(3, 32, 24), torch.randn(3, 32, 128)
    fig, masks = plot_masks(model, ground, sat, title="t", path=tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 0
    assert sorted(masks) == [1, 2, 3, 4]
    starts = model.window_starts(model.masks(sat[None], "satellite"))
    for k, block in enumerate(sorted(masks)):
        mg, ms, start = masks[block]
        assert start == int(starts[k])
        # the window outlined is the one crop_columns keeps: same columns of the mask
        kept = crop_columns(ms[None, None], torch.tensor([start]), model.widths[k])[0, 0]
        spans = _window_spans(start, model.widths[k], ms.shape[-1])
        assert torch.equal(kept, torch.cat([ms[:, a:b] for a, b in spans], dim=1))
    colorbars = [a for a in fig.axes if a.get_label() == "<colorbar>"]
    assert len(colorbars) == 2 * len(masks)  # one per M_g and one per M_s


def test_plot_fov_views_titles_each_crop(tmp_path):
    pano = torch.rand(3, 32, 128)
    crops = {70: (pano[:, :, :24], 12.0), 90: (pano[:, :, :32], -40.0)}
    fig = plot_fov_views(pano, torch.rand(3, 64, 64), pano, crops, path=tmp_path / "v.png")
    titles = [a.get_title() for a in fig.axes]
    assert "70° test crop\nheading 12°" in titles and "90° test crop\nheading -40°" in titles
    assert "90° at heading 90°" in titles and (tmp_path / "v.png").exists()
