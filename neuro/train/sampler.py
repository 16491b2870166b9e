"""A batch sampler whose order is a pure function of ``(seed, epoch)``, shardable and resumable.

Epoch ``e`` visits the dataset in the permutation drawn by a generator seeded from
``numpy.random.SeedSequence([seed, e])`` (or in index order without shuffling). The permutation is
cut into **global** batches of ``batch_size``; process ``r`` of ``N`` takes the ``r``-th of the ``N``
near-equal slices of each global batch. So the union over processes of step ``i`` is exactly the
single-process batch ``i``, and resuming at batch ``k`` just starts the cut at ``k`` (no sample is
loaded for the skipped batches).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 63-bit seed for ``(seed, epoch, stream)``; independent streams for different uses."""
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(1, dtype=np.uint64)[0]) >> 1


class ResumableBatchSampler(Sampler[list[int]]):
    """Yields this process's share of each global batch of epoch ``set_epoch(e, start_batch)``.

    ``drop_last`` drops a final global batch shorter than ``batch_size``; without it such a batch is
    kept (split as evenly as possible) unless it has fewer samples than processes. ``skip_empty``
    (for evaluation) skips local slices that come out empty instead of yielding them.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int = 0, shuffle: bool = True, drop_last: bool = True,
                 rank: int = 0, world_size: int = 1, skip_empty: bool = False):
        if num_samples < 1:
            raise ValueError("the dataset is empty")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        if batch_size < world_size:
            raise ValueError(f"the global batch_size ({batch_size}) must be at least the number of processes ({world_size})")
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.shuffle, self.drop_last, self.skip_empty = shuffle, drop_last, skip_empty
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        if not 0 <= start_batch <= self.batches_per_epoch():
            raise ValueError(f"start_batch must be in [0, {self.batches_per_epoch()}], got {start_batch}")
        self.epoch, self.start_batch = epoch, start_batch

    def batches_per_epoch(self) -> int:
        full, rest = divmod(self.num_samples, self.batch_size)
        keep_rest = rest > 0 and not self.drop_last and (rest >= self.world_size or self.skip_empty)
        return full + int(keep_rest)

    def global_batch_len(self, index: int) -> int:
        """Number of samples in global batch ``index`` (summed over processes)."""
        return min(self.batch_size, self.num_samples - index * self.batch_size)

    def permutation(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.num_samples)
        g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        return torch.randperm(self.num_samples, generator=g)

    def local_slice(self, n: int) -> slice:
        """This process's part of a global batch of ``n`` samples (near-equal, in rank order)."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (1 if self.rank < extra else 0))

    def __iter__(self) -> Iterator[list[int]]:
        perm = self.permutation(self.epoch)
        for i in range(self.start_batch, self.batches_per_epoch()):
            batch = perm[i * self.batch_size:(i + 1) * self.batch_size]
            local = batch[self.local_slice(len(batch))].tolist()
            if local or not self.skip_empty:
                yield local

    def __len__(self) -> int:
        return self.batches_per_epoch() - self.start_batch
