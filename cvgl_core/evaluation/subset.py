"""Evaluation subsets for dry runs: the first N queries and a gallery that keeps their matches.

`eval_subset(query_ds, reference_ds, max_queries, max_gallery)` returns two views of the
datasets (same `.view`, `.labels`, and `.positives` / `.semi_positives` renumbered into the
smaller gallery) so `evaluate_retrieval` scores a small but well-formed problem: every kept
query keeps every true match (and VIGOR semi-positive) it had, and the rest of the gallery is
filled in dataset order up to `max_gallery` (true matches are kept even past the cap). The
numbers are not comparable with a full evaluation; they only show that the pipeline runs.
"""

from __future__ import annotations

import numpy as np
import torch


class IndexedView(torch.utils.data.Dataset):
    """`dataset` restricted to `indices` (in that order), with the attributes evaluation reads."""

    def __init__(self, dataset, indices, positives=None, semi_positives=None):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.view = getattr(dataset, "view", None)
        self.labels = np.asarray(dataset.labels)[self.indices]
        if positives is not None:
            self.positives = positives
        if semi_positives is not None:
            self.semi_positives = semi_positives

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        return self.dataset[int(self.indices[i])]

    def __repr__(self) -> str:
        return f"IndexedView({self.dataset!r}, n={len(self)})"


def _as_list(x) -> list[int]:
    return [int(v) for v in np.atleast_1d(np.asarray(x, dtype=np.int64)) if v >= 0]


def eval_subset(query_ds, reference_ds, max_queries: int | None, max_gallery: int | None):
    """(query view, reference view); the datasets themselves when both caps are None."""
    if max_queries is None and max_gallery is None:
        return query_ds, reference_ds
    for name, v in (("eval.max_queries", max_queries), ("eval.max_gallery", max_gallery)):
        if v is not None and v < 1:
            raise ValueError(f"{name} must be >= 1 or null, got {v}")
    nq = len(query_ds) if max_queries is None else min(max_queries, len(query_ds))
    q_idx = np.arange(nq)
    positives = getattr(query_ds, "positives", None)
    semi = getattr(query_ds, "semi_positives", None)
    if positives is not None:
        pos = [_as_list(positives[i]) for i in q_idx]
        semis = [_as_list(semi[i]) for i in q_idx] if semi is not None else None
        needed = sorted({r for p in pos + (semis or []) for r in p})
    else:
        kept = set(np.asarray(query_ds.labels)[q_idx].tolist())
        r_labels = np.asarray(reference_ds.labels)
        needed = [i for i in range(len(reference_ds)) if r_labels[i] in kept]
    cap = len(reference_ds) if max_gallery is None else max_gallery
    needed_set = set(needed)
    fill = [i for i in range(len(reference_ds)) if i not in needed_set]
    r_idx = np.array(sorted(needed + fill[: max(0, cap - len(needed))]), dtype=np.int64)
    if positives is None:
        return IndexedView(query_ds, q_idx), IndexedView(reference_ds, r_idx)
    new = {int(old): k for k, old in enumerate(r_idx)}  # old reference index -> new
    q_view = IndexedView(
        query_ds,
        q_idx,
        positives=[np.array([new[r] for r in p], dtype=np.int64) for p in pos],
        semi_positives=(
            None
            if semis is None
            else [np.array([new[r] for r in s], dtype=np.int64) for s in semis]
        ),
    )
    return q_view, IndexedView(reference_ds, r_idx)
