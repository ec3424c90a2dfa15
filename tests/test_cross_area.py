"""cvgl_core.cross_area: the same-area / cross-area numbers by hand."""

import math

import pytest
import torch

from cvgl_core.cross_area import area_mixing, centre_distance, gap_metrics


def test_gap_metrics_keeps_the_share_and_names_the_cross_recalls():
    same = {"R@1": 80.0, "R@5": 90.0}
    cross = {"R@1": 20.0, "R@5": 35.0, "R@10": 50.0, "R@1%": 70.0, "AP": 1.0}
    g = gap_metrics(same, cross)
    assert g == {
        "same-area R@1": 80.0,
        "cross-area R@1": 20.0,
        "cross-area R@5": 35.0,
        "cross-area R@10": 50.0,
        "cross-area R@1%": 70.0,
        "cross / same": 0.25,
    }


def test_gap_metrics_of_a_zero_same_area_is_nan_and_missing_r1_is_named():
    assert math.isnan(gap_metrics({"R@1": 0.0}, {"R@1": 3.0})["cross / same"])
    with pytest.raises(KeyError, match="cross-area metrics have no 'R@1'"):
        gap_metrics({"R@1": 1.0}, {"R@5": 3.0})


def test_centre_distance_by_hand():
    a = torch.tensor([[0.0, 0.0], [2.0, 0.0]])  # centre (1, 0)
    b = torch.tensor([[1.0, 3.0], [1.0, 5.0]])  # centre (1, 4)
    assert centre_distance(a, b) == pytest.approx(4.0)


def test_area_mixing_apart_and_mixed():
    # two far clusters, one per area: every neighbour is from the same area
    a = torch.tensor([[1.0, 0.0], [0.99, 0.01]])
    b = torch.tensor([[0.0, 1.0], [0.01, 0.99]])
    assert area_mixing(a, b, k=1) == 0.0
    # the same two points in each area: each point's nearest other point is its twin from
    # the other area (similarity 1 vs 0), so k=1 gives 1.0; k=3 takes all others: 2 of 3
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert area_mixing(a, a.clone(), k=1) == 1.0
    assert area_mixing(a, a.clone(), k=3) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="k must be in 1..3"):
        area_mixing(a, a, k=4)
