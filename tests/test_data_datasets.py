"""Dataset classes on hand-built minimal folders in the real layouts."""

import warnings

import numpy as np
import pytest
import scipy.io
import torch
from data_fixtures import (
    SUES_LOCATIONS,
    pano_id,
    write_cvact,
    write_cvusa,
    write_image,
    write_sues,
    write_sues_split_tree,
    write_university,
    write_vigor,
)

from cvgl_core.data import CorruptImageError, build_dataset, detect_layout
from cvgl_core.data.samplers import UniqueLabelBatchSampler

SMALL = {"sizes": {"ground": (8, 32), "satellite": (16, 16), "drone": (16, 16)}}


# ---------------------------------------------------------------------------------- CVUSA


@pytest.mark.parametrize("nested", [False, True])
def test_cvusa_pairs_and_roles(tmp_path, nested):
    ids = write_cvusa(tmp_path, nested=nested)
    pair = build_dataset("cvusa", tmp_path, "train", "pair", **SMALL)
    assert len(pair) == 4 and (pair.query_view, pair.reference_view) == ("ground", "satellite")
    item = pair[0]
    assert set(item) == {"query", "reference", "label", "index"}
    assert item["query"].shape == (3, 8, 32) and item["reference"].shape == (3, 16, 16)
    assert list(pair.labels) == ids["train"] and pair.labels.dtype == np.int64
    q = build_dataset("cvusa", tmp_path, "val", "query", **SMALL)
    r = build_dataset("cvusa", tmp_path, "test", "reference", **SMALL)  # test = val
    assert q.view == "ground" and r.view == "satellite"
    assert list(q.labels) == list(r.labels) == ids["val"]
    assert set(q[1]) == {"image", "label", "index"} and q[1]["index"] == 1


def test_cvusa_polar_and_fov_options(tmp_path):
    write_cvusa(tmp_path)
    opts = dict(SMALL, polar=True, fov=90.0)
    pair = build_dataset("cvusa", tmp_path, "train", "pair", **opts)
    it = pair[0]
    assert it["reference"].shape == (3, 8, 32)  # polar to the ground size
    assert it["query"].shape == (3, 8, 8) and -180 <= it["heading"] < 180
    q = build_dataset("cvusa", tmp_path, "val", "query", **opts)
    assert [q[i]["heading"] for i in range(3)] == [q[i]["heading"] for i in range(3)]  # fixed
    q2 = build_dataset("cvusa", tmp_path, "val", "query", **dict(opts, fov_seed=5))
    assert q.fov_shifts is not None and q2.fov_shifts is not None
    aug = build_dataset("cvusa", tmp_path, "train", "pair", augment=True, **SMALL)
    assert aug[0]["query"].shape == (3, 8, 32)


def test_cvusa_polarmap_option_reads_stored_polar_images(tmp_path):
    write_cvusa(tmp_path)
    for i in range(1, 5):
        write_image(tmp_path / "polarmap/19" / f"{i:07d}.png", (8, 32))
    pair = build_dataset("cvusa", tmp_path, "train", "pair", polarmap=True, **SMALL)
    assert pair.reference_paths[0].suffix == ".png" and pair[0]["reference"].shape == (3, 8, 32)


def test_bad_input_errors_name_path_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_dataset("cvusa", tmp_path / "nope", "train", "pair")
    with pytest.raises(ValueError, match="does not look like CVUSA"):
        build_dataset("cvusa", tmp_path, "train", "pair")
    with pytest.raises(ValueError, match="matches no known dataset layout"):
        detect_layout(tmp_path)
    write_cvusa(tmp_path)
    csv = tmp_path / "splits/train-19zl.csv"
    csv.write_text(csv.read_text() + "just-one-field\n")
    with pytest.raises(ValueError, match=r"train-19zl.csv:5: malformed line 'just-one-field'"):
        build_dataset("cvusa", tmp_path, "train", "pair")
    (tmp_path / "streetview/panos/0000102.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"0000102.jpg: file not found.*val-19zl.csv:2"):
        build_dataset("cvusa", tmp_path, "val", "pair")
    bad = tmp_path / "bingmap/19/0000101.jpg"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated JPEG
    ds = build_dataset("cvusa", tmp_path, "val", "reference", check_files=False, **SMALL)
    with pytest.raises(CorruptImageError, match="0000101.jpg: cannot read image"):
        ds[0]
    with pytest.raises(KeyError, match="unknown dataset option"):
        build_dataset("cvusa", tmp_path, "train", "pair", sizez=3)
    with pytest.raises(KeyError, match="unknown dataset 'cvsua'"):
        build_dataset("cvsua", tmp_path, "train", "pair")
    assert detect_layout(tmp_path)[0] == "cvusa"


# ---------------------------------------------------------------------------------- CVACT


def test_cvact_mat_as_scipy_saves_it(tmp_path):
    info = write_cvact(tmp_path)
    mat = scipy.io.loadmat(tmp_path / "ACT_data.mat")
    # the access path the field's loaders use on a struct saved by scipy / MATLAB
    inds = mat["trainSet"]["trainInd"][0][0] - 1
    assert inds.shape == (4, 1) and list(inds.ravel()) == info["train"]
    assert mat["trainSet"].dtype.names == ("trainNum", "trainInd")
    assert list(mat["trainSet"][0][0][1].ravel() - 1) == info["train"]  # Sample4Geo's way
    assert str(mat["panoIds"][3]) == pano_id(3) and len(pano_id(3)) == 22

    pair = build_dataset("cvact", tmp_path, "train", "pair", **SMALL)
    assert list(pair.labels) == info["train"] and pair.skipped == 0
    assert pair.query_paths[0].name == f"{pano_id(0)}_grdView.jpg"
    it = pair[0]
    assert it["query"].shape == (3, 8, 32)
    val = build_dataset("cvact", tmp_path, "val", "query", **SMALL)
    assert list(val.labels) == info["val"] and not hasattr(val, "positives")
    np.testing.assert_allclose(val.utm, info["utm"][info["val"]])


def test_cvact_test_skips_missing_ids_and_uses_5m_positives(tmp_path):
    write_cvact(tmp_path, missing_test=(8,))
    with pytest.warns(UserWarning, match="skipped 1 of 4 ids"):
        q = build_dataset("cvact", tmp_path, "test", "query", **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = build_dataset("cvact", tmp_path, "test", "reference", **SMALL)
    assert q.skipped == 1 and q.skipped_ids == [pano_id(8)]
    assert list(q.labels) == list(r.labels) == [6, 7, 9]
    # ids 6 and 7 are 3 m apart: each is a positive of the other; 9 only of itself
    assert [list(p) for p in q.positives] == [[0, 1], [0, 1], [2]]


def test_cvact_middle_half_crop_option(tmp_path):
    write_cvact(tmp_path)
    g = build_dataset("cvact", tmp_path, "val", "query", sizes={"ground": None})
    full = build_dataset(
        "cvact", tmp_path, "val", "query", sizes={"ground": None}, crop_middle_half=False
    )
    assert g[0]["image"].shape == (3, 8, 32) and full[0]["image"].shape == (3, 16, 32)


def test_cvact_struct_field_fallbacks(tmp_path):
    write_cvact(tmp_path)
    mat = scipy.io.loadmat(tmp_path / "ACT_data.mat")
    from cvgl_core.data.cvact import struct_indices

    assert list(struct_indices(mat, "valSetAll", "valInd", tmp_path)) == [6, 7, 8, 9]
    scipy.io.savemat(tmp_path / "x.mat", {"s": {"num": 2.0, "idx": np.array([[3.0], [1.0]])}})
    m2 = scipy.io.loadmat(tmp_path / "x.mat")
    assert list(struct_indices(m2, "s", "trainInd", tmp_path)) == [2, 0]  # second field
    with pytest.raises(KeyError, match="no struct 'nope'"):
        struct_indices(m2, "nope", "x", tmp_path)


# ---------------------------------------------------------------------------------- VIGOR


@pytest.mark.parametrize("tree", ["official", "sample4geo"])
def test_vigor_same_area_positives_semi_positives_and_offsets(tmp_path, tree):
    write_vigor(tmp_path, tree=tree, tiles=4, panos=3)
    ref = build_dataset("vigor", tmp_path, "test", "reference", **SMALL)
    q = build_dataset("vigor", tmp_path, "test", "query", **SMALL)
    assert q.tree == tree and len(ref) == 16 and len(q) == 12
    assert list(ref.labels) == list(range(16))
    # city order NewYork, Seattle, SanFrancisco, Chicago; test panorama k (3..5) -> tile k % 4
    assert list(q.labels[:3]) == [3, 0, 1]
    assert list(q.positives[0]) == [3] and list(q.semi_positives[0]) == [0, 1, 2]
    assert list(q.semi_positives[3]) == [4 + 0, 4 + 1, 4 + 2]  # Seattle tiles start at 4
    # negative offsets parsed as numbers: (d_row, d_col) of positive and semi-positives
    np.testing.assert_allclose(
        q.offsets[0], [[-1.5, -2.25], [-2.5, -3.25], [-3.5, -4.25], [-4.5, -5.25]]
    )
    from cvgl_core.data.vigor import pano_pixel_in_tile

    np.testing.assert_allclose(pano_pixel_in_tile(q.offsets[0, 0]), [318.5, 322.25])
    assert ref.paths[q.positives[0][0]].name.startswith("satellite_40.003")
    assert q.gps.shape == (12, 2) and not np.isnan(q.gps).any()
    pair = build_dataset("vigor", tmp_path, "train", "pair", **SMALL)
    assert len(pair) == 12 and pair[0]["reference"].shape == (3, 16, 16)
    assert list(pair.labels[:3]) == [0, 1, 2]


def test_vigor_cross_area_cities(tmp_path):
    write_vigor(tmp_path, tiles=4, panos=2)
    tr = build_dataset("vigor", tmp_path, "train", "query", area="cross", **SMALL)
    te = build_dataset("vigor", tmp_path, "test", "reference", area="cross", **SMALL)
    assert tr.cities == ("NewYork", "Seattle") and len(tr) == 2 * 4
    assert len(te) == 8 and "SanFrancisco" in str(te.paths[0])


def test_vigor_malformed_label_line(tmp_path):
    write_vigor(tmp_path, tiles=4, panos=1)
    f = tmp_path / "splits/Chicago/same_area_balanced_test.txt"
    f.write_text(f.read_text() + "pano.jpg satellite_x.png 1 2\n")
    with pytest.raises(ValueError, match=r"Chicago/same_area_balanced_test.txt:2: .*13"):
        build_dataset("vigor", tmp_path, "test", "query")


# ------------------------------------------------------------------------ University-1652


def test_university_pairs_skip_empty_google_folders(tmp_path):
    write_university(tmp_path)
    pair = build_dataset("university1652", tmp_path, "train", "pair", **SMALL)
    assert len(pair) == 6 and pair.query_view == "drone" and sorted(set(pair.labels)) == [1, 2]
    assert all(p.name == f"{lab:04d}.jpg" for p, lab in zip(pair.reference_paths, pair.labels))
    g = build_dataset("university1652", tmp_path, "train", "pair", query_view="google", **SMALL)
    assert len(g) == 1 and g.query_view == "street"  # building 0002's google folder is empty
    it = pair[0]
    assert it["query"].shape == it["reference"].shape == (3, 16, 16)
    # one location per batch despite three drone images per building
    batches = list(UniqueLabelBatchSampler(pair.labels, batch_size=2, seed=0))
    assert all(len({pair.labels[i] for i in b}) == len(b) for b in batches)


def test_university_protocols(tmp_path):
    write_university(tmp_path)
    q = build_dataset("university1652", tmp_path, "test", "query", **SMALL)
    off = build_dataset("university1652", tmp_path, "test", "reference", **SMALL)
    s4g = build_dataset(
        "university1652", tmp_path, "test", "reference", protocol="sample4geo", **SMALL
    )
    assert q.view == "drone" and list(q.labels) == [3, 3, 4, 4]
    assert off.view == "satellite" and list(off.labels) == [3, 4, 5]
    assert list(s4g.labels) == [3, 4, -1]  # distractor building 0005 is junk
    gd = build_dataset(
        "university1652", tmp_path, "test", "reference", view="drone", protocol="sample4geo"
    )
    assert list(gd.labels) == [3, 3, 4, 4, -1, -1]  # compared with query_satellite
    st = build_dataset("university1652", tmp_path, "test", "query", view="street", **SMALL)
    assert st.view == "street" and len(st) == 2


# -------------------------------------------------------------------------------- SUES-200


def test_sues_official_and_1_120_protocols(tmp_path):
    write_sues(tmp_path)
    kw = dict(altitude=150, **SMALL)
    train = build_dataset("sues200", tmp_path, "train", "pair", **kw)
    assert sorted(set(train.labels)) == [9, 123] and len(train) == 4  # official ids
    alt = build_dataset("sues200", tmp_path, "train", "pair", protocol="1-120", **kw)
    assert sorted(set(alt.labels)) == [8, 9]
    q = build_dataset("sues200", tmp_path, "test", "query", **kw)
    assert sorted(set(q.labels)) == [8, 121] and q.view == "drone"
    qs = build_dataset("sues200", tmp_path, "test", "query", view="satellite", **kw)
    assert list(qs.labels) == [8, 121]
    g = build_dataset("sues200", tmp_path, "test", "reference", **kw)
    assert list(g.labels) == list(SUES_LOCATIONS)  # galleries hold every location
    gd = build_dataset("sues200", tmp_path, "test", "reference", view="drone", altitude=200)
    assert len(gd) == 8 and all("/200/" in str(p) for p in gd.paths)
    with pytest.raises(KeyError, match="altitude 175"):
        build_dataset("sues200", tmp_path, "test", "query", altitude=175)


def test_sues_split_tree_matches_raw_tree(tmp_path):
    raw, tree = tmp_path / "raw", tmp_path / "split"
    write_sues(raw, altitudes=(150,))
    write_sues_split_tree(tree, altitude=150)
    for split, role, view in [
        ("train", "pair", None),
        ("test", "query", "drone"),
        ("test", "query", "satellite"),
        ("test", "reference", "drone"),
        ("test", "reference", "satellite"),
    ]:
        kw = dict(altitude=150) if view is None else dict(altitude=150, view=view)
        a = build_dataset("sues200", raw, split, role, **kw)
        b = build_dataset("sues200", tree, split, role, **kw)
        assert list(a.labels) == list(b.labels), (split, role, view)
    with pytest.raises(ValueError, match="official split only"):
        build_dataset("sues200", tree, "train", "pair", altitude=150, protocol="1-120")


def test_sues_split_tree_beside_raw_tree_is_preferred_for_official(tmp_path):
    # as the synthetic world writes it: both trees, the split tree with its own train ids
    write_sues(tmp_path, altitudes=(150,))
    write_sues_split_tree(tmp_path, altitude=150, train=(8, 121))
    official = build_dataset("sues200", tmp_path, "train", "pair", altitude=150)
    assert official.layout == "split" and sorted(set(official.labels)) == [8, 121]
    alt = build_dataset("sues200", tmp_path, "train", "pair", altitude=150, protocol="1-120")
    assert alt.layout == "raw" and sorted(set(alt.labels)) == [8, 9]
    from cvgl_core.data.check import check_dataset

    rep = check_dataset("sues200", tmp_path, log=lambda *a: None)
    assert rep.ok and rep.counts()[("150 raw tree", "drone")] == 8


def test_datasets_work_with_a_dataloader(tmp_path):
    write_university(tmp_path)
    pair = build_dataset("university1652", tmp_path, "train", "pair", augment=True, **SMALL)
    loader = torch.utils.data.DataLoader(
        pair, batch_sampler=UniqueLabelBatchSampler(pair.labels, 2, seed=1)
    )
    batch = next(iter(loader))
    assert batch["query"].shape == (2, 3, 16, 16) and batch["label"].shape == (2,)
