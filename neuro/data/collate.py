"""Collate functions that batch samples time-major, ``[T, B, ...]``, as the SNN layers expect.

* :func:`pad_time` — frame tensors ``[T_i, ...]`` of different lengths, zero-padded to the
  longest; ``lengths[b] = T_b`` and ``mask[t, b] = t < T_b``.
* :class:`BinEvents` — raw event arrays binned into frames at batch time, then :func:`pad_time`.
* :func:`pad_events` — raw events as a padded ``[N, B, C]`` tensor of (t, x, y, p) columns.

Each returns a :class:`Batch` ``(data, targets, lengths, mask)``.

Example::

    loader = DataLoader(load("nmnist", frames=dict(time_window=1000)), batch_size=16, collate_fn=pad_time)
    x, y, lengths, mask = next(iter(loader))        # x: [T_max, 16, 2, 34, 34]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from .frames import Frames, to_frames


class Batch(NamedTuple):
    """A time-major batch: ``data [T, B, ...]``, ``targets [B]``, ``lengths [B]``, ``mask [T, B]``."""

    data: torch.Tensor
    targets: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor


def _targets(batch) -> torch.Tensor:
    ys = [y for _, y in batch]
    if isinstance(ys[0], torch.Tensor):
        return torch.stack(ys)
    return torch.as_tensor(np.asarray(ys))


def pad_time(batch) -> Batch:
    """Stack ``[(frames [T_i, ...], label), ...]`` into ``[T_max, B, ...]`` with zero padding."""
    if not batch:
        raise ValueError("empty batch")
    xs = [x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x)) for x, _ in batch]
    tail = xs[0].shape[1:]
    for i, x in enumerate(xs):
        if x.shape[1:] != tail:
            raise ValueError(f"sample {i} of the batch has frame shape {tuple(x.shape[1:])}, the first has {tuple(tail)}: all frames must share a shape")
    lengths = torch.tensor([x.shape[0] for x in xs], dtype=torch.long)
    t_max = int(lengths.max())
    data = xs[0].new_zeros((t_max, len(xs), *tail))
    for b, x in enumerate(xs):
        data[: x.shape[0], b] = x
    mask = torch.arange(t_max)[:, None] < lengths[None, :]
    return Batch(data, _targets(batch), lengths, mask)


@dataclass(frozen=True)
class BinEvents:
    """Collate raw events by binning them into frames (``Frames``) for ``sensor_size`` (W, H, P)."""

    sensor_size: tuple[int, int, int]
    frames: Frames

    def __call__(self, batch) -> Batch:
        fr = Frames.from_any(self.frames)
        binned = [(torch.from_numpy(to_frames(ev, self.sensor_size, fr).astype(np.float32)), y) for ev, y in batch]
        return pad_time(binned)


def pad_events(batch, fields: tuple[str, ...] = ("t", "x", "y", "p")) -> Batch:
    """Raw events ``[(structured array, label), ...]`` as ``[N_max, B, C]`` float64 (t in µs).

    Fields a dataset lacks (SHD has no ``y``) are filled with zeros.
    """
    if not batch:
        raise ValueError("empty batch")
    lengths = torch.tensor([len(ev) for ev, _ in batch], dtype=torch.long)
    n_max = int(lengths.max()) if len(lengths) else 0
    data = torch.zeros((n_max, len(batch), len(fields)), dtype=torch.float64)
    for b, (ev, _) in enumerate(batch):
        names = ev.dtype.names or ()
        cols = [ev[f].astype(np.float64) if f in names else np.zeros(len(ev)) for f in fields]
        data[: len(ev), b] = torch.from_numpy(np.stack(cols, axis=1)) if len(ev) else data[:0, b]
    mask = torch.arange(n_max)[:, None] < lengths[None, :]
    return Batch(data, _targets(batch), lengths, mask)
