"""Retrieval metrics in percent: R@K, R@1%, AP (University-1652) and hit rate (VIGOR).

R@K: share of queries whose best positive ranks in the top K (rank < K, ties in the query's
favour; see ranking.py). R@1% uses K = a protocol's rounding of 1% of the gallery R (after
removing junk), always at least 1:

    "floor_plus_one"  K = int(0.01 R) + 1   VIGOR's official code; CVM-Net / SAFA / DSM code
                                            for CVUSA and CVACT (the default here)
    "floor"           K = R // 100          Sample4Geo's evaluation and code derived from it
                                            (`topk.append(R // 100)`, hit if rank < K)
    "round_plus_one"  K = round(0.01 R) + 1 University-1652's code lineage as the LRFR
                                            authors run it (WenjianGan/LRFR utils/trainer.py:
                                            `top1 = round(len(gallery) * 0.01)`, hit if
                                            CMC[top1], i.e. rank <= round(0.01 R));
                                            Python's round (half to even)
    "ceil"            K = ceil(R / 100)     "ceil(1% of the gallery)", a reading of the text

Every metrics dict names its rule under "k_one_percent_rule" (beside "k_one_percent"), so a
table can say which it used. They differ by one place at most (for CVUSA's R = 8,884:
floor_plus_one 89, floor 88, round_plus_one 90, ceil 89; for VIGOR's same-area R = 90,618:
907, 906, 907, 907).

AP: the trapezoidal average precision of the University-1652 evaluation (`compute_mAP`:
precision averaged between successive true matches), junk references removed. Its two
protocols: official = labels as they are (all 951 gallery buildings ranked); Sample4Geo's =
`junk_absent_from_queries(query_labels, reference_labels)` first. Hit rate
(VIGOR): the best positive is at the top once the query's semi-positives are removed.

Queries without any positive (a query label absent from the gallery, an empty positives
list) are excluded from every mean; their number is returned as "num_no_positive" and a
warning says so. (The University-1652 script skips them too but still divides by all
queries.)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from cvgl_core.evaluation.ranking import Ranks, rank_positives

ONE_PERCENT = {
    "floor_plus_one": lambda r: int(0.01 * r) + 1,
    "floor": lambda r: r // 100,
    "round_plus_one": lambda r: round(0.01 * r) + 1,
    "ceil": lambda r: math.ceil(r / 100),
}


def one_percent_k(num_references: int, rounding: str = "floor_plus_one") -> int:
    """K of R@1% for a gallery of `num_references` under a named rounding; K >= 1."""
    if rounding not in ONE_PERCENT:
        raise KeyError(f"unknown one_percent rounding {rounding!r}; known: {sorted(ONE_PERCENT)}")
    return max(1, int(ONE_PERCENT[rounding](int(num_references))))


def summarise(ranks: Ranks, ks: Sequence[int] = (1, 5, 10), one_percent="floor_plus_one"):
    """Per-query ranks -> metrics dict (percent), counts of queries and the R@1% K."""
    ks = tuple(int(k) for k in ks)
    if any(k < 1 for k in ks):
        raise ValueError(f"ks must be >= 1, got {ks}")
    has = ranks.has_positive
    n, missing = int(has.sum()), int((~has).sum())
    if missing:
        warnings.warn(
            f"{missing} of {len(has)} queries have no positive in the gallery; they are "
            "excluded from the metrics (see num_no_positive)",
            stacklevel=3,
        )
    first = ranks.first[has]

    def pct(x) -> float:
        return float(100.0 * np.mean(x)) if n else float("nan")

    k1 = one_percent_k(ranks.num_references, one_percent)
    out = {f"R@{k}": pct(first < k) for k in ks}
    out["R@1%"] = pct(first < k1)
    if ranks.ap is not None:
        out["AP"] = pct(ranks.ap[has])
    if ranks.hit is not None:
        out["hit_rate"] = pct(ranks.hit[has])
    out.update(
        num_queries=n, num_no_positive=missing, k_one_percent=k1, k_one_percent_rule=one_percent
    )
    return out


def retrieval_metrics(
    query,
    reference,
    *,
    query_labels=None,
    reference_labels=None,
    positives=None,
    semi_positives=None,
    ks: Sequence[int] = (1, 5, 10),
    one_percent: str = "floor_plus_one",
    ap: bool | None = None,
    chunk_size: int | None = None,
    device=None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    similarity=None,
) -> dict:
    """Retrieval metrics of query descriptors [Q, D] against reference descriptors [R, D].

    Ground truth: `query_labels` + `reference_labels` (equal label = match, -1 = junk), or
    `positives` (reference indices per query) + optional `semi_positives` (VIGOR).
    Returns {"R@1", "R@5", "R@10", "R@1%"} in percent, plus "AP" (default: with labels;
    `ap=True` forces it for positives) and "hit_rate" (with semi-positives), and the counts
    "num_queries" (queries with a positive, the denominator), "num_no_positive",
    "k_one_percent", and the rounding's name "k_one_percent_rule" (a string). `one_percent`
    names the R@1% rounding (see ONE_PERCENT).
    Memory: descriptors + one (chunk_size, R) block; device None = CUDA when available.
    similarity: optional callable (q_chunk [C, Dq], reference [R, Dr]) -> scores [C, R]
    replacing the dot product for pairwise models (records may differ in length); see
    `rank_positives`.
    """
    one_percent_k(1, one_percent)  # fail fast on an unknown rounding name
    if ap is None:
        ap = positives is None
    ranks = rank_positives(
        query,
        reference,
        query_labels=query_labels,
        reference_labels=reference_labels,
        positives=positives,
        semi_positives=semi_positives,
        ap=ap,
        chunk_size=chunk_size,
        device=device,
        dtype=dtype,
        progress=progress,
        similarity=similarity,
    )
    return summarise(ranks, ks, one_percent)


def recall_curve(
    query,
    reference,
    *,
    max_k: int | None = None,
    one_percent: str = "floor_plus_one",
    **ground_truth_and_options,
) -> tuple[np.ndarray, np.ndarray]:
    """(ks, recall in percent) for K = 1 .. max_k (default: the R@1% K), one chunked pass.

    Keyword arguments as `rank_positives` (labels or positives, chunk_size, device, dtype,
    similarity).
    """
    ranks = rank_positives(query, reference, **ground_truth_and_options)
    if max_k is None:
        max_k = one_percent_k(ranks.num_references, one_percent)
    max_k = int(max_k)
    if max_k < 1:
        raise ValueError(f"max_k must be >= 1, got {max_k}")
    first = ranks.first[ranks.has_positive]
    hits = np.bincount(np.minimum(first, max_k), minlength=max_k + 1)[:max_k]
    recall = 100.0 * np.cumsum(hits) / max(1, len(first))
    return np.arange(1, max_k + 1), recall


def chance_recall_at_1(query_labels, reference_labels) -> float:
    """R@1 in percent that a random ranking scores in expectation, by labels: the mean over
    queries of (true matches in the gallery / gallery size), junk references (label -1)
    ranked nowhere and queries without a match left out, as `retrieval_metrics` does.
    One-to-one (one satellite tile per drone query): 100 / R; one-to-many (a satellite query
    and its building's drone views): the views' share of the gallery. NaN without a match."""
    q = np.asarray(query_labels).reshape(-1)
    r = np.asarray(reference_labels).reshape(-1)
    r = r[r != -1]
    labels, counts = np.unique(r, return_counts=True)
    per_label = dict(zip(labels.tolist(), counts.tolist()))
    matches = np.array([per_label.get(x, 0) for x in q[q != -1].tolist()], dtype=float)
    matches = matches[matches > 0]
    return float(100.0 * matches.mean() / len(r)) if len(matches) else math.nan
