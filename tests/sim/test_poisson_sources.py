"""Poisson sources that draw the step of their next spike (geometric gaps) instead of a uniform per neuron and step.

The law must be the one of a spike in each step with probability ``rate dt`` (Brian2's PoissonGroup): geometric
inter-spike gaps, binomial counts per step, independent neurons; the pending draw must follow rate changes
between runs at once and survive chunking, save / restore and the emulated GPU loop bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from neuro import sim
from neuro.sim import engine_gpu


def _run(rate, n, ms, dt=1.0, seed=0, backend="cpu", chunk=None):
    net = sim.Network(dt=dt, seed=seed, backend=backend)
    src = sim.PoissonInput(n, rate=rate)
    mon = net.add(src, sim.SpikeMonitor(src))
    net.run(ms, progress=False, chunk=chunk)
    return net, src, mon


def test_gaps_are_geometric_and_counts_binomial():
    n, steps, p = 400, 5000, 0.05  # 50 Hz at dt = 1 ms
    _, _, mon = _run(p * 1000.0, n, float(steps))
    steps_of = np.round(mon.t).astype(np.int64)
    assert mon.count == pytest.approx(n * steps * p, rel=0.02)  # 100k spikes: 5 sigma is 1.4 %
    # gaps within each neuron: P(gap = k) = (1 - p)^(k - 1) p, k >= 1 (chi-square over k = 1..60 and a tail bin)
    gaps = np.concatenate([np.diff(steps_of[mon.i == j]) for j in range(n)])
    assert gaps.min() >= 1
    k = np.arange(1, 61)
    expected = np.r_[(1 - p) ** (k - 1) * p, (1 - p) ** 60] * gaps.size
    observed = np.r_[np.bincount(np.minimum(gaps, 61), minlength=62)[1:61], np.count_nonzero(gaps > 60)]
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # spikes per step over the population: Binomial(n, p) (mean and variance), and no step is left out
    per_step = np.bincount(steps_of, minlength=steps)
    assert per_step.var() == pytest.approx(n * p * (1 - p), rel=0.08)
    # neurons independent: the correlation of two halves' counts per step is near 0
    half = np.bincount(steps_of[mon.i < n // 2], minlength=steps)
    assert abs(np.corrcoef(half, per_step - half)[0, 1]) < 0.06


def test_rates_per_neuron_and_extremes():
    rates = np.array([0.0, 1000.0, 100.0, 10.0, 1e-9])  # dt = 1 ms: p = 0, 1, 0.1, 0.01, 1e-12
    _, _, mon = _run(rates, 5, 20000.0)
    counts = np.bincount(mon.i, minlength=5)
    assert counts[0] == 0 and counts[4] == 0
    assert counts[1] == 20000  # p = 1: every step
    assert counts[2] == pytest.approx(2000, abs=5 * np.sqrt(2000 * 0.9))
    assert counts[3] == pytest.approx(200, abs=5 * np.sqrt(200))


def test_rate_changes_between_runs_act_at_once():
    net, src, mon = _run(0.0, 200, 100.0)
    assert mon.count == 0
    src.rate = 200.0  # p = 0.2 at dt = 1 ms: the pending "never" must be redrawn
    net.run(100.0, progress=False)
    assert mon.count == pytest.approx(200 * 100 * 0.2, rel=0.1)
    c = mon.count
    src.rate = 0.0  # the spikes drawn at 200 Hz must not come
    net.run(100.0, progress=False)
    assert mon.count == c
    src.rate = [0.0] * 100 + [1000.0] * 100  # per neuron
    net.run(10.0, progress=False)
    assert mon.count == c + 100 * 10 and mon.i[c:].min() == 100


def test_chunking_save_restore_and_emulated_gpu_give_the_same_spikes(tmp_path):
    _, _, whole = _run(30.0, 300, 400.0, dt=0.1, seed=4)
    _, _, chunked = _run(30.0, 300, 400.0, dt=0.1, seed=4, chunk=7.3)
    np.testing.assert_array_equal(whole.t, chunked.t)
    np.testing.assert_array_equal(whole.i, chunked.i)
    net, _, mon = _run(30.0, 300, 200.0, dt=0.1, seed=4)
    net.save(tmp_path / "net.npz")
    net2, _, mon2 = _run(30.0, 300, 0.0, dt=0.1, seed=4)
    net2.restore(tmp_path / "net.npz")
    net2.run(200.0, progress=False)
    later = whole.t >= 200.0 - 1e-9
    np.testing.assert_array_equal(mon2.t, whole.t[later])
    np.testing.assert_array_equal(mon2.i, whole.i[later])
    assert whole.count > 3000
    if engine_gpu.HostEmulation.compiler() is not None:
        net3, src3, emu = _run(30.0, 300, 400.0, dt=0.1, seed=4, backend="emulate")
        np.testing.assert_array_equal(emu.t, whole.t)
        np.testing.assert_array_equal(emu.i, whole.i)
        # a rate change between runs, on both loops
        src3.rate = np.linspace(0.0, 300.0, 300)
        net3.run(50.0, progress=False)
        net4, src4, cpu = _run(30.0, 300, 400.0, dt=0.1, seed=4)
        src4.rate = np.linspace(0.0, 300.0, 300)
        net4.run(50.0, progress=False)
        np.testing.assert_array_equal(emu.t, cpu.t)
        np.testing.assert_array_equal(emu.i, cpu.i)
