"""The CPU output-buffer cache never hands out memory a live tensor still uses, and stays within its bounds."""

from __future__ import annotations

import gc

import pytest
import torch

from neuro.ops import buffers


@pytest.fixture(autouse=True)
def _empty_cache():
    buffers.clear()
    yield
    buffers.clear()


SHAPE = (512, 1024)  # 2 MiB of float32: inside the cached size range


def test_a_buffer_is_reused_only_after_every_view_died():
    a = buffers.empty(SHAPE, torch.float32)
    ptrs = [a.data_ptr()]
    view = a[7:]
    del a
    b = buffers.empty(SHAPE, torch.float32)
    ptrs.append(b.data_ptr())
    assert ptrs[1] != ptrs[0]  # the view still uses the first buffer
    numpy_alias = b.numpy()
    del b
    c = buffers.empty(SHAPE, torch.float32)
    ptrs.append(c.data_ptr())
    assert ptrs[2] not in ptrs[:2]  # a NumPy alias of the second one is alive too
    del c
    d = buffers.empty(SHAPE, torch.float32)
    assert d.data_ptr() == ptrs[2]  # the third one is free again
    del view, numpy_alias, d
    gc.collect()
    e = buffers.empty(SHAPE, torch.float32)
    assert e.data_ptr() in ptrs
    assert buffers.held_bytes() == 3 * e.numel() * 4  # nothing new was allocated


def test_values_written_into_a_live_buffer_survive_later_requests():
    a = buffers.empty(SHAPE, torch.float32)
    a.fill_(3.0)
    for _ in range(4):
        buffers.empty(SHAPE, torch.float32).fill_(-1.0)
    assert torch.all(a == 3.0)


def test_small_large_and_unsupported_requests_bypass_the_cache(monkeypatch):
    buffers.empty((8, 8), torch.float32)
    buffers.empty((4, 1024, 1024), torch.bfloat16)
    monkeypatch.setattr(buffers, "MAX_BYTES", 1 << 21)
    buffers.empty((1024, 1024), torch.float32)  # 4 MiB > MAX_BYTES
    assert buffers.held_bytes() == 0
    monkeypatch.setenv("NEURO_BUFFER_CACHE", "0")
    buffers.empty(SHAPE, torch.float32)
    assert buffers.held_bytes() == 0


def test_capacity_drops_free_buffers_and_never_live_ones(monkeypatch):
    monkeypatch.setattr(buffers, "CAPACITY_BYTES", 3 * (2 << 20))
    live = [buffers.empty(SHAPE, torch.float32) for _ in range(3)]
    extra = buffers.empty(SHAPE, torch.float32)  # cache full of live buffers: an ordinary tensor
    assert buffers.held_bytes() == 3 * (2 << 20)
    assert extra.data_ptr() not in [t.data_ptr() for t in live]
    del live[0]
    other = buffers.empty((256, 1024), torch.float64)  # another size: the free buffer is dropped to make room
    assert buffers.held_bytes() == 3 * (2 << 20)
    assert other.shape == (256, 1024) and all(t.shape == SHAPE for t in live)
