"""Axonal / dendritic split of a plastic synapse's delay: STDP sees the pre spike at t_pre + axonal part and the
post spike at t_post + dendritic part; the current still arrives after the whole delay."""

from __future__ import annotations

import numpy as np
import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP, TripletSTDP
from neuro.ops.three_factor import RewardModulatedSTDP


def _pairing(rule, delay: float, t_post: float, plasticity=None, modulator=None, backend="cpu"):
    """Pre spike at 60 ms through a plastic synapse of ``delay`` ms; the post neuron is forced to spike at ``t_post``."""
    net = sim.Network(dt=0.1, backend=backend)
    if modulator:
        net.add_modulator(modulator, tau=1e9)
    pre = sim.SpikeSource(1, times=[60.0], indices=[0])
    driver = sim.SpikeSource(1, times=[t_post - 0.1], indices=[0])  # the kick lands one step before the post spike
    post = sim.LIF(1, v_rest=0.0, v_init=0.0, v_th=1.0, v_reset=0.0, tau_m=1e9, t_ref=0.0)
    plastic = sim.Projection(pre, post, "all_to_all", weight=0.5, delay=delay, receptor="exc", plasticity=plasticity or rule, modulator=modulator)
    net.add(pre, driver, post, plastic, sim.Projection(driver, post, "all_to_all", weight=5.0, receptor="v"))
    mon = net.add(sim.SpikeMonitor(post))
    return net, plastic, mon


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("t_post", [50.0, 62.0, 66.0, 90.0])
def test_pair_window_is_taken_at_the_synapse(fraction, t_post, sim_backend):
    delay = 8.0
    rule = PairSTDP(eta_plus=0.01, eta_minus=0.012, tau_plus=16.8, tau_minus=33.7, w_max=1.0, dendritic_fraction=fraction)
    net, plastic, mon = _pairing(rule, delay, t_post, backend=sim_backend)
    net.run(150.0)
    assert mon.t.tolist() == pytest.approx([t_post])
    dendritic = round(fraction * delay / 0.1) * 0.1
    axonal = delay - dendritic
    dt_syn = (t_post + dendritic) - (60.0 + axonal)
    assert plastic.weights[0] - 0.5 == pytest.approx(float(rule.window(dt_syn)), rel=1e-9, abs=1e-15)


def test_dendritic_part_is_rounded_to_whole_steps_and_total_delay_is_kept():
    """0.35 x 0.5 ms = 0.175 ms rounds to 2 steps of 0.1 ms; the current arrives when it does with an all-axonal delay."""
    first = {}
    for fraction in (0.0, 0.35):
        rule = PairSTDP(eta_plus=0.01, eta_minus=0.012, w_max=1.0, dendritic_fraction=fraction)
        net, plastic, _ = _pairing(rule, 0.5, 90.0)
        st = net.add(sim.StateMonitor(net.populations[2], "i_e", indices=[0]))
        net.run(150.0)
        first[fraction] = st.t[np.flatnonzero(st.values[:, 0] > 0)[0]]
    assert first[0.35] == first[0.0]
    assert plastic.weights[0] - 0.5 == pytest.approx(float(rule.window((90.0 + 0.2) - (60.0 + 0.3))), rel=1e-9)


def test_triplet_and_eligibility_rules_use_the_split_too(sim_backend):
    delay, fraction, t_post = 6.0, 0.5, 64.0
    dt_syn = (t_post + 3.0) - (60.0 + 3.0)
    trip = TripletSTDP(w_max=1.0, dendritic_fraction=fraction)
    net, plastic, _ = _pairing(trip, delay, t_post, backend=sim_backend)
    net.run(150.0)
    assert plastic.weights[0] - 0.5 == pytest.approx(trip.a2_plus * np.exp(-dt_syn / trip.tau_plus), rel=1e-9)

    stdp = PairSTDP(eta_plus=0.01, eta_minus=0.012, w_max=1.0, dendritic_fraction=fraction)
    rule = RewardModulatedSTDP(stdp=stdp, tau_c=1e9, update_interval=1000.0)
    net, plastic, _ = _pairing(stdp, delay, t_post, plasticity=rule, modulator="da", backend=sim_backend)
    net.run(150.0)
    np.testing.assert_allclose(plastic.eligibility, [float(stdp.window(dt_syn))], rtol=1e-6)
