"""Step semantics against Brian2 (numpy target): jumps of v in the spike step and while refractory, spike-time
quantisation and repeated spikes of a spike source.

Brian2's schedule within a step is: state update, threshold, synapses (``on_pre``), reset. A jump of ``v`` that
arrives in a neuron's spike step is therefore overwritten by its reset, and ``(unless refractory)`` holds ``v``
(jumps included) during the refractory period. Each case here runs one model on both sides and compares every
spike (and, for the single neuron, every potential).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuro import sim

b2 = pytest.importorskip("brian2", reason="brian2 comes with the test environment (requirements/peers.txt)")

DT = 0.1


@pytest.fixture(autouse=True)
def _brian2_numpy():
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    b2.BrianLogger.suppress_name("resolution_conflict")


def _brian2_jumps(n, times, indices, targets, weights, t_ref, duration, tau=10.0, v_th=1.0, record=True):
    """``n`` neurons ``dv/dt = -v / tau (unless refractory)``, threshold ``v > v_th``, reset 0; jumps ``v += w``."""
    ms = b2.ms
    b2.defaultclock.dt = DT * ms
    g = b2.NeuronGroup(n, "dv/dt = -v / tau : 1 (unless refractory)", threshold="v > v_th", reset="v = 0",
                       refractory=t_ref * ms, method="exact", namespace=dict(tau=tau * ms, v_th=v_th))
    src = b2.SpikeGeneratorGroup(len(times), np.arange(len(times)), np.asarray(times) * ms)
    syn = b2.Synapses(src, g, "w_syn : 1", on_pre="v_post += w_syn")
    syn.connect(i=np.arange(len(times)), j=np.asarray(targets))
    syn.w_syn = weights
    spikes = b2.SpikeMonitor(g)
    objs = [g, src, syn, spikes]
    if record:
        state = b2.StateMonitor(g, "v", record=True)
        objs.append(state)
    b2.Network(*objs).run(duration * ms, namespace={})
    v = np.asarray(state.v) if record else None  # [n, steps]: v at the start of each step
    return np.round(np.asarray(spikes.t / ms) / DT).astype(int), np.asarray(spikes.i), v


def _ours_jumps(n, times, indices, targets, weights, t_ref, duration, tau=10.0, v_th=1.0, refractory_input=False, backend="cpu"):
    net = sim.Network(dt=DT, seed=0, backend=backend)
    src = sim.SpikeSource(len(times), times, np.arange(len(times)))
    pop = sim.LIF(n, tau_m=tau, v_rest=0.0, v_th=v_th, v_reset=0.0, t_ref=t_ref, refractory_input=refractory_input)
    net.add(src, pop, sim.Projection(src, pop, (np.arange(len(times)), np.asarray(targets)), weight=weights, receptor="v"))
    spikes = net.add(sim.SpikeMonitor(pop))
    state = net.add(sim.StateMonitor(pop, "v"))
    net.run(duration, progress=False)
    return np.round(spikes.t / DT).astype(int), spikes.i, state.values.T  # [n, steps]: v after each step


@pytest.mark.parametrize("t_ref", [0.0, 1.0])
def test_a_jump_in_the_spike_step_is_lost(t_ref):
    """One neuron, inputs 1.2 / 0.6 / 0.6 at steps 10 / 11 / 12: Brian2 and neuro spike once, at step 11."""
    times, weights = [1.0, 1.1, 1.2], [1.2, 0.6, 0.6]
    peer, _, v_peer = _brian2_jumps(1, times, None, [0, 0, 0], weights, t_ref, 5.0)
    ours, _, v_ours = _ours_jumps(1, times, None, [0, 0, 0], weights, t_ref, 5.0)
    assert peer.tolist() == [11]
    assert ours.tolist() == peer.tolist()
    # our v after step k is Brian2's v at the start of step k + 1
    np.testing.assert_allclose(v_ours[0, :-1], v_peer[0, 1:], rtol=0, atol=1e-12)


def test_jumps_kept_with_refractory_input():
    """``refractory_input=True``: the spike step's jump and the refractory one stay and fire the neuron again
    when its period ends (the behaviour the option names; Brian2 has no such mode)."""
    ours, _, _ = _ours_jumps(1, [1.0, 1.1, 1.2], None, [0, 0, 0], [1.2, 0.6, 0.6], 1.0, 5.0, refractory_input=True)
    assert ours.tolist() == [11, 21]
    ours, _, _ = _ours_jumps(1, [1.0, 1.1, 1.2], None, [0, 0, 0], [1.2, 0.6, 0.6], 0.0, 5.0, refractory_input=True)
    assert ours.tolist() == [11, 13]


def test_jumps_during_the_refractory_period_are_lost_up_to_its_end():
    """t_ref 1 ms = 10 steps after a spike at step 11: jumps at steps 12, 15 and 20 are lost, the one at 21 stays."""
    times, weights = [1.0, 1.2, 1.5, 2.0, 2.1], [1.2, 0.5, 0.5, 0.5, 0.5]
    peer, _, v_peer = _brian2_jumps(1, times, None, [0] * 5, weights, 1.0, 5.0)
    ours, _, v_ours = _ours_jumps(1, times, None, [0] * 5, weights, 1.0, 5.0)
    assert ours.tolist() == peer.tolist() == [11]
    np.testing.assert_allclose(v_ours[0, :-1], v_peer[0, 1:], rtol=0, atol=1e-12)
    assert v_ours[0, 21] == pytest.approx(0.5)  # the jump of step 21 landed


@pytest.mark.parametrize("t_ref", [0.0, 0.5, 2.0])
def test_random_jump_trains_give_brian2s_spikes(t_ref):
    """20 neurons, 3000 random jumps (on the step grid) over 300 ms: every spike equal to Brian2's."""
    rng = np.random.default_rng(int(t_ref * 10))
    n, m, duration = 20, 3000, 300.0
    times = rng.integers(0, int(duration / DT) - 1, m) * DT
    targets = rng.integers(0, n, m)
    weights = rng.uniform(0.1, 0.6, m)
    peer_t, peer_i, _ = _brian2_jumps(n, times, None, targets, weights, t_ref, duration, record=False)
    ours_t, ours_i, _ = _ours_jumps(n, times, None, targets, weights, t_ref, duration)
    assert peer_t.size > 100
    a = sorted(zip(peer_t.tolist(), peer_i.tolist()))
    b = sorted(zip(ours_t.tolist(), ours_i.tolist()))
    assert a == b


def test_conductance_lif_jumps_follow_brian2():
    """Conductance-based LIF (exponential Euler on both sides) with jumps of v, t_ref 0 and 2 ms: Brian2's spikes."""
    ms, mV = b2.ms, b2.mV
    b2.defaultclock.dt = DT * ms
    rng = np.random.default_rng(2)
    n, m, duration = 10, 2500, 200.0
    times = rng.integers(0, int(duration / DT) - 1, m) * DT
    targets = rng.integers(0, n, m)
    weights = rng.uniform(1.0, 6.0, m)
    for t_ref in (0.0, 2.0):
        b2.start_scope()
        b2.defaultclock.dt = DT * ms
        ns = dict(taum=20 * ms, El=-60 * mV, vt=-50 * mV, vr=-60 * mV)
        g = b2.NeuronGroup(n, "dv/dt = (El - v) / taum : volt (unless refractory)", threshold="v > vt", reset="v = vr",
                           refractory=t_ref * ms, method="exponential_euler", namespace=ns)
        g.v = -60 * mV
        src = b2.SpikeGeneratorGroup(m, np.arange(m), times * ms)
        syn = b2.Synapses(src, g, "w_syn : volt", on_pre="v_post += w_syn")
        syn.connect(i=np.arange(m), j=targets)
        syn.w_syn = weights * mV
        mon = b2.SpikeMonitor(g)
        b2.Network(g, src, syn, mon).run(duration * ms, namespace={})
        peer = sorted(zip(np.round(np.asarray(mon.t / ms) / DT).astype(int).tolist(), np.asarray(mon.i).tolist()))

        net = sim.Network(dt=DT, seed=0)
        s = sim.SpikeSource(m, times, np.arange(m))
        cob = sim.ConductanceLIF(n, tau_m=20.0, v_rest=-60.0, v_th=-50.0, v_reset=-60.0, t_ref=t_ref)
        net.add(s, cob, sim.Projection(s, cob, (np.arange(m), targets), weight=weights, receptor="v"))
        spk = net.add(sim.SpikeMonitor(cob))
        net.run(duration, progress=False)
        ours = sorted(zip(np.round(spk.t / DT).astype(int).tolist(), spk.i.tolist()))
        assert len(peer) > 50
        assert ours == peer, t_ref


def test_spike_times_fall_into_brian2s_steps():
    """Off-grid times (and times a rounding error below a multiple of dt): the same steps as SpikeGeneratorGroup."""
    times = np.array([0.0, 0.04, 0.05, 0.06, 0.15, 0.25, 0.3, 0.7 - 1e-12, 1.0 - 1e-9, 1.049, 1.35, 2.999])
    idx = np.arange(times.size)
    b2.defaultclock.dt = DT * b2.ms
    gen = b2.SpikeGeneratorGroup(times.size, idx, times * b2.ms)
    mon = b2.SpikeMonitor(gen)
    b2.Network(gen, mon).run(4 * b2.ms)
    peer = dict(zip(np.asarray(mon.i).tolist(), np.round(np.asarray(mon.t / b2.ms) / DT).astype(int).tolist()))

    net = sim.Network(dt=DT)
    src = sim.SpikeSource(times.size, times, idx)
    spk = net.add(src, sim.SpikeMonitor(src))
    net.run(4.0, progress=False)
    ours = dict(zip(spk.i.tolist(), np.round(spk.t / DT).astype(int).tolist()))
    assert ours == peer
    assert ours[3] == 0 and ours[10] == 13 and ours[8] == 10  # 0.06, 1.35 ms: rounded down; 1 ms - 1e-9: step 10
    nearest = sim.SpikeSource(times.size, times, idx, rounding="nearest")
    assert nearest.steps(DT)[3] == 1 and nearest.steps(DT)[10] == 14


def test_repeated_spikes_in_a_step_are_an_error_as_in_brian2():
    times, idx = np.array([1.0, 1.04]), np.array([0, 0])  # one neuron, two spikes in step 10
    b2.defaultclock.dt = DT * b2.ms
    gen = b2.SpikeGeneratorGroup(1, idx, times * b2.ms)
    with pytest.raises(Exception) as err:
        b2.Network(gen).run(2 * b2.ms)
    assert "more than once during a time step" in str(err.value.__cause__ or err.value)
    net = sim.Network(dt=DT)
    net.add(sim.SpikeSource(1, times, idx, name="stim"))
    with pytest.raises(ValueError, match=r"stim: neuron 0 spikes 2 times in step 10.*repeats='multiplicity'"):
        net.run(2.0)


@pytest.mark.parametrize("backend", ["cpu", "emulate"])
def test_many_repeated_spikes_with_multiplicity_count_each(backend):
    """2000 spikes of one source neuron in one step onto a plastic projection (a segfault before the spike rows were
    sized for repeats): each spike is delivered, and the run goes on."""
    from neuro.sim.engine_gpu import HostEmulation

    if backend == "emulate" and HostEmulation.compiler() is None:
        pytest.skip("the emulation needs a C++ compiler")
    from neuro.ops.stdp import PairSTDP

    net = sim.Network(dt=DT, seed=0, backend=backend)
    src = sim.SpikeSource(1, np.full(2000, 1.0), np.zeros(2000, int), repeats="multiplicity")
    post = sim.LIF(2, v_rest=0.0, v_th=1e9, v_reset=0.0, tau_e=1e9, refractory_input=True)
    proj = sim.Projection(src, post, "all_to_all", weight=0.5, plasticity=PairSTDP(w_max=1.0, eta_minus=0.0))
    spikes = net.add(src, post, proj, sim.SpikeMonitor(src))
    net.run(2.0, progress=False)
    assert spikes.count == 2000
    # each of the 2000 spikes added 0.5 to the excitatory current (no decay with tau_e = 1e9 ms)
    np.testing.assert_allclose(post.i_e, 1000.0, rtol=1e-6)
