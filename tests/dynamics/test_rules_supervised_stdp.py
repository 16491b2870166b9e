"""Supervised STDP with homeostasis for spatial patterns (neuro.dynamics.rules_supervised, after Davies et al. 2025):
the weights and threshold one presentation leaves against their closed form, learning frozen while testing, the ideal
detector of one pattern over every input set, the blends two patterns admit, the all-sets test (one copy per set)
against presenting the sets one after the other, and the example's --quick run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from neuro import sim
from neuro.dynamics.rules_supervised import homeostatic_detector, supervised_stdp_homeostasis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
import supervised_stdp_patterns as ex  # noqa: E402

CFG = ex.Config(n_inputs=8)
DT, TAU_PRE, TAU_M = 0.1, 20.0, 20.0


def _network(pattern: np.ndarray, probes: np.ndarray | None = None, **rule):
    """One detector taught ``pattern`` at 5 ms; ``probes`` shown 100 ms apart from 105 ms (no teacher)."""
    net = sim.Network(dt=DT, seed=0)
    net.add_modulator("learning", tau=1e15, initial=1.0)
    sets = pattern[None] if probes is None else np.vstack([pattern[None], probes])
    k, i = np.nonzero(sets)
    src = sim.SpikeSource(pattern.size, times=5.0 + 100.0 * k, indices=i)
    teacher = sim.SpikeSource(1, times=[5.0], indices=[0])
    out = sim.Population(1, homeostatic_detector(), margin=0.5)
    proj = sim.Projection(src, out, weight=0.0, plasticity=supervised_stdp_homeostasis()(**rule))
    mon = sim.SpikeMonitor(out)
    net.add(src, teacher, out, proj, mon, sim.Projection(teacher, out, weight=100.0, receptor="v"))
    return net, out, proj, mon


def test_one_presentation_leaves_the_template_and_the_threshold():
    """Active inputs gain nu_plus * exp(-dt / taupre) (the post spike comes one step after the volley), silent ones
    lose beta, and the threshold is the new drive as the neuron reads it (one step of leak) less the margin."""
    p = np.array([1, 0, 1, 1, 0, 0, 1, 0], bool)
    net, out, proj, _ = _network(p, nu_plus=0.8, beta=0.3)
    net.run(50.0, progress=False)
    a = 0.8 * np.exp(-DT / TAU_PRE)
    np.testing.assert_allclose(proj.weights, np.where(p, a, -0.3), rtol=1e-12)
    np.testing.assert_allclose(out.theta, [np.exp(-DT / TAU_M) * a * p.sum() - 0.5], rtol=1e-12)
    assert out.count[0] == 1.0  # the teacher's spike only


def test_bounds_clip_and_the_threshold_follows_the_clipped_change():
    p = np.array([1, 1, 0, 0, 0, 0, 0, 0], bool)
    net, out, proj, _ = _network(p, nu_plus=5.0, beta=3.0, w_max=2.0, w_min=-1.0)
    net.run(50.0, progress=False)
    np.testing.assert_allclose(proj.weights, np.where(p, 2.0, -1.0), rtol=1e-12)
    np.testing.assert_allclose(out.theta, [np.exp(-DT / TAU_M) * 2.0 * 2 - 0.5], rtol=1e-12)


def test_learning_off_freezes_weights_and_threshold():
    """The modulator at 0 and plastic at 0: a taught pattern changes nothing (and the teacher still fires the neuron)."""
    p = np.array([1, 0, 1, 0, 1, 0, 1, 0], bool)
    net, out, proj, _ = _network(p)
    net.release("learning", -1.0)
    out.plastic = 0.0
    net.run(50.0, progress=False)
    assert np.all(proj.weights == 0.0)
    assert out.theta[0] == 1.0 and out.count[0] == 1.0


def test_copies_answer_as_the_trained_network_does():
    """The all-sets test (one copy of the detector per set) fires for the same sets as the taught network shown the
    sets one after the other with learning off."""
    rng = np.random.default_rng(1)
    p = rng.random(8) < 0.5
    near = np.array([p ^ (np.arange(8) == j) for j in range(8)])  # every set one input away
    probes = np.vstack([p[None], near, rng.random((6, 8)) < 0.5])
    net, out, proj, mon = _network(p, probes)
    net.run(100.0, progress=False)
    net.release("learning", -1.0)
    out.plastic = 0.0
    net.run(100.0 * len(probes) + 50.0, progress=False)
    t = np.asarray(mon.t)
    sequential = np.array([np.any((t > 100.0 * (k + 1)) & (t < 100.0 * (k + 2))) for k in range(len(probes))])
    w = np.zeros((1, 8))
    w[0, proj.pre_index] = proj.weights
    copies = ex.respond(w, np.asarray(out.theta, float), probes, CFG)[0]
    np.testing.assert_array_equal(sequential, copies)
    assert sequential[0] and not sequential[1:9].any()  # the pattern fires it, no set one input away does


def test_one_pattern_is_detected_ideally_over_every_input_set():
    """Each of 6 detectors, taught one random pattern once, fires for that pattern and none of the other 255 sets
    (the paper's 100 % accuracy); the untrained detector fires for nothing (recall 0)."""
    rng = np.random.default_rng(0)
    x = ex.all_inputs(8)
    rows, got = ex.evaluate(ex.random_patterns(rng, 6, 1, 8), CFG, x)
    for r in rows:
        assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 0), r
    untrained = ex.respond(np.zeros((1, 8)), np.ones(1), x, CFG)[0]
    assert not untrained.any()


def test_two_patterns_admit_their_blends():
    """Taught two patterns (4 active inputs each, Hamming distance 4), the weights are the templates' sum
    (2a, a - beta, -2 beta) and the threshold the last pattern's drive less the margin: the detector fires for both
    patterns and for every set between them (intersection included, union bounded), so precision is 2 / 2^4."""
    rng = np.random.default_rng(3)
    pair = ex.pair_at_distance(rng, 8, 4)
    x = ex.all_inputs(8)
    rows, got = ex.evaluate(pair[None], CFG, x)
    inter, union = pair[0] & pair[1], pair[0] | pair[1]
    between = np.all(x >= inter, 1) & np.all(x <= union, 1)
    np.testing.assert_array_equal(got["fired"][0], between)
    assert rows[0]["recall"] == 1.0 and rows[0]["precision"] == pytest.approx(2 / 16)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n_inputs must be in 1..16"):
        ex.all_inputs(20)
    with pytest.raises(ValueError, match="patterns must be"):
        ex.train(np.zeros((3, 8), bool), CFG)
    with pytest.raises(ValueError, match="x must have 8 columns"):
        ex.respond(np.zeros((1, 8)), np.ones(1), np.zeros((4, 5), bool), CFG)


def test_quick_run(tmp_path):
    """The example's --quick mode: one pattern ideal (F1 1, the untrained control 0), two and three patterns keep
    most trained patterns recognised, with precision falling as the patterns differ."""
    result = ex.main(["--quick", "--out", str(tmp_path)])
    assert result["one_pattern"]["f1"] == 1.0 and result["one_pattern"]["min_accuracy"] == 1.0
    assert result["untrained"]["f1"] == 0.0
    by = result["two_patterns_by_distance"]
    assert by["2"]["precision"] > by["4"]["precision"] > by["6"]["precision"]
    assert result["three_patterns"]["recall"] >= 0.5
    assert (tmp_path / "supervised_stdp_patterns.png").stat().st_size > 10_000
