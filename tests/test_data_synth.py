"""The dataset classes read every layout the synthetic world writes, unchanged."""

import numpy as np
import pytest

synth = pytest.importorskip("cvgl_core.synth")
if not hasattr(synth, "write_dataset"):
    pytest.skip("cvgl_core.synth has no write_dataset yet", allow_module_level=True)

from cvgl_core.data import build_dataset  # noqa: E402
from cvgl_core.data.check import check_dataset  # noqa: E402

LAYOUTS = ("cvusa", "cvact", "vigor", "university1652", "sues200")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """layout -> (root, counts the writer reported), written once at the smoke profile."""
    base = tmp_path_factory.mktemp("synth")
    cache = {}

    def get(layout):
        if layout not in cache:
            root = base / layout
            counts = synth.write_dataset(layout, root, profile="smoke", seed=0)
            cache[layout] = (root, counts)
        return cache[layout]

    return get


def _quiet(*_a):
    pass


@pytest.mark.parametrize("layout", LAYOUTS)
def test_data_check_passes_on_every_synthetic_layout(written, layout):
    root, counts = written(layout)
    report = check_dataset(layout, root, log=_quiet)
    assert report.ok, report.problems[:3]
    assert sum(r["items"] for r in report.rows) > 0
    assert isinstance(counts, dict) and counts


def _items_ok(ds, keys):
    it = ds[0]
    assert set(keys) <= set(it)
    for k in keys[:-2]:
        assert it[k].ndim == 3 and it[k].shape[0] == 3 and np.isfinite(it[k].numpy()).all()
    assert ds.labels.dtype == np.int64


def test_synthetic_cvusa(written):
    root, _ = written("cvusa")
    for split in ("train", "val"):
        pair = build_dataset("cvusa", root, split, "pair", polar=True)
        assert len(pair) > 0
        _items_ok(pair, ["query", "reference", "label", "index"])
        assert pair[0]["reference"].shape == pair[0]["query"].shape  # polar to the ground size
    q = build_dataset("cvusa", root, "val", "query", fov=90.0)
    r = build_dataset("cvusa", root, "val", "reference")
    assert list(q.labels) == list(r.labels)
    _items_ok(q, ["image", "label", "index"])


def test_synthetic_cvact(written):
    root, _ = written("cvact")
    for split in ("train", "val", "test"):
        pair = build_dataset("cvact", root, split, "pair")
        assert len(pair) > 0 and pair.skipped == 0
        _items_ok(pair, ["query", "reference", "label", "index"])
    q = build_dataset("cvact", root, "test", "query")
    assert len(q.positives) == len(q)
    assert all(i in p for i, p in enumerate(q.positives))


def test_synthetic_vigor(written):
    root, _ = written("vigor")
    for area in ("same", "cross"):
        for split in ("train", "test"):
            q = build_dataset("vigor", root, split, "query", area=area)
            r = build_dataset("vigor", root, split, "reference", area=area)
            assert len(q) > 0 and len(r) > 0
            assert q.offsets.shape == (len(q), 4, 2)
            tiles = np.stack([np.r_[p, s] for p, s in zip(q.positives, q.semi_positives)])
            assert tiles.min() >= 0 and tiles.max() < len(r)
            assert all(len(set(t)) == 4 for t in tiles)
    pair = build_dataset("vigor", root, "train", "pair")
    _items_ok(pair, ["query", "reference", "label", "index"])


def test_synthetic_university1652(written):
    root, _ = written("university1652")
    pair = build_dataset("university1652", root, "train", "pair")
    _items_ok(pair, ["query", "reference", "label", "index"])
    q = build_dataset("university1652", root, "test", "query")
    off = build_dataset("university1652", root, "test", "reference")
    s4g = build_dataset("university1652", root, "test", "reference", protocol="sample4geo")
    assert set(q.labels) <= set(off.labels)
    junk = ~np.isin(off.labels, q.labels)
    assert ((s4g.labels == -1) == junk).all()
    sd = build_dataset("university1652", root, "test", "query", view="satellite")
    gd = build_dataset("university1652", root, "test", "reference", view="drone")
    assert set(sd.labels) <= set(gd.labels)


def test_synthetic_sues200(written):
    root, _ = written("sues200")
    from cvgl_core.data.sues200 import check_plan

    altitudes = sorted({kw["altitude"] for _, kw in check_plan(root)})
    assert altitudes
    for h in altitudes:
        pair = build_dataset("sues200", root, "train", "pair", altitude=h)
        q = build_dataset("sues200", root, "test", "query", altitude=h)
        g = build_dataset("sues200", root, "test", "reference", altitude=h)
        assert len(pair) > 0 and len(q) > 0
        assert set(q.labels) <= set(g.labels) and not set(q.labels) & set(pair.labels)
    _items_ok(pair, ["query", "reference", "label", "index"])
