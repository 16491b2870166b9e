"""Cached frame epochs: neuro.data's one-file HDF5 cache vs tonic 1.7's DiskCachedDataset (one file per sample).

Fake data with the real on-disk formats and realistic sizes, read by the real tonic dataset
classes, framed the same way (tonic's ``ToFrame`` for tonic, ``neuro.data.to_frames`` for us:
tested equal), one shuffled pass over the split, single process:

* NMNIST-sized:     ~4,000 events over 300 ms per sample, 1 ms frames (~300 x 2 x 34 x 34)
* DVSGesture-sized: ~150,000 events over 3 s per sample, 20 frames of 2 x 128 x 128
* SHD-sized:        ~5,000 spikes over 1 s on 700 channels, 10 ms frames (~100 x 700), one .h5

For each: tonic first pass (fill), tonic cached pass, recomputing frames with tonic (no
cache), our first pass (build) and our cached pass, and both caches' size on disk. Each pass
sums every sample's frames, so a lazily allocated array is paid for.
``ratio`` = our cached epochs / tonic's cached epochs (all three sets), lower is better.

    python benchmarks/data_vs_tonic.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")


def _nmnist(root: Path, n: int, rng) -> None:
    from neuro.data import fixtures

    base = root / "NMNIST" / "Test"
    for i in range(n):
        d = base / str(i % 10)
        d.mkdir(parents=True, exist_ok=True)
        m = int(rng.integers(3000, 5000))
        x, y, t, p = fixtures.nmnist_events(rng, m)
        (d / f"{i:05d}.bin").write_bytes(fixtures.encode_nmnist(x, y, t, p))


def _dvsgesture(root: Path, n: int, rng, events: int) -> None:
    base = root / "DVSGesture" / "ibmGestureTest"
    for i in range(n):
        d = base / f"user{24 + i // 11:02d}_led"
        d.mkdir(parents=True, exist_ok=True)
        m = int(rng.integers(events * 3 // 4, events * 5 // 4))
        # clustered activity, as a moving hand: most events in a 40-pixel patch
        cx, cy = rng.integers(30, 98, 2)
        x = np.clip(rng.normal(cx, 12, m), 0, 127).astype(np.int64)
        y = np.clip(rng.normal(cy, 12, m), 0, 127).astype(np.int64)
        ev = np.stack([x, y, rng.integers(0, 2, m), np.sort(rng.integers(0, 3000, m))], axis=1)
        np.save(d / f"{i % 11}.npy", ev)


def _shd(root: Path, n: int) -> None:
    from neuro.data import fixtures

    fixtures.write_hsd_h5(root / "SHD" / "shd_test.h5", n, fixtures.SHD_KEYS, seed=1, max_events=7000)


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _epoch(ds, order) -> float:
    t0 = time.perf_counter()
    for i in order:
        x = ds[int(i)][0]
        float(np.asarray(x).sum())  # a consumer touches every frame (no credit for lazily zeroed pages)
    return time.perf_counter() - t0


def bench_one(name: str, root: Path, work: Path, frames: dict, split: str = "test") -> dict:
    import tonic
    from tonic import DiskCachedDataset

    from neuro.data import get_spec, load

    spec = get_spec(name)
    events = load(name, split, root=root)  # the real tonic class, offline
    tonic_ds = events.tonic
    order = np.random.default_rng(0).permutation(len(events))

    to_frame = tonic.transforms.ToFrame(sensor_size=spec.sensor_size, **frames)
    tonic_ds.transform = to_frame
    recompute = _epoch(tonic_ds, order)
    cached = DiskCachedDataset(tonic_ds, cache_path=str(work / f"tonic-{name}"))
    tonic_first = _epoch(cached, order)
    tonic_second = _epoch(cached, order)
    tonic_bytes = _dir_bytes(work / f"tonic-{name}")
    tonic_ds.transform = None

    t0 = time.perf_counter()
    ours = load(name, split, root=root, frames=frames, cache_dir=work / "neuro", progress=False)
    build = time.perf_counter() - t0
    ours_first = build + _epoch(ours, order)  # build, then the first pass, as a user sees it
    ours_second = _epoch(ours, order)
    ours_bytes = ours.path.stat().st_size
    # same frames as tonic (up to the tail events tonic drops with n_time_bins)
    x_ours = ours[0][0].numpy()
    x_tonic = to_frame(events.raw(0)[0]).reshape(x_ours.shape)
    same = bool(np.array_equal(x_ours[:-1], x_tonic[:-1]))
    ours.close()
    return {
        "samples": len(events), "tonic_recompute_s": round(recompute, 3), "tonic_first_s": round(tonic_first, 3),
        "tonic_cached_s": round(tonic_second, 3), "ours_first_s": round(ours_first, 3), "ours_cached_s": round(ours_second, 3),
        "speedup_vs_tonic_cache": round(tonic_second / ours_second, 1), "speedup_vs_recompute": round(recompute / ours_second, 1),
        "tonic_cache_mb": round(tonic_bytes / 2**20, 2), "ours_cache_mb": round(ours_bytes / 2**20, 2), "frames_match_tonic": same,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 NMNIST, 12 DVSGesture, 100 SHD samples (well under a minute)")
    args = ap.parse_args(argv)
    sizes = dict(nmnist=100, dvsgesture=12, shd=100, dvs_events=100_000) if args.quick else dict(nmnist=1000, dvsgesture=60, shd=500, dvs_events=150_000)
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp(prefix="neuro-bench-data-"))
    try:
        root, work = tmp / "data", tmp / "work"
        _nmnist(root, sizes["nmnist"], rng)
        _dvsgesture(root, sizes["dvsgesture"], rng, sizes["dvs_events"])
        _shd(root, sizes["shd"])
        results = {}
        for name, frames in (("nmnist", dict(time_window=1000)), ("dvsgesture", dict(n_time_bins=20)), ("shd", dict(time_window=10_000))):
            results[name] = bench_one(name, root, work, frames)
            print(f"{name:<11} " + "  ".join(f"{k}={v}" for k, v in results[name].items()), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ours = sum(r["ours_cached_s"] for r in results.values())
    peer = sum(r["tonic_cached_s"] for r in results.values())
    out = {
        "name": "data_vs_tonic", "ours_s": round(ours, 3), "peer": "tonic 1.7 DiskCachedDataset", "peer_s": round(peer, 3),
        "ratio": round(ours / peer, 4), "quick": args.quick, "worst_speedup_vs_tonic_cache": min(r["speedup_vs_tonic_cache"] for r in results.values()),
        "worst_speedup_vs_recompute": min(r["speedup_vs_recompute"] for r in results.values()), **results,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
