r"""Events to frames: counts per (time bin, polarity, pixel), vectorised.

For events :math:`(t_i, x_i, y_i, p_i)` and bin width :math:`\Delta` (µs) starting at the
first event :math:`t_0`, frame :math:`k` holds

.. math::  F_k[p, y, x] = \#\{\, i : \lfloor (t_i - t_0) / \Delta \rfloor = k,\ p_i = p,\ y_i = y,\ x_i = x \,\}

With ``n_time_bins = n``, :math:`\Delta = \lfloor (t_{last} - t_0) / n \rfloor` and there are
exactly ``n`` frames (the events past :math:`t_0 + n\Delta`, which the integer
:math:`\Delta` leaves over, are counted in the last frame; tonic drops them); with ``time_window = Δ`` there are
:math:`\lfloor (t_{last} - t_0 - \Delta)/\Delta \rfloor + 1` frames (``include_incomplete``:
the ceiling), at least one. This is tonic 1.7's ``ToFrame`` (no overlap) computed with one
``np.bincount`` instead of a loop over slices; the test suite holds the two equal, but for
two choices made here: with ``n_time_bins`` no event is dropped (the left-over tail goes to
the last frame), and a recording shorter than ``n_time_bins`` µs (:math:`\Delta = 0`) puts
every event in frame 0 where tonic returns empty frames.

Shapes: DVS sensors (W, H, P) give ``[T, P, H, W]``; audio sensors (700, 1, 1) give ``[T, 700]``.

Example::

    frames = to_frames(events, (34, 34, 2), Frames(time_window=1000))   # 1 ms bins
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .errors import DataCorruptError


@dataclass(frozen=True)
class Frames:
    """How to bin events into frames. Set exactly one of ``n_time_bins`` or ``time_window`` (µs)."""

    n_time_bins: int | None = None
    time_window: float | None = None
    include_incomplete: bool = False

    def __post_init__(self):
        if (self.n_time_bins is None) == (self.time_window is None):
            raise ValueError(f"Frames needs exactly one of n_time_bins or time_window, got n_time_bins={self.n_time_bins}, time_window={self.time_window}")
        if self.n_time_bins is not None and int(self.n_time_bins) < 1:
            raise ValueError(f"n_time_bins must be >= 1, got {self.n_time_bins}")
        if self.time_window is not None and not self.time_window > 0:
            raise ValueError(f"time_window must be > 0 µs, got {self.time_window}")

    @classmethod
    def from_any(cls, frames) -> Frames:
        if isinstance(frames, Frames):
            return frames
        if isinstance(frames, dict):
            unknown = set(frames) - {"n_time_bins", "time_window", "include_incomplete"}
            if unknown:
                raise ValueError(f"unknown frame parameters {sorted(unknown)}; known: n_time_bins, time_window (µs), include_incomplete")
            return cls(**frames)
        raise ValueError(f"frames must be a Frames or a dict such as dict(n_time_bins=20), got {type(frames).__name__}")

    def to_dict(self) -> dict:
        return asdict(self)


def frame_shape(sensor_size: tuple[int, int, int]) -> tuple[int, ...]:
    """Shape of one frame for a sensor (W, H, P): (P, H, W), or (W,) for a 1-D single-polarity sensor."""
    w, h, p = (int(v) for v in sensor_size)
    return (w,) if (h == 1 and p == 1) else (p, h, w)


def _bins(t: np.ndarray, frames: Frames) -> tuple[np.ndarray, int]:
    t0, t1 = t.min(), t.max()
    if frames.n_time_bins is not None:
        n = int(frames.n_time_bins)
        width = (t1 - t0) // n
    else:
        width = frames.time_window
        dur = float(t1 - t0)
        rounding = math.ceil if frames.include_incomplete else math.floor
        n = max(int(rounding((dur - width) / width) + 1), 1)
    if width <= 0:
        return np.zeros(len(t), dtype=np.int64), n
    if np.issubdtype(t.dtype, np.integer) and float(width).is_integer():
        b = (t - t0) // int(width)
    else:
        b = np.floor((t.astype(np.float64) - float(t0)) / float(width))
    return b.astype(np.int64), n


def sparse_frames(events: np.ndarray, sensor_size: tuple[int, int, int], frames: Frames) -> tuple[int, np.ndarray, np.ndarray]:
    """The frames of ``events`` as ``(n_frames, flat_index, counts)``: the non-empty cells of the
    ``[n_frames, *frame_shape(sensor_size)]`` array in increasing flat order, and their counts."""
    frames = Frames.from_any(frames)
    w, h, p = (int(v) for v in sensor_size)
    names = events.dtype.names or ()
    for field in ("t", "x"):
        if field not in names:
            raise ValueError(f"events need a {field!r} field, got fields {names}")
    if len(events) == 0:
        return (frames.n_time_bins or 1), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    b, n = _bins(events["t"], frames)
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64) if ("y" in names and h > 1) else np.zeros_like(x)
    pol = events["p"].astype(np.int64) if ("p" in names and p > 1) else np.zeros_like(x)
    if x.max() >= w or x.min() < 0 or y.max() >= h or y.min() < 0 or pol.max() >= p or pol.min() < 0:
        raise DataCorruptError(
            f"events do not fit the sensor size {tuple(sensor_size)} (W, H, P): x in [{x.min()}, {x.max()}], y in [{y.min()}, {y.max()}], "
            f"p in [{pol.min()}, {pol.max()}]; is the sensor size right for this dataset (after downsampling/cropping)?"
        )
    if frames.n_time_bins is not None:
        b = np.minimum(b, n - 1)  # the tail left by the integer bin width
    keep = (b >= 0) & (b < n)
    flat = ((b[keep] * p + pol[keep]) * h + y[keep]) * w + x[keep]
    index, counts = np.unique(flat, return_counts=True)
    return n, index, counts


def to_frames(events: np.ndarray, sensor_size: tuple[int, int, int], frames: Frames, dtype=np.int16) -> np.ndarray:
    """Count ``events`` (a structured array with t, x[, y], p) into dense frames; see the module doc."""
    shape = frame_shape(sensor_size)
    n, index, counts = sparse_frames(events, sensor_size, frames)
    out = np.zeros(n * int(np.prod(shape)), dtype=dtype)
    out[index] = counts
    return out.reshape((n, *shape))
