"""STDP laws: analytic window, weight dependence and bounds, triplet frequency dependence, kernel = reference."""

from __future__ import annotations

import numpy as np
import pytest

from neuro.ops.stdp import TRIPLET_PRESETS, PairSTDP, TripletSTDP
from neuro.ops.stdp import cpu as stdp_cpu
from neuro.ops.stdp import reference as ref

IMPLS = {"torch": ref.run_events, "numba": stdp_cpu.run_events}  # "torch" = the readable NumPy reference


def _isolated_pairs(dts, spacing=1000.0):
    """One synapse per dt, each seeing one pre and one post spike far from the others."""
    events = []
    for s, dt in enumerate(dts):
        t_pre = 500.0 + max(0.0, -dt)
        events += [(t_pre, ref.PRE, s), (t_pre + dt, ref.POST, s)]
    events.sort(key=lambda e: (e[0], e[1]))
    return (np.array([e[0] for e in events]), np.array([e[1] for e in events]), np.array([e[2] for e in events]))


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("rule", [PairSTDP(), PairSTDP(tau_plus=16.8, tau_minus=33.7, eta_minus=0.012), PairSTDP(symmetric=True)])
def test_pairing_protocol_equals_analytic_window(impl, rule):
    dts = np.arange(-100.0, 101.0, 1.0)
    w0 = np.full(dts.shape, 0.5)
    w = IMPLS[impl](w0, *_isolated_pairs(dts), rule)
    np.testing.assert_allclose(w - w0, rule.window(dts), rtol=1e-12, atol=1e-15)
    assert (w - w0)[dts > 0].min() > 0


def test_window_shape():
    r = PairSTDP(eta_plus=0.01, eta_minus=0.02, tau_plus=10, tau_minus=30)
    assert r.window(10.0) == pytest.approx(0.01 * np.exp(-1))
    assert r.window(-30.0) == pytest.approx(-0.02 * np.exp(-1))


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_hard_bounds_clip_additive_rule(impl):
    rule = PairSTDP(eta_plus=0.5, eta_minus=0.5, w_min=0.0, w_max=1.0)
    w = IMPLS[impl](np.array([0.9, 0.1]), *_isolated_pairs([5.0, -5.0]), rule)
    np.testing.assert_array_equal(w, [1.0, 0.0])


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_multiplicative_rule_scales_with_distance_to_bound(impl):
    rule = PairSTDP.multiplicative(eta_plus=0.1, eta_minus=0.1, w_max=2.0)
    w0 = np.array([0.5, 1.5])
    w = IMPLS[impl](w0, *_isolated_pairs([0.0, 0.0]), rule)
    # potentiation proportional to (w_max - w) / (w_max - w_min)
    np.testing.assert_allclose(w - w0, 0.1 * (2.0 - w0) / 2.0)


@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_nearest_pairing_ignores_earlier_spikes(impl):
    # two pre spikes then one post: all-to-all sums both, nearest only the last
    times, kinds, syn = np.array([0.0, 10.0, 20.0]), np.array([0, 0, 1]), np.zeros(3, dtype=np.int64)
    a2a = IMPLS[impl](np.array([0.5]), times, kinds, syn, PairSTDP())[0] - 0.5
    nn = IMPLS[impl](np.array([0.5]), times, kinds, syn, PairSTDP(pairing="nearest"))[0] - 0.5
    assert a2a == pytest.approx(0.01 * (np.exp(-1) + np.exp(-0.5)))
    assert nn == pytest.approx(0.01 * np.exp(-0.5))


def test_triplet_frequency_dependence_visual_cortex():
    """Pfister & Gerstner 2006 Fig. 4 (Sjöström 2001 protocol): 60 pairs, dt = +-10 ms."""
    rule = TripletSTDP.preset("visual_cortex_all_to_all", w_max=100.0)
    freqs = [0.1, 10.0, 20.0, 40.0, 50.0]
    pre_post = [ref.pairing_protocol(rule, +10.0, f, w0=1.0) for f in freqs]
    post_pre = [ref.pairing_protocol(rule, -10.0, f, w0=1.0) for f in freqs]
    assert post_pre[0] < 0 and post_pre[-1] > 0, "post-pre pairs depress at low and potentiate at high frequency"
    assert pre_post[-1] > 0 and all(np.diff(pre_post) > 0), "pre-post potentiation grows with frequency"
    assert abs(pre_post[0]) < 1e-3 * abs(post_pre[0]), "pre-post pairing at 0.1 Hz does almost nothing"


@pytest.mark.parametrize("preset", sorted(TRIPLET_PRESETS))
def test_triplet_kernel_equals_reference(preset):
    rule = TripletSTDP.preset(preset, w_max=10.0)
    rng = np.random.default_rng(0)
    n_syn, n_ev = 7, 400
    times = np.sort(rng.uniform(0, 2000, n_ev))
    kinds = rng.integers(0, 2, n_ev)
    syn = rng.integers(0, n_syn, n_ev)
    w0 = rng.uniform(1, 9, n_syn)
    np.testing.assert_allclose(stdp_cpu.run_events(w0, times, kinds, syn, rule), ref.run_events(w0, times, kinds, syn, rule), rtol=1e-12)


def test_numba_kernel_really_runs(monkeypatch):
    calls = []
    real = stdp_cpu._run_pair
    monkeypatch.setattr(stdp_cpu, "_run_pair", lambda *a: calls.append(1) or real(*a))
    stdp_cpu.run_events(np.array([0.5]), np.array([0.0]), np.array([0]), np.array([0]), PairSTDP())
    assert calls == [1]


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(w_min=1.0, w_max=0.5), "w_min <= w_max"),
        (dict(tau_plus=-1.0), "tau_plus must be a finite number > 0"),
        (dict(eta_plus=-0.1), "magnitudes"),
        (dict(pairing="random"), "pairing must be one of"),
        (dict(tau_minus=float("nan")), "tau_minus must be finite"),
        (dict(dendritic_fraction=1.5), "dendritic_fraction"),
    ],
)
def test_bad_parameters_are_named(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        PairSTDP(**kwargs)


def test_unknown_rule_parameter_and_preset():
    with pytest.raises(TypeError, match="unexpected keyword argument 'tau_pre'"):
        PairSTDP(tau_pre=10.0)
    with pytest.raises(ValueError, match="unknown triplet preset 'cortex'"):
        TripletSTDP.preset("cortex")
