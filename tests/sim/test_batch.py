"""neuro.sim.batch.Batch: networks of one structure merged into one population / projection / monitor per role, the
others moved in as they are; every network's spikes and final state as its own separate run gives them."""

from __future__ import annotations

import numpy as np
import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP
from neuro.sim import engine_gpu
from neuro.sim.batch import Batch, structure


def net_of(weight, seed=0, n=20, tau_m=20.0, izh=False, state_monitor=False, drive=5.0):
    """Deterministic: spike sources drive a ring of LIF neurons (seeded weights and delays) and an excitatory LIF group
    (or Izhikevich neurons) through two receptors."""
    rng = np.random.default_rng(seed)
    net = sim.Network(dt=0.1, seed=seed)
    src = sim.SpikeSource(2, times=[1.0, 30.0, 60.0, 2.0 + seed], indices=[0, 0, 0, 1])
    ring = sim.LIF(n, tau_m=tau_m, v_init=rng.uniform(-66.0, -60.0, n), i_ext=rng.uniform(0.0, drive, n), name="ring")
    side = sim.Izhikevich(5, name="side") if izh else sim.LIF(5, tau_e=3.0, name="side")
    net.add(src, ring, side,
            sim.Projection(src, ring, connect=(np.array([0, 1]), np.array([0, n // 2])), weight=20.0, receptor="v"),
            sim.Projection(ring, ring, connect=(np.arange(n), (np.arange(n) + 1) % n), weight=weight * rng.uniform(0.9, 1.1, n),
                           delay=rng.integers(5, 20, n) * 0.1, receptor="v"),
            sim.Projection(ring, side, sim.FixedProbability(0.3), weight=15.0, delay=0.5, receptor="exc"),
            sim.SpikeMonitor(ring), sim.SpikeMonitor(side))
    if state_monitor:
        net.add(sim.StateMonitor(ring, "v"))
    return net


def _spikes(mon):
    order = np.lexsort((mon.i, mon.t))
    return mon.t[order], mon.i[order]


def test_merged_and_moved_networks_equal_their_separate_runs():
    specs = [dict(weight=30.0, seed=1), dict(weight=15.5, seed=2, n=13), dict(weight=30.0, seed=3, tau_m=15.0),
             dict(weight=30.0, seed=4, izh=True), dict(weight=22.0, seed=5, state_monitor=True), dict(weight=30.0, seed=6, drive=0.0)]
    alone = [net_of(**k) for k in specs]
    for net in alone:
        net.run(80.0, progress=False)
    nets = [net_of(**k) for k in specs]
    batch = Batch(nets, seed=9)
    # one group of the default structure (sizes may differ; network 5 without i_ext, which the loop then skips in its
    # separate run), one per other tau_m and per other population type; the network with a state monitor is moved in
    assert sorted(batch.groups) == [[0, 1, 5], [2], [3]]
    assert len(batch.network.populations) == 3 * 3 + 3
    batch.run(80.0, progress=False)
    for k, (one, net) in enumerate(zip(alone, nets)):
        for m1, m2 in zip(one.monitors, net.monitors):
            if isinstance(m1, sim.SpikeMonitor):
                t1, i1 = _spikes(m1)
                t2, i2 = _spikes(m2)
                np.testing.assert_array_equal(i1, i2, err_msg=f"network {k}")
                np.testing.assert_array_equal(t1, t2, err_msg=f"network {k}")
                assert m1.rate() == m2.rate()  # over the span recorded: the network's clock is at the end
            else:
                np.testing.assert_array_equal(m1.values, m2.values)
        for p1, p2 in zip(one.populations, net.populations):
            np.testing.assert_array_equal(p1.v, p2.v)
            np.testing.assert_array_equal(p1._current(0), p2._current(0))  # i_e of LIF neurons
    assert alone[0].monitors[0].count > 0 and alone[0].monitors[1].count > 0
    assert len({one.monitors[0].count for one in alone}) > 2  # the networks differ


def test_what_is_not_merged():
    plain = net_of(1.0)
    assert structure(plain) is not None
    assert structure(net_of(1.0)) == structure(net_of(2.0, seed=3, n=7))
    assert structure(net_of(1.0, tau_m=10.0)) != structure(plain)
    plastic = net_of(1.0)
    plastic.add(sim.Projection(plastic.populations[1], plastic.populations[2], weight=0.1, plasticity=PairSTDP()))
    injected = net_of(1.0)
    injected.populations[2].inject(np.ones(10))
    some = net_of(1.0)
    some.add(sim.SpikeMonitor(some.populations[1], indices=[0, 3]))
    for net in (plastic, injected, some, net_of(1.0, state_monitor=True)):
        assert structure(net) is None


def test_poisson_sources_are_merged_with_their_rates():
    def poisson(rate, seed):
        net = sim.Network(dt=0.1, seed=seed)
        src = sim.PoissonInput(50, rate=rate)
        net.add(src, sim.SpikeMonitor(src))
        return net

    rates = [0.0, 50.0, 400.0]
    nets = [poisson(r, k) for k, r in enumerate(rates)]
    batch = Batch(nets, seed=1)
    assert batch.groups == [[0, 1, 2]] and batch.network.populations[0].n == 150
    batch.run(500.0, progress=False)
    got = [net.monitors[0].rate(500.0) for net in nets]
    assert got[0] == 0.0
    for want, rate in zip(rates[1:], got[1:]):  # 50 sources x 0.5 s: a few Poisson standard deviations
        assert abs(rate - want) < 5 * np.sqrt(want / 25.0)
    assert all(net.monitors[0].i.max() < 50 for net in nets[1:])


def test_refusals():
    with pytest.raises(ValueError, match="at least one network"):
        Batch([])
    with pytest.raises(TypeError, match=r"nets\[1\] must be a neuro.sim.Network"):
        Batch([net_of(1.0), "net"])
    done = net_of(1.0)
    done.run(1.0, progress=False)
    with pytest.raises(ValueError, match=r"nets\[0\] was already built or run"):
        Batch([done])
    other = sim.Network(dt=0.2)
    with pytest.raises(ValueError, match=r"nets\[1\]: dt = 0.2 ms"):
        Batch([net_of(1.0), other])


@pytest.mark.skipif(engine_gpu.HostEmulation.compiler() is None, reason="no C++ compiler")
def test_merged_networks_on_the_gpu_engine_emulated():
    """The GPU engine's kernels (compiled for this CPU: backend="emulate") run a merged batch to the spikes of the
    networks' separate runs on that engine."""
    def emulated(**spec):
        net = net_of(**spec)
        net.backend = "emulate"
        return net

    specs = [dict(weight=30.0, seed=1), dict(weight=15.5, seed=2, n=13)]
    alone = [emulated(**k) for k in specs]
    for net in alone:
        net.run(50.0, progress=False)
    nets = [emulated(**k) for k in specs]
    batch = Batch(nets, seed=3)
    assert batch.groups == [[0, 1]] and batch.network.backend == "emulate"
    batch.run(50.0, progress=False)
    for one, net in zip(alone, nets):
        for m1, m2 in zip(one.monitors, net.monitors):
            for a, b in zip(_spikes(m1), _spikes(m2)):
                np.testing.assert_array_equal(a, b)
    assert alone[0].monitors[0].count > 0


def test_a_monitor_of_a_population_outside_its_network_gets_the_networks_error():
    net = net_of(1.0)
    net.add(sim.SpikeMonitor(sim.LIF(3, name="stray")))
    assert structure(net) is None
    with pytest.raises(ValueError, match="a monitor watches stray, which is not in this network"):
        Batch([net_of(2.0), net]).run(1.0, progress=False)
