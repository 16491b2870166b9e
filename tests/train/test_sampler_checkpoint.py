"""The resumable sampler (order from (seed, epoch), shards that add up to the global batch) and atomic checkpoints."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from neuro.train import ResumableBatchSampler
from neuro.train.checkpoint import list_checkpoints, load_latest, preserved_rng, rng_state, save_checkpoint, set_rng_state


def test_order_is_a_function_of_seed_and_epoch_only():
    a = ResumableBatchSampler(50, 8, seed=3)
    b = ResumableBatchSampler(50, 8, seed=3)
    a.set_epoch(2)
    torch.manual_seed(123)  # the global generator has no say
    b.set_epoch(2)
    assert list(a) == list(b)
    b.set_epoch(3)
    assert list(a) != list(b)
    assert list(ResumableBatchSampler(50, 8, seed=4)) != list(ResumableBatchSampler(50, 8, seed=3))
    flat = [i for batch in a for i in batch]
    assert len(flat) == 48 and len(set(flat)) == 48  # drop_last: 6 full batches, no repeats


def test_resuming_at_batch_k_yields_the_tail():
    s = ResumableBatchSampler(50, 8, seed=1, drop_last=False)
    s.set_epoch(5)
    full = list(s)
    assert len(full) == 7 and len(full[-1]) == 2
    s.set_epoch(5, start_batch=4)
    assert list(s) == full[4:] and len(s) == 3
    with pytest.raises(ValueError, match="start_batch"):
        s.set_epoch(5, start_batch=8)


@pytest.mark.parametrize("world", [2, 3])
def test_shards_add_up_to_the_single_process_batch(world):
    single = ResumableBatchSampler(43, 10, seed=9, drop_last=False)
    shards = [ResumableBatchSampler(43, 10, seed=9, drop_last=False, rank=r, world_size=world) for r in range(world)]
    for s in [single, *shards]:
        s.set_epoch(1)
    per_rank = [list(s) for s in shards]
    for i, batch in enumerate(single):
        assert sum((p[i] for p in per_rank), []) == batch
        assert max(len(p[i]) for p in per_rank) - min(len(p[i]) for p in per_rank) <= 1
    with pytest.raises(ValueError, match="at least the number of processes"):
        ResumableBatchSampler(43, 2, world_size=3)


def test_rng_state_round_trip_covers_python_numpy_torch():
    state = rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    with preserved_rng():
        random.random(), np.random.rand(), torch.rand(3)
    after = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    random.random(), np.random.rand(), torch.rand(1)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == after


def test_save_is_atomic_and_keeps_the_newest(tmp_path, monkeypatch):
    for step in (10, 20, 30):
        save_checkpoint({"step": step, "w": torch.full((3,), float(step))}, tmp_path, step, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [20, 30]

    real_save = torch.save

    def dies_half_way(obj, fh, *a, **k):
        fh.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 40}, tmp_path, 40, keep=2)
    monkeypatch.setattr(torch, "save", real_save)
    # no torn file, no temporary left; each kept checkpoint has its checksum beside it, the deleted one's went with it
    assert sorted(os.listdir(tmp_path)) == ["step_00000020.pt", "step_00000020.pt.sha256", "step_00000030.pt", "step_00000030.pt.sha256"]
    path, state = load_latest(tmp_path)
    assert state["step"] == 30 and torch.equal(state["w"], torch.full((3,), 30.0))


def test_load_latest_skips_an_unreadable_file(tmp_path):
    save_checkpoint({"step": 5}, tmp_path, 5, keep=3)
    (tmp_path / "step_00000009.pt").write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="unreadable"):
        path, state = load_latest(tmp_path)
    assert state["step"] == 5
    assert load_latest(tmp_path / "missing") is None
