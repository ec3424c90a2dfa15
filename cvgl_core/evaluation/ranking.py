"""Chunked ranking of the true matches: the engine behind every retrieval metric.

Similarity is the dot product of the descriptors (the cosine for the L2-normalised
descriptors every model returns; nothing is renormalised here), or, for pairwise models
(AWM's correlation/DSM modes), a `similarity(q_chunk [C, Dq], reference [R, Dr]) -> (C, R)`
callable applied to each query chunk in place of the matrix product (query and reference
records may then have different lengths; the callable bounds its own working memory, e.g.
by chunking the references: see `evaluation.extract.chunked_similarity`). Queries are
processed in chunks of C rows: memory is the descriptors plus one (C, R) score block (plus a
(C, R) float32 counting block), on CPU or CUDA, in float32 or float16. Everything runs under
torch.no_grad.

Tie rule (one rule for every metric): a reference counts above a positive only when it
scores *strictly* higher, so ties go in the query's favour, as in VIGOR's official code
(`ranking = (sim > sim_gt).sum()`). Positives tied with each other take consecutive
places. Junk references (label -1) are ranked nowhere. The University-1652 evaluation sorts
with `np.argsort`, which breaks exact ties arbitrarily: with continuous descriptors exact
ties do not occur and the two agree.

Rank of a positive p (0-based, among non-junk references):
    rank(p) = #{negatives n : s(n) > s(p)} + #{positives placed before p}
computed without sorting rows: `(S > s(p)).sum(1)` over the chunk for the best positive
(all R@K, hit rate), and for AP, which needs every positive, one counting pass per positive
slot when queries have few positives, else one sort of the chunk's rows + `searchsorted`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from cvgl_core.evaluation.ground_truth import GroundTruth

CHUNK_BYTES = 256 * 2**20  # score block budget when chunk_size is not given
SORT_ABOVE = 16  # AP: count per positive slot up to this many positives, sort rows beyond
FLOAT_COUNT_BELOW = 2**24  # float32 sums of 0/1 are exact below this many references


@dataclass
class Ranks:
    """Per-query outcome of the ranking (numpy, CPU)."""

    first: np.ndarray  # (Q,) int64: rank of the best positive; -1 when the query has none
    ap: np.ndarray | None  # (Q,) float64 AP in [0, 1] (NaN without positive); None if not asked
    hit: np.ndarray | None  # (Q,) bool VIGOR hit (semi-positives forgiven); None without semis
    num_references: int  # gallery size after removing junk

    @property
    def has_positive(self) -> np.ndarray:
        return self.first >= 0


def resolve_device(device, *tensors) -> torch.device:
    """The given device; else CUDA when a tensor already lives there or CUDA exists; else CPU."""
    if device is not None:
        return torch.device(device)
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.is_cuda:
            return t.device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def as_descriptors(x, name: str, *, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Array or tensor [N, D] -> tensor on device/dtype; one ValueError naming what is wrong."""
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 2:
        raise ValueError(f"{name} descriptors must be 2-D [N, D], got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} descriptors are empty: shape {tuple(t.shape)}")
    if not (t.is_floating_point()):
        raise ValueError(f"{name} descriptors must be floating point, got {t.dtype}")
    t = t.detach().to(device=device, dtype=dtype)
    bad = ~torch.isfinite(t).all(dim=1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten()
        raise ValueError(
            f"{name} descriptors of shape {tuple(t.shape)} hold NaN/inf (in {dtype}) in "
            f"{len(rows)} row(s), first row {int(rows[0])}"
        )
    return t


def prepare(query, reference, *, device=None, dtype=torch.float32, same_dim: bool = True):
    """Validate and place both descriptor sets: (query, reference, device).
    same_dim=False (pairwise similarity) lets the record lengths differ."""
    if dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        raise ValueError(f"dtype must be a floating dtype, got {dtype}")
    device = resolve_device(device, query, reference)
    q = as_descriptors(query, "query", device=device, dtype=dtype)
    r = as_descriptors(reference, "reference", device=device, dtype=dtype)
    if same_dim and q.shape[1] != r.shape[1]:
        raise ValueError(
            f"descriptor dimensions differ: query {tuple(q.shape)} vs reference {tuple(r.shape)}"
        )
    return q, r, device


def chunk_rows(chunk_size: int | None, num_queries: int, num_references: int, itemsize: int):
    if chunk_size is None:
        chunk_size = CHUNK_BYTES // max(1, num_references * itemsize)
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return max(1, min(int(chunk_size), num_queries))


def chunk_scores(q_chunk, r, similarity, out=None) -> torch.Tensor:
    """(C, R) scores of one query chunk: q_chunk @ r.T, or `similarity(q_chunk, r)` checked
    for shape and finiteness (a NaN score would silently corrupt the counts)."""
    if similarity is None:
        return torch.mm(q_chunk, r.t(), out=out)  # (C, D) x (D, R) -> (C, R)
    s = similarity(q_chunk, r)
    want = (q_chunk.shape[0], r.shape[0])
    if not isinstance(s, torch.Tensor) or tuple(s.shape) != want:
        raise ValueError(
            f"similarity(query chunk {tuple(q_chunk.shape)}, reference {tuple(r.shape)}) must "
            f"return a {want} tensor, got {type(s).__name__} {tuple(getattr(s, 'shape', ()))}"
        )
    if not bool(torch.isfinite(s).all()):
        raise ValueError(f"similarity returned NaN/inf scores for a query chunk of shape {want}")
    if out is None:
        return s.to(q_chunk.dtype)
    return out.copy_(s)


@torch.no_grad()
def rank_positives(
    query,
    reference,
    *,
    query_labels=None,
    reference_labels=None,
    positives=None,
    semi_positives=None,
    ap: bool = False,
    chunk_size: int | None = None,
    device=None,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    similarity=None,
) -> Ranks:
    """Rank of every query's best positive (and AP, VIGOR hit) by chunked counting.

    Ground truth as in `GroundTruth` (labels with junk -1, or positives + semi-positives).
    similarity: optional callable (q_chunk [C, Dq], reference [R, Dr]) -> scores [C, R]
    used instead of q_chunk @ reference.T (pairwise models); Dq may differ from Dr.
    """
    same_dim = similarity is None
    q, r, device = prepare(query, reference, device=device, dtype=dtype, same_dim=same_dim)
    gt = GroundTruth(
        q.shape[0],
        r.shape[0],
        query_labels=query_labels,
        reference_labels=reference_labels,
        positives=positives,
        semi_positives=semi_positives,
        device=device,
    )
    num_q, num_r = q.shape[0], r.shape[0]
    rows = chunk_rows(chunk_size, num_q, num_r, q.element_size())
    first = torch.empty(num_q, dtype=torch.int64, device=device)
    ap_out = torch.empty(num_q, dtype=torch.float64, device=device) if ap else None
    hit_out = torch.empty(num_q, dtype=torch.bool, device=device) if gt.semi is not None else None
    # Reused blocks: fresh (C, R) allocations per chunk cost page faults comparable to the work.
    scores_buf = torch.empty((rows, num_r), dtype=q.dtype, device=device)
    # Counting through a float32 0/1 block and a float sum is ~3x faster on CPU than summing
    # a bool block (which widens to int64); the sum is exact below 2^24 references.
    count_dtype = torch.float32 if num_r < FLOAT_COUNT_BELOW else torch.int64
    above_buf = torch.empty((rows, num_r), dtype=count_dtype, device=device)
    neg_inf = float("-inf")
    starts = range(0, num_q, rows)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="ranking", unit="chunk")
    for start in starts:
        end = min(start + rows, num_q)
        c = end - start
        s = chunk_scores(q[start:end], r, similarity, out=scores_buf[:c])  # (C, R)
        if gt.junk is not None:
            s.index_fill_(1, gt.junk, neg_inf)
        pos_idx, pos_valid, semi_idx, semi_valid = gt.chunk(start, end)
        n_pos = pos_valid.sum(1)  # (C,)
        # Positive scores, best first; padding slots hold -inf and sort last.
        v = s.gather(1, pos_idx).masked_fill(~pos_valid, neg_inf)  # (C, P)
        v = v.sort(dim=1, descending=True).values
        need = v.shape[1] if ap else 1
        if need <= SORT_ABOVE:
            above = torch.empty((c, need), dtype=torch.int64, device=device)
            for j in range(need):
                torch.gt(s, v[:, j : j + 1], out=above_buf[:c])  # 1 where strictly above
                above[:, j] = above_buf[:c].sum(1)  # references strictly above positive j
        else:
            ascending = s.sort(dim=1).values  # (C, R)
            above = num_r - torch.searchsorted(ascending, v.contiguous(), right=True)
            del ascending
        first[start:end] = torch.where(n_pos > 0, above[:, 0], -1)
        if ap_out is not None:
            ap_out[start:end] = _average_precision(v, above, n_pos)
        if hit_out is not None:
            semi_above = ((s.gather(1, semi_idx) > v[:, :1]) & semi_valid).sum(1)
            hit_out[start:end] = (above[:, 0] == semi_above) & (n_pos > 0)
    return Ranks(
        first=first.cpu().numpy(),
        ap=None if ap_out is None else ap_out.cpu().numpy(),
        hit=None if hit_out is None else hit_out.cpu().numpy(),
        num_references=gt.num_references,
    )


def _average_precision(v: torch.Tensor, above: torch.Tensor, n_pos: torch.Tensor) -> torch.Tensor:
    """Trapezoidal AP of the University-1652 evaluation (`compute_mAP`), batched.

    v (C, P): positive scores best first (-inf padding); above (C, P): references strictly
    above each. With rows_good[i] the 0-based place of the i-th positive:
        AP = 1/n sum_i ( i/rows_good[i] (1 if rows_good[i] == 0) + (i+1)/(rows_good[i]+1) ) / 2
    """
    width = v.shape[1]
    slot = torch.arange(width, device=v.device)  # (P,)
    # Positives strictly above positive i = P - #(positive scores <= v_i).
    pos_above = width - torch.searchsorted(v.flip(1).contiguous(), v.contiguous(), right=True)
    rows_good = (slot + above - pos_above).double()  # (C, P) place among non-junk references
    i = slot.double()
    precision = (i + 1) / (rows_good + 1)
    old_precision = torch.where(rows_good > 0, i / rows_good.clamp(min=1), 1.0)
    valid = slot[None, :] < n_pos[:, None]
    ap = ((old_precision + precision) / 2 * valid).sum(1) / n_pos.clamp(min=1)
    return torch.where(n_pos > 0, ap, float("nan"))


@torch.no_grad()
def top_k(
    query,
    reference,
    k: int,
    *,
    chunk_size: int | None = None,
    device=None,
    dtype: torch.dtype = torch.float32,
    similarity=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, indices), each (Q, k) on CPU: the k most similar references per query.
    similarity: as in `rank_positives`."""
    same_dim = similarity is None
    q, r, device = prepare(query, reference, device=device, dtype=dtype, same_dim=same_dim)
    k = min(int(k), r.shape[0])
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rows = chunk_rows(chunk_size, q.shape[0], r.shape[0], q.element_size())
    scores, indices = [], []
    for start in range(0, q.shape[0], rows):
        s = chunk_scores(q[start : start + rows], r, similarity)  # (C, R)
        top = s.topk(k, dim=1)
        scores.append(top.values.float().cpu())
        indices.append(top.indices.cpu())
    return torch.cat(scores), torch.cat(indices)
