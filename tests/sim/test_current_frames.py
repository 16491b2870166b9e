"""Synaptic currents of current-based LIF neurons kept in decaying frames (Network._build_frames).

The stored value is renormalised at the end of each frame period; the currents themselves must follow
their law exactly as before, through any number of periods, run cuts, rebuilds and hand-set values.
"""

from __future__ import annotations

import numpy as np
import pytest

from neuro import sim
from neuro.ops.cuba_lif import reference as cuba_ref
from neuro.sim.network import FRAME_FLOOR, FRAME_MAX, Network


@pytest.mark.parametrize("decay, period", [(np.exp(-0.1 / 50.0), FRAME_MAX), (np.exp(-2.0), 116), (1e-150, 1), (1.0, FRAME_MAX)])
def test_frame_period(decay, period):
    P, F = Network._frame_period([decay, 0.5 * (1.0 + decay)])
    assert P == period
    assert np.all(F[:, :P] >= FRAME_FLOOR) and F.shape == (2, FRAME_MAX + 1)
    np.testing.assert_allclose(F[0, :5], decay ** np.arange(5), rtol=1e-15)


@pytest.mark.parametrize("tau_e", [50.0, 0.05, 3e-4])  # frame periods 1024, 116 and 1 steps at dt = 0.1
def test_currents_follow_their_law_across_frame_periods(tau_e):
    times = np.arange(1.0, 250.0, 13.7)  # 2500 steps: several periods of the longest frame
    w = 1.0 + 0.1 * np.arange(times.size)
    net = sim.Network(dt=0.1)
    src = sim.SpikeSource(times.size, times=times, indices=np.arange(times.size))
    pop = sim.LIF(1, v_th=1e6, tau_e=tau_e, tau_i=tau_e)
    exc = np.repeat(np.arange(times.size), 1)
    net.add(src, pop, sim.Projection(src, pop, (exc, np.zeros_like(exc)), weight=w, receptor="exc"),
            sim.Projection(src, pop, (exc, np.zeros_like(exc)), weight=-0.5 * w, receptor="inh"))
    st_e = net.add(sim.StateMonitor(pop, "i_e", indices=[0]))
    st_i = net.add(sim.StateMonitor(pop, "i_i", indices=[0]))
    net.run(260.0)
    # steps since each spike (a spike is delivered at the end of its step): I = sum of w exp(-k dt / tau_e)
    k = np.rint((st_e.t[:, None] - times[None, :]) / 0.1)
    expected = np.where(k >= 0, w[None, :] * np.exp(-np.maximum(k, 0.0) * 0.1 / tau_e), 0.0).sum(axis=1)
    np.testing.assert_allclose(st_e.values[:, 0], expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(st_i.values[:, 0], -0.5 * expected, rtol=1e-12, atol=1e-300)
    assert pop.i_e[0] == st_e.values[-1, 0] and pop.i_i[0] == st_i.values[-1, 0]  # the current the next step integrates
    if tau_e > 1:
        assert np.count_nonzero(expected) > 2000


def test_currents_set_between_runs_are_integrated_as_set():
    n, dt = 6, 0.1
    net = sim.Network(dt=dt)
    pop = sim.LIF(n, tau_m=15.0, v_rest=-65.0, v_th=-50.0, v_reset=-65.0, t_ref=2.0, tau_e=5.0, tau_i=10.0,
                  v_init=np.linspace(-64.0, -55.0, n))
    net.add(pop)
    net.run(123.4)  # a step in the middle of a frame period
    assert net.step % net._s.fr_P[0] != 0
    i_e, i_i = np.linspace(0.5, 9.0, n), -np.linspace(0.0, 4.0, n)
    pop.i_e, pop.i_i = i_e, i_i
    np.testing.assert_allclose(pop.i_e, i_e, rtol=1e-15)
    np.testing.assert_allclose(pop.i_i, i_i, rtol=1e-15, atol=1e-300)
    v, refrac = pop.v.copy(), net.state()["refrac"].copy()
    net.run(dt)
    zero = np.zeros(n)
    v_ref, ie_ref, ii_ref, _, _ = cuba_ref.step(v, i_e, i_i, refrac, zero, dt, -65.0, -50.0, -65.0, 20, 15.0, 5.0, 10.0)
    np.testing.assert_allclose(pop.v, v_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pop.i_e, ie_ref, rtol=1e-12)
    np.testing.assert_allclose(pop.i_i, ii_ref, rtol=1e-12, atol=1e-300)


def _recurrent():
    net = sim.Network(dt=0.1, seed=5)
    inp = sim.PoissonInput(200, rate=15.0)
    pop = sim.LIF(300, tau_m=20.0, v_rest=-60.0, v_th=-50.0, v_reset=-60.0, t_ref=3.0, tau_e=5.0, tau_i=10.0)
    net.add(inp, pop, sim.Projection(inp, pop, sim.FixedProbability(0.1), weight=7.0, receptor="exc", seed=1),
            sim.Projection(pop, pop, sim.FixedProbability(0.05), weight=-2.0, receptor="inh", delay=0.5, seed=2))
    return net, pop, net.add(sim.SpikeMonitor(pop))


def test_a_rebuild_between_runs_continues_exactly():
    (net_a, _, a), (net_b, pop_b, b) = _recurrent(), _recurrent()
    for net in (net_a, net_b):
        net.run(150.3)  # inside a frame period
    net_b.add(sim.StateMonitor(pop_b, "i_e", indices=[0, 1]))
    net_b.build()  # laid out again: the stored currents carry over bit for bit
    for key in ("v", "x1", "x2", "refrac"):
        np.testing.assert_array_equal(net_a.state()[key], net_b.state()[key], err_msg=key)
    for net in (net_a, net_b):
        net.run(149.7)
    assert a.count > 100
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_array_equal(a.i, b.i)
    for key in ("v", "x1", "x2", "refrac"):
        np.testing.assert_array_equal(net_a.state()[key], net_b.state()[key], err_msg=key)
