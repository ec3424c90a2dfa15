"""Chunked retrieval metrics against an independent brute force (full matrix, sort, loops)."""

import math
import warnings

import numpy as np
import pytest
import torch

from cvgl_core.evaluation import (
    one_percent_k,
    rank_positives,
    recall_curve,
    retrieval_metrics,
    top_k,
)
from cvgl_core.evaluation.ranking import SORT_ABOVE

# ---------------------------------------------------------------- brute force (the oracle)


def brute_force(q, r, positives, semi, junk, ks, rounding):
    """Full score matrix; per query a total order (score desc, positives first among ties),
    junk removed; AP exactly as University-1652's compute_mAP; hit rate by removing semis."""
    scores = q.astype(np.float64) @ r.T.astype(np.float64)
    n_ref = int((~junk).sum())
    k1 = max(1, {"floor_plus_one": n_ref // 100 + 1, "floor": n_ref // 100}.get(rounding, 0))
    if rounding == "ceil":
        k1 = max(1, -(-n_ref // 100))
    firsts, aps, hits = [], [], []
    for i in range(len(q)):
        pos = set(int(p) for p in positives[i]) - set(np.flatnonzero(junk).tolist())
        if not pos:
            continue
        ids = [j for j in range(len(r)) if not junk[j]]
        ids.sort(key=lambda j: (-scores[i, j], 0 if j in pos else 1))
        rows_good = [place for place, j in enumerate(ids) if j in pos]
        firsts.append(rows_good[0])
        ap = 0.0
        for n, row in enumerate(rows_good):
            precision = (n + 1) / (row + 1)
            old_precision = n / row if row != 0 else 1.0
            ap += (1.0 / len(rows_good)) * (old_precision + precision) / 2
        aps.append(ap)
        semis = set(int(s) for s in semi[i]) - pos if semi is not None else set()
        without = [j for j in ids if j not in semis]
        hits.append(without[0] in pos)
    firsts = np.array(firsts)
    out = {f"R@{k}": 100 * np.mean(firsts < k) for k in ks}
    out["R@1%"] = 100 * np.mean(firsts < k1)
    out["AP"] = 100 * np.mean(aps)
    out["hit_rate"] = 100 * np.mean(hits)
    out["num_queries"] = len(firsts)
    out["k_one_percent"] = k1
    return out


def integer_descriptors(rng, n, d=6, high=3):
    """Small integers: every dot product is exact in float16/32, and ties abound."""
    return rng.integers(-high, high + 1, size=(n, d)).astype(np.float32)


def labels_to_positives(ql, rl):
    return [np.flatnonzero((rl == l) & (rl != -1)) if l != -1 else np.array([], int) for l in ql]


def check(ours, expected, keys):
    for k in keys:
        assert ours[k] == pytest.approx(expected[k], abs=1e-9), (k, ours[k], expected[k])


# ---------------------------------------------------------------- agreement


@pytest.mark.parametrize("chunk_size", [1, 7, None])
@pytest.mark.parametrize("rounding", ["floor_plus_one", "floor", "ceil"])
def test_labels_several_matches_junk_and_missing(chunk_size, rounding):
    rng = np.random.default_rng(0)
    q, r = integer_descriptors(rng, 40), integer_descriptors(rng, 83)  # gallery < 100
    rl = rng.integers(-1, 10, size=83)  # -1 = junk
    ql = rng.integers(-1, 12, size=40)  # 10, 11 absent, -1: no positive
    ql[:3] = [10, 11, -1]
    with pytest.warns(UserWarning, match="no positive"):
        ours = retrieval_metrics(
            q, r, query_labels=ql, reference_labels=rl, chunk_size=chunk_size, one_percent=rounding
        )
    exp = brute_force(q, r, labels_to_positives(ql, rl), None, rl == -1, (1, 5, 10), rounding)
    check(ours, exp, ["R@1", "R@5", "R@10", "R@1%", "AP", "num_queries", "k_one_percent"])
    assert ours["num_no_positive"] == 40 - exp["num_queries"] >= 3
    assert "hit_rate" not in ours


def test_one_to_one_labels_with_ties():
    rng = np.random.default_rng(1)
    q, r = integer_descriptors(rng, 37, d=3, high=1), integer_descriptors(rng, 37, d=3, high=1)
    labels = np.arange(37)
    ours = retrieval_metrics(q, r, query_labels=labels, reference_labels=labels, ks=(1, 2, 3))
    exp = brute_force(q, r, labels[:, None], None, np.zeros(37, bool), (1, 2, 3), "floor_plus_one")
    check(ours, exp, ["R@1", "R@2", "R@3", "R@1%", "AP"])
    # Ties are frequent with 3-D descriptors in {-1, 0, 1}: the tie rule is exercised.
    s = q @ r.T
    assert (s == s[np.arange(37), np.arange(37)][:, None]).sum() > 2 * 37


@pytest.mark.parametrize("chunk_size", [3, None])
def test_positives_and_semi_positives_vigor(chunk_size):
    rng = np.random.default_rng(2)
    q, r = integer_descriptors(rng, 30), integer_descriptors(rng, 120)
    pos = rng.integers(0, 120, size=30)
    semi = [rng.choice(np.setdiff1d(np.arange(120), [p]), 3, replace=False) for p in pos]
    ours = retrieval_metrics(
        q, r, positives=pos, semi_positives=semi, chunk_size=chunk_size, ap=True
    )
    exp = brute_force(q, r, pos[:, None], semi, np.zeros(120, bool), (1, 5, 10), "floor_plus_one")
    check(ours, exp, ["R@1", "R@5", "R@10", "R@1%", "AP", "hit_rate"])
    assert ours["k_one_percent"] == 2  # int(0.01 * 120) + 1
    assert ours["hit_rate"] >= ours["R@1"]
    assert "AP" not in retrieval_metrics(q, r, positives=pos)  # default: AP with labels only


def test_hit_rate_forgives_semis_not_negatives():
    q = np.array([[1.0, 0.0]], np.float32)
    r = np.array([[0.5, 0], [0.9, 0], [0.8, 0], [0.1, 0]], np.float32)  # positive = 0
    semis_above = retrieval_metrics(q, r, positives=[0], semi_positives=[[1, 2]])
    assert semis_above["R@1"] == 0 and semis_above["hit_rate"] == 100
    negative_above = retrieval_metrics(q, r, positives=[0], semi_positives=[[1, 3]])
    assert negative_above["hit_rate"] == 0


def test_variable_positive_lists_with_empty_and_many():
    rng = np.random.default_rng(3)
    q, r = integer_descriptors(rng, 12), integer_descriptors(rng, 90)
    # More positives than SORT_ABOVE for some queries: the sort path of AP.
    lists = [rng.choice(90, size=n, replace=False) for n in rng.integers(0, 40, size=12)]
    lists[0] = np.array([], int)
    lists[1] = rng.choice(90, size=SORT_ABOVE + 5, replace=False)
    with pytest.warns(UserWarning):
        ours = retrieval_metrics(q, r, positives=lists, ap=True, chunk_size=5)
    exp = brute_force(q, r, lists, None, np.zeros(90, bool), (1, 5, 10), "floor_plus_one")
    check(ours, exp, ["R@1", "R@5", "R@10", "R@1%", "AP", "num_queries"])


def test_labels_many_positives_sort_path_university_like():
    rng = np.random.default_rng(4)
    q, r = integer_descriptors(rng, 8), integer_descriptors(rng, 160)
    rl, ql = np.repeat(np.arange(4), 40), np.arange(8) % 4  # 40 positives > SORT_ABOVE
    rl[::17] = -1
    ours = retrieval_metrics(q, r, query_labels=ql, reference_labels=rl, chunk_size=3)
    exp = brute_force(q, r, labels_to_positives(ql, rl), None, rl == -1, (1, 5, 10), "ceil")
    check(ours, exp, ["R@1", "R@5", "R@10", "AP"])


def test_continuous_float32_planted_positives():
    rng = np.random.default_rng(5)
    r = rng.normal(size=(150, 32)).astype(np.float32)
    q = r[:60] + 2.5 * rng.normal(size=(60, 32)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    r /= np.linalg.norm(r, axis=1, keepdims=True)
    pos = np.arange(60)
    ours = retrieval_metrics(torch.from_numpy(q), torch.from_numpy(r), positives=pos, ap=True)
    exp = brute_force(q, r, pos[:, None], None, np.zeros(150, bool), (1, 5, 10), "floor_plus_one")
    check(ours, exp, ["R@1", "R@5", "R@10", "R@1%", "AP"])
    assert 0 < ours["R@1"] < 100


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")
        ),
    ],
)
def test_float16_agrees(device):
    rng = np.random.default_rng(6)
    q, r = integer_descriptors(rng, 25), integer_descriptors(rng, 70)
    rl, ql = rng.integers(-1, 8, size=70), rng.integers(0, 8, size=25)
    kw = dict(query_labels=ql, reference_labels=rl, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        half = retrieval_metrics(q, r, dtype=torch.float16, chunk_size=4, **kw)
        full = retrieval_metrics(q, r, **kw)
    exp = brute_force(
        q, r, labels_to_positives(ql, rl), None, rl == -1, (1, 5, 10), "floor_plus_one"
    )
    check(half, exp, ["R@1", "R@5", "R@10", "R@1%", "AP"])
    check(full, exp, ["R@1", "R@5", "R@10", "R@1%", "AP"])


def test_ranks_recall_curve_and_top_k():
    rng = np.random.default_rng(7)
    q, r = integer_descriptors(rng, 20), integer_descriptors(rng, 250)
    pos = rng.integers(0, 250, size=20)
    ranks = rank_positives(q, r, positives=pos)
    s = q @ r.T
    assert np.array_equal(ranks.first, (s > s[np.arange(20), pos][:, None]).sum(1))
    ks, recall = recall_curve(q, r, positives=pos)
    assert list(ks) == [1, 2, 3]  # K = int(0.01 * 250) + 1
    assert np.allclose(recall, [100 * np.mean(ranks.first < k) for k in ks])
    scores, idx = top_k(q, r, 4, chunk_size=6)
    assert idx.shape == (20, 4)
    assert np.allclose(scores.numpy(), -np.sort(-s, axis=1)[:, :4])


def test_one_percent_roundings():
    table = {8884: (89, 88, 89), 90618: (907, 906, 907), 100: (2, 1, 1), 50: (1, 1, 1)}
    for n, expected in table.items():
        got = tuple(one_percent_k(n, name) for name in ("floor_plus_one", "floor", "ceil"))
        assert got == expected, n
    assert one_percent_k(1, "floor") == 1
    with pytest.raises(KeyError, match="known"):
        one_percent_k(10, "round")


def test_all_queries_without_positive_give_nan():
    q, r = np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32)
    with pytest.warns(UserWarning, match="3 of 3"):
        m = retrieval_metrics(q, r, query_labels=[5, 6, -1], reference_labels=[0, 1, 2])
    assert math.isnan(m["R@1"]) and m["num_queries"] == 0 and m["num_no_positive"] == 3


# ---------------------------------------------------------------- bad input


def test_bad_input_errors():
    q, r = np.ones((4, 8), np.float32), np.ones((5, 8), np.float32)
    labels = dict(query_labels=np.arange(4), reference_labels=np.arange(5))
    with pytest.raises(ValueError, match=r"dimensions differ.*\(4, 8\).*\(5, 6\)"):
        retrieval_metrics(q, np.ones((5, 6), np.float32), **labels)
    bad = q.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"query descriptors of shape \(4, 8\).*first row 2"):
        retrieval_metrics(bad, r, **labels)
    with pytest.raises(ValueError, match="reference_labels has length 4 .* 5 rows"):
        retrieval_metrics(q, r, query_labels=np.arange(4), reference_labels=np.arange(4))
    with pytest.raises(ValueError, match="query_labels has length 3"):
        retrieval_metrics(q, r, query_labels=np.arange(3), reference_labels=np.arange(5))
    with pytest.raises(ValueError, match="positives has 3 entries"):
        retrieval_metrics(q, r, positives=[0, 1, 2])
    with pytest.raises(ValueError, match="index 9 but the gallery has 5"):
        retrieval_metrics(q, r, positives=[0, 1, 2, 9])
    with pytest.raises(ValueError, match="either as labels or as positives"):
        retrieval_metrics(q, r, positives=[0, 1, 2, 3], **labels)
    with pytest.raises(ValueError, match="no ground truth"):
        retrieval_metrics(q, r)
    with pytest.raises(ValueError, match=r"2-D \[N, D\], got shape \(8,\)"):
        retrieval_metrics(q[0], r, **labels)
    with pytest.raises(KeyError, match="unknown one_percent"):
        retrieval_metrics(q, r, one_percent="nearest", **labels)


def test_positive_forms_are_equivalent():
    rng = np.random.default_rng(8)
    q, r = integer_descriptors(rng, 15), integer_descriptors(rng, 40)
    ragged = [rng.choice(40, size=n, replace=False) for n in rng.integers(1, 4, size=15)]
    padded = np.full((15, 5), -1)
    for i, p in enumerate(ragged):
        padded[i, : len(p)] = p
        padded[i, len(p)] = p[0]  # a duplicate is dropped
    forms = [ragged, padded, torch.from_numpy(padded), [list(row) for row in padded]]
    results = [retrieval_metrics(q, r, positives=f, ap=True) for f in forms]
    assert all(res == results[0] for res in results)
    exp = brute_force(q, r, ragged, None, np.zeros(40, bool), (1, 5, 10), "floor_plus_one")
    check(results[0], exp, ["R@1", "R@5", "R@10", "AP"])


def test_integer_counting_path_for_huge_galleries(monkeypatch):
    from cvgl_core.evaluation import ranking

    rng = np.random.default_rng(9)
    q, r = integer_descriptors(rng, 10), integer_descriptors(rng, 30)
    ql, rl = rng.integers(0, 5, size=10), rng.integers(-1, 5, size=30)
    kw = dict(query_labels=ql, reference_labels=rl)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        float_path = retrieval_metrics(q, r, **kw)
        monkeypatch.setattr(ranking, "FLOAT_COUNT_BELOW", 0)
        assert retrieval_metrics(q, r, **kw) == float_path


def test_junk_absent_from_queries_protocol():
    from cvgl_core.evaluation import junk_absent_from_queries

    rl = junk_absent_from_queries([3, 1, 1, -1], [0, 1, 2, 3, 3, -1])
    assert list(rl) == [-1, 1, -1, 3, 3, -1]


def test_chance_recall_at_1_by_hand_and_against_random_rankings():
    from cvgl_core.evaluation import chance_recall_at_1

    # gallery 0, 0, 1, 3 (+ two junk): queries 0 -> 2/4, 1 -> 1/4, 3 -> 1/4; 5 and -1 have none
    rl = np.array([0, 0, -1, 1, 3, -1])
    assert chance_recall_at_1([0, 1, 3, 5, -1], rl) == pytest.approx(100 / 3)
    assert chance_recall_at_1(np.arange(80), np.arange(80)) == pytest.approx(1.25)
    assert math.isnan(chance_recall_at_1([7], rl))
    # the mean R@1 of random descriptors approaches it (3,000 queries: s.e. ~0.9 points)
    rng = np.random.default_rng(0)
    ql = np.tile([0, 1, 3], 1000)
    q, r = rng.normal(size=(3000, 16)), rng.normal(size=(6, 16))
    ours = retrieval_metrics(q, r, query_labels=ql, reference_labels=rl)
    assert ours["R@1"] == pytest.approx(100 / 3, abs=3.0)
