"""Limited-FoV queries padded back to the panorama width (data.padded_fov), and a size-tied
run evaluated on them (study.evaluate_at_padded_fov)."""

import numpy as np
import pytest
import torch
from data_fixtures import write_cvusa

from cvgl_core.data import build_dataset
from cvgl_core.data.padded_fov import PaddedFoV, padded_fov_views

SMALL = {"sizes": {"ground": (8, 32), "satellite": (16, 16)}}


@pytest.mark.parametrize("noise", [360.0, 0.0])
def test_each_crop_goes_back_to_its_own_columns(tmp_path, noise):
    write_cvusa(tmp_path, n_val=5)
    full = build_dataset("cvusa", tmp_path, "val", "query", **SMALL)
    views = padded_fov_views("cvusa", tmp_path, "val", 270, fov_noise=noise, fov_seed=3, **SMALL)
    assert len(views) == len(full) == 5 and views.width == 32
    assert views.view == "ground" and list(views.labels) == list(full.labels)
    for i in range(len(views)):
        s = int(views.shifts[i])
        # by hand: fov_crop rolls right by s and keeps int(270 / 360 * 32) = 24 columns, so
        # crop column j is panorama column (j - s) mod 32
        kept = sorted((j - s) % 32 for j in range(24))
        img, ref = views[i]["image"], full[i]["image"]
        assert img.shape == ref.shape == (3, 8, 32)
        torch.testing.assert_close(img[..., kept], ref[..., kept])
        gone = sorted(set(range(32)) - set(kept))
        assert len(gone) == 8 and torch.count_nonzero(img[..., gone]) == 0
        assert views[i]["label"] == full[i]["label"]
    if noise == 0:  # one heading for all: the first 3/4 of the columns
        assert not views.shifts.any()
    else:
        assert len(set(views.shifts.tolist())) > 1  # seeded headings differ per query


@pytest.mark.parametrize("role", ["query", "pair"])
def test_fov_pad_option_is_the_padded_view_in_every_role(tmp_path, role):
    # data.options.fov_pad: the same padded crop as PaddedFoV, for training pairs too
    write_cvusa(tmp_path, n_val=5)
    opts = dict(SMALL, fov=90, fov_noise=0.0, fov_seed=3)
    views = padded_fov_views("cvusa", tmp_path, "val", 90, fov_noise=0.0, fov_seed=3, **SMALL)
    ds = build_dataset("cvusa", tmp_path, "val", role, fov_pad=True, fov_mode="fixed", **opts)
    for i in range(len(views)):
        item = ds[i]
        img = item["query"] if role == "pair" else item["image"]
        assert img.shape == (3, 8, 32)  # the panorama's size, not the 8-column crop's
        torch.testing.assert_close(img, views[i]["image"])
    # random headings (training): 8 columns kept, at the drawn heading's place
    rand = build_dataset("cvusa", tmp_path, "val", "query", fov_pad=True, fov_mode="random",
                         **dict(opts, fov_noise=360.0))  # fmt: skip
    kept = (rand[0]["image"].abs().sum(dim=(0, 1)) > 0).sum().item()
    assert kept <= 8


def test_full_fov_is_the_panorama_and_bad_inputs_are_named(tmp_path):
    write_cvusa(tmp_path)
    full = build_dataset("cvusa", tmp_path, "val", "query", **SMALL)
    views = padded_fov_views("cvusa", tmp_path, "val", 360, fov_seed=1, **SMALL)
    for i in range(len(full)):
        torch.testing.assert_close(views[i]["image"], full[i]["image"])
    with pytest.raises(ValueError, match="no fixed headings"):
        PaddedFoV(full)  # no fov: nothing to place back
    random = build_dataset("cvusa", tmp_path, "val", "query", fov=270, fov_mode="random", **SMALL)
    with pytest.raises(ValueError, match="fov_mode='fixed'"):
        PaddedFoV(random)
    narrow = PaddedFoV(views.crops, width=16)
    with pytest.raises(ValueError, match="crop width 32 exceeds the panorama width 16"):
        narrow[0]


@pytest.mark.slow
def test_a_size_tied_run_at_360_degrees_scores_as_its_own_evaluation(tmp_path):
    from cvgl_core.study import evaluate_at_padded_fov, run_experiment

    run = run_experiment(
        "configs/frg/cvusa_{profile}.yaml",
        profile="smoke",
        data_dir=tmp_path / "data",
        results_dir=tmp_path / "results",
        overrides={"data.options.fov_noise": 360},  # headings differ: the roll back is tested
    )
    same = evaluate_at_padded_fov(run, 360)
    for k in ("R@1", "R@5", "R@10", "R@1%"):
        assert same[k] == pytest.approx(run.metrics[k])
    metrics, desc, q, r = evaluate_at_padded_fov(run, 270, return_descriptors=True)
    assert metrics["num_queries"] == len(q) == len(run.query_ds)
    assert desc.query.shape == run.descriptors.query.shape and len(r) == len(run.reference_ds)
    assert not run.model.training  # left in eval mode, as run_experiment returns it
    assert np.isfinite(metrics["R@1"])
