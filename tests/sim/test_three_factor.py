"""Three-factor plasticity in the simulator: STDP fills eligibility traces, the modulator turns them into weight."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP
from neuro.ops.three_factor import GatedHebbian, RewardModulatedSTDP
from neuro.ops.three_factor import reference as tf_ref


def _paired_network(rule):
    net = sim.Network(dt=1.0)
    net.add_modulator("dopamine", tau=1e12)
    pre = sim.SpikeSource(1, times=[10.0], indices=[0])
    driver = sim.SpikeSource(1, times=[14.0], indices=[0])
    post = sim.LIF(1, v_rest=0.0, v_init=0.0, v_th=1.0, v_reset=0.0, tau_m=1e9, t_ref=0.0)
    plastic = sim.Projection(pre, post, "all_to_all", weight=1.0, receptor="exc", plasticity=rule, modulator="dopamine")
    net.add(pre, driver, post, plastic, sim.Projection(driver, post, "all_to_all", weight=5.0, receptor="v"))
    return net, plastic, net.add(sim.SpikeMonitor(post))


def test_dopamine_converts_eligibility_into_weight():
    stdp = PairSTDP(tau_plus=20.0, tau_minus=20.0, eta_plus=1.0, eta_minus=1.5, w_min=0.0, w_max=4.0)
    rule = RewardModulatedSTDP(stdp=stdp, tau_c=500.0, baseline=0.0, weight_rate=1.0, update_interval=10.0)
    net, plastic, post = _paired_network(rule)
    net.run(20.0)
    assert post.t.tolist() == [15.0]  # pre arrives at 10, post fires at 15: dt = +5 ms
    assert plastic.weights[0] == 1.0, "no modulator, no weight change"
    c0 = math.exp(-5.0 / 20.0)
    net.release("dopamine", 0.5)
    net.run(20.0)
    # periodic updates at t = 29 and 39 ms: w += 0.5 c(t), c(t) = c0 exp(-(t - 15) / tau_c)
    expected = 1.0 + 0.5 * c0 * (math.exp(-14.0 / 500.0) + math.exp(-24.0 / 500.0))
    assert plastic.weights[0] == pytest.approx(expected, rel=1e-9)  # tau_d = 1e12 ms: d constant to 1e-11


def test_drift_and_baseline_as_in_izhikevich_2006():
    stdp = PairSTDP(tau_plus=20.0, tau_minus=20.0, eta_plus=0.1, eta_minus=0.12, w_min=0.0, w_max=10.0, pairing="nearest")
    rule = RewardModulatedSTDP(stdp=stdp, tau_c=-1000.0 / math.log(0.9), baseline=1.0, weight_rate=1.0, update_interval=1000.0, drift=0.01)
    net, plastic, _ = _paired_network(rule)
    net.run(1000.0)
    c = 0.1 * math.exp(-5.0 / 20.0) * math.exp(-(999.0 - 15.0) * math.log(1 / 0.9) / 1000.0)
    assert plastic.weights[0] == pytest.approx(1.0 + 0.01 + c, rel=1e-12)


def test_periodic_eligibility_decay_as_in_izhikevichs_code():
    """``eligibility_decay="periodic"`` (spnet's ``s += 0.01 + sd; sd *= 0.9`` once a second): the increment counts
    undecayed at the first update, then shrinks by 0.9 per update; the monitors see the stored value."""
    stdp = PairSTDP(tau_plus=20.0, tau_minus=20.0, eta_plus=0.1, eta_minus=0.12, w_min=0.0, w_max=10.0, pairing="nearest")
    rule = RewardModulatedSTDP(stdp=stdp, tau_c=-1000.0 / math.log(0.9), baseline=1.0, weight_rate=1.0, update_interval=1000.0,
                               drift=0.01, eligibility_decay="periodic")
    net, plastic, _ = _paired_network(rule)
    mon = net.add(sim.SynapseMonitor(plastic, "eligibility", synapses=[0], every=100.0))
    net.run(500.0)
    c = 0.1 * math.exp(-5.0 / 20.0)
    np.testing.assert_allclose(plastic.eligibility, [c], rtol=1e-12)  # not decayed within the period
    net.run(1500.0)
    assert plastic.weights[0] == pytest.approx(1.0 + 0.01 + c + 0.01 + 0.9 * c, rel=1e-12)  # updates at 999 and 1999 ms
    np.testing.assert_allclose(plastic.eligibility, [0.81 * c], rtol=1e-12)
    samples = mon.values[:, 0]
    assert samples[0] == 0.0 and samples[1] == pytest.approx(c, rel=1e-12)  # 0 ms before the pairing, 100 ms after it
    with pytest.raises(ValueError, match="eligibility_decay must be 'continuous' or 'periodic'"):
        RewardModulatedSTDP(eligibility_decay="exact")


def test_modulator_errors():
    rule = RewardModulatedSTDP()
    a, b = sim.LIF(2), sim.LIF(2)
    with pytest.raises(ValueError, match="needs modulator="):
        sim.Projection(a, b, weight=1.0, plasticity=rule)
    net = sim.Network()
    net.add(a, b, sim.Projection(a, b, weight=1.0, plasticity=rule, modulator="serotonin"))
    with pytest.raises(ValueError, match="needs modulator 'serotonin'"):
        net.run(1.0)
    with pytest.raises(KeyError, match="no modulator 'dopamine'"):
        net.release("dopamine", 1.0)
    with pytest.raises(ValueError, match="tau_c must be a finite number > 0"):
        RewardModulatedSTDP(tau_c=-1.0)


def test_gated_hebbian_reference():
    rule = GatedHebbian(eta=0.1)
    w = np.zeros((2, 3))
    pre = np.array([1.0, 0.0, 2.0])
    post = np.array([1.0, 3.0])
    mean = np.array([0.5, 1.0])
    w1 = tf_ref.gated_hebbian_update(w, pre, post, mean, modulator=2.0, rule=rule)
    np.testing.assert_allclose(w1, 0.2 * np.outer(post - mean, pre))
    assert np.all(tf_ref.gated_hebbian_update(w, pre, post, mean, modulator=0.0, rule=rule) == 0), "no gate, no learning"
    target = np.array([0.0, 1.0])
    w2 = tf_ref.gated_hebbian_update(w, pre, post, mean, 1.0, GatedHebbian(eta=0.1, use_error=True), target=target)
    np.testing.assert_allclose(w2, 0.1 * np.outer(target - post, pre))
