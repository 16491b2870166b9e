"""Song, Miller & Abbott (2000) additive STDP (Brian2's examples/synapses/STDP.py) in neuro.sim and in Brian2 (numpy target).

Poisson inputs -> one conductance-based LIF neuron, all-to-all pair STDP with traces, hard bounds [0, g_max].
Both sides integrate with exponential Euler (Brian2's example uses Euler; the same scheme on both sides makes
the deterministic case spike-identical). The deterministic test runs both delivery orders: the weight after the
presynaptic update (``delivery="after_update"``, ``on_pre``: ``Apre += dApre; w = clip(w + Apost, 0, gmax); ge += w``)
and before it (``"before_update"``, the example's own order: ``ge += w`` first).

The statistical test is the example shortened to fit a test: 150 inputs at 100 Hz instead of 1000 at 15 Hz
(g_max scaled by 1000 * 15 / (150 * 100) to keep the mean drive), dt = 0.25 ms, 16 s. Its weights become
bimodal in that time; the full example is ``benchmarks/plasticity_vs_brian2.py --full``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP

b2 = pytest.importorskip("brian2", reason="brian2 comes with the test environment (requirements/peers.txt)")

TAU_M, E_L, V_TH, V_RESET, TAU_E, TAU_STDP = 10.0, -74.0, -54.0, -60.0, 5.0, 20.0


@pytest.fixture(autouse=True)
def _brian2_numpy():
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    b2.BrianLogger.suppress_name("resolution_conflict")


def _rule(g_max, d_a, delivery="after_update"):
    return PairSTDP(tau_plus=TAU_STDP, tau_minus=TAU_STDP, eta_plus=d_a * g_max, eta_minus=1.05 * d_a * g_max, w_min=0.0, w_max=g_max,
                    delivery=delivery)


def _ours(source, w0, g_max, d_a, duration, dt, seed=0, delivery="after_update", delay=0.0, mixed=False):
    net = sim.Network(dt=dt, seed=seed)
    post = sim.ConductanceLIF(1, tau_m=TAU_M, v_rest=E_L, v_th=V_TH, v_reset=V_RESET, t_ref=0.0, tau_e=TAU_E, e_exc=0.0)
    proj = sim.Projection(source, post, weight=w0, delay=delay, plasticity=_rule(g_max, d_a, delivery))
    net.add(source, post, proj)
    if mixed:  # a static synapse beside each plastic one in its (neuron, delay) segment: the plastic events run apart (3a / 3c)
        other = sim.LIF(1)
        net.add(other, sim.Projection(source, other, weight=0.0, delay=delay))
    mon = net.add(sim.SpikeMonitor(post))
    net.run(duration, progress=False)
    return proj.weights, mon.t


def _brian2(source, w0, g_max, d_a, duration, dt, seed=0, delivery="after_update", delay=0.0):
    ms, mV = b2.ms, b2.mV
    b2.seed(seed)
    b2.defaultclock.dt = dt * ms
    ns = dict(taum=TAU_M * ms, Ee=0 * mV, El=E_L * mV, taue=TAU_E * ms, vt=V_TH * mV, vr=V_RESET * mV, gmax=g_max,
              dApre=d_a * g_max, dApost=-1.05 * d_a * g_max, taupre=TAU_STDP * ms, taupost=TAU_STDP * ms)
    eqs = """dv/dt = (ge * (Ee - v) + El - v) / taum : volt
             dge/dt = -ge / taue : 1"""
    g = b2.NeuronGroup(1, eqs, threshold="v > vt", reset="v = vr", method="exponential_euler", namespace=ns)
    g.v = E_L * mV
    syn = b2.Synapses(source, g, """w : 1
                      dApre/dt = -Apre / taupre : 1 (event-driven)
                      dApost/dt = -Apost / taupost : 1 (event-driven)""",
                      on_pre="""Apre += dApre
                      w = clip(w + Apost, 0, gmax)
                      ge += w""" if delivery == "after_update" else """ge += w
                      Apre += dApre
                      w = clip(w + Apost, 0, gmax)""",
                      on_post="""Apost += dApost
                      w = clip(w + Apre, 0, gmax)""", namespace=ns)
    syn.connect()
    syn.w = w0
    syn.delay = delay * ms
    mon = b2.SpikeMonitor(g)
    b2.Network(source, g, syn, mon).run(duration * ms, namespace={})
    return np.asarray(syn.w), np.asarray(mon.t / ms)


def _shape(w, g_max):
    """Fractions of weights within 10% of each bound, and the mean fraction per 0.1-wide bin in the middle (0.3-0.7)."""
    x = w / g_max
    hist = np.histogram(x, bins=10, range=(0.0, 1.0))[0] / x.size
    return float(np.mean(x < 0.1)), float(np.mean(x > 0.9)), float(hist[3:7].mean())


@pytest.mark.parametrize("delivery,delay,mixed", [("after_update", 0.0, False), ("before_update", 0.0, False), ("before_update", 0.3, False),
                                                  ("after_update", 0.3, True), ("before_update", 0.3, True)])
def test_deterministic_inputs_give_identical_spikes_and_weights(delivery, delay, mixed):
    """Fixed input trains (SpikeGeneratorGroup / SpikeSource): every output spike and every final weight equal, for
    both delivery orders, with the presynaptic events run in the delivery pass or apart from it (``mixed``)."""
    rng = np.random.default_rng(4)
    n, duration, dt, g_max, d_a = 60, 1500.0, 0.1, 0.1, 0.05
    steps = rng.random((int(duration / dt), n)) < 30.0 * dt / 1000.0  # 30 Hz Bernoulli trains on the time grid
    st, idx = np.nonzero(steps)
    times = st * dt
    w0 = rng.uniform(0.0, g_max, n)
    ours_w, ours_t = _ours(sim.SpikeSource(n, times, idx), w0, g_max, d_a, duration, dt, delivery=delivery, delay=delay, mixed=mixed)
    peer_w, peer_t = _brian2(b2.SpikeGeneratorGroup(n, idx, times * b2.ms), w0, g_max, d_a, duration, dt, delivery=delivery, delay=delay)
    assert peer_t.size > 20
    np.testing.assert_allclose(ours_t, peer_t, atol=1e-9)
    assert np.abs(ours_w - w0).max() > 0.1 * g_max, "STDP moved the weights"
    np.testing.assert_allclose(ours_w / g_max, peer_w / g_max, rtol=0, atol=1e-12)


def test_delivery_order_changes_the_result():
    """The two orders differ on the same inputs (so the test above cannot pass by ignoring the option)."""
    rng = np.random.default_rng(4)
    n, duration, dt, g_max, d_a = 60, 1500.0, 0.1, 0.1, 0.05
    st, idx = np.nonzero(rng.random((int(duration / dt), n)) < 30.0 * dt / 1000.0)
    w0 = rng.uniform(0.0, g_max, n)
    a = _ours(sim.SpikeSource(n, st * dt, idx), w0, g_max, d_a, duration, dt, delivery="after_update")
    b = _ours(sim.SpikeSource(n, st * dt, idx), w0, g_max, d_a, duration, dt, delivery="before_update")
    assert not np.array_equal(a[0], b[0])


def test_song_miller_abbott_weights_bimodal_as_in_brian2():
    from scipy.stats import ks_2samp

    n, rate, duration, dt, d_a = 150, 100.0, 16000.0, 0.25, 0.01
    g_max = 0.01 * (1000 * 15.0) / (n * rate)
    rng = np.random.default_rng(0)
    w0 = rng.uniform(0.0, g_max, n)  # the example's rand() * gmax, the same on both sides
    ours = [_ours(sim.PoissonInput(n, rate=rate), w0, g_max, d_a, duration, dt, seed=s) for s in range(4)]
    peer_w, peer_t = _brian2(b2.PoissonGroup(n, rates=rate * b2.Hz), w0, g_max, d_a, duration, dt, seed=1)
    shapes = np.array([_shape(w, g_max) for w, _ in ours])
    lo, hi, mid = _shape(peer_w, g_max)
    # both bimodal: each bound holds > 10% of the weights and more than twice a middle bin
    for a, b, m in [*shapes, (lo, hi, mid)]:
        assert a > 0.1 and b > 0.1 and a > 2 * m and b > 2 * m, (a, b, m)
    # the same distribution: fractions at the bounds within 0.1 of our 4-seed mean, and a two-sample KS test
    assert abs(lo - shapes[:, 0].mean()) < 0.1 and abs(hi - shapes[:, 1].mean()) < 0.1, (shapes, lo, hi)
    pooled = np.concatenate([w for w, _ in ours])
    assert ks_2samp(pooled, peer_w).pvalue > 0.01
    rates = np.array([t.size for _, t in ours]) / (duration / 1000.0)
    assert abs(peer_t.size / (duration / 1000.0) - rates.mean()) < 0.2 * rates.mean(), (rates, peer_t.size)
