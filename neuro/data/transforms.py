"""Event transforms and augmentations as frozen dataclasses, vectorised with NumPy.

Each takes a structured event array (fields t, x[, y], p) and returns a new one; none keeps
state between calls (tonic's ``CropTime`` cuts every later sample to the first one's
length; nothing here can). Random ones (``is_random = True``) draw from ``rng`` if given,
else from a NumPy generator seeded from torch's RNG, which DataLoader seeds per worker.
``RandomCrop`` and ``RandomFlip`` also take frame tensors ``[T, P, H, W]``, so they can run
after the frame cache.

=================  ===========================================================================
``Denoise``        drop events with no event at a 4-neighbour pixel in the last ``filter_time`` µs
``Downsample``     integer spatial factor: :math:`x' = \\lfloor x / f \\rfloor`, sensor W/f × H/f
``TimeJitter``     :math:`t' = t + \\mathcal{N}(0, \\sigma^2)` µs, re-sorted, clipped at 0
``EventDrop``      drop each event with probability ``p``
``RandomCrop``     a random ``size`` window of the sensor per sample, coordinates shifted
``RandomFlip``     mirror x (prob. ``p_lr``) and/or y (prob. ``p_ud``) per sample
=================  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    if rng is not None:
        return rng
    return np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))


def _sorted_by_time(events: np.ndarray) -> np.ndarray:
    order = np.argsort(events["t"], kind="stable")
    return events[order]


@dataclass(frozen=True)
class Denoise:
    """Keep an event only if one of its 4 neighbours (x±1, y±1) fired in the preceding
    ``filter_time`` µs (strictly after ``t - filter_time``; earlier in the array order).

    Same rule as tonic's ``Denoise``, computed with sorted searches instead of a loop over
    events. Unlike tonic, a neighbour that never fired does not count as having fired at t = 0.
    """

    filter_time: float = 10_000.0
    is_random: ClassVar[bool] = False

    def __post_init__(self):
        if not self.filter_time > 0:
            raise ValueError(f"filter_time must be > 0 µs, got {self.filter_time}")

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if len(events) == 0:
            return events.copy()
        if "y" not in events.dtype.names:
            raise ValueError("Denoise needs 2-D events (an y field); SHD/SSC have none")
        n = len(events)
        x = events["x"].astype(np.int64) + 1  # padded by one so x-1 never wraps
        y = events["y"].astype(np.int64) + 1
        h = int(y.max()) + 2
        t = events["t"].astype(np.float64)
        pix = x * h + y
        idx = np.arange(n, dtype=np.int64)
        keys = pix * n + idx
        order = np.argsort(keys)
        sorted_keys = keys[order]
        keep = np.zeros(n, dtype=bool)
        for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            q = (x + dx) * h + (y + dy)
            pos = np.searchsorted(sorted_keys, q * n + idx) - 1
            valid = pos >= 0
            prev = order[np.where(valid, pos, 0)]
            same_pixel = valid & (sorted_keys[np.where(valid, pos, 0)] // n == q)
            keep |= same_pixel & (t[prev] + self.filter_time > t)
        return events[keep]


@dataclass(frozen=True)
class Downsample:
    """Integer spatial downsampling: coordinates divided by ``factor`` (floor)."""

    factor: int = 2
    is_random: ClassVar[bool] = False

    def __post_init__(self):
        if int(self.factor) != self.factor or self.factor < 1:
            raise ValueError(f"factor must be a positive integer, got {self.factor}")

    def sensor_size_out(self, sensor_size):
        w, h, p = sensor_size
        return (-(-w // self.factor), h if h == 1 else -(-h // self.factor), p)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        out = events.copy()
        out["x"] = out["x"] // self.factor
        if "y" in out.dtype.names:
            out["y"] = out["y"] // self.factor
        return out


@dataclass(frozen=True)
class TimeJitter:
    """Add Gaussian noise of standard deviation ``std`` µs to each timestamp, re-sort, clip at 0."""

    std: float = 100.0
    is_random: ClassVar[bool] = True

    def __post_init__(self):
        if self.std < 0:
            raise ValueError(f"std must be >= 0 µs, got {self.std}")

    def __call__(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        out = events.copy()
        jitter = _rng(rng).normal(0.0, self.std, len(out))
        t = np.maximum(out["t"].astype(np.float64) + jitter, 0.0)
        out["t"] = np.round(t).astype(out["t"].dtype) if np.issubdtype(out["t"].dtype, np.integer) else t
        return _sorted_by_time(out)


@dataclass(frozen=True)
class EventDrop:
    """Drop each event independently with probability ``p``."""

    p: float = 0.1
    is_random: ClassVar[bool] = True

    def __post_init__(self):
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {self.p}")

    def __call__(self, events: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return events[_rng(rng).random(len(events)) >= self.p]


@dataclass(frozen=True)
class RandomCrop:
    """A random ``size = (w, h)`` window of a ``sensor_size = (W, H, P)`` sensor, drawn anew for
    every sample; events outside are dropped and the rest shifted to the window's origin.
    On a frame tensor ``[..., H, W]`` it crops the last two dimensions."""

    sensor_size: tuple[int, int, int]
    size: tuple[int, int]
    is_random: ClassVar[bool] = True

    def __post_init__(self):
        w, h = self.size
        if not (0 < w <= self.sensor_size[0] and 0 < h <= self.sensor_size[1]):
            raise ValueError(f"crop size {self.size} must fit in the sensor {self.sensor_size[:2]}")

    def sensor_size_out(self, sensor_size):
        return (self.size[0], self.size[1], sensor_size[2])

    def _origin(self, rng, width: int, height: int) -> tuple[int, int]:
        rng = _rng(rng)
        return int(rng.integers(0, width - self.size[0] + 1)), int(rng.integers(0, height - self.size[1] + 1))

    def __call__(self, data, rng: np.random.Generator | None = None):
        w, h = self.size
        if isinstance(data, torch.Tensor) or (isinstance(data, np.ndarray) and data.dtype.names is None):
            x0, y0 = self._origin(rng, data.shape[-1], data.shape[-2])
            return data[..., y0:y0 + h, x0:x0 + w]
        x0, y0 = self._origin(rng, self.sensor_size[0], self.sensor_size[1])
        inside = (data["x"] >= x0) & (data["x"] < x0 + w) & (data["y"] >= y0) & (data["y"] < y0 + h)
        out = data[inside].copy()
        out["x"] -= x0
        out["y"] -= y0
        return out


@dataclass(frozen=True)
class RandomFlip:
    """Mirror left-right with probability ``p_lr`` and up-down with ``p_ud``, per sample.
    Events: :math:`x' = W - 1 - x`; frame tensors ``[..., H, W]``: flip the last dimensions."""

    sensor_size: tuple[int, int, int]
    p_lr: float = 0.5
    p_ud: float = 0.0
    is_random: ClassVar[bool] = True

    def __post_init__(self):
        for name in ("p_lr", "p_ud"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    def __call__(self, data, rng: np.random.Generator | None = None):
        rng = _rng(rng)
        lr, ud = bool(rng.random() < self.p_lr), bool(rng.random() < self.p_ud)
        if isinstance(data, torch.Tensor):
            dims = [d for d, on in ((-1, lr), (-2, ud)) if on]
            return torch.flip(data, dims) if dims else data
        if data.dtype.names is None:
            out = data
            if lr:
                out = out[..., ::-1]
            if ud:
                out = out[..., ::-1, :]
            return np.ascontiguousarray(out)
        out = data.copy()
        if lr:
            out["x"] = self.sensor_size[0] - 1 - out["x"]
        if ud:
            out["y"] = self.sensor_size[1] - 1 - out["y"]
        return out


@dataclass(frozen=True)
class Compose:
    """Apply transforms in order (a frozen, hashable, describable chain)."""

    transforms: tuple
    is_random: ClassVar[bool] = False

    def __call__(self, data):
        for t in self.transforms:
            data = t(data)
        return data

    def sensor_size_out(self, sensor_size):
        for t in self.transforms:
            if hasattr(t, "sensor_size_out"):
                sensor_size = t.sensor_size_out(sensor_size)
        return sensor_size
