"""Host-side helpers shared by the Numba launchers of ``neuro.ops``: tensors to arrays, broadcast checks, work dtypes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba
import numpy as np
import torch

from ..backend import to_numpy

#: dtypes the CPU kernels compute in natively; others (float16, bfloat16) are computed in float32 and cast back
NATIVE = (torch.float32, torch.float64)


def as_array(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of ``t`` (made contiguous first), zero-copy where possible."""
    return to_numpy(t.contiguous())


def broadcast_scalar(t: torch.Tensor) -> bool:
    """Whether ``t`` is one value broadcast over all its elements (every stride 0)."""
    return t.numel() > 0 and all(s == 0 for s in t.stride())


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype a CPU kernel computes in for tensors of ``dtype``."""
    return dtype if dtype in NATIVE else torch.float32


#: bytes of one block's ``[T, block]`` tile that should stay in a core's L2 cache between the backward
#: kernels' recompute pass and their reverse pass (half of a typical 2 MB L2)
TILE_BYTES = 1 << 20


def block_size(T: int, N: int, itemsize: int, tiles: int = 1, threads: int | None = None) -> int:
    """Neurons per block of the multi-step CPU kernels (parallel over blocks, time loop inside a block).

    Wide blocks stream each time step's row of a block as one long contiguous run (the hardware
    prefetcher's best case: 512-neuron blocks ran ~30 % slower than 8192 on ``[32, 131072]``), but the
    ``tiles`` ``[T, block]`` tiles a backward kernel keeps per block must stay in L2 (``TILE_BYTES`` in all)
    and there must be enough blocks, a multiple of the thread count (default: Numba's), to keep every
    thread busy. Between 256 and 8192, a multiple of 16.
    """
    if threads is None:
        import numba

        threads = numba.get_num_threads()
    widest = max(256, min(8192, TILE_BYTES // max(1, tiles * T * itemsize)) // 16 * 16)
    n_blocks = max(-(-N // widest), 2 * threads)
    n_blocks = -(-n_blocks // threads) * threads
    block = -(-N // n_blocks)
    return max(256, min(8192, -(-block // 16) * 16))


#: elements (``T * N``) below which a multi-step kernel runs on the calling thread alone: waking a thread pool costs
#: more than such a pass (tens of microseconds on a quiet machine; milliseconds where the cores are shared with
#: other work, e.g. torch's own OpenMP threads, as the pool's workers spin before they sleep)
SERIAL_BELOW = 1 << 16


@contextmanager
def threads_for(work: int) -> Iterator[None]:
    """Numba's thread count for a multi-step kernel over ``work`` elements: 1 below :data:`SERIAL_BELOW`, else as set.
    Numba's setting is per calling thread; it is restored on exit."""
    prev = numba.get_num_threads()
    if work >= SERIAL_BELOW or prev == 1:
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(prev)
