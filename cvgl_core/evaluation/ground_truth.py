"""Ground truth for retrieval: which references match each query, served one chunk at a time.

Two forms, as the datasets carry them (docs/design.md, "Data contract"):

* labels: `query_labels` [Q] and `reference_labels` [R]; a reference matches a query when
  their labels are equal. Label -1 is junk: a junk reference is removed from every ranking
  (University-1652's `junk_index`), a query labelled -1 has no positive.
* positives: `positives[i]` = the reference indices that match query i (an int, or an array;
  a [Q] array means one positive each, a [Q, P] array may pad with -1), plus for VIGOR
  `semi_positives[i]` (the three neighbouring tiles). Duplicates are dropped.

Per chunk of queries the class returns padded index matrices (C, P) with a validity mask,
so the ranking code never builds a (Q, R) match matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def _as_int_array(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        if a.size and not np.all(np.mod(a, 1) == 0):
            raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
        a = a.astype(np.int64)
    return a.astype(np.int64, copy=False)


def _pad_index_lists(lists, name: str, num_queries: int, num_references: int) -> np.ndarray:
    """Per-query index lists -> (Q, P) int64 padded with -1 (P >= 1)."""
    if isinstance(lists, Sequence) and not isinstance(lists, (str, bytes)):
        try:  # a rectangular list of ints is an array: take the vectorised path
            as_array = np.asarray(lists)
            if as_array.dtype.kind in "iu" and as_array.size:
                lists = as_array
        except ValueError:
            pass
    is_array = isinstance(lists, torch.Tensor) or (
        isinstance(lists, np.ndarray) and lists.dtype != object
    )
    if is_array and np.ndim(lists) in (1, 2):
        arr = _as_int_array(lists, name)
        arr = arr if arr.ndim == 2 else arr[:, None]
        if arr.shape[1] == 0:
            arr = np.full((len(arr), 1), -1, dtype=np.int64)
        if len(arr) != num_queries:
            raise ValueError(f"{name} has {len(arr)} entries but there are {num_queries} queries")
        if arr.size and arr.max() >= num_references:
            i = int(np.argwhere(arr >= num_references)[0, 0])
            raise ValueError(
                f"{name}[{i}] holds reference index {int(arr[i].max())} but the gallery has "
                f"{num_references} references"
            )
        # Vectorised dedupe (VIGOR-size arrays): sort rows, blank repeats, move blanks last.
        arr = np.sort(arr, axis=1)
        arr[:, 1:][arr[:, 1:] == arr[:, :-1]] = -1
        arr[arr < 0] = -1
        order = np.argsort(arr < 0, axis=1, kind="stable")
        return np.take_along_axis(arr, order, axis=1)
    elif isinstance(lists, (Sequence, np.ndarray)) and not isinstance(lists, (str, bytes)):
        rows = [
            np.atleast_1d(_as_int_array(r, f"{name}[{i}]")).ravel() for i, r in enumerate(lists)
        ]
    else:
        raise ValueError(
            f"{name} must be a list of index arrays or an int array, got {type(lists)}"
        )
    if len(rows) != num_queries:
        raise ValueError(f"{name} has {len(rows)} entries but there are {num_queries} queries")
    rows = [np.unique(r[r >= 0]) for r in rows]
    width = max(1, max((len(r) for r in rows), default=1))
    out = np.full((num_queries, width), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        if len(r) and r[-1] >= num_references:
            raise ValueError(
                f"{name}[{i}] holds reference index {int(r[-1])} but the gallery has "
                f"{num_references} references"
            )
        out[i, : len(r)] = r
    return out


class GroundTruth:
    """Validated ground truth; `chunk(start, end)` gives padded indices for queries start:end."""

    def __init__(
        self,
        num_queries: int,
        num_references: int,
        *,
        query_labels=None,
        reference_labels=None,
        positives=None,
        semi_positives=None,
        device: torch.device | str = "cpu",
    ):
        self.device = torch.device(device)
        self.num_queries = num_queries
        has_labels = query_labels is not None or reference_labels is not None
        if positives is not None and has_labels:
            raise ValueError("give the ground truth either as labels or as positives, not both")
        if semi_positives is not None and positives is None:
            raise ValueError("semi_positives need positives (VIGOR form); labels have none")
        self.junk: torch.Tensor | None = None  # indices of junk references
        self.semi: torch.Tensor | None = None
        if positives is not None:
            self.form = "positives"
            pos = _pad_index_lists(positives, "positives", num_queries, num_references)
            self.positives = torch.from_numpy(pos).to(self.device)
            if semi_positives is not None:
                semi = _pad_index_lists(
                    semi_positives, "semi_positives", num_queries, num_references
                )
                self.semi = torch.from_numpy(semi).to(self.device)
            self.num_references = num_references
            return
        if query_labels is None or reference_labels is None:
            raise ValueError(
                "no ground truth: give query_labels and reference_labels, or positives"
            )
        self.form = "labels"
        ql = _as_int_array(query_labels, "query_labels").ravel()
        rl = _as_int_array(reference_labels, "reference_labels").ravel()
        if len(ql) != num_queries:
            raise ValueError(
                f"query_labels has length {len(ql)} but the query descriptors have "
                f"{num_queries} rows"
            )
        if len(rl) != num_references:
            raise ValueError(
                f"reference_labels has length {len(rl)} but the reference descriptors have "
                f"{num_references} rows"
            )
        keep = np.flatnonzero(rl != -1)
        if len(keep) < num_references:
            self.junk = torch.from_numpy(np.flatnonzero(rl == -1)).to(self.device)
        # Non-junk references sorted by label: a query's positives are one contiguous run.
        order = keep[np.argsort(rl[keep], kind="stable")]
        self.query_labels = torch.from_numpy(ql).to(self.device)
        self.sorted_labels = torch.from_numpy(rl[order]).to(self.device)
        self.order = torch.from_numpy(order).to(self.device)
        self.num_references = len(keep)

    def chunk(self, start: int, end: int):
        """(pos_idx (C, P), pos_valid (C, P), semi_idx (C, S) | None, semi_valid | None)."""
        if self.form == "positives":
            pos = self.positives[start:end]
            semi = None if self.semi is None else self.semi[start:end]
            return (
                pos.clamp(min=0),
                pos >= 0,
                None if semi is None else semi.clamp(min=0),
                None if semi is None else semi >= 0,
            )
        ql = self.query_labels[start:end]
        lo = torch.searchsorted(self.sorted_labels, ql, right=False)
        hi = torch.searchsorted(self.sorted_labels, ql, right=True)
        count = torch.where(ql == -1, torch.zeros_like(lo), hi - lo)  # (C,)
        width = max(1, int(count.max()) if len(count) else 1)
        slot = torch.arange(width, device=self.device)  # (P,)
        valid = slot[None, :] < count[:, None]  # (C, P)
        where = (lo[:, None] + slot[None, :]).clamp(max=max(len(self.order) - 1, 0))
        idx = self.order[where] if len(self.order) else torch.zeros_like(where)
        return idx, valid, None, None


def junk_absent_from_queries(query_labels, reference_labels) -> np.ndarray:
    """Reference labels with every label no query has set to -1 (junk).

    University-1652's second protocol (Sample4Geo-derived code, LRFR's too): the 250 gallery
    buildings absent from the queries are dropped from the ranking. The dataset's official
    protocol ranks all 951, i.e. uses the labels unchanged.
    """
    ql = _as_int_array(query_labels, "query_labels").ravel()
    rl = _as_int_array(reference_labels, "reference_labels").ravel().copy()
    rl[~np.isin(rl, ql[ql != -1])] = -1
    return rl
