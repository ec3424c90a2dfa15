"""The gallery index: save/load round trip, refusal of another model, FAISS flat = exact,
IVF-PQ recall on a fixed synthetic gallery, distances and localisation metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvgl_core.localize import Index, distance_m, fingerprint, localization_metrics
from cvgl_core.localize.backends import build_flat, build_ivfpq, faiss_search
from cvgl_core.localize.synthetic import noisy_queries, recall_at, tile_gallery


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def gallery(n=400, d=32, seed=0):
    return unit(np.random.default_rng(seed).standard_normal((n, d))).astype(np.float32)


def make_index(desc, model, dtype="float32", coords=None, kind=None):
    n = len(desc)
    return Index.create(
        desc,
        [f"t{i}" for i in range(n)],
        [f"/tiles/t{i}.png" for i in range(n)],
        config={"model": {"name": "toy"}, "data": {"dataset": "vigor"}},
        model_fingerprint=fingerprint(model),
        query_view="ground",
        coords=coords,
        coord_kind=kind,
        dtype=dtype,
    )


def test_round_trip_keeps_descriptors_tiles_coordinates_and_results(tmp_path):
    desc = gallery()
    coords = np.c_[np.linspace(40, 41, len(desc)), np.full(len(desc), -73.5)]
    model = torch.nn.Linear(2, 2)
    index = make_index(desc, model, dtype="float16", coords=coords, kind="latlon")
    q = desc[:5] + 0.01
    before = index.search_descriptors(q, 3)
    index.add_ivfpq(m=4)
    pq_before = index.search_descriptors(q, 3, backend="ivfpq", rerank=0)
    index.save(tmp_path / "g.idx")
    back = Index.load(tmp_path / "g.idx")
    assert isinstance(back.descriptors, np.memmap) and back.descriptors.dtype == np.float16
    np.testing.assert_array_equal(back.descriptors, desc.astype(np.float16))
    assert back.ids == index.ids and back.paths == index.paths
    np.testing.assert_array_equal(back.coords, coords)
    assert back.coord_kind == "latlon" and len(back) == 400
    after = back.search_descriptors(q, 3)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_allclose(before[0], after[0], rtol=1e-6)
    pq_after = back.search_descriptors(q, 3, backend="ivfpq", rerank=0)  # the stored IVF-PQ
    np.testing.assert_array_equal(pq_before[1], pq_after[1])
    assert (tmp_path / "g.idx" / "ivfpq.faiss").is_file()
    back.check_model(model)  # the same weights pass
    with pytest.raises(FileExistsError, match="not empty"):
        index.save(tmp_path / "g.idx")


def test_refuses_a_model_with_other_weights_and_bad_folders(tmp_path):
    torch.manual_seed(0)
    model, other = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)
    index = make_index(gallery(20), model)
    with pytest.raises(ValueError, match="not the model this index was built with"):
        index.check_model(other)
    with pytest.raises(ValueError, match="gallery is empty"):
        make_index(np.zeros((0, 8), np.float32), model)
    with pytest.raises(FileNotFoundError, match="not a gallery index"):
        Index.load(tmp_path)
    with pytest.raises(ValueError, match="do not match the index's 32-D"):
        index.search_descriptors(np.zeros((1, 16), np.float32))
    with pytest.raises(ValueError, match="backend 'annoy' unknown"):
        index.search_descriptors(gallery(2), backend="annoy")


def test_faiss_flat_equals_exact():
    desc = gallery(300, 48, seed=1)
    index = make_index(desc, torch.nn.Linear(1, 1))
    q = gallery(40, 48, seed=2)
    s_exact, i_exact = index.search_descriptors(q, 10, backend="exact")
    s_flat, i_flat = index.search_descriptors(q, 10, backend="flat")
    np.testing.assert_array_equal(i_exact, i_flat)
    np.testing.assert_allclose(s_exact, s_flat, atol=1e-5)
    assert np.all(np.diff(s_exact, axis=1) <= 0)  # best first


def test_ivfpq_recall_on_a_fixed_synthetic_gallery():
    """2,000 tiles x 64-D with neighbouring tiles alike; queries = their tile + noise (exact
    R@1 63%, R@10 96%). IVF-PQ at 8 bytes per tile (1/32 of float32), 16 of 51 cells probed:
    R@10 within 1.5 points of exact with exact re-ranking of 100 candidates (measured: 95.0
    vs 96.0), and above 80% from PQ scores alone (measured: 86.0)."""
    desc = tile_gallery(2000, 64, seed=3, smooth=0.7, correlation_tiles=3.0)
    q, truth = noisy_queries(desc, 300, noise=1.7)
    index = make_index(desc, torch.nn.Linear(1, 1))
    ivf = index.add_ivfpq(m=8)
    assert ivf.nlist == 51 and ivf.ntotal == 2000

    _, exact = index.search_descriptors(q, 10)
    _, pq = index.search_descriptors(q, 10, backend="ivfpq", nprobe=16, rerank=0)
    _, reranked = index.search_descriptors(q, 10, backend="ivfpq", nprobe=16, rerank=100)
    assert 50 < recall_at(exact, truth, 1) < 80
    assert recall_at(reranked, truth, 10) >= recall_at(exact, truth, 10) - 1.5
    assert recall_at(pq, truth, 10) > 80


def test_ivfpq_refuses_a_gallery_too_small_to_train():
    with pytest.raises(ValueError, match="at least"):
        build_ivfpq(gallery(100, 16))
    with pytest.raises(ValueError, match="rerank needs"):
        faiss_search(build_flat(gallery(10, 8)), gallery(1, 8), 1, rerank=2)


def test_distances_and_localisation_metrics_known_values():
    # one degree of latitude on the mean-radius sphere: pi / 180 * 6,371,008.8 m
    assert distance_m((0, 0), (1, 0), "latlon") == pytest.approx(111_195.08, abs=0.01)
    assert distance_m((40, -73), (40, -73), "latlon") == 0
    assert distance_m((0, 0), (3, 4), "metres") == 5
    with pytest.raises(ValueError, match="coordinate kind 'utm' unknown"):
        distance_m((0, 0), (1, 1), "utm")
    m = localization_metrics([10, 30, 60, 200, 5000, float("nan")])
    assert m == {
        "<=25m": 20.0,
        "<=50m": 40.0,
        "<=100m": 60.0,
        "<=1km": 80.0,
        "median_m": 60.0,
        "located": 5,
    }
