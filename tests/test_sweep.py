"""neuro.sweep: the same table in this process, on 2 Dask workers and with any chunking; resume; errors."""

from __future__ import annotations

import pickle
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from neuro.sweep import NetworkRun, SweepError, point_seeds, sweep, sweep_network

distributed = pytest.importorskip("distributed", reason="the Dask tests need dask[distributed] (in the dev extra)")
cloudpickle = pytest.importorskip("cloudpickle")
# this test module is not importable by name in the worker processes: its functions travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def noisy(g, rate, seed):
    rng = np.random.default_rng(seed)
    return {"m": g * rate + rng.normal(), "draws": rng.integers(0, 1000, 3).tolist()}


def counted(x, seed, log, stop=None):
    """Logs its call; raises KeyboardInterrupt at x == 3 while the file ``stop`` exists (the simulated interruption)."""
    if stop is not None and x == 3 and Path(stop).exists():
        raise KeyboardInterrupt
    with open(log, "a") as fh:
        fh.write(f"{x}\n")
    return {"y": x * 10 + np.random.default_rng(seed).random()}


def fails_at_two(x, seed):
    if x == 2:
        raise ValueError("x == 2 is not allowed")
    return x


GRID = {"g": [1.0, 2.0, 3.0], "rate": [10.0, 20.0]}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


def test_same_table_sequential_dask_workers_and_any_chunking(client):
    ref = sweep(noisy, GRID, replicates=2, seed=7, progress=False, as_frame=False)
    assert [r["point"] for r in ref] == list(range(12)) and [r["replicate"] for r in ref[:4]] == [0, 1, 0, 1]
    assert [r["seed"] for r in ref] == point_seeds(7, 12) and len(set(point_seeds(7, 12))) == 12
    assert (ref[0]["g"], ref[0]["rate"], ref[2]["rate"], ref[4]["g"]) == (1.0, 10.0, 20.0, 2.0)  # the first name varies slowest
    assert sweep(noisy, GRID, replicates=2, seed=7, chunk_size=5, progress=False, as_frame=False) == ref
    assert sweep(noisy, GRID, replicates=2, seed=7, client=client, progress=False, as_frame=False) == ref
    assert sweep(noisy, GRID, replicates=2, seed=7, client=client, chunk_size=3, progress=False, as_frame=False) == ref
    assert sweep(noisy, GRID, replicates=2, seed=8, progress=False, as_frame=False) != ref  # the sweep seed matters
    # nothing left on the workers: released results leave them asynchronously, so allow the scheduler a moment
    deadline = time.monotonic() + 10.0
    while any(client.has_what().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(client.has_what().values()), client.has_what()


def test_seeds_are_fixed_by_sweep_seed_and_row():
    assert point_seeds(0, 3) == point_seeds(0, 10)[:3]  # a row's seed does not depend on the sweep's size
    assert point_seeds(0, 3) != point_seeds(1, 3)
    rows = sweep(noisy, {"g": [1.0], "rate": [1.0, 2.0]}, seed=0, progress=False, as_frame=False)
    assert [r["seed"] for r in rows] == point_seeds(0, 2)


def test_resume_after_an_interruption_skips_finished_points(tmp_path, client):
    log, stop, ckpt = tmp_path / "calls.txt", tmp_path / "stop", tmp_path / "ckpt" / "sweep.pkl"
    grid = {"x": list(range(6))}
    fixed = {"log": str(log), "stop": str(stop)}
    full = sweep(counted, grid, fixed={"log": str(tmp_path / "other.txt")}, seed=1, progress=False, as_frame=False)
    stop.touch()
    with pytest.raises(KeyboardInterrupt):
        sweep(counted, grid, fixed=fixed, seed=1, checkpoint=ckpt, progress=False, as_frame=False)
    assert log.read_text().split() == ["0", "1", "2"]
    with open(ckpt, "rb") as fh:
        assert sorted(pickle.load(fh)["done"]) == [0, 1, 2]  # the finished points, in a complete file
    assert [p.name for p in ckpt.parent.iterdir()] == ["sweep.pkl"]  # no temporary file left behind
    stop.unlink()
    resumed = sweep(counted, grid, fixed=fixed, seed=1, checkpoint=ckpt, progress=False, as_frame=False)
    assert log.read_text().split() == ["0", "1", "2", "3", "4", "5"]  # 0..2 were not run again
    assert resumed == full
    again = sweep(counted, grid, fixed=fixed, seed=1, checkpoint=ckpt, client=client, progress=False, as_frame=False)
    assert again == full and len(log.read_text().split()) == 6  # all done: nothing runs, on any executor
    bigger = sweep(counted, {"x": list(range(8))}, fixed=fixed, seed=1, checkpoint=ckpt, client=client, chunk_size=2,
                   progress=False, as_frame=False)
    assert bigger[:6] == full and sorted(log.read_text().split()) == [str(i) for i in range(8)]  # appended points run, once


def test_checkpoint_of_another_sweep_is_refused(tmp_path):
    ckpt = tmp_path / "s.pkl"
    sweep(noisy, GRID, seed=0, checkpoint=ckpt, progress=False, as_frame=False)
    with pytest.raises(ValueError, match="belongs to another sweep: its row 0 is g=1.0, rate=10.0, replicate=0, seed="):
        sweep(noisy, {"g": [5.0], "rate": [10.0]}, seed=0, checkpoint=ckpt, progress=False)
    with pytest.raises(ValueError, match="belongs to another sweep"):
        sweep(noisy, GRID, seed=1, checkpoint=ckpt, progress=False)  # other seeds
    with pytest.raises(ValueError, match=r"belongs to another sweep: it ran noisy\(g, rate, seed\) with fixed=\{\}, this sweep runs .*"
                                         r"<lambda>\(g, rate, seed\)"):
        sweep(lambda g, rate, seed: 1, GRID, seed=0, checkpoint=ckpt, progress=False)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="junk.pkl cannot be read"):
        sweep(noisy, GRID, checkpoint=tmp_path / "junk.pkl", progress=False)


def test_failed_point_is_recorded_while_the_others_finish(tmp_path, client):
    for kw in ({}, {"client": client}):
        rows = sweep(fails_at_two, {"x": [0, 1, 2, 3]}, on_error="record", checkpoint=tmp_path / f"c{len(kw)}.pkl", progress=False,
                     as_frame=False, **kw)
        assert [r["error"] for r in rows] == [None, None, "ValueError: x == 2 is not allowed", None]
        assert [r.get("value") for r in rows] == [0, 1, None, 3]
        with open(tmp_path / f"c{len(kw)}.pkl", "rb") as fh:
            assert sorted(pickle.load(fh)["done"]) == [0, 1, 3]  # a failed point is retried by a rerun


@pytest.mark.parametrize("where", ["here", "dask"])
def test_failure_raises_naming_the_point(where, client):
    kw = {"client": client} if where == "dask" else {}
    with pytest.raises(SweepError, match=r"sweep point 2 \(x=2, replicate=0, seed=\d+\) of fails_at_two\(x, seed\) failed: "
                                         "ValueError: x == 2 is not allowed") as info:
        sweep(fails_at_two, {"x": [0, 1, 2, 3]}, chunk_size=2, progress=False, **kw)
    assert info.value.point["x"] == 2 and isinstance(info.value.__cause__, ValueError)


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['gg'\] for noisy\(g, rate, seed\); it takes \['g', 'rate', 'seed'\]"):
        sweep(noisy, {"gg": [1.0], "rate": [1.0]}, progress=False)
    with pytest.raises(ValueError, match=r"unknown fixed parameter\(s\) \['tau'\] for noisy\(g, rate, seed\)"):
        sweep(noisy, GRID, fixed={"tau": 1.0}, progress=False)
    with pytest.raises(ValueError, match=r"leaves required parameter\(s\) \['rate'\] of noisy\(g, rate, seed\) unset"):
        sweep(noisy, {"g": [1.0]}, progress=False)
    with pytest.raises(ValueError, match="grid is empty"):
        sweep(noisy, {}, progress=False)
    with pytest.raises(ValueError, match="grid is empty"):
        sweep(noisy, [], progress=False)
    with pytest.raises(ValueError, match=r"grid\['g'\] is empty"):
        sweep(noisy, {"g": [], "rate": [1.0]}, progress=False)
    with pytest.raises(TypeError, match=r"grid\['g'\] must be a list of values, got 4.0"):
        sweep(noisy, {"g": 4.0, "rate": [1.0]}, progress=False)
    with pytest.raises(TypeError, match=r"grid\[1\] must be a dict"):
        sweep(noisy, [{"g": 1.0, "rate": 1.0}, (2.0, 1.0)], progress=False)
    with pytest.raises(ValueError, match="grid point 0 sets 'seed'"):
        sweep(noisy, {"g": [1.0], "rate": [1.0], "seed": [1]}, progress=False)
    with pytest.raises(ValueError, match=r"replicates=3 needs a seed argument: .*<lambda>\(x\) takes no 'seed' parameter"):
        sweep(lambda x: x, {"x": [1]}, replicates=3, progress=False)
    with pytest.raises(ValueError, match="replicates must be an integer >= 1, got 0"):
        sweep(noisy, GRID, replicates=0)
    with pytest.raises(ValueError, match="chunk_size must be an integer >= 1, got 0"):
        sweep(noisy, GRID, chunk_size=0)
    with pytest.raises(ValueError, match="workers must be None .* got -1"):
        sweep(noisy, GRID, workers=-1)
    with pytest.raises(ValueError, match="not both"):
        sweep(noisy, GRID, workers=2, client=object())
    with pytest.raises(ValueError, match="on_error must be 'raise' or 'record', got 'ignore'"):
        sweep(noisy, GRID, on_error="ignore")
    with pytest.raises(TypeError, match="fn must be callable, got int"):
        sweep(3, GRID)
    with pytest.raises(SweepError, match=r"ValueError: the function's result names \['g'\] are also column names"):
        sweep(lambda g, rate: {"g": 1}, GRID, progress=False)


def test_unpicklable_function_gets_a_hint(client):
    lock = threading.Lock()

    def holds_a_lock(x):
        with lock:
            return x

    assert sweep(holds_a_lock, {"x": [1, 2]}, progress=False, as_frame=False)[1]["value"] == 2  # fine in this process
    with pytest.raises(TypeError, match=r"fn \(.*holds_a_lock\(x\)\) cannot be pickled for the Dask workers \(TypeError: .*lock.*\)\. "
                                        "Hint: define the function at module level"):
        sweep(holds_a_lock, {"x": [1, 2]}, client=client, progress=False)


def test_table_is_a_dataframe_when_pandas_is_there(monkeypatch):
    fake = types.ModuleType("pandas")
    fake.DataFrame = lambda rows: ("frame", rows)
    monkeypatch.setitem(sys.modules, "pandas", fake)
    kind, rows = sweep(noisy, {"g": [1.0], "rate": [2.0]}, progress=False)
    assert kind == "frame" and rows[0]["g"] == 1.0
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    assert isinstance(sweep(noisy, {"g": [1.0], "rate": [2.0]}, progress=False), list)
    with pytest.raises(ImportError, match="as_frame=True needs pandas"):
        sweep(noisy, {"g": [1.0], "rate": [2.0]}, as_frame=True, progress=False)


def tiny_network(rate, w, seed):
    from neuro import sim

    net = sim.Network(dt=0.1, seed=seed)
    src = sim.PoissonInput(50, rate=rate)
    cell = sim.LIF(20, tau_m=10.0, v_rest=-65.0, v_th=-55.0, v_reset=-65.0, name="cells")
    net.add(src, cell, sim.Projection(src, cell, sim.FixedProbability(0.3), weight=w, receptor="v"))
    net.add(sim.SpikeMonitor(cell))
    return net


def test_network_sweep_same_on_a_local_cluster_of_2_workers():
    grid = {"rate": [20.0, 60.0], "w": [1.0, 2.0]}
    ref = sweep_network(tiny_network, grid, 200.0, seed=5, progress=False, as_frame=False)
    assert sweep_network(tiny_network, grid, 200.0, seed=5, workers=2, progress=False, as_frame=False) == ref  # started and closed here
    rates = {(r["rate"], r["w"]): r["rate_cells"] for r in ref}
    assert rates[(60.0, 2.0)] > rates[(20.0, 2.0)] > 0 and rates[(60.0, 2.0)] > rates[(60.0, 1.0)]
    assert all(r["synaptic_events"] > 0 for r in ref)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['tau'\] for tiny_network\(rate, w, seed\)"):
        sweep_network(tiny_network, {"tau": [1.0]}, 10.0, progress=False)
    with pytest.raises(ValueError, match="duration must be a finite number of ms > 0, got -1"):
        NetworkRun(tiny_network, -1)
    with pytest.raises(SweepError, match="must return a neuro.sim.Network, got int"):
        sweep_network(lambda x, seed: 3, {"x": [1]}, 10.0, progress=False)
