"""The compact cell record round-trips, escapes included, and refuses damaged input."""

from __future__ import annotations

import numpy as np
import pytest

from neuro.data.cells import decode, encode


@pytest.mark.parametrize("seed", range(6))
def test_roundtrip_with_escapes(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 3000))
    gaps = np.where(rng.random(n) < 0.05, rng.integers(255, 100_000, n), rng.integers(1, 255, n))
    index = np.cumsum(gaps) - 1 + int(rng.integers(0, 2))
    counts = np.where(rng.random(n) < 0.1, rng.integers(15, 70_000, n), rng.integers(1, 15, n))
    record = encode(index, counts)
    got_index, got_counts = decode(record)
    assert np.array_equal(got_index, index) and np.array_equal(got_counts, counts.astype(np.float32))
    assert got_counts.dtype == np.float32
    if n:
        n_esc = (gaps >= 255).sum() + (counts >= 15).sum()
        assert len(record) == 12 + n + (n + 1) // 2 + 4 * n_esc  # 1.5 bytes per cell plus escapes


def test_edges_and_damage():
    assert len(decode(encode([], []))[0]) == 0
    idx, cnt = decode(encode([0, 254, 255, 2**32 - 1], [1, 14, 15, 2**32 - 1]))
    assert idx.tolist() == [0, 254, 255, 2**32 - 1] and cnt[:3].tolist() == [1, 14, 15]
    record = encode([3, 9], [2, 5])
    with pytest.raises(ValueError, match="header says"):
        decode(record[:-1])
    with pytest.raises(ValueError, match="shorter than its header"):
        decode(record[:5])
    with pytest.raises(ValueError, match="sorted, unique"):
        encode([5, 5], [1, 1])
    with pytest.raises(ValueError, match="counts must be"):
        encode([1], [0])


@pytest.mark.parametrize("seed", range(4))
def test_decode_into_equals_decode_and_scatter(seed):
    from neuro.data.cells import decode_into

    rng = np.random.default_rng(seed)
    size = 5000
    index = np.r_[np.sort(rng.choice(3000, 700, replace=False)), size - 1]  # the last gap (> 1999) takes the gap escape
    counts = rng.integers(1, 40, index.size)  # counts >= 15 take the count escape
    rec = encode(index, counts)
    want = np.zeros(size, np.float32)
    i, c = decode(rec)
    want[i] = c
    got = np.zeros(size, np.float32)
    assert decode_into(rec, got) == index.size
    assert np.array_equal(got, want)
    with pytest.raises(ValueError, match="outside the 4999 frame cells"):
        decode_into(rec, np.zeros(size - 1, np.float32))
    with pytest.raises(ValueError, match="length does not match"):
        decode_into(rec[:-1], np.zeros(size, np.float32))
    assert decode_into(encode(np.array([], np.int64), np.array([], np.int64)), np.zeros(3, np.float32)) == 0
