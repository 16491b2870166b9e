"""neuro.sweep on 2 Dask workers whose processes die: a point is rerun up to ``retries`` times, then recorded as
failed with its error while the other points finish (or raised, naming the points, with ``on_error="raise"``)."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from neuro.sweep import SweepError, sweep

distributed = pytest.importorskip("distributed", reason="the Dask tests need dask[distributed] (in the dev extra)")
cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # not importable by name in the workers


def dies(x, seed, log, always, once):
    """Logs each attempt; its worker process ends without a word (``os._exit``) at ``x == always`` every time, and at
    ``x == once`` on its first attempt only."""
    with open(log, "a") as fh:
        fh.write(f"{x}\n")
    attempts = Path(log).read_text().split().count(str(x))
    if x == always or (x == once and attempts == 1):
        os._exit(3)
    return {"y": x + np.random.default_rng(seed).random()}


@pytest.fixture(scope="module")
def client():
    """2 worker processes whose scheduler charges a death at once, as the cluster of ``sweep(workers=2)``."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       scheduler_kwargs={"allowed_failures": 0})
    with cluster, distributed.Client(cluster) as c:
        yield c


def test_dead_worker_is_retried_then_the_point_recorded_as_failed(tmp_path, client):
    log = tmp_path / "attempts.txt"
    fixed = {"log": str(log), "always": 0, "once": 1}  # the first two: both workers die at once
    ckpt = tmp_path / "sweep.pkl"
    rows = sweep(dies, {"x": [0, 1, 2, 3, 4, 5]}, fixed=fixed, seed=3, client=client, retries=1, on_error="record",
                 checkpoint=ckpt, progress=False, as_frame=False)
    calls = log.read_text().split()
    assert calls.count("0") == 2  # the first attempt and one retry, then given up
    assert calls.count("1") == 2  # died once, succeeded on its retry
    assert all(calls.count(str(x)) >= 1 for x in (2, 3, 4, 5))  # more when a result died with its worker before it was gathered
    assert [r["error"] is None for r in rows] == [False, True, True, True, True, True]
    assert rows[0]["error"].startswith("KilledWorker: the worker process died while running this point, 2 time(s) (retries=1)")
    assert "y" not in rows[0]
    for r in rows[1:]:  # the finished rows, the retried one included, hold their function's value
        assert r["y"] == r["x"] + np.random.default_rng(r["seed"]).random()
    with open(ckpt, "rb") as fh:
        assert sorted(pickle.load(fh)["done"]) == [1, 2, 3, 4, 5]  # the failed point is not saved as done: a rerun tries it again

    with pytest.raises(SweepError, match=r"sweep points \[1\] of dies\(x, seed, log, always, once\) failed: KilledWorker"):
        sweep(dies, {"x": [0, 1]}, fixed={**fixed, "always": 1}, client=client, retries=0, progress=False)


def test_retries_must_be_a_count():
    with pytest.raises(ValueError, match=r"retries must be an integer >= 0, got -1"):
        sweep(dies, {"x": [0]}, fixed={"log": "x", "always": -1, "once": -1}, retries=-1, progress=False)
