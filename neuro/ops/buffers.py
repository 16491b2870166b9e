r"""A small cache of CPU output buffers for the Numba kernels (the CPU counterpart of a CUDA caching allocator).

A fused layer on CPU writes tens of MB per call (``[T, B, N]`` spikes forward, the input gradient
backward). Fresh memory of that size comes from ``mmap`` and is returned with ``munmap`` when the
tensor dies, so every call pays a page fault per 4 KiB page on first touch: measured here, 3-4 ms for
16 MiB, as long as the kernel that fills it. :func:`empty` hands out buffers that stay mapped instead.

Each buffer is a NumPy array kept in the cache; the tensor returned is :func:`torch.from_numpy` of
it, which holds a reference to the array for as long as the tensor, or any view of its storage, lives.
A buffer is reused only when the cache holds the last reference (``sys.getrefcount``), so a live
tensor is never handed out twice. Only sizes from :data:`MIN_BYTES` to :data:`MAX_BYTES` are cached,
at most :data:`CAPACITY_BYTES` in all (the least recently used free buffers are dropped first); other
sizes, and dtypes NumPy lacks (bfloat16), get an ordinary ``torch.empty``. ``NEURO_BUFFER_CACHE=0``
turns the cache off; :func:`clear` releases everything it holds.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict

import numpy as np
import torch

__all__ = ["CAPACITY_BYTES", "MAX_BYTES", "MIN_BYTES", "clear", "empty", "empty_like", "held_bytes"]

MIN_BYTES = 1 << 20
MAX_BYTES = 256 << 20
CAPACITY_BYTES = 1 << 30

_NUMPY = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16}
_cache: OrderedDict[int, np.ndarray] = OrderedDict()  # id -> array, least recently used first


def _enabled() -> bool:
    return os.environ.get("NEURO_BUFFER_CACHE", "1") != "0"


def held_bytes() -> int:
    """Bytes the cache holds (free or in use)."""
    return sum(a.nbytes for a in _cache.values())


def clear() -> None:
    """Drop every cached buffer (tensors still using one keep it alive until they die)."""
    _cache.clear()


def _free(arr: np.ndarray) -> bool:
    """Called as ``_free(arr)`` on a value of the cache: the references are then the cache's dict, the
    caller's variable, this function's argument and getrefcount's own; any more belong to a live tensor."""
    return sys.getrefcount(arr) <= 4


def empty(shape, dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised CPU tensor of ``shape`` and ``dtype``, from the cache when the size qualifies."""
    np_dtype = _NUMPY.get(dtype)
    numel = 1
    for d in shape:
        numel *= int(d)
    nbytes = numel * torch.empty((), dtype=dtype).element_size()
    if np_dtype is None or not (MIN_BYTES <= nbytes <= MAX_BYTES) or not _enabled():
        return torch.empty(tuple(shape), dtype=dtype)
    for key in list(_cache):  # (not .items(): its iterator keeps one more reference to the value)
        arr = _cache[key]
        if arr.dtype == np_dtype and arr.size == numel and _free(arr):
            _cache.move_to_end(key)
            return torch.from_numpy(arr).reshape(tuple(shape))
    # make room: drop free buffers, least recently used first
    total = held_bytes()
    for key in list(_cache):
        if total + nbytes <= CAPACITY_BYTES:
            break
        arr = _cache[key]
        if _free(arr):
            total -= arr.nbytes
            del _cache[key]
    if total + nbytes > CAPACITY_BYTES:
        return torch.empty(tuple(shape), dtype=dtype)
    arr = np.empty(numel, dtype=np_dtype)
    _cache[id(arr)] = arr
    return torch.from_numpy(arr).reshape(tuple(shape))


def empty_like(t: torch.Tensor) -> torch.Tensor:
    """:func:`empty` with ``t``'s shape and dtype (``t`` must be a CPU tensor)."""
    return empty(t.shape, t.dtype)
