"""Hao et al. (2020) as definitions (neuro.dynamics.rules): the symmetric STDP window against its closed form, the
dopamine gate, the dynamic threshold's increment, the teacher gate of the label neuron, and the --quick run of
examples/sym_stdp_digits.py that learns the digits well above chance."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from neuro import sim
from neuro.dynamics.rules import adaptive_conductance_lif, sym_stdp, teacher_gated_lif

ROOT = Path(__file__).resolve().parents[2]
LAGS = np.array([-40.0, -20.0, -7.5, -2.5, 2.5, 7.5, 20.0, 40.0])  # t_post - t_pre (ms)


def _pairs(dopamine: float, **values) -> np.ndarray:
    """One pre and one post spike per synapse at the given lags; the weight changes."""
    net = sim.Network(dt=0.5)
    net.add_modulator("dopamine", tau=1e15, initial=dopamine)
    pre = sim.SpikeSource(LAGS.size, times=np.full(LAGS.size, 100.0), indices=np.arange(LAGS.size))
    post = sim.SpikeSource(LAGS.size, times=100.0 + LAGS, indices=np.arange(LAGS.size))
    proj = sim.Projection(pre, post, "one_to_one", weight=1.0, plasticity=sym_stdp()(**values))
    net.add(pre, post, proj)
    net.run(200.0, progress=False)
    return proj.weights - 1.0


def test_window_is_symmetric_and_exponential():
    """Both orders potentiate by nu * A * exp(-|dt| / tau): the post spike reads the pre trace, the pre spike the post
    trace; with equal parameters the window is even in the lag."""
    dw = _pairs(1.0, nupre=0.02, nupost=0.02, Apre=0.1, Apost=0.1, w_max=10.0)
    np.testing.assert_allclose(dw, 0.02 * 0.1 * np.exp(-np.abs(LAGS) / 20.0), rtol=1e-12, atol=1e-15)  # w - 1 rounds to 2e-16
    np.testing.assert_allclose(dw[: LAGS.size // 2], dw[::-1][: LAGS.size // 2], rtol=1e-12, atol=1e-15)  # w - 1 rounds to 2e-16
    # unequal sides: the post-before-pre half scales with nupre * Apost, the other with nupost * Apre
    dw = _pairs(1.0, nupre=0.05, nupost=0.02, Apre=0.1, Apost=0.3, taupre=10.0, taupost=30.0, w_max=10.0)
    expect = np.where(LAGS > 0, 0.02 * 0.1 * np.exp(-LAGS / 10.0), 0.05 * 0.3 * np.exp(LAGS / 30.0))
    np.testing.assert_allclose(dw, expect, rtol=1e-12, atol=1e-15)  # w - 1 rounds to 2e-16


def test_dopamine_gates_and_bounds_hold():
    assert np.all(_pairs(0.0) == 0.0)  # no dopamine: the weights are frozen (testing)
    np.testing.assert_allclose(_pairs(0.5, w_max=10.0), 0.5 * _pairs(1.0, w_max=10.0), rtol=1e-12, atol=1e-15)  # w - 1 rounds to 2e-16
    assert np.all(_pairs(1.0, nupre=50.0, nupost=50.0, w_max=1.2) == pytest.approx(0.2))  # clipped at w_max
    assert sym_stdp(modulator=None).modulators == ()


@pytest.mark.parametrize("plastic", [1.0, 0.0])
def test_dynamic_threshold_rises_by_the_authors_increment(plastic):
    """A spike raises theta by theta_plus (offset - ref) / |theta - ref| while plastic, not at all when frozen; the
    threshold is v_th + theta - offset."""
    net = sim.Network(dt=0.5)
    pop = sim.Population(3, adaptive_conductance_lif(), theta=np.array([20.0, 30.0, 20.0]), plastic=plastic, v=-70.0)
    net.add(pop)
    pop.v = np.array([-51.9, -51.9, -52.1])  # threshold -52 mV with theta 20, -42 mV with theta 30
    net.run(0.5, progress=False)
    np.testing.assert_array_equal(pop.count, [1.0, 0.0, 0.0])
    decayed = np.array([20.0, 30.0, 20.0]) * np.exp(-plastic * 0.5 / 8e6)  # tau_theta = 8e6 ms, then the spike's increment
    jump = plastic * 0.07 * (20.0 - 10.0) / np.abs(decayed[0] - 10.0)
    np.testing.assert_allclose(pop.theta, decayed + [jump, 0.0, 0.0], rtol=1e-12)


def test_label_neuron_ignores_the_hidden_layer_while_taught():
    """gate 0: excitatory input does nothing and only the teacher's v jumps make the neuron fire; gate 1: it fires
    from the excitatory input."""
    counts = []
    for gate in (0.0, 1.0):
        net = sim.Network(dt=0.5, seed=3)
        src = sim.PoissonInput(1, rate=200.0)
        teacher = sim.SpikeSource(1, times=[10.0, 60.0], indices=[0, 0])
        lab = sim.Population(1, teacher_gated_lif(), gate=gate)
        net.add(src, teacher, lab, sim.Projection(src, lab, weight=8.0), sim.Projection(teacher, lab, weight=100.0, receptor="v"))
        net.run(100.0, progress=False)
        counts.append(float(lab.count[0]))
    assert counts[0] == 2.0  # the two teacher spikes
    assert counts[1] > 10.0


def test_digits_learned_well_above_chance(tmp_path):
    """The example's --quick run (20 hidden neurons, 150 training digits, one pass) labels 80 test digits at least 0.2
    above chance (10 %). Its BPTT baseline is left out here (--no-bptt): it is neuro.demo.train_digits, which
    tests/test_demo.py trains."""
    sys.path.insert(0, str(ROOT / "examples"))
    import sym_stdp_digits as ex

    result = ex.main(["--quick", "--no-bptt", "--out", str(tmp_path)])
    assert result["config"] == asdict(ex.QUICK) and result["test_samples"] == 80
    assert result["test_accuracy"] >= result["chance"] + 0.2, result
    assert result["test_silent_fraction"] < 0.2
    assert result["hidden_assignment_accuracy"] >= result["chance"] + 0.2, result  # the hidden layer alone, read out
    assert (tmp_path / "result.json").is_file() and (tmp_path / "sym_stdp_digits.png").is_file()
