"""Batch samplers: one location per batch, GPS/UTM and similarity hard batches."""

import numpy as np
import pytest
import torch

from cvgl_core.data.samplers import (
    NeighbourBatchSampler,
    UniqueLabelBatchSampler,
    gps_neighbours,
    similarity_neighbours,
)


def _unique(batches, labels):
    return all(len({int(labels[i]) for i in b}) == len(b) for b in batches)


def test_unique_label_batches_cover_the_epoch_once():
    labels = np.repeat(np.arange(20), 5)  # 5 images per location, like drone views
    s = UniqueLabelBatchSampler(labels, batch_size=8, drop_last=False, seed=0)
    batches = list(s)
    assert _unique(batches, labels)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(100))  # every item exactly once
    assert all(len(b) == 8 for b in batches[:-1])
    s.set_epoch(1)
    assert list(s) != batches  # reshuffled per epoch, deterministic per (seed, epoch)
    s.set_epoch(0)
    assert list(s) == batches
    dropped = list(UniqueLabelBatchSampler(labels, 8, drop_last=True))
    assert all(len(b) == 8 for b in dropped) and len(s) == len(batches)


def test_unique_label_sampler_when_labels_run_out():
    labels = np.array([0, 0, 0, 0, 1])
    batches = list(UniqueLabelBatchSampler(labels, 2, drop_last=False, seed=0))
    assert _unique(batches, labels) and sorted(i for b in batches for i in b) == list(range(5))
    assert list(UniqueLabelBatchSampler(labels, 2, drop_last=True, seed=0)) == [batches[0]]


def test_gps_neighbours_and_hard_batches_group_near_locations():
    # 8 clusters of 8 locations far apart: a neighbour batch stays in its cluster
    rng = np.random.default_rng(0)
    centres = np.arange(8)[:, None] * np.array([[1000.0, 0.0]])
    coords = (centres[:, None, :] + rng.normal(0, 1, (8, 8, 2))).reshape(64, 2)
    nb = gps_neighbours(coords, k=7)
    assert nb.shape == (64, 7)
    assert (nb // 8 == np.arange(64)[:, None] // 8).all() and (nb != np.arange(64)[:, None]).all()
    s = NeighbourBatchSampler(np.arange(64), 8, nb, neighbour_select=14, neighbour_range=7)
    batches = list(s)
    assert len(batches) == 8 and sorted(i for b in batches for i in b) == list(range(64))
    same_cluster = np.mean([len({i // 8 for i in b}) == 1 for b in batches])
    assert same_cluster >= 0.75  # random batches would almost never be one cluster
    # haversine on lat/lon
    latlon = np.array([[40.0, -73.0], [40.0001, -73.0], [41.0, -73.0]])
    assert list(gps_neighbours(latlon, 1, metric="haversine")[:, 0]) == [1, 0, 1]


def test_neighbours_skip_same_label_and_batches_stay_unique():
    labels = np.repeat(np.arange(16), 2)
    coords = np.repeat(np.arange(16.0), 2)[:, None] * np.array([[1.0, 0.0]])
    nb = gps_neighbours(coords, k=4, labels=labels)
    assert (labels[nb] != labels[:, None]).all()
    s = NeighbourBatchSampler(labels, 4, nb, neighbour_select=4, neighbour_range=4, seed=2)
    assert _unique(list(s), labels)


def test_similarity_neighbours_are_the_hardest_negatives():
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(30, 8), dim=1)
    r = q.clone()
    r[1] = q[0] * 0.99 + 0.01 * r[1]  # reference 1 is the look-alike of query 0
    r = torch.nn.functional.normalize(r, dim=1)
    nb = similarity_neighbours(q, r, k=5, chunk=7)
    assert nb.shape == (30, 5) and nb[0, 0] == 1
    assert (nb != np.arange(30)[:, None]).all()
    sim = (q @ r.T).numpy()
    expect = [j for j in np.argsort(-sim[3]) if j != 3][:5]
    assert list(nb[3]) == expect
    s = NeighbourBatchSampler(np.arange(30), 6, None)
    s.set_neighbours(nb)
    assert len(s) == 5
    with pytest.raises(ValueError, match="neighbour table has 3 rows"):
        s.set_neighbours(nb[:3])
