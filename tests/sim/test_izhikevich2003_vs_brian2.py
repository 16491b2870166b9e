"""Izhikevich (2003) 1000-neuron network against Brian2 (numpy target), the same matrices and parameters.

Brian2's network is ``benchmarks/izhikevich_vs_brian2.py``'s: the published MATLAB step written out in a
``run_regularly`` (two 0.5 ms half-steps for v, one step for u), threshold ``v >= 30``, reset ``v = c; u += d``,
synaptic input delivered at the end of the spike's step. The published algorithm gives about 7.5 Hz here
(a plain NumPy transcription of the MATLAB loop gives the same on these draws).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from neuro.sim import classic

b2 = pytest.importorskip("brian2", reason="brian2 comes with the test environment (requirements/peers.txt)")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.izhikevich_vs_brian2 import brian2_izhikevich2003  # noqa: E402


@pytest.fixture(autouse=True)
def _brian2_numpy():
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    b2.defaultclock.dt = 1 * b2.ms
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _brian2(params, duration, seed=None, input_table=None):
    if seed is not None:
        b2.seed(seed)
    objs, mon = brian2_izhikevich2003(params, input_table=input_table)
    b2.Network(*objs).run(duration * b2.ms)
    return np.asarray(mon.t / b2.ms), np.asarray(mon.i), objs[0]


def _sorted(t, i):
    order = np.lexsort((i, t))
    return t[order], i[order]


def _numpy_published(params, input_table):
    """The published MATLAB loop, transcribed to NumPy (v >= 30 checked at the start of the next step)."""
    S, a, b, c, d = params["S"], params["a"], params["b"], params["c"], params["d"]
    v = np.full(S.shape[0], -65.0)
    u = b * v
    ts, idx = [], []
    for t, drive in enumerate(input_table):
        fired = np.flatnonzero(v >= 30)
        ts.append(np.full(fired.size, t - 1.0))  # fired by the previous step's update
        idx.append(fired)
        v[fired] = c[fired]
        u[fired] += d[fired]
        syn = np.zeros(S.shape[0])
        for j in fired:  # in index order, as both simulators add them (numpy's pairwise sum rounds differently)
            syn += S[:, j]
        current = drive + syn
        v = v + 0.5 * (0.04 * v * v + 5 * v + 140 - u + current)
        v = v + 0.5 * (0.04 * v * v + 5 * v + 140 - u + current)
        u = u + a * (b * v - u)
    return np.concatenate(ts), np.concatenate(idx)


def test_fixed_input_gives_identical_spike_trains():
    """Noise replaced by one fixed input sequence (the same array in both): every spike and the final v, u equal, 1 s at full size.

    The published loop in plain NumPy gives the same spikes too (up to the last step it cannot see).
    """
    params = classic.izhikevich2003_parameters(seed=3)
    n, duration = params["S"].shape[0], 1000
    table = params["sigma"] * np.random.default_rng(4).standard_normal((duration, n))
    net, pop, mon = classic.izhikevich2003(params, input_table=table)
    net.run(float(duration))
    ot, oi = _sorted(mon.t, mon.i)
    bt, bi, group = _brian2(params, duration, input_table=table)
    bt, bi = _sorted(bt, bi)
    assert ot.size > 5000  # about 7.5 Hz
    np.testing.assert_array_equal(ot, bt)
    np.testing.assert_array_equal(oi, bi)
    np.testing.assert_array_equal(pop.v, np.asarray(group.v))  # the same floating-point operations, bit for bit
    np.testing.assert_array_equal(pop.u, np.asarray(group.u))
    rt, ri = _sorted(*_numpy_published(params, table))
    keep = ot < duration - 1
    np.testing.assert_array_equal(rt, ot[keep])
    np.testing.assert_array_equal(ri, oi[keep])


def test_noisy_network_rate_and_rhythm_match_brian2():
    """Fresh Gaussian noise each step (ours: the network's counter-based streams; Brian2: ``randn()``), seeds 1-3, 2 s each, same matrices.

    Mean rates within 10 %; the population-rate spectra (Welch, 250 ms segments, averaged over the three seeds:
    one 2-s realisation moves power between the ~8 Hz and ~32 Hz peaks by a factor of 2-3 in either simulator)
    correlate (log power, 4-200 Hz, r > 0.8), and each network's spectral peak carries at least half the other's
    peak power there (the same rhythm).
    """
    duration = 2000.0
    rates_o, rates_b, spec_o, spec_b = [], [], [], []
    for seed in (1, 2, 3):
        params = classic.izhikevich2003_parameters(seed=seed)
        n = params["S"].shape[0]
        net, _, mon = classic.izhikevich2003(params, seed=seed)
        net.run(duration)
        bt = _brian2(params, duration, seed=seed)[0]
        rates_o.append(mon.t.size / n / (duration / 1000))
        rates_b.append(bt.size / n / (duration / 1000))
        f, po = classic.population_spectrum(mon.t, duration)
        spec_o.append(po)
        spec_b.append(classic.population_spectrum(bt, duration)[1])
    rate_o, rate_b = np.mean(rates_o), np.mean(rates_b)
    assert 5.0 < rate_b < 12.0, rate_b
    assert abs(rate_o - rate_b) <= 0.1 * rate_b, (rate_o, rate_b)
    po, pb = np.mean(spec_o, axis=0), np.mean(spec_b, axis=0)
    band = (f >= 4) & (f <= 200)
    f, po, pb = f[band], po[band], pb[band]
    r = np.corrcoef(np.log(po), np.log(pb))[0, 1]
    assert r > 0.8, r
    assert po[np.argmax(pb)] >= 0.5 * po.max(), (f[np.argmax(po)], f[np.argmax(pb)])
    assert pb[np.argmax(po)] >= 0.5 * pb.max(), (f[np.argmax(po)], f[np.argmax(pb)])


def test_parameters_follow_the_published_draws():
    """Ranges of the published draws: c, d of excitatory neurons from r_e², a, b of inhibitory ones from r_i; S's sign by column."""
    p = classic.izhikevich2003_parameters(80, 20, seed=0)
    ne = 80
    assert np.all((p["c"][:ne] >= -65) & (p["c"][:ne] <= -50)) and np.all((p["d"][:ne] >= 2) & (p["d"][:ne] <= 8))
    np.testing.assert_allclose(p["c"][:ne] + 15 / 6 * p["d"][:ne], -65 + 15 / 6 * 8)  # both from the same r_e²
    assert np.all((p["a"][ne:] >= 0.02) & (p["a"][ne:] <= 0.1)) and np.all(p["d"][ne:] == 2)
    assert np.all((p["S"][:, :ne] >= 0) & (p["S"][:, :ne] <= 0.5)) and np.all(p["S"][:, ne:] <= 0)
    with pytest.raises(ValueError, match="at least one"):
        classic.izhikevich2003_parameters(0, 20)
