"""Batch samplers for contrastive training (pass as DataLoader(batch_sampler=...)).

* UniqueLabelBatchSampler: no two items of one label in a batch, so that in-batch
  negatives are never true matches (University-1652 has 54 drone images per building,
  VIGOR several panoramas per tile).
* NeighbourBatchSampler: Sample4Geo's hard batches (Deuser et al., "Sample4Geo: Hard
  Negative Sampling For Cross-View Geo-Localisation", ICCV 2023): each batch is filled by
  taking an unused item and then some of its neighbours, neighbour_select/2 of the nearest
  and neighbour_select/2 drawn at random from the rest of its first neighbour_range
  neighbours. The neighbour table comes from GPS/UTM distances (`gps_neighbours`, the
  first epochs) or from descriptor similarity (`similarity_neighbours`, recomputed by the
  training loop and handed over with `set_neighbours`).
Both are deterministic given (seed, epoch); call set_epoch(epoch) each epoch.
"""

from __future__ import annotations

import numpy as np
import torch


class _EpochSampler(torch.utils.data.Sampler):
    def __init__(self, labels, batch_size: int, drop_last: bool, seed: int):
        self.labels = np.asarray(labels, dtype=np.int64)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size, self.drop_last, self.seed = int(batch_size), drop_last, int(seed)
        self.epoch = 0
        self._batches: list[list[int]] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self._batches = int(epoch), None

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch])

    def batches(self) -> list[list[int]]:
        if self._batches is None:
            self._batches = self._build()
        return self._batches

    def __iter__(self):
        yield from self.batches()

    def __len__(self) -> int:
        return len(self.batches())

    def _finish(self, batches: list[list[int]], last: list[int]) -> list[list[int]]:
        if last and not self.drop_last:
            batches.append(last)
        return batches


class UniqueLabelBatchSampler(_EpochSampler):
    """Shuffled batches in which every label occurs at most once; an epoch visits every
    item once (up to the final partial batches, dropped when drop_last).

    Each batch draws distinct labels at random with probability proportional to how many
    of their items are still unused, then one unused item of each, so that labels with many
    items (54 drone images of a building) are spread over the epoch instead of piling up
    at its end where they could only fill batches of one.
    """

    def __init__(self, labels, batch_size: int, drop_last: bool = True, seed: int = 0):
        super().__init__(labels, batch_size, drop_last, seed)

    def _build(self) -> list[list[int]]:
        rng = self._rng()
        uniq, inv = np.unique(self.labels, return_inverse=True)
        queues = [list(rng.permutation(np.flatnonzero(inv == k))) for k in range(len(uniq))]
        left = np.array([len(q) for q in queues], dtype=np.float64)
        batches = []
        while left.sum() > 0:
            avail = np.flatnonzero(left)
            if len(avail) < self.batch_size and self.drop_last:
                break
            take = min(self.batch_size, len(avail))
            chosen = rng.choice(avail, size=take, replace=False, p=left[avail] / left.sum())
            batches.append([int(queues[k].pop()) for k in chosen])
            left[chosen] -= 1
        return batches


class NeighbourBatchSampler(_EpochSampler):
    """Sample4Geo-style hard batches from a neighbour table.

    neighbours: (N, K) int array (or list of sequences), row i = the items nearest to
    item i, nearest first (indices into the same dataset; itself and same-label items are
    skipped). labels keep one item per label in a batch. Without a table (None) the
    sampler falls back to UniqueLabelBatchSampler's behaviour.
    """

    def __init__(
        self,
        labels,
        batch_size: int,
        neighbours=None,
        neighbour_select: int = 64,
        neighbour_range: int = 128,
        drop_last: bool = True,
        seed: int = 0,
    ):
        super().__init__(labels, batch_size, drop_last, seed)
        self.neighbour_select, self.neighbour_range = int(neighbour_select), int(neighbour_range)
        self.set_neighbours(neighbours)

    def set_neighbours(self, neighbours) -> None:
        if neighbours is not None and len(neighbours) != len(self.labels):
            raise ValueError(
                f"neighbour table has {len(neighbours)} rows for {len(self.labels)} items"
            )
        self.neighbours, self._batches = neighbours, None

    def _build(self) -> list[list[int]]:
        rng = self._rng()
        n = len(self.labels)
        used = np.zeros(n, dtype=bool)
        order = rng.permutation(n).tolist()
        batches, batch, seen = [], [], set()
        half = self.neighbour_select // 2

        def add(i: int) -> bool:
            lab = int(self.labels[i])
            if used[i] or lab in seen:
                return False
            used[i] = True
            batch.append(i)
            seen.add(lab)
            return True

        pending = order
        while pending:
            deferred = []
            for i in pending:
                if used[i]:
                    continue
                if not add(i):
                    deferred.append(i)
                    continue
                if self.neighbours is not None and len(batch) < self.batch_size:
                    near = [int(j) for j in list(self.neighbours[i])[: self.neighbour_range]]
                    far = near[half:]
                    picks = near[:half] + [far[k] for k in rng.permutation(len(far))[:half]]
                    for j in picks:
                        if len(batch) >= self.batch_size:
                            break
                        if 0 <= j < n and j != i:
                            add(j)
                if len(batch) >= self.batch_size:
                    batches.append(batch)
                    batch, seen = [], set()
            if len(deferred) == len(pending):
                # every remaining item clashes with the open batch: close it
                if self.drop_last or not batch:
                    break
                batches.append(batch)
                batch, seen = [], set()
            pending = deferred
        return self._finish(batches, batch)


def gps_neighbours(coords, k: int, labels=None, metric: str = "euclidean") -> np.ndarray:
    """(N, k) indices of the nearest other items by position, nearest first.

    coords: (N, 2) UTM metres (metric "euclidean") or (lat, lon) degrees ("haversine").
    Items sharing a label are not neighbours of each other.
    """
    from scipy.spatial import cKDTree

    coords = np.asarray(coords, dtype=np.float64)
    if metric == "haversine":
        # unit vectors: the chord length orders pairs as the great-circle distance does
        lat, lon = np.radians(coords[:, 0]), np.radians(coords[:, 1])
        coords = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], 1)
    elif metric != "euclidean":
        raise ValueError(f"metric must be 'euclidean' or 'haversine', got {metric!r}")
    labels = np.arange(len(coords)) if labels is None else np.asarray(labels)
    extra = int(np.bincount(np.unique(labels, return_inverse=True)[1]).max())
    kk = min(len(coords), k + extra)
    _, idx = cKDTree(coords).query(coords, k=kk)
    idx = np.asarray(idx).reshape(len(coords), kk)
    return _drop_same_label(idx, labels, k)


def _drop_same_label(idx: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    out = np.full((len(idx), k), -1, dtype=np.int64)
    for i, row in enumerate(idx):
        row = row[labels[row] != labels[i]][:k]
        out[i, : len(row)] = row
    return out


@torch.no_grad()
def similarity_neighbours(
    query_desc: torch.Tensor,
    reference_desc: torch.Tensor,
    k: int,
    labels=None,
    chunk: int = 1024,
) -> np.ndarray:
    """(N, k) hard negatives: for pair i, the pairs j whose reference descriptor is most
    similar to query i's descriptor (j's label != i's label), most similar first.

    query_desc, reference_desc: (N, D) L2-normalised, row i = pair i (Sample4Geo computes
    them with the current model once per epoch). Similarity in chunks of queries.
    """
    n = len(query_desc)
    labels = torch.arange(n) if labels is None else torch.as_tensor(np.asarray(labels))
    labels = labels.to(query_desc.device)
    kk = min(n, k + int(torch.unique(labels, return_counts=True)[1].max()))
    out = []
    for s in range(0, n, chunk):
        sim = query_desc[s : s + chunk] @ reference_desc.T  # (c, N)
        same = labels[s : s + chunk, None] == labels[None, :]
        sim = sim.masked_fill(same, float("-inf"))
        top = sim.topk(kk, dim=1).indices
        out.append(top.cpu())
    idx = torch.cat(out).numpy()
    return _drop_same_label(idx, labels.cpu().numpy(), k)
