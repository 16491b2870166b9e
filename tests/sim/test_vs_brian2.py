"""Agreement with Brian2 (numpy code generation) on the same networks, connectivity and initial state."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuro import sim

b2 = pytest.importorskip("brian2", reason="brian2 comes with the test environment (requirements/peers.txt)")


@pytest.fixture(autouse=True)
def _brian2_numpy():
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _cuba_brian2(n, v0, pre, post, exc, duration, dt=0.1):
    ms, mV = b2.ms, b2.mV
    b2.defaultclock.dt = dt * ms
    eqs = """dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
             dge/dt = -ge/taue : volt
             dgi/dt = -gi/taui : volt"""
    ns = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-49 * mV)
    g = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact", namespace=ns)
    g.v = v0 * mV
    ce = b2.Synapses(g, g, on_pre="ge += 1.62*mV")
    ce.connect(i=pre[exc], j=post[exc])
    ci = b2.Synapses(g, g, on_pre="gi += -9*mV")
    ci.connect(i=pre[~exc], j=post[~exc])
    mon = b2.SpikeMonitor(g)
    net = b2.Network(g, ce, ci, mon)
    net.run(duration * ms)
    return np.asarray(mon.t / ms), np.asarray(mon.i)


def _cuba_ours(n, v0, pre, post, exc, duration):
    net = sim.Network(dt=0.1)
    pop = sim.LIF(n, tau_m=20, v_rest=-49, v_th=-50, v_reset=-60, t_ref=5, tau_e=5, tau_i=10, v_init=v0)
    net.add(pop, sim.Projection(pop, pop, (pre[exc], post[exc]), weight=1.62, receptor="exc"),
            sim.Projection(pop, pop, (pre[~exc], post[~exc]), weight=-9.0, receptor="inh"))
    mon = net.add(sim.SpikeMonitor(pop))
    net.run(duration)
    return mon.t, mon.i


def test_cuba_rate_within_10_percent_of_brian2():
    """Vogels & Abbott 2005 as in Brian2's examples/CUBA.py (4000 neurons, p = 0.02), 300 ms, same connectivity."""
    n, duration = 4000, 300.0
    rng = np.random.default_rng(1)
    v0 = -60 + 10 * rng.random(n)
    pre, post = np.nonzero(rng.random((n, n)) < 0.02)
    exc = pre < 3200
    bt, bi = _cuba_brian2(n, v0, pre, post, exc, duration)
    ot, oi = _cuba_ours(n, v0, pre, post, exc, duration)
    rate_b, rate_o = bt.size / n / (duration / 1000), ot.size / n / (duration / 1000)
    assert abs(rate_o - rate_b) <= 0.1 * rate_b, (rate_o, rate_b)
    # the network is chaotic, but it starts on exactly the same spikes
    k = 500
    np.testing.assert_allclose(ot[:k], bt[:k], atol=1e-9)
    np.testing.assert_array_equal(oi[:k], bi[:k])


def test_deterministic_network_gives_identical_spikes(sim_backend):
    """Spike sources -> LIF with heterogeneous delays, excitatory and inhibitory synapses, refractoriness: every spike equal."""
    ms, mV = b2.ms, b2.mV
    rng = np.random.default_rng(7)
    n_in, n, duration = 60, 25, 300.0
    times = np.round(rng.uniform(0, 250, 3000), 1)
    idx = rng.integers(0, n_in, 3000)
    keep = np.unique(idx * 10000 + np.rint(times * 10), return_index=True)[1]  # one spike per source and step
    times, idx = times[keep], idx[keep]
    pre, post = np.nonzero(rng.random((n_in, n)) < 0.3)
    w = rng.uniform(2.0, 8.0, pre.size)
    exc = rng.random(pre.size) < 0.8
    delay = rng.integers(0, 40, pre.size) * 0.1

    b2.defaultclock.dt = 0.1 * ms
    src = b2.SpikeGeneratorGroup(n_in, idx, times * ms)
    eqs = """dv/dt = (ge + gi - (v - El))/taum : volt (unless refractory)
             dge/dt = -ge/taue : volt
             dgi/dt = -gi/taui : volt"""
    ns = dict(taum=10 * ms, taue=3 * ms, taui=8 * ms, El=-65 * mV)
    g = b2.NeuronGroup(n, eqs, threshold="v > -55*mV", reset="v = -70*mV", refractory=2 * ms, method="exact", namespace=ns)
    g.v = -65 * mV
    se = b2.Synapses(src, g, "w : volt", on_pre="ge += w")
    se.connect(i=pre[exc], j=post[exc])
    se.w = w[exc] * mV
    se.delay = delay[exc] * ms
    si = b2.Synapses(src, g, "w : volt", on_pre="gi -= w")
    si.connect(i=pre[~exc], j=post[~exc])
    si.w = w[~exc] * mV
    si.delay = delay[~exc] * ms
    mon = b2.SpikeMonitor(g)
    b2.Network(src, g, se, si, mon).run(duration * ms)

    net = sim.Network(dt=0.1, backend=sim_backend)
    s = sim.SpikeSource(n_in, times, idx)
    pop = sim.LIF(n, tau_m=10, v_rest=-65, v_th=-55, v_reset=-70, t_ref=2, tau_e=3, tau_i=8)
    net.add(s, pop, sim.Projection(s, pop, (pre[exc], post[exc]), weight=w[exc], delay=delay[exc], receptor="exc"),
            sim.Projection(s, pop, (pre[~exc], post[~exc]), weight=-w[~exc], delay=delay[~exc], receptor="inh"))
    ours = net.add(sim.SpikeMonitor(pop))
    net.run(duration)
    assert len(mon.t) > 50
    np.testing.assert_allclose(ours.t, np.asarray(mon.t / ms), atol=1e-9)
    np.testing.assert_array_equal(ours.i, np.asarray(mon.i))


def test_coba_starts_on_the_same_spikes_as_brian2():
    """Brette et al. 2007's COBA (conductance-based LIF, exponential Euler on both sides; vectorised with our own
    exponential, fastmath.exp64, against Brian2's numpy exp): the same spikes over the first 100 ms."""
    n, duration = 2000, 100.0
    rng = np.random.default_rng(3)
    v0 = -60 + 10 * rng.random(n)
    pre, post = np.nonzero(rng.random((n, n)) < 0.02)
    exc = pre < int(0.8 * n)
    ge0, gi0 = rng.standard_normal(n) * 1.5 + 4.0, rng.standard_normal(n) * 12.0 + 20.0
    ms, mV = b2.ms, b2.mV
    b2.defaultclock.dt = 0.1 * ms
    eqs = """dv/dt = (ge*(Ee-v) + gi*(Ei-v) + (El-v))/taum : volt (unless refractory)
             dge/dt = -ge/taue : 1
             dgi/dt = -gi/taui : 1"""
    ns = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-60 * mV, Ee=0 * mV, Ei=-80 * mV)
    g = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exponential_euler", namespace=ns)
    g.v, g.ge, g.gi = v0 * mV, ge0, gi0
    ce = b2.Synapses(g, g, on_pre="ge += 0.6")
    ce.connect(i=pre[exc], j=post[exc])
    ci = b2.Synapses(g, g, on_pre="gi += 6.7")
    ci.connect(i=pre[~exc], j=post[~exc])
    mon = b2.SpikeMonitor(g)
    b2.Network(g, ce, ci, mon).run(duration * ms)
    bt, bi = np.asarray(mon.t / ms), np.asarray(mon.i)

    net = sim.Network(dt=0.1)
    pop = sim.ConductanceLIF(n, tau_m=20.0, v_rest=-60.0, v_th=-50.0, v_reset=-60.0, t_ref=5.0, tau_e=5.0, tau_i=10.0,
                             e_exc=0.0, e_inh=-80.0, v_init=v0)
    net.add(pop, sim.Projection(pop, pop, (pre[exc], post[exc]), weight=0.6, receptor="exc"),
            sim.Projection(pop, pop, (pre[~exc], post[~exc]), weight=6.7, receptor="inh"))
    ours = net.add(sim.SpikeMonitor(pop))
    net.build()
    pop.g_e, pop.g_i = ge0, gi0
    np.testing.assert_array_equal(pop.g_e, ge0)
    net.run(duration)
    assert bt.size > 1000
    k = min(bt.size, ours.t.size)
    assert abs(ours.t.size - bt.size) <= 0.02 * bt.size
    first = min(k, 1000)  # the network is chaotic: a last-bit difference in one exponential can fork it later
    np.testing.assert_allclose(ours.t[:first], bt[:first], atol=1e-9)
    np.testing.assert_array_equal(ours.i[:first], bi[:first])
