"""Same area vs cross area: one trained model scored on its own test split and, with the same
weights, on another area's (MFRGN's generalisation claim), and how far apart the two areas'
descriptors lie.

    other = study.evaluate_transfer(run, "cvact", options=...)   # the other area, same weights
    gap_metrics(run.metrics, other.metrics)
    # {"same-area R@1": 62.0, "cross-area R@1": 31.0, "cross / same": 0.5, "cross-area R@5": ...}

`cross / same` is the share of its same-area R@1 a model keeps across areas (the paper's
Baseline keeps 10.78 / 83.52 = 0.13 on CVACT -> CVUSA, MFRGN 47.13 / 88.42 = 0.53); it is NaN
when the same-area R@1 is 0 (no share of nothing).
"""

from __future__ import annotations

import math

import torch

RECALLS = ("R@1", "R@5", "R@10", "R@1%")


def gap_metrics(same: dict, cross: dict) -> dict:
    """Same-area R@1, the cross-area recalls ("cross-area R@K") and "cross / same" (R@1) from
    the metrics of the same weights evaluated on each area."""
    for name, m in (("same", same), ("cross", cross)):
        if "R@1" not in m:
            raise KeyError(f"{name}-area metrics have no 'R@1' (keys: {sorted(m)})")
    s, c = float(same["R@1"]), float(cross["R@1"])
    out = {"same-area R@1": s}
    out.update({f"cross-area {k}": float(cross[k]) for k in RECALLS if k in cross})
    out["cross / same"] = c / s if s > 0 else math.nan
    return out


def centre_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Euclidean distance between the mean descriptors of two areas, a (N, D) and b (M, D):
    0 when both areas share a centre."""
    return float((a.mean(0) - b.mean(0)).norm())


def area_mixing(a: torch.Tensor, b: torch.Tensor, k: int = 10) -> float:
    """Share of each descriptor's k nearest neighbours (by dot product, itself excluded) that
    come from the other area, over a (N, D) and b (M, D) together: 0 when the areas are
    apart, about M / (N + M - 1) for a's points (0.5 for N = M) when they are fully mixed."""
    n = len(a) + len(b)
    if not 0 < k < n:
        raise ValueError(f"k must be in 1..{n - 1} for {len(a)} + {len(b)} descriptors, got {k}")
    x = torch.cat([a, b]).float()  # (N + M, D)
    area = torch.cat([torch.zeros(len(a)), torch.ones(len(b))])
    sim = x @ x.T
    sim.fill_diagonal_(-math.inf)
    nn_area = area[sim.topk(k, dim=1).indices]  # (N + M, k)
    return float((nn_area != area[:, None]).float().mean())
