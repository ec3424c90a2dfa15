"""The pre-resized image cache: identical tensors, keyed by the load setting, invalidated
when a source changes, filled atomically."""

from __future__ import annotations

import os

import pytest
import torch
from data_fixtures import write_cvact, write_cvusa, write_image

from cvgl_core.data import build_dataset
from cvgl_core.data.cache import warm_cache

SIZES = {"sizes": {"ground": (6, 24), "satellite": (12, 12)}}


def _items(ds):
    return [ds[i] for i in range(len(ds))]


def test_cached_pairs_equal_uncached_and_are_written_once(tmp_path):
    write_cvusa(tmp_path / "cvusa")
    cache = tmp_path / "cache"
    opts = dict(SIZES, polar=True, polar_size=(6, 24))  # polar runs after the cache
    plain = build_dataset("cvusa", tmp_path / "cvusa", "train", "pair", **opts)
    cached = build_dataset("cvusa", tmp_path / "cvusa", "train", "pair", cache_dir=cache, **opts)
    for a, b in zip(_items(plain), _items(cached)):  # first read: written
        assert torch.equal(a["query"], b["query"]) and torch.equal(a["reference"], b["reference"])
    files = sorted(cache.rglob("*.png"))
    assert len(files) == 2 * len(plain)
    assert {f.parent.parent.name for f in files} == {"v1_6x24", "v1_12x12"}
    stamps = [f.stat().st_mtime_ns for f in files]
    for a, b in zip(_items(plain), _items(cached)):  # second read: from the cache
        assert torch.equal(a["query"], b["query"]) and torch.equal(a["reference"], b["reference"])
    assert [f.stat().st_mtime_ns for f in sorted(cache.rglob("*.png"))] == stamps
    assert not list(cache.rglob("*.tmp"))


def test_row_crop_is_part_of_the_key(tmp_path):
    write_cvact(tmp_path / "cvact")
    ds = build_dataset(
        "cvact", tmp_path / "cvact", "val", "query", sizes={"ground": (4, 16)}, cache_dir=tmp_path
    )
    plain = build_dataset("cvact", tmp_path / "cvact", "val", "query", sizes={"ground": (4, 16)})
    assert torch.equal(ds[0]["image"], plain[0]["image"])
    assert [p.name for p in tmp_path.glob("v1_*")] == ["v1_4x16_rows0.25-0.75"]


def test_a_changed_source_is_read_again(tmp_path):
    write_cvusa(tmp_path / "cvusa")
    kw = dict(SIZES, cache_dir=tmp_path / "cache")
    ds = build_dataset("cvusa", tmp_path / "cvusa", "val", "reference", **kw)
    before = ds[0]["image"]
    path = ds.paths[0]
    write_image(path, (16, 16), seed=999)  # new content
    os.utime(path, ns=(1, 1))  # and a different mtime, whatever the clock's resolution
    after = ds[0]["image"]
    fresh = build_dataset("cvusa", tmp_path / "cvusa", "val", "reference", **SIZES)[0]["image"]
    assert not torch.equal(before, after) and torch.equal(after, fresh)


@pytest.mark.parametrize("fmt", ["png", "npy"])
def test_warm_cache_fills_every_entry(tmp_path, fmt):
    write_cvusa(tmp_path / "cvusa")
    kw = dict(SIZES, cache_dir=tmp_path / "c", cache_format=fmt)
    ds = build_dataset("cvusa", tmp_path / "cvusa", "train", "pair", **kw)
    assert warm_cache(ds) == len(ds)
    assert len(list((tmp_path / "c").rglob(f"*.{fmt}"))) == 2 * len(ds)
    plain = build_dataset("cvusa", tmp_path / "cvusa", "train", "pair", **SIZES)
    assert all(torch.equal(plain[i]["query"], ds[i]["query"]) for i in range(len(ds)))


def test_unknown_cache_format_is_named(tmp_path):
    write_cvusa(tmp_path / "cvusa")
    with pytest.raises(ValueError, match="data.cache_format must be one of png, npy"):
        build_dataset(
            "cvusa", tmp_path / "cvusa", "val", "query", cache_dir=tmp_path, cache_format="jpg"
        )
