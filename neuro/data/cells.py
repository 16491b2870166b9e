"""A compact byte record for the non-empty cells of one sample's frames.

A sample's frames ``[T, *frame_shape]`` are mostly empty. Their non-empty cells, at sorted
flat positions :math:`i_1 < i_2 < \\dots < i_n` with counts :math:`c_k \\ge 1`, are stored as

* the gaps :math:`d_k = i_k - i_{k-1}` (:math:`i_0 = 0`) in one byte each; a gap of 255 or
  more is written as 255 and its value appended to a uint32 escape list;
* the counts in four bits each (two per byte); a count of 15 or more is written as 15 and
  its value appended to a second escape list.

Record layout (little-endian)::

    uint32 n, uint32 n_gap_escapes, uint32 n_count_escapes
    uint8  gaps[n]
    uint8  counts[ceil(n / 2)]           low nibble first
    uint32 gap_escapes[n_gap_escapes]
    uint32 count_escapes[n_count_escapes]

About 1.5 bytes per non-empty cell, decoded with a few vectorised NumPy operations (no
decompression), which is what makes a cached epoch fast.
"""

from __future__ import annotations

import numba
import numpy as np

_HEADER = 3
_GAP_ESC = 255
_COUNT_ESC = 15


def encode(index: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The record (uint8 array) of cells at sorted unique flat ``index`` with positive ``counts``."""
    index = np.asarray(index, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    n = len(index)
    if len(counts) != n:
        raise ValueError(f"{n} indices but {len(counts)} counts")
    if n and (index[0] < 0 or index[-1] >= 2**32 or np.any(np.diff(index) <= 0)):
        raise ValueError("cell indices must be sorted, unique and in [0, 2**32)")
    if n and (counts.min() < 1 or counts.max() >= 2**32):
        raise ValueError("cell counts must be in [1, 2**32)")
    gaps = np.diff(index, prepend=0)
    gap_esc = gaps >= _GAP_ESC
    count_esc = counts >= _COUNT_ESC
    nibbles = np.where(count_esc, _COUNT_ESC, counts).astype(np.uint8)
    if n % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    parts = [
        np.array([n, int(gap_esc.sum()), int(count_esc.sum())], dtype="<u4").view(np.uint8),
        np.where(gap_esc, _GAP_ESC, gaps).astype(np.uint8),
        (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8),
        gaps[gap_esc].astype("<u4").view(np.uint8),
        counts[count_esc].astype("<u4").view(np.uint8),
    ]
    return np.concatenate(parts)


def decode(record: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(index int64, counts float32)`` from a record made by :func:`encode`."""
    record = np.ascontiguousarray(record, dtype=np.uint8)
    if len(record) < 4 * _HEADER:
        raise ValueError(f"cell record of {len(record)} bytes is shorter than its header")
    n, n_gap, n_count = (int(v) for v in record[: 4 * _HEADER].view("<u4"))
    n_packed = (n + 1) // 2
    size = 4 * _HEADER + n + n_packed + 4 * (n_gap + n_count)
    if len(record) != size:
        raise ValueError(f"cell record of {len(record)} bytes, its header says {size}")
    pos = 4 * _HEADER
    gaps = record[pos:pos + n].astype(np.int64)
    pos += n
    packed = record[pos:pos + n_packed]
    pos += n_packed
    nibbles = np.empty(2 * n_packed, dtype=np.uint8)
    nibbles[0::2] = packed & 0x0F
    nibbles[1::2] = packed >> 4
    counts = nibbles[:n].astype(np.float32)
    if n_gap:
        gaps[gaps == _GAP_ESC] = record[pos:pos + 4 * n_gap].view("<u4")
        pos += 4 * n_gap
    if n_count:
        counts[nibbles[:n] == _COUNT_ESC] = record[pos:pos + 4 * n_count].view("<u4")
    return np.cumsum(gaps), counts


@numba.njit(cache=True, nogil=True)
def _decode_into(record: np.ndarray, out: np.ndarray) -> int:  # pragma: no cover - compiled; tested through decode_into
    if record.size < 4 * _HEADER:
        return -1
    n = np.int64(record[0]) | (np.int64(record[1]) << 8) | (np.int64(record[2]) << 16) | (np.int64(record[3]) << 24)
    n_gap = np.int64(record[4]) | (np.int64(record[5]) << 8) | (np.int64(record[6]) << 16) | (np.int64(record[7]) << 24)
    n_count = np.int64(record[8]) | (np.int64(record[9]) << 8) | (np.int64(record[10]) << 16) | (np.int64(record[11]) << 24)
    n_packed = (n + 1) // 2
    if record.size != 4 * _HEADER + n + n_packed + 4 * (n_gap + n_count):
        return -2
    gaps_at = 4 * _HEADER
    packed_at = gaps_at + n
    gap_esc_at = packed_at + n_packed
    count_esc_at = gap_esc_at + 4 * n_gap
    ig = 0
    ic = 0
    pos = np.int64(0)
    size = out.size
    for k in range(n):
        g = np.int64(record[gaps_at + k])
        if g == _GAP_ESC:
            if ig >= n_gap:
                return -3
            j = gap_esc_at + 4 * ig
            g = np.int64(record[j]) | (np.int64(record[j + 1]) << 8) | (np.int64(record[j + 2]) << 16) | (np.int64(record[j + 3]) << 24)
            ig += 1
        pos += g
        byte = record[packed_at + k // 2]
        c = np.int64(byte & 0x0F) if k % 2 == 0 else np.int64(byte >> 4)
        if c == _COUNT_ESC:
            if ic >= n_count:
                return -3
            j = count_esc_at + 4 * ic
            c = np.int64(record[j]) | (np.int64(record[j + 1]) << 8) | (np.int64(record[j + 2]) << 16) | (np.int64(record[j + 3]) << 24)
            ic += 1
        if pos >= size or (k > 0 and g == 0):
            return -4
        out[pos] = c
    if ig != n_gap or ic != n_count:
        return -3
    return n


def decode_into(record: np.ndarray, out: np.ndarray) -> int:
    """Write the cells of ``record`` into the zeroed float32 array ``out`` (flat) in one compiled pass, without the
    intermediate index/count arrays of :func:`decode`; returns the number of cells. Raises ``ValueError`` for a
    damaged record (wrong length, escape lists that do not match, a cell outside ``out``), as :func:`decode` does."""
    record = np.ascontiguousarray(record, dtype=np.uint8)
    status = _decode_into(record, out)
    if status >= 0:
        return status
    reason = {-1: "shorter than its header", -2: "its length does not match its header", -3: "its escape lists do not match its cells",
              -4: f"a cell outside the {out.size} frame cells (or a repeated cell)"}[status]
    raise ValueError(f"cell record of {len(record)} bytes: {reason}")
