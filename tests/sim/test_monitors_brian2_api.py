"""Monitors read as Brian2's do: ``SpikeMonitor.num_spikes`` / ``count_per_neuron`` / ``spike_trains()`` and
``StateMonitor.v[k]`` / ``mon[i].v`` hold Brian2's values on the same network (numpy target), ``rate()`` needs no
duration; and the one documented difference, ``SpikeMonitor.count``, stays the total."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuro import sim

b2 = pytest.importorskip("brian2", reason="brian2 comes with the test environment")

DT = 0.1
N = 4
# jumps (time ms, target neuron, weight): neuron 0 fires three times, 1 once, 2 twice, 3 never
JUMPS = [(1.0, 0, 1.5), (3.0, 0, 1.5), (5.0, 0, 1.5), (2.0, 1, 1.2), (4.0, 2, 2.0), (7.0, 2, 2.0), (6.0, 3, 0.5)]
DURATION = 10.0
RECORD = [0, 2, 3]


def _brian2():
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    ms = b2.ms
    b2.defaultclock.dt = DT * ms
    times, targets, weights = (np.array(c) for c in zip(*JUMPS))
    g = b2.NeuronGroup(N, "dv/dt = -v / (10*ms) : 1", threshold="v > 1", reset="v = 0", method="exact")
    src = b2.SpikeGeneratorGroup(len(JUMPS), np.arange(len(JUMPS)), times * ms)
    syn = b2.Synapses(src, g, "w : 1", on_pre="v_post += w")
    syn.connect(i=np.arange(len(JUMPS)), j=targets)
    syn.w = weights
    spikes, state = b2.SpikeMonitor(g), b2.StateMonitor(g, "v", record=RECORD)
    b2.Network(g, src, syn, spikes, state).run(DURATION * ms, namespace={})
    return spikes, state


def _ours():
    times, targets, weights = (np.array(c) for c in zip(*JUMPS))
    net = sim.Network(dt=DT)
    src = sim.SpikeSource(len(JUMPS), times, np.arange(len(JUMPS)))
    pop = sim.LIF(N, tau_m=10.0, v_rest=0.0, v_th=1.0, v_reset=0.0, t_ref=0.0)
    net.add(src, pop, sim.Projection(src, pop, (np.arange(len(JUMPS)), targets), weight=weights, receptor="v"))
    spikes = net.add(sim.SpikeMonitor(pop))
    state = net.add(sim.StateMonitor(pop, "v", indices=RECORD))
    net.run(DURATION, progress=False)
    return net, spikes, state


@pytest.fixture(scope="module")
def both():
    return _ours(), _brian2()


def test_spike_counts_as_brian2(both):
    (_, ours, _), (theirs, _) = both
    np.testing.assert_array_equal(ours.count_per_neuron, np.asarray(theirs.count))  # per neuron: Brian2's `count`
    assert ours.count_per_neuron.tolist() == [3, 1, 2, 0]
    assert ours.num_spikes == int(theirs.num_spikes) == 6


def test_spike_trains_as_brian2(both):
    (_, ours, _), (theirs, _) = both
    mine, ref = ours.spike_trains(), theirs.spike_trains()
    assert sorted(mine) == sorted(ref) == list(range(N))
    for i in range(N):
        np.testing.assert_allclose(mine[i], np.asarray(ref[i] / b2.ms), atol=1e-9)


def test_count_stays_the_total_a_documented_difference(both):
    """Brian2's ``count`` is per neuron; ours stays the total (``num_spikes``), as code in this repository expects."""
    (_, ours, _), (theirs, _) = both
    assert ours.count == ours.num_spikes == int(np.sum(theirs.count))
    assert np.ndim(theirs.count) == 1 and np.ndim(ours.count) == 0


def test_state_monitor_indexed_as_brian2(both):
    """``mon.v`` is ``[recorded neurons, samples]``, ``mon.v[k]`` the k-th recorded neuron, ``mon[i].v`` neuron i of the
    population. Both label a sample with its step's start time; Brian2 samples before the step's update, ours after
    it, so ours[k][:-1] is Brian2's [k][1:]."""
    (_, _, ours), (_, theirs) = both
    assert ours.v.shape == np.asarray(theirs.v).shape == (len(RECORD), round(DURATION / DT))
    for k, i in enumerate(RECORD):
        np.testing.assert_allclose(ours.v[k][:-1], np.asarray(theirs.v[k])[1:], atol=1e-9)
        np.testing.assert_allclose(ours[i].v[:-1], np.asarray(theirs[i].v)[1:], atol=1e-9)
        np.testing.assert_array_equal(ours[i].v, ours.values[:, k])
    np.testing.assert_allclose(ours[2].t, np.asarray(theirs[2].t / b2.ms), atol=1e-9)
    assert ours.v_.shape == ours.v.shape  # Brian2's unitless spelling


def test_state_monitor_index_errors_name_what_is_recorded(both):
    (_, _, ours), _ = both
    with pytest.raises(IndexError, match=r"neuron 1 of .* is not recorded by this StateMonitor \(recorded: \[0, 2, 3\]\)"):
        ours[1]
    with pytest.raises(AttributeError, match="records 'v', not 'u'"):
        getattr(ours, "u")  # noqa: B009
    with pytest.raises(AttributeError, match="records 'v', not 'u'"):
        getattr(ours[0], "u")  # noqa: B009


def test_rate_over_the_recorded_span(both):
    (net, ours, _), _ = both
    assert ours.recorded_ms == pytest.approx(DURATION)
    assert ours.rate() == pytest.approx(6 / N / (DURATION / 1000.0)) == ours.rate(DURATION)


def test_rate_span_starts_at_the_monitor_first_run_and_follows_later_runs():
    net = sim.Network(dt=DT)
    src = sim.SpikeSource(1, np.arange(0.0, 30.0, 1.0), np.zeros(30, dtype=int))
    net.add(src)
    net.run(10.0)
    mon = net.add(sim.SpikeMonitor(src))
    with pytest.raises(ValueError, match="recorded no time yet"):
        mon.rate()
    net.run(5.0)
    assert mon.recorded_ms == pytest.approx(5.0) and mon.num_spikes == 5 and mon.rate() == pytest.approx(1000.0)
    net.run(10.0)
    assert mon.recorded_ms == pytest.approx(15.0) and mon.rate() == pytest.approx(1000.0)
