"""Recording plasticity: sampled weights, eligibility traces, STDP traces and modulator concentration; HDF5; plots."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP, TripletSTDP
from neuro.ops.three_factor import RewardModulatedSTDP

EVERY = 2.0  # ms between samples


def _plastic_network(h5_dir=None):
    """Poisson inputs -> 3 LIF neurons through a pair-STDP projection (delays 0-3 ms) and a dopamine-modulated one."""
    net = sim.Network(dt=0.1, seed=3)
    net.add_modulator("dopamine", tau=50.0)
    inp = sim.PoissonInput(40, rate=40.0)
    pop = sim.LIF(3, v_rest=-65.0, v_th=-50.0, v_reset=-65.0, t_ref=2.0, i_ext=12.0)
    delays = lambda rng, n: rng.integers(0, 31, n) * 0.1  # noqa: E731
    stdp = PairSTDP(eta_plus=0.05, eta_minus=0.06, w_max=6.0)
    pair = sim.Projection(inp, pop, "all_to_all", weight=lambda rng, n: rng.uniform(1.0, 5.0, n), delay=delays, seed=1, plasticity=stdp)
    rule = RewardModulatedSTDP(stdp=PairSTDP(eta_plus=1.0, eta_minus=1.5, w_max=6.0), tau_c=100.0, update_interval=1.0)
    da = sim.Projection(inp, pop, "all_to_all", weight=2.0, delay=delays, seed=2, plasticity=rule, modulator="dopamine")
    net.add(inp, pop, pair, da)
    h5 = (lambda name: None) if h5_dir is None else (lambda name: h5_dir / f"{name}.h5")
    chosen = np.array([0, 7, 33, 64, 101, 119])
    mons = dict(
        w=sim.SynapseMonitor(pair, "w", synapses=chosen, every=EVERY, h5=h5("w")),
        w_da=sim.SynapseMonitor(da, "w", synapses=chosen, every=EVERY, h5=h5("w_da")),
        elig=sim.SynapseMonitor(da, "eligibility", synapses=chosen, every=EVERY, h5=h5("elig")),
        dopamine=sim.ModulatorMonitor("dopamine", every=EVERY, h5=h5("dopamine")),
        spikes=sim.SpikeMonitor(pop),
    )
    net.add(*mons.values())
    return net, pair, da, chosen, mons


def _reward(net):
    k = int(round(net.t / EVERY))
    if k % 5 == 0:
        net.release("dopamine", 0.2 * (1 + k % 3))


def test_samples_equal_the_projection_state_read_between_chunks():
    chunks = 60
    net, pair, da, chosen, mons = _plastic_network()
    expected = {"w": [], "w_da": [], "elig": [], "dopamine": []}
    for _ in range(chunks):
        # the state now (time t) is what the monitors sample at t, before the step that starts there
        expected["w"].append(pair.weights[chosen])
        expected["w_da"].append(da.weights[chosen])
        expected["elig"].append(da.eligibility[chosen])
        expected["dopamine"].append([net.modulator("dopamine")])
        net.run(EVERY)
        _reward(net)
    assert mons["spikes"].count > 20, "the post neurons must fire for the weights to move"
    np.testing.assert_allclose(mons["w"].t, np.arange(chunks) * EVERY, atol=1e-9)
    for key in expected:
        got, want = mons[key].values, np.array(expected[key])
        assert got.shape == want.shape, key
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=key)
    w = mons["w"].values
    assert np.ptp(w, axis=0).max() > 0.05, "pair STDP moved the sampled weights"
    assert np.ptp(mons["w_da"].values, axis=0).max() > 0.01, "dopamine moved the modulated weights"
    assert np.ptp(mons["elig"].values) > 0 and mons["dopamine"].concentration.max() > 0

    # the same run in one call (releases from the reward callback) samples identical values
    net2, *_, mons2 = _plastic_network()
    net2.run(chunks * EVERY, reward=_reward, reward_interval=EVERY)
    for key in expected:
        np.testing.assert_array_equal(mons2[key].values, mons[key].values, err_msg=key)


def test_stdp_trace_samples_follow_the_arrivals():
    """x_pre(t) = sum over arrivals before t of exp(-(t - a) / tau_plus), arrivals = spike + delay."""
    net = sim.Network(dt=0.1)
    times = np.array([1.0, 3.5, 4.0, 12.3])
    src = sim.SpikeSource(1, times=times, indices=np.zeros(4, int))
    post = sim.LIF(1, v_th=1e6)
    rule = PairSTDP(tau_plus=7.0, tau_minus=11.0)
    proj = sim.Projection(src, post, weight=0.5, delay=2.0, plasticity=rule)
    trip = sim.Projection(src, post, weight=0.5, delay=2.0, plasticity=TripletSTDP())
    x = net.add(src, post, proj, trip, sim.SynapseMonitor(proj, "x_pre", every=0.5))
    r1 = net.add(sim.SynapseMonitor(trip, "x_pre", every=0.5))
    net.run(25.0)
    arrivals = times + 2.0
    want = np.array([np.sum(np.exp(-(t - arrivals[arrivals < t - 1e-9]) / 7.0)) for t in x.t])
    np.testing.assert_allclose(x.values[:, 0], want, rtol=1e-12, atol=1e-300)
    want_r1 = np.array([np.sum(np.exp(-(t - arrivals[arrivals < t - 1e-9]) / TripletSTDP().tau_plus)) for t in r1.t])
    np.testing.assert_allclose(r1.values[:, 0], want_r1, rtol=1e-12, atol=1e-300)


def test_monitors_stream_to_hdf5_and_load_back(tmp_path):
    net, *_, mons = _plastic_network(tmp_path)
    ref, *_, mem = _plastic_network()
    for n in (net, ref):
        n.run(30.0, reward=_reward, reward_interval=EVERY)
        n.run(10.0)
    for key in ("w", "w_da", "elig", "dopamine"):
        data = sim.load_samples(tmp_path / f"{key}.h5")
        np.testing.assert_array_equal(data["values"], mem[key].values, err_msg=key)
        np.testing.assert_array_equal(data["t"], mem[key].t)
        np.testing.assert_array_equal(mons[key].values, mem[key].values)
        assert data["t"].size == 20
    data = sim.load_samples(tmp_path / "w.h5")
    assert data["var"] == "w" and data["projection"] == mons["w"].proj.name
    np.testing.assert_array_equal(data["synapses"], mons["w"].synapses)
    np.testing.assert_array_equal(data["pre_index"], mons["w"].proj.pre_index[mons["w"].synapses])


def test_weight_plots_are_written(tmp_path):
    from neuro.viz.plasticity import weight_histogram, weight_traces

    net, pair, _, chosen, mons = _plastic_network()
    net.run(40.0)
    for path in (weight_histogram(pair.weights, w_max=6.0, path=tmp_path / "hist.png"),
                 weight_traces(mons["w"].t, mons["w"].values, labels=[f"syn {k}" for k in chosen], path=tmp_path / "w_t.png"),
                 weight_traces(mons["dopamine"].t, mons["dopamine"].values, ylabel="dopamine", path=tmp_path / "da.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="samples"):
        weight_traces(np.arange(3), np.zeros((4, 2)))


def test_monitor_bad_input():
    a, b = sim.LIF(2), sim.LIF(2)
    static = sim.Projection(a, b, weight=1.0)
    pair = sim.Projection(a, b, weight=0.5, plasticity=PairSTDP())
    with pytest.raises(ValueError, match="no eligibility traces"):
        sim.SynapseMonitor(pair, "eligibility")
    with pytest.raises(ValueError, match="not plastic"):
        sim.SynapseMonitor(static, "x_pre")
    with pytest.raises(ValueError, match="unknown synapse variable 'weight'"):
        sim.SynapseMonitor(pair, "weight")
    with pytest.raises(ValueError, match=r"synapses must be integers in \[0, 3\]"):
        sim.SynapseMonitor(pair, synapses=[4])
    with pytest.raises(ValueError, match="every must be"):
        sim.SynapseMonitor(pair, every=-1.0)
    net = sim.Network(dt=0.1)
    net.add(a, b, pair, sim.SynapseMonitor(pair, every=0.25))
    with pytest.raises(ValueError, match="not a whole number of steps"):
        net.run(1.0)
    net = sim.Network(dt=0.1)
    net.add(sim.LIF(1), sim.ModulatorMonitor("dopamine"))
    with pytest.raises(ValueError, match="add it with add_modulator"):
        net.run(1.0)
    assert math.isfinite(static.weights.sum())
