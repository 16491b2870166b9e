"""Pre-synaptic pool modification (Bagley et al. 2020) as definitions (neuro.dynamics.rules.pspm_rule / pspm_lif): the
update of one synapse for missed, extra and matched spikes against hand-computed values, the fixed point at the true
weights, and a small run of examples/pspm.py that recovers a ground-truth network's weights far above a shuffled
control."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from neuro import sim
from neuro.dynamics.rules import pspm_lif, pspm_rule

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
import pspm as ex  # noqa: E402

ETA = 0.05

# (presynaptic spike, forced own spike, target spike) in ms, None for none; the expected weight change in units of eta
SCENARIOS = [
    ((10.0, None, 12.0), +1),  # missed target spike, the presynaptic spike 2 ms before it: in its pool
    ((10.0, None, 20.0), 0),  # missed, but the presynaptic spike is 10 ms before: outside the 5 ms pool window
    ((10.0, 12.0, None), -1),  # extra own spike, presynaptic spike in its pool
    ((10.0, 12.0, 13.0), 0),  # own spike 1 ms early: matched (within +-1.5 ms)
    ((10.0, 13.0, 12.0), 0),  # own spike 1 ms late: matched
    ((10.0, 12.0, 16.0), -1),  # 4 ms apart, both unmatched: the own spike's pool has the input, the target's (6 ms) not
    ((10.0, 16.0, 12.0), +1),  # the other way round
    ((10.0, 30.0, 40.0), 0),  # both unmatched, the input in neither pool
]


def _single_synapses(scenarios, dt=0.1):
    n = len(scenarios)
    pre_t = [(s[0], k) for k, (s, _) in enumerate(scenarios) if s[0] is not None]
    own_t = [(s[1], k) for k, (s, _) in enumerate(scenarios) if s[1] is not None]
    tgt_t = [(s[2], k) for k, (s, _) in enumerate(scenarios) if s[2] is not None]

    def source(pairs):
        return sim.SpikeSource(n, times=[p[0] for p in pairs], indices=[p[1] for p in pairs])

    net = sim.Network(dt=dt)
    pre, kick, target = source(pre_t), source(own_t), source(tgt_t)
    post = sim.Population(n, pspm_lif())
    plastic = sim.Projection(pre, post, "one_to_one", weight=0.0, receptor="v", plasticity=pspm_rule(every=dt)(eta=ETA))
    net.add(pre, kick, target, post, plastic,
            sim.Projection(kick, post, "one_to_one", weight=100.0, receptor="v"),  # forces an own spike
            sim.Projection(target, post, "one_to_one", weight=1.0, receptor="exc"))
    mon = net.add(sim.SpikeMonitor(post))
    net.run(60.0, progress=False)
    return plastic.weights, post, mon


def test_missed_extra_and_matched_spikes_move_the_pool():
    w, post, mon = _single_synapses(SCENARIOS)
    expect = np.array([e for _, e in SCENARIOS]) * ETA
    np.testing.assert_allclose(w, expect, rtol=0, atol=1e-12)
    # the forced own spikes happened (one each where asked) and the teacher was counted, not spiking the neuron
    np.testing.assert_array_equal(post.n_own, [s[1] is not None for s, _ in SCENARIOS])
    np.testing.assert_array_equal(post.n_target, [s[2] is not None for s, _ in SCENARIOS])
    assert mon.num_spikes == sum(s[1] is not None for s, _ in SCENARIOS)


def test_bounds_clip_the_weight():
    net = sim.Network(dt=0.1)
    pre = sim.SpikeSource(1, times=np.arange(10.0, 200.0, 10.0), indices=np.zeros(19, int))
    target = sim.SpikeSource(1, times=np.arange(12.0, 200.0, 10.0), indices=np.zeros(19, int))
    post = sim.Population(1, pspm_lif(v_th=1e6))  # never fires: every target spike is missed
    plastic = sim.Projection(pre, post, weight=0.0, receptor="v", plasticity=pspm_rule(every=0.1)(eta=1.0, w_max=5.0))
    net.add(pre, target, post, plastic, sim.Projection(target, post, weight=1.0, receptor="exc"))
    net.run(200.0, progress=False)
    assert post.n_target[0] == 19
    assert plastic.weights[0] == pytest.approx(5.0)


def test_true_weights_are_a_fixed_point():
    """Teacher-forced with the ground truth's weights, the model's spikes are the target's exactly (the replayed
    trains fall into the same steps), so no spike is missed or extra and no weight moves."""
    cfg = ex.Config(n=20, train_s=2.0, chunk_s=2.0)
    rng = np.random.default_rng(3)
    w_true = ex.ground_truth_weights(cfg, rng)
    inputs = ex.poisson_inputs(cfg, cfg.train_s, rng)
    target = ex.simulate(cfg, w_true, inputs, cfg.train_s)
    w, _, counts = ex.train(cfg, inputs, target, progress=False, w_init=w_true)
    assert counts["target_spikes"] > 500
    assert counts["own_spikes"] == counts["target_spikes"]
    np.testing.assert_array_equal(w, w_true)


def test_recovers_ground_truth_weights_above_shuffled_control():
    """20 neurons, 8 s of recorded spikes: the learned weights correlate with the true ones far above the true weights
    shuffled, and the learned network, given the true presynaptic spikes on held-out inputs, reproduces the target
    trains far better than with its recurrent weights at 0."""
    cfg = ex.Config(n=20, train_s=8.0, test_s=2.0, chunk_s=8.0)
    rng = np.random.default_rng(cfg.seed)
    w_true = ex.ground_truth_weights(cfg, rng)
    train_in, test_in = ex.poisson_inputs(cfg, cfg.train_s, rng), ex.poisson_inputs(cfg, cfg.test_s, rng)
    target = ex.simulate(cfg, w_true, train_in, cfg.train_s)
    w, history, _ = ex.train(cfg, train_in, target, progress=False, w_true=w_true)
    pre, post = ex._pairs(cfg.n)
    r = ex.weight_correlation(w[pre, post], w_true[pre, post])
    perm = np.random.default_rng(1)
    shuffled = [ex.weight_correlation(w[pre, post], perm.permutation(w_true[pre, post])) for _ in range(200)]
    assert r > 0.6, r
    assert r > np.quantile(shuffled, 0.99) + 0.4, (r, np.quantile(shuffled, 0.99))
    assert history[-1][1] == pytest.approx(r)
    test_target = ex.simulate(cfg, w_true, test_in, cfg.test_s)
    learned = ex.similarity(cfg, test_target, ex.simulate(cfg, w, test_in, cfg.test_s, recurrent=test_target), cfg.test_s * 1000)
    untrained = ex.similarity(cfg, test_target, ex.simulate(cfg, 0 * w, test_in, cfg.test_s, recurrent=test_target), cfg.test_s * 1000)
    assert learned["coincidence"] > untrained["coincidence"] + 0.2, (learned, untrained)
    assert learned["van_rossum"] < untrained["van_rossum"] - 0.1, (learned, untrained)


def test_similarity_measures():
    rng = np.random.default_rng(0)
    a = np.sort(rng.uniform(0, 10_000, 200))
    assert ex.coincidence_factor(a, a, 10_000.0) == pytest.approx(1.0)
    assert abs(ex.coincidence_factor(a, np.sort(rng.uniform(0, 10_000, 200)), 10_000.0)) < 0.15  # independent: about 0
    assert ex.coincidence_factor(a, np.zeros(0), 10_000.0) == 0.0
    spaced = np.arange(100.0, 10_000.0, 200.0)  # isolated spikes (20 tau apart)
    assert ex.van_rossum(spaced, np.zeros(0), 10_000.0) == pytest.approx(np.sqrt(spaced.size / 2), rel=0.01)
    assert ex.van_rossum(a, a, 10_000.0) == 0.0


def test_example_rejects_bad_training_length():
    with pytest.raises(SystemExit, match="--train-s must be > 0, got -1.0"):
        ex.main(["--train-s", "-1"])
