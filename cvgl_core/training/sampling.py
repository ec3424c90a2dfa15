"""Batch samplers whose order is a function of (seed, epoch) only, so a resumed run replays an
epoch exactly, and a distributed wrapper that hands each rank its slice of every global batch.

With the contiguous slices the concatenation of the ranks' batches (the order in which
`all_gather` returns them) is the single-process batch: DDP and one process see the same
global batches.
"""

from __future__ import annotations

import torch


class ShuffleBatchSampler:
    """Global batches of `batch_size` indices from a permutation seeded by seed + epoch."""

    def __init__(self, n: int, batch_size: int, seed: int = 0, drop_last: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch size must be positive, got {batch_size}")
        if drop_last and n < batch_size:
            raise ValueError(f"dataset of {n} pairs is smaller than the batch size {batch_size}")
        self.n, self.batch_size, self.seed, self.drop_last = n, batch_size, seed, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.n, generator=g).tolist()
        for i in range(0, len(self), 1):
            yield order[i * self.batch_size : (i + 1) * self.batch_size]

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full if self.drop_last or not rest else full + 1


class DistributedBatchSampler:
    """Rank r takes the r-th contiguous slice of each global batch of any batch sampler."""

    def __init__(self, batch_sampler, rank: int, world_size: int):
        bs = getattr(batch_sampler, "batch_size", None)
        if bs is not None and bs % world_size:
            raise ValueError(f"global batch size {bs} is not divisible by {world_size} ranks")
        self.inner, self.rank, self.world = batch_sampler, rank, world_size

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __iter__(self):
        for batch in self.inner:
            k = len(batch) // self.world
            yield batch[self.rank * k : (self.rank + 1) * k]

    def __len__(self) -> int:
        return len(self.inner)
