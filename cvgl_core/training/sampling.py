"""Batch samplers whose order is a function of (seed, epoch) only, so a resumed run replays an
epoch exactly, and a distributed wrapper that hands each rank its slice of every global batch.

With the contiguous slices the concatenation of the ranks' batches (the order in which
`all_gather` returns them) is the single-process batch: DDP and one process see the same
global batches. Items are drawn from seeds of their own (`SeededItems`, fed by
`EpochBatches`), so a batch is the same whoever loads it and a run resumed in the middle of
an epoch skips the batches it has seen and goes on exactly.
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


def item_seed(seed: int, epoch: int, index: int) -> int:
    """A 64-bit seed that depends on (seed, epoch, index) only."""
    import numpy as np

    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0])


class SeededItems(torch.utils.data.Dataset):
    """A dataset whose item `index` of epoch `epoch` is drawn with the random streams (torch
    CPU, numpy, python) seeded by (seed, epoch, index): the augmentation of an item does not
    depend on which worker fetches it, on num_workers, on the number of DDP ranks, or on
    where in the epoch a run was resumed. Indices are (epoch, index) pairs, as
    `EpochBatches` yields them (the epoch travels with the index, so persistent workers,
    which never see set_epoch, draw right too).

    In the main process (num_workers=0) the global streams are restored after each item, so
    the model's dropout draws the same numbers whatever the data loading does.
    """

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed = dataset, int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        import random

        import numpy as np

        epoch, index = key
        s = item_seed(self.seed, epoch, index)
        main = torch.utils.data.get_worker_info() is None
        if main:
            saved = torch.get_rng_state(), np.random.get_state(), random.getstate()
        torch.default_generator.manual_seed(s)  # CPU only: the CUDA streams are the model's
        np.random.seed(s % 2**32)
        random.seed(s)
        try:
            return self.dataset[index]
        finally:
            if main:
                torch.set_rng_state(saved[0])
                np.random.set_state(saved[1])
                random.setstate(saved[2])


class EpochBatches:
    """Wraps a batch sampler: yields [(epoch, index), ...] for `SeededItems`, and starts the
    next pass at batch `start` (a run resumed inside an epoch skips the batches it has
    trained on without loading them). `start` applies to one pass, then returns to 0."""

    def __init__(self, batch_sampler):
        self.inner, self.epoch, self.start = batch_sampler, 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __iter__(self):
        start, self.start = self.start, 0
        for i, batch in enumerate(self.inner):
            if i >= start:
                yield [(self.epoch, int(j)) for j in batch]

    def __len__(self) -> int:
        return len(self.inner)
