"""The HDF5 frame cache: hit, key, corruption -> rebuild or error, one open per process, workers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from neuro.data import DataCorruptError, Downsample, EventDrop, FrameCache, RandomFlip, load, pad_time

FR = dict(n_time_bins=5)


def _load(root, tmp_path, **kw):
    return load("nmnist", "test", root=root, frames=kw.pop("frames", FR), cache_dir=tmp_path / "cache", progress=False, **kw)


def test_cache_hit_equals_uncached(fixture_root, tmp_path):
    first = _load(fixture_root, tmp_path)
    assert first.rebuilt and first.path.is_file() and first.path.parent == tmp_path / "cache"
    second = _load(fixture_root, tmp_path)
    assert not second.rebuilt and second.path == first.path
    plain = load("nmnist", "test", root=fixture_root, frames=FR, cache=False)
    assert len(second) == len(plain)
    for i in range(len(plain)):
        x, y = second[i]
        x0, y0 = plain[i]
        assert x.dtype == torch.float32 and torch.equal(x, x0) and y == y0
    assert len(list((tmp_path / "cache").iterdir())) == 1  # no temporary files left


def test_key_follows_frames_transform_and_source(data_copy, tmp_path):
    root = data_copy("nmnist")
    base = _load(root, tmp_path).path
    assert _load(root, tmp_path, frames=dict(n_time_bins=6)).path != base
    down = _load(root, tmp_path, transform=Downsample(2))
    assert down.path != base and down[0][0].shape == (5, 2, 17, 17)
    assert _load(root, tmp_path, transform=Downsample(3)).path != down.path
    some_bin = next((root / "NMNIST" / "Test").rglob("*.bin"))
    some_bin.write_bytes(some_bin.read_bytes()[:-5])  # the data changed: a new cache
    assert _load(root, tmp_path).path != base


def test_random_or_undescribable_transforms_are_not_cached(fixture_root, tmp_path):
    with pytest.raises(ValueError, match="random augmentation"):
        _load(fixture_root, tmp_path, transform=EventDrop(0.1))
    with pytest.raises(ValueError, match="no stable description"):
        _load(fixture_root, tmp_path, transform=lambda ev: ev)
    flip = _load(fixture_root, tmp_path, augment=RandomFlip((34, 34, 2), p_lr=1.0))
    plain = _load(fixture_root, tmp_path)
    assert torch.equal(flip[0][0], torch.flip(plain[0][0], [-1]))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "incomplete", "other_key"])
def test_broken_cache_is_rebuilt(fixture_root, tmp_path, damage):
    ds = _load(fixture_root, tmp_path)
    want = [ds[i][0] for i in range(len(ds))]
    path = ds.path
    ds.close()
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\0" * 4096)
    else:
        with h5py.File(path, "r+") as f:
            if damage == "incomplete":
                f.attrs["complete"] = False
            else:
                f.attrs["key"] = "0" * 64
    again = _load(fixture_root, tmp_path)
    assert again.rebuilt and again.path == path
    assert all(torch.equal(again[i][0], want[i]) for i in range(len(again)))


def _flip_byte_in_first_chunk(path):
    with h5py.File(path, "r") as f:
        offset, size = f["records"].id.get_chunk_info(0).byte_offset, f["records"].id.get_chunk_info(0).size
    raw = bytearray(path.read_bytes())
    raw[offset + size // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_corrupt_chunk_is_an_error_or_a_rebuild_never_wrong_frames(tmp_path):
    rng = np.random.default_rng(0)
    samples = [rng.integers(0, 3, size=(40, 2, 16, 16)) for _ in range(3)]  # ~ 13,000 cells (~20 KB) each: several chunks

    def build():
        yield from ((x, i) for i, x in enumerate(samples))

    def open_cache(**kw):
        return FrameCache(tmp_path / "c.h5", "k" * 64, build, 3, (2, 16, 16), progress=False, **kw)

    ds = open_cache()
    assert torch.equal(ds[0][0], torch.from_numpy(samples[0]).float())
    ds.close()
    _flip_byte_in_first_chunk(ds.path)
    quick = open_cache()  # the quick check reads the last chunk only
    assert not quick.rebuilt
    with pytest.raises(DataCorruptError, match="cache is damaged"):
        quick[0]
    quick.close()
    full = open_cache(verify="full")
    assert full.rebuilt and all(torch.equal(full[i][0], torch.from_numpy(samples[i]).float()) for i in range(3))


def test_failed_build_leaves_no_file(tmp_path):
    def build():
        yield np.zeros((2, 3), dtype=np.int16), 0
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        FrameCache(tmp_path / "c.h5", "k" * 64, build, 2, (3,), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_file_opened_once_per_process(fixture_root, tmp_path, monkeypatch):
    ds = _load(fixture_root, tmp_path)
    opened = []
    real = h5py.File

    def counting(*a, **k):
        opened.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(h5py, "File", counting)
    for _ in range(3):
        for i in range(len(ds)):
            ds[i]
    assert len(opened) == 1


def test_workers_read_the_same_batches(fixture_root, tmp_path):
    ds = _load(fixture_root, tmp_path, frames=dict(time_window=20_000))
    single = list(torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=pad_time))
    ds[0]  # the parent holds a handle before the fork: each worker must open its own
    multi = list(torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=pad_time, num_workers=2))
    assert len(single) == len(multi)
    for a, b in zip(single, multi):
        assert torch.equal(a.data, b.data) and torch.equal(a.lengths, b.lengths) and torch.equal(a.targets, b.targets)
    assert (single[0].lengths > 1).all()


def test_gzip_cache_same_frames(fixture_root, tmp_path):
    plain = _load(fixture_root, tmp_path)
    small = _load(fixture_root, tmp_path / "gz", cache_compression="gzip")
    assert all(torch.equal(plain[i][0], small[i][0]) for i in range(len(plain)))
    with h5py.File(small.path) as f:
        assert f["records"].compression == "gzip"


def test_orphan_temporary_files_of_killed_writes_are_removed(tmp_path):
    """A write killed before its rename leaves ``.<name>.<pid>-<hex>.tmp``; opening the cache again deletes it when its
    writer is gone, and leaves a living writer's file alone."""
    import os
    import subprocess
    import sys

    from neuro.data.cache import FrameCache

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    orphan = tmp_path / f".cache.h5.{pid}-0123abcd.tmp"
    orphan.write_bytes(b"half a cache")
    alive = tmp_path / f".cache.h5.{os.getppid()}-89abcdef.tmp"
    alive.write_bytes(b"being written")

    def build():
        for k in range(3):
            yield np.ones((2, 4), dtype=np.int64) * k, k

    FrameCache(tmp_path / "cache.h5", "k", build, 3, (4,), progress=False)
    assert not orphan.exists()
    assert alive.exists()
