"""neuro.sweep.sweep_batched: every point of a network sweep as a copy inside one network, one loop call."""

from __future__ import annotations

import numpy as np
import pytest

from neuro import sim
from neuro.sweep import sweep_batched, sweep_network


def ring(weight, n=20, seed=0):
    """A deterministic network: a spike source drives a ring of LIF neurons with random (seeded) delays and weights."""
    rng = np.random.default_rng(seed)
    net = sim.Network(dt=0.1, seed=seed)
    src = sim.SpikeSource(1, times=[1.0, 30.0, 60.0], indices=[0, 0, 0])
    ring_ = sim.LIF(n, name="ring")
    kick = sim.Projection(src, ring_, connect=(np.array([0]), np.array([0])), weight=20.0, receptor="v")
    chain = sim.Projection(ring_, ring_, connect=(np.arange(n), (np.arange(n) + 1) % n), weight=weight * rng.uniform(0.9, 1.1, n),
                           delay=rng.integers(5, 20, n) * 0.1, receptor="v")
    net.add(src, ring_, kick, chain, sim.SpikeMonitor(ring_))
    return net


def spikes(net, duration):
    mon = net.monitors[0]
    return {"spikes": int(mon.i.size), "last": float(mon.t.max()) if mon.i.size else -1.0}


def test_batched_equals_separate_runs_on_deterministic_networks():
    grid = {"weight": [5.0, 15.5, 30.0]}
    one = sweep_network(ring, grid, 100.0, measure=spikes, replicates=2, seed=3, progress=False, as_frame=False)
    batched = sweep_batched(ring, grid, 100.0, measure=spikes, replicates=2, seed=3, as_frame=False)
    assert one == batched
    assert len({r["spikes"] for r in batched}) > 1  # the points differ


def test_default_measure_and_rows():
    table = sweep_batched(ring, [{"weight": 30.0}, {"weight": 0.0}], 100.0, as_frame=False)
    assert [r["point"] for r in table] == [0, 1]
    assert table[0]["rate_ring"] > 0 and table[1]["rate_ring"] < table[0]["rate_ring"]


def test_refusals_name_the_point():
    def with_modulator(weight, seed):
        net = ring(weight, seed=seed)
        net.add_modulator("dopamine")
        return net

    with pytest.raises(ValueError, match="point 0: its network has neuromodulators"):
        sweep_batched(with_modulator, {"weight": [1.0]}, 10.0)

    def other_dt(weight, seed):
        net = sim.Network(dt=0.1 if weight < 1 else 0.2)
        net.add(sim.LIF(2))
        return net

    with pytest.raises(ValueError, match="point 1: dt = 0.2"):
        sweep_batched(other_dt, {"weight": [0.0, 2.0]}, 10.0)

    def already_run(weight, seed):
        net = ring(weight, seed=seed)
        net.run(1.0, progress=False)
        return net

    with pytest.raises(ValueError, match="already built or run"):
        sweep_batched(already_run, {"weight": [1.0]}, 10.0)
    with pytest.raises(ValueError, match="duration"):
        sweep_batched(ring, {"weight": [1.0]}, -1.0)
