"""The dataset classes read every layout the synthetic world writes, unchanged."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

synth = pytest.importorskip("cvgl_core.synth")
if not hasattr(synth, "write_dataset"):
    pytest.skip("cvgl_core.synth has no write_dataset yet", allow_module_level=True)

from cvgl_core.data import build_dataset  # noqa: E402
from cvgl_core.data.check import check_dataset  # noqa: E402

LAYOUTS = ("cvusa", "cvact", "vigor", "university1652", "sues200")


REPO = Path(__file__).resolve().parent.parent
# The smoke world is cached where the notebook runner keeps it (.scratch/smoke/data), so it
# is written once per generator version, not once per test session.
DATA_DIR = Path(os.environ.get("CVGL_SMOKE_DATA", REPO / ".scratch" / "smoke" / "data"))


@pytest.fixture(scope="module")
def written():
    """layout -> (root, counts the writer reported), the smoke world at seed 0."""
    cache = {}

    def get(layout):
        if layout not in cache:
            root = synth.ensure_dataset(layout, DATA_DIR, "smoke", seed=0)
            counts = json.loads((root / synth.MANIFEST).read_text())["counts"]
            cache[layout] = (root, counts)
        return cache[layout]

    return get


def expected_rows(layout: str, counts: dict) -> dict:
    """The writer's counts in `data check`'s (split, view) rows."""
    if layout in ("cvusa", "cvact"):
        return {tuple(k.split("/")): v for k, v in counts.items()}
    if layout == "university1652":
        out = {}
        for k, v in counts.items():
            split, folder = k.split("/")
            if split == "train":
                view = "street" if folder == "google" else folder
                out[("train google" if folder == "google" else "train", view)] = v
            else:
                view = folder.split("_")[1]
                out[(f"test {folder}", view)] = v
        return out
    if layout == "vigor":
        from cvgl_core.data.vigor import CITIES, CROSS_CITIES

        def tot(cities, key):
            return sum(counts.get(f"{c}/{key}", 0) for c in cities)

        out = {}
        for split in ("train", "test"):
            out[(f"same-area {split}", "ground")] = tot(CITIES, f"same_area_{split}")
            out[(f"same-area {split}", "satellite")] = tot(CITIES, "satellite")
            out[(f"cross-area {split}", "ground")] = tot(CROSS_CITIES[split], "panorama")
            out[(f"cross-area {split}", "satellite")] = tot(CROSS_CITIES[split], "satellite")
        return out
    if layout == "sues200":
        out = {}
        for k, v in counts.items():
            parts = k.split("/")
            if parts[0] == "Training":
                out[(f"{parts[1]} train", parts[2])] = v
            elif parts[0] == "Testing":
                kind, view = parts[2].split("_")
                out[(f"{parts[1]} test {kind}", view)] = v
            elif parts[0] == "drone":
                out[(f"{parts[1]} raw tree", "drone")] = v
                out[(f"{parts[1]} raw tree", "satellite")] = counts["satellite"]
        return out
    raise KeyError(layout)


def _quiet(*_a):
    pass


@pytest.mark.parametrize("layout", LAYOUTS)
def test_data_check_passes_on_every_synthetic_layout(written, layout):
    root, counts = written(layout)
    report = check_dataset(layout, root, log=_quiet)
    assert report.ok, report.problems[:3]
    rows = report.counts()
    expected = expected_rows(layout, counts)
    assert expected and {k: rows.get(k) for k in expected} == expected


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
    # offsets agree with the coordinates in the file names: the panorama sits at row
    # T/2 + d_row (north = smaller row = larger latitude), column T/2 - d_col (east)
    q = build_dataset("vigor", root, "test", "query")
    r = build_dataset("vigor", root, "test", "reference")
    tiles = np.stack([np.r_[p, s] for p, s in zip(q.positives, q.semi_positives)])
    d_lat = q.gps[:, None, 0] - r.gps[tiles, 0]  # (N, 4)
    d_lng = q.gps[:, None, 1] - r.gps[tiles, 1]
    big = np.abs(q.offsets) > 2  # pixels; tiny offsets can round either way
    assert (np.sign(d_lat) == -np.sign(q.offsets[..., 0]))[big[..., 0]].all()
    assert (np.sign(d_lng) == -np.sign(q.offsets[..., 1]))[big[..., 1]].all()


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
