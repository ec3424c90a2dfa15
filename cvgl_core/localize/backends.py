"""Search backends over a gallery of L2-normalised descriptors (score = inner product).

* exact: the evaluator's chunked product (`cvgl_core.evaluation.top_k`), float32 in RAM.
* flat: FAISS `IndexFlatIP`, the same exact scores from FAISS's BLAS kernels.
* ivfpq: FAISS `IndexIVFPQ` (Jegou et al., "Product quantization for nearest neighbor
  search", TPAMI 2011): `nlist` k-means cells, each vector stored as `m` bytes of PQ codes;
  `nprobe` cells are scanned per query. Its `rerank` best candidates are then re-scored
  exactly from the stored descriptors (memory-mapped, so only those rows are read): the
  index itself holds m + 8 bytes per tile instead of 4 x D.

`faiss-gpu` exposes the same API; FAISS is imported only when a faiss backend is used.
"""

from __future__ import annotations

import math

import numpy as np
import torch

BACKENDS = ("exact", "flat", "ivfpq")


def _faiss():
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is in requirements.lock
        raise ImportError(
            "the flat/ivfpq backends need FAISS: pip install faiss-cpu (faiss-gpu on GPU machines)"
        ) from None
    return faiss


def _f32(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def exact_search(query, gallery: torch.Tensor, k: int):
    """(scores (Q, k) float32, indices (Q, k) int64) numpy, best first."""
    from cvgl_core.evaluation import top_k

    scores, idx = top_k(torch.as_tensor(_f32(query)), gallery, k, device="cpu")
    return scores.numpy(), idx.numpy().astype(np.int64)


def build_flat(descriptors):
    faiss = _faiss()
    x = _f32(descriptors)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    return index


def default_pq_m(dim: int) -> int:
    """Bytes per vector: D/16 (64 for 1,024-D, 256 for 4,096-D) when it divides D."""
    m = max(1, dim // 16)
    while dim % m:
        m -= 1
    return m


def default_nlist(n: int) -> int:
    """~4 sqrt(N) cells (1,204 for VIGOR's 90,618 tiles), at least 39 points per cell to
    train k-means (FAISS warns below that)."""
    return int(max(1, min(4 * math.sqrt(n), n // 39)))


def build_ivfpq(
    descriptors,
    nlist: int | None = None,
    m: int | None = None,
    seed: int = 0,
    train_size: int = 100_000,
    chunk: int = 65_536,
):
    """Train and fill an IVF-PQ index on (N, D) descriptors (any float dtype, memmap ok)."""
    faiss = _faiss()
    n, dim = descriptors.shape
    nlist = nlist or default_nlist(n)
    m = m or default_pq_m(dim)
    if dim % m:
        raise ValueError(f"pq m={m} must divide the descriptor dimension {dim}")
    if n < max(nlist, 256):
        raise ValueError(
            f"IVF-PQ needs at least max(nlist={nlist}, 256) tiles to train; the gallery has {n}: "
            "use the exact or flat backend"
        )
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
    # 10 k-means iterations instead of FAISS's 25: training is the slow part on 2 cores
    # (~2 min at 90,618 x 1,024-D with 25) and exact re-ranking absorbs coarser cells.
    index.cp.niter = 10
    index.pq.cp.niter = 10
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(n, train_size), replace=False))
    index.train(_f32(descriptors[sample]))
    for start in range(0, n, chunk):  # add in chunks: the gallery need not fit in RAM
        index.add(_f32(descriptors[start : start + chunk]))
    return index


def faiss_search(
    index, query, k: int, *, nprobe: int | None = None, rerank: int = 0, descriptors=None
):
    """(scores, indices) of a FAISS index; with rerank > 0 the `max(k, rerank)` candidates
    are re-scored exactly against `descriptors` (rows of the gallery) and re-sorted."""
    q = _f32(query)
    if nprobe is not None and hasattr(index, "nprobe"):
        index.nprobe = int(nprobe)
    k = min(int(k), index.ntotal)
    depth = min(max(k, int(rerank)), index.ntotal) if rerank else k
    scores, idx = index.search(q, depth)  # (Q, depth); -1 where fewer were found
    if not rerank:
        return scores, idx.astype(np.int64)
    if descriptors is None:
        raise ValueError("rerank needs the gallery descriptors")
    out_s = np.full((len(q), k), -np.inf, dtype=np.float32)
    out_i = np.full((len(q), k), -1, dtype=np.int64)
    for row in range(len(q)):
        cand = idx[row][idx[row] >= 0]
        order = np.argsort(cand)  # sorted rows read the memory map sequentially
        exact = _f32(descriptors[cand[order]]) @ q[row]  # (C,)
        best = np.argsort(-exact, kind="stable")[:k]
        out_s[row, : len(best)] = exact[best]
        out_i[row, : len(best)] = cand[order][best]
    return out_s, out_i


def index_bytes(index) -> int:
    """Serialized size of a FAISS index: what it holds in RAM (codes, lists, centroids)."""
    faiss = _faiss()
    return int(faiss.serialize_index(index).nbytes)
