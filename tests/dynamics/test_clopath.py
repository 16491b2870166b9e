"""The voltage-based STDP rule of Clopath et al. (2010), written as definitions (neuro.dynamics.library.clopath_neuron,
clopath_rule): the pairing protocol of Sjöström et al. (2001) / Clopath's Fig. 2b, against Brian2 running the same
equations (its example ``Clopath_et_al_2010_no_homeostasis.py``, integrated here by exponential Euler on both sides),
and the published frequency dependence."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuro import sim
from neuro.dynamics.library import clopath_neuron, clopath_rule

W0 = 0.25  # nS: half of g_max


def pairing(rate: float, reps: int = 5, dt: float = 0.1) -> np.ndarray:
    """Weights (% of the initial one) of the synapses 0 -> 1 (pre before post by 10 ms) and 1 -> 0 (post before pre)
    after ``reps`` pairings at ``rate`` Hz: neuron 0 is made to spike, 10 ms later neuron 1."""
    net = sim.Network(dt=dt)
    nrn = sim.Population(2, clopath_neuron())
    proj = sim.Projection(nrn, nrn, connect=(np.array([0, 1]), np.array([1, 0])), weight=W0, plasticity=clopath_rule())
    net.add(nrn, proj)
    gap = round((1000.0 / rate - 10.0) / dt) * dt
    for _ in range(reps):
        nrn.v[0] = -49.0
        net.run(10.0, progress=False)
        nrn.v[1] = -49.0
        net.run(gap, progress=False)
    return 100.0 * proj.weights / W0


def test_pairing_frequency_dependence_as_published():
    """Pre-before-post potentiates, more at higher rates; post-before-pre depresses at low rates and potentiates at
    50 Hz (Sjöström et al. 2001, Fig. 2b of Clopath et al. 2010)."""
    low, mid, high = pairing(1.0), pairing(10.0), pairing(50.0)
    assert low[0] > 100.0 and high[0] > mid[0] >= low[0] - 1e-9
    assert low[1] < 100.0 and mid[1] < 100.0
    assert high[1] > 100.0


@pytest.mark.parametrize("rate", [10.0, 50.0])
def test_pairing_equals_brian2(rate):
    b2 = pytest.importorskip("brian2", reason="brian2 comes with the test environment (requirements/peers.txt)")
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    ms, mV, nS, pF = b2.ms, b2.mV, b2.nS, b2.pF
    dt = 0.1
    b2.defaultclock.dt = dt * ms
    ns = dict(V_rest=-70 * mV, V_thresh=-50 * mV, Theta_low=-70 * mV, x_reset=1.0, taux=15 * ms, A_LTD=1.5e-4, A_LTP=1.5e-2,
              tau_lowpass1=40 * ms, tau_lowpass2=30 * ms, gleak=30 * nS, C=300 * pF, tau_AMPA=2 * ms, E_AMPA=0 * mV,
              ampa_max_cond=0.5 * nS, w_max=1.0)
    eqs = """
        dv/dt = (gleak * (V_rest - v) + I_ext + I_syn) / C : volt
        dv_lowpass1/dt = (v - v_lowpass1) / tau_lowpass1 : volt
        dv_lowpass2/dt = (v - v_lowpass2) / tau_lowpass2 : volt
        I_ext : amp
        I_syn = g_ampa * (E_AMPA - v) : amp
        dg_ampa/dt = -g_ampa / tau_AMPA : siemens
        dx_trace/dt = -x_trace / taux : 1
    """
    nrn = b2.NeuronGroup(2, eqs, threshold="v > V_thresh", reset="v = V_rest; x_trace += x_reset / (taux / ms)",
                         method="exponential_euler", namespace=ns)
    syn = b2.Synapses(nrn, nrn, "w_ampa : 1", namespace=ns,
                      on_pre="""g_ampa_post += w_ampa * ampa_max_cond
                                w_minus = A_LTD * (v_lowpass1_post / mV - Theta_low / mV) * (v_lowpass1_post / mV - Theta_low / mV > 0)
                                w_ampa = clip(w_ampa - w_minus, 0, w_max)""",
                      on_post="""v_lowpass1 += 10 * mV
                                 v_lowpass2 += 10 * mV
                                 w_plus = A_LTP * x_trace_pre * (v_lowpass2_post / mV - Theta_low / mV) * (v_lowpass2_post / mV - Theta_low / mV > 0)
                                 w_ampa = clip(w_ampa + w_plus, 0, w_max)""")
    syn.connect(i=[0, 1], j=[1, 0])
    nrn.v = nrn.v_lowpass1 = nrn.v_lowpass2 = -70 * mV
    syn.w_ampa = W0 / 0.5
    gap = round((1000.0 / rate - 10.0) / dt) * dt
    for _ in range(5):
        nrn.v[0] = -49 * mV
        b2.run(10 * ms)
        nrn.v[1] = -49 * mV
        b2.run(gap * ms)
    theirs = 100.0 * np.asarray(syn.w_ampa) / (W0 / 0.5)
    ours = pairing(rate)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    assert np.abs(ours - 100.0).max() > 0.5
