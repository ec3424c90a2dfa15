"""Training augmentation (issue 16): Sample4Geo's photometric preset, the LRFR authors' paired
flips, determinism under a seed, bad options, and each paper config's augmentation block."""

import pytest
import torch

from cvgl_core.config import load_config
from cvgl_core.data import build_dataset
from cvgl_core.data.augment import (
    PRESETS,
    CoarseDropout,
    GridDropout,
    Photometric,
    build_photometric,
)
from cvgl_core.data.base import DataOptions
from cvgl_core.data.transforms import JointAugment
from tests.data_fixtures import write_university


def _image(seed=0, hw=(32, 48)):
    return torch.rand(3, *hw, generator=torch.Generator().manual_seed(seed))


def test_sample4geo_preset_is_sample4geos_parameters():
    q, r = build_photometric("sample4geo", "query"), build_photometric("sample4geo", "reference")
    for p in (q, r):  # Skyy93/Sample4Geo sample4geo/transforms.py
        assert (p.jpeg_p, tuple(p.jpeg_quality)) == (0.5, (90, 100))
        assert (p.colour_jitter, p.colour_jitter_p) == (0.15, 0.5)
        assert (p.blur_sharpen_p, p.dropout_p) == (0.3, 0.3)
        assert (tuple(p.coarse_holes), tuple(p.coarse_size)) == ((10, 25), (0.1, 0.2))
    assert (q.grid_dropout_ratio, r.grid_dropout_ratio) == (0.5, 0.4)  # ground 0.5, satellite 0.4
    lrfr = build_photometric(
        {"preset": "sample4geo", "query": {"grid_dropout_ratio": 0.4}}, "query"
    )
    assert lrfr.grid_dropout_ratio == 0.4 and lrfr.dropout_p == 0.3
    assert build_photometric(None, "query") is None
    assert set(PRESETS) >= {"sample4geo", "light"}


def test_photometric_is_repeatable_under_a_seed_and_keeps_the_range():
    p = Photometric(jpeg_p=1.0, colour_jitter_p=1.0, blur_sharpen_p=1.0, dropout_p=1.0)
    x = _image()
    torch.manual_seed(3)
    a = p(x.clone())
    torch.manual_seed(3)
    b = p(x.clone())
    torch.manual_seed(4)
    c = p(x.clone())
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    off = Photometric(jpeg_p=0.0, colour_jitter_p=0.0, blur_sharpen_p=0.0, dropout_p=0.0)
    assert torch.equal(off(x.clone()), x)


def test_grid_and_coarse_dropout_zero_what_they_should():
    x = torch.ones(3, 40, 60)
    g = GridDropout(ratio=0.5)(x)  # units 4 x 6, holes 2 x 3 at each unit's top-left
    assert g[0, 0, 0] == 0 and g[0, 1, 2] == 0 and g[0, 2, 0] == 1 and g[0, 0, 3] == 1
    assert float((g == 0).float().mean()) == pytest.approx(0.25)
    torch.manual_seed(0)
    c = CoarseDropout(10, 25, 0.1, 0.2)(x)
    dropped = float((c[0] == 0).float().mean())
    assert 0.0 < dropped < 1.0 and torch.equal(c[0] == 0, c[1] == 0)


def test_paired_mode_flips_both_views_together_and_turns_only_the_satellite():
    q, r = _image(1, (16, 16)), _image(2, (16, 16))
    flip_only = JointAugment("paired", flip_p=1.0, rotate_p=0.0)
    q2, r2 = flip_only(q, r)
    assert torch.equal(q2, q.flip(-1)) and torch.equal(r2, r.flip(-1))
    turns = set()
    for seed in range(40):
        torch.manual_seed(seed)
        q3, r3 = JointAugment("paired", flip_p=0.0, rotate_p=1.0)(q, r)
        assert torch.equal(q3, q)  # the drone view is never turned
        k = next(k for k in range(4) if torch.equal(r3, torch.rot90(r, k, dims=(-2, -1))))
        turns.add(k)
    assert turns == {0, 1, 2, 3}  # RandomRotate90: k uniform in 0..3, k = 0 included


def test_bad_augmentation_options_name_the_key():
    with pytest.raises(ValueError, match="augment_mode"):
        DataOptions.parse({}, {"augment_mode": "joint"})
    with pytest.raises(KeyError, match="unknown preset 'samplegeo'"):
        DataOptions.parse({}, {"photometric": "samplegeo"})
    with pytest.raises(KeyError, match="photometric.query: unknown field"):
        DataOptions.parse({}, {"photometric": {"query": {"grid_ratio": 0.4}}})
    with pytest.raises(ValueError, match="dropout_p must be in"):
        Photometric(dropout_p=1.5)


def test_pairs_are_augmented_and_evaluation_views_are_not(tmp_path):
    write_university(tmp_path)
    opts = dict(sizes={"drone": [16, 16], "satellite": [16, 16]}, normalize=False)
    photometric = {"preset": "sample4geo", "query": {"dropout_p": 1.0, "colour_jitter_p": 0.0}}
    pair = build_dataset(
        "university1652", tmp_path, "train", "pair", query_view="drone",
        photometric=photometric, **opts,
    )  # fmt: skip
    plain = build_dataset("university1652", tmp_path, "train", "pair", query_view="drone", **opts)
    assert pair.query_transform.photometric.dropout_p == 1.0
    assert plain.query_transform.photometric is None
    torch.manual_seed(0)
    a = pair[0]["query"]
    assert not torch.equal(a, plain[0]["query"])  # a dropout always happens
    ref = build_dataset(
        "university1652", tmp_path, "test", "reference", photometric="sample4geo", **opts
    )
    assert ref.transform.photometric is None  # only training pairs are augmented


LRFR = {"preset": "sample4geo", "query": {"grid_dropout_ratio": 0.4}}  # 0.4 on both views
PAPER_AUGMENT = {  # config -> (augment, augment_mode, flip_p, rotate_p, photometric)
    "lrfr/university1652": (True, "paired", 0.5, 1.0, LRFR),
    "lrfr/cvusa": (True, None, 0.5, 0.75, "sample4geo"),
    "lrfr/cvact": (True, None, 0.5, 0.75, "sample4geo"),
    "mfrgn/cvusa": (True, None, 0.5, 0.75, "sample4geo"),
    "mfrgn/cvact": (True, None, 0.5, 0.75, "sample4geo"),
    "mfrgn/vigor": (True, None, 0.5, 0.75, "sample4geo"),
    "awm/cvusa": (False, None, 0.5, 0.75, None),  # the paper states none, no code
    "awm/cvact": (False, None, 0.5, 0.75, None),
    "frg/cvusa": (False, None, 0.5, 0.75, None),
    "frg/vigor": (False, None, 0.5, 0.75, None),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PAPER_AUGMENT))
def test_each_paper_config_augments_as_its_authors(name):
    t = load_config(f"configs/{name}_paper.yaml").data.train_options
    opts = DataOptions.parse({}, {k: v for k, v in t.items() if k != "query_view"})
    got = (opts.augment, opts.augment_mode, opts.flip_p, opts.rotate_p, opts.photometric)
    assert got == PAPER_AUGMENT[name]
