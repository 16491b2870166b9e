"""Each transform: same transform, two different samples; and what it computes."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from tonic.functional import denoise_numpy

from neuro.data import Compose, Denoise, Downsample, EventDrop, RandomCrop, RandomFlip, TimeJitter

DVS = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
SENSOR = (34, 34, 2)


def _events(seed, n, t_max=300_000, t_min=0):
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=DVS)
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n)
    ev["t"] = np.sort(rng.integers(t_min, t_max, n))
    return ev


TRANSFORMS = [
    Denoise(filter_time=5000),
    Downsample(factor=2),
    TimeJitter(std=200.0),
    EventDrop(p=0.3),
    RandomCrop(SENSOR, (20, 16)),
    RandomFlip(SENSOR, p_lr=0.5, p_ud=0.5),
]


def _call(t, ev, seed):
    return t(ev, rng=np.random.default_rng(seed)) if t.is_random else t(ev)


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: type(t).__name__)
def test_same_transform_two_different_samples(transform):
    """Applying a transform to sample A first changes nothing about its output on sample B."""
    a, b = _events(1, 3000, t_max=500_000), _events(2, 700, t_max=40_000)
    before = copy.deepcopy(transform)
    _call(transform, a, 10)
    out_b = _call(transform, b, 11)
    fresh_b = _call(copy.deepcopy(before), b, 11)
    assert transform == before  # frozen: nothing was stored on the first call
    assert np.array_equal(out_b, fresh_b)
    assert len(out_b) > 0 and out_b["t"].max() <= b["t"].max() + 2000  # not cut/shifted to A's span
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(transform, dataclasses.fields(transform)[0].name, 0)


def test_denoise_equals_tonic_away_from_t0():
    # tonic treats never-fired neighbours as having fired at t=0; start later so the rule is the same
    ev = _events(3, 4000, t_min=20_000, t_max=400_000)
    want = denoise_numpy(ev.copy(), filter_time=5000)
    got = Denoise(5000)(ev)
    assert np.array_equal(got, want) and 0 < len(got) < len(ev)


def test_downsample_and_sensor():
    ev = _events(4, 100)
    out = Downsample(4)(ev)
    assert np.array_equal(out["x"], ev["x"] // 4) and np.array_equal(out["t"], ev["t"])
    assert Downsample(4).sensor_size_out(SENSOR) == (9, 9, 2) and Downsample(4).sensor_size_out((700, 1, 1)) == (175, 1, 1)
    with pytest.raises(ValueError, match="positive integer"):
        Downsample(0)


def test_time_jitter_and_event_drop_statistics():
    ev = _events(5, 20_000, t_min=100_000, t_max=200_000)
    out = TimeJitter(std=100.0)(ev, rng=np.random.default_rng(0))
    assert np.all(np.diff(out["t"]) >= 0) and len(out) == len(ev)
    sparse = ev.copy()
    sparse["t"] = 10_000 + 10_000 * np.arange(len(ev))  # far apart: the order survives, the jitter shows
    moved = TimeJitter(std=100.0)(sparse, rng=np.random.default_rng(1))["t"] - sparse["t"]
    assert abs(np.std(moved) - 100) < 3 and abs(np.mean(moved)) < 3
    kept = len(EventDrop(p=0.25)(ev, rng=np.random.default_rng(0))) / len(ev)
    assert abs(kept - 0.75) < 0.02
    with pytest.raises(ValueError):
        EventDrop(p=1.5)


def test_random_crop_draws_per_sample():
    ev = _events(6, 5000)
    crop = RandomCrop(SENSOR, (10, 10))
    rng = np.random.default_rng(0)
    outs = [crop(ev, rng=rng) for _ in range(6)]
    assert all(o["x"].max() < 10 and o["y"].max() < 10 for o in outs)
    assert len({len(o) for o in outs}) > 1  # different windows, not the first one repeated
    frames = torch.arange(2 * 2 * 34 * 34, dtype=torch.float32).reshape(2, 2, 34, 34)
    assert crop(frames, rng=np.random.default_rng(0)).shape == (2, 2, 10, 10)
    assert crop.sensor_size_out(SENSOR) == (10, 10, 2)


def test_random_flip_events_match_frames():
    from neuro.data import Frames, to_frames

    ev = _events(7, 500)
    flip = RandomFlip(SENSOR, p_lr=1.0, p_ud=1.0)
    fr = Frames(n_time_bins=3)
    flipped_events = to_frames(flip(ev), SENSOR, fr)
    flipped_frames = flip(torch.from_numpy(to_frames(ev, SENSOR, fr)))
    assert np.array_equal(flipped_events, flipped_frames.numpy())
    assert np.array_equal(RandomFlip(SENSOR, p_lr=0.0)(ev), ev)


def test_random_draws_follow_torch_seed():
    ev = _events(8, 1000)
    torch.manual_seed(0)
    a = EventDrop(0.5)(ev)
    torch.manual_seed(0)
    b = EventDrop(0.5)(ev)
    c = EventDrop(0.5)(ev)
    assert np.array_equal(a, b) and not np.array_equal(b, c)


def test_compose():
    ev = _events(9, 300)
    chain = Compose((Downsample(2), Denoise(5000)))
    assert np.array_equal(chain(ev), Denoise(5000)(Downsample(2)(ev)))
    assert chain.sensor_size_out(SENSOR) == (17, 17, 2)
