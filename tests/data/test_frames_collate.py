"""Frames equal tonic's ToFrame; collation is time-major with lengths and masks."""

from __future__ import annotations

import numpy as np
import pytest
import tonic.transforms as T
import torch

from neuro.data import BinEvents, DataCorruptError, Frames, check_input_shape, load, pad_events, pad_time, to_frames

DVS = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
AUDIO = np.dtype([("t", int), ("x", int), ("p", int)])


def _events(rng, n, w=34, h=34, dtype=DVS, t_max=300_000):
    ev = np.zeros(n, dtype=dtype)
    ev["x"] = rng.integers(0, w, n)
    if "y" in dtype.names:
        ev["y"] = rng.integers(0, h, n)
        ev["p"] = rng.integers(0, 2, n)
    ev["t"] = np.sort(rng.integers(0, t_max, n))
    return ev


@pytest.mark.parametrize("kw", [dict(n_time_bins=7), dict(time_window=1000), dict(time_window=3333, include_incomplete=True)])
def test_frames_equal_tonic_toframe(kw):
    rng = np.random.default_rng(0)
    for _ in range(10):
        ev = _events(rng, int(rng.integers(20, 600)))
        want = T.ToFrame(sensor_size=(34, 34, 2), **kw)(ev.copy())
        got = to_frames(ev, (34, 34, 2), Frames(**kw))
        assert got.shape == want.shape
        if "n_time_bins" in kw:  # same, but the tail tonic drops is counted in the last bin
            assert np.array_equal(got[:-1], want[:-1]) and np.all(got[-1] >= want[-1]) and got.sum() == len(ev)
        else:
            assert np.array_equal(got, want)


def test_audio_frames_equal_tonic_toframe():
    rng = np.random.default_rng(1)
    ev = _events(rng, 500, w=700, dtype=AUDIO, t_max=1_000_000)
    ev["p"] = 0
    want = T.ToFrame(sensor_size=(700, 1, 1), n_time_bins=25)(ev.copy())
    got = to_frames(ev, (700, 1, 1), Frames(n_time_bins=25))
    assert got.shape == (25, 700) and np.array_equal(got[:-1], want[:-1, 0, :]) and got.sum() == len(ev)


def test_frames_count_every_event_in_range_and_validate():
    ev = np.array([(0, 0, 0, 0), (1, 2, 500, 1), (3, 3, 999, 1)], dtype=DVS)
    f = to_frames(ev, (4, 4, 2), Frames(time_window=500, include_incomplete=True))
    assert f.shape == (2, 2, 4, 4) and f.sum() == 3 and f[1, 1, 2, 1] == 1 and f[1, 1, 3, 3] == 1
    with pytest.raises(DataCorruptError, match=r"do not fit the sensor size \(3, 3, 2\)"):
        to_frames(ev, (3, 3, 2), Frames(n_time_bins=2))
    with pytest.raises(ValueError, match="exactly one"):
        Frames(n_time_bins=3, time_window=10)
    with pytest.raises(ValueError, match="unknown frame parameters"):
        Frames.from_any(dict(bins=3))
    assert to_frames(ev[:0], (4, 4, 2), Frames(n_time_bins=3)).shape == (3, 2, 4, 4)


def test_pad_time_masks_and_lengths():
    a, b = torch.ones(3, 2, 4, 4), 2 * torch.ones(5, 2, 4, 4)
    batch = pad_time([(a, 1), (b, 7)])
    assert batch.data.shape == (5, 2, 2, 4, 4)
    assert batch.lengths.tolist() == [3, 5] and batch.targets.tolist() == [1, 7]
    assert batch.mask[:, 0].tolist() == [True, True, True, False, False] and batch.mask[:, 1].all()
    assert batch.data[3:, 0].abs().sum() == 0 and torch.equal(batch.data[:, 1], b)
    with pytest.raises(ValueError, match="frame shape"):
        pad_time([(a, 0), (torch.ones(2, 3), 0)])


def test_bin_events_and_pad_events():
    rng = np.random.default_rng(2)
    batch = [(_events(rng, 50), 0), (_events(rng, 80), 1)]
    binned = BinEvents((34, 34, 2), Frames(n_time_bins=4))(batch)
    assert binned.data.shape == (4, 2, 2, 34, 34) and binned.data[:, 1].sum() == 80
    padded = pad_events(batch)
    assert padded.data.shape == (80, 2, 4) and padded.lengths.tolist() == [50, 80]
    assert torch.equal(padded.data[:50, 0, 0], torch.from_numpy(batch[0][0]["t"].astype(np.float64)))
    assert padded.mask.sum() == 130


@pytest.mark.parametrize("name,shape", [("shd", (700,)), ("nmnist", (2, 34, 34))])
def test_dataloader_gives_time_major_batches(fixture_root, name, shape):
    ds = load(name, "train", root=fixture_root, frames=dict(n_time_bins=6), cache=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=pad_time)
    x, y, lengths, mask = next(iter(loader))
    assert x.shape == (6, 4, *shape) and x.dtype == torch.float32 and y.shape == (4,)
    check_input_shape(ds, shape)
    relabelled = load(name, "train", root=fixture_root, frames=dict(n_time_bins=6), cache=False, target_transform=lambda y: y + 100)
    assert relabelled[0][1] == ds[0][1] + 100
    with pytest.raises(ValueError, match="sensor-size mismatch"):
        check_input_shape(ds, (2, 32, 32))
