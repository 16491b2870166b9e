"""The GPU time loop (kernels/sim_*.cu driven by neuro.sim.engine_gpu) against the Numba loop.

Two GPU backends run the same CUDA sources: ``emulate`` (compiled as C++ for this CPU, every grid-stride
loop sequential; runs wherever a C++ compiler exists) and ``cuda`` (CuPy on a GPU; ``@pytest.mark.gpu``).
Both must equal the CPU loop bit for bit: the same random numbers (the counter-based generator compiled
without fused multiply-adds), the same spike lists in the same order (a compaction in neuron order, not
atomic appends), the same order of additions into each target (sorted per target, not atomic adds). The one
allowance, on a real GPU only: plasticity's exp / pow (CUDA's libm may round them 1 ulp away), so plastic
state there is compared to rounding. Spike lists are compared as they come, unsorted. The same kernels run by
concurrent threads, under ThreadSanitizer: tests/sim/test_gpu_concurrent.py.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import partial

import numpy as np
import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP, TripletSTDP
from neuro.ops.three_factor import RewardModulatedSTDP
from neuro.sim import engine_gpu

BACKENDS = [
    pytest.param("emulate", marks=pytest.mark.skipif(engine_gpu.HostEmulation.compiler() is None, reason="no C++ compiler")),
    pytest.param("cuda", marks=pytest.mark.gpu),  # skipped without a GPU by tests/conftest.py
]


# ---------------------------------------------------------------------------------------------- networks
def cuba(backend, seed=3):
    """CUBA-like: noise, heterogeneous delays 0.1-3 ms, exc / inh receptors, all-to-all block, adaptive threshold."""
    net = sim.Network(dt=0.1, seed=seed, backend=backend)
    exc = sim.LIF(160, v_rest=-49.0, v_th=-50.0, v_reset=-60.0, t_ref=5.0, noise=1.5, i_ext=4.0, v_init=np.linspace(-60, -50, 160))
    inh = sim.LIF(40, v_rest=-49.0, v_th=-50.0, v_reset=-60.0, t_ref=5.0, theta_jump=1.0, tau_theta=50.0)
    net.add(exc, inh)
    rng = np.random.default_rng(0)
    ee = sim.Projection(exc, exc, sim.FixedProbability(0.1), weight=1.62, delay=lambda r, n: rng.integers(1, 31, n) * 0.1, seed=1)
    net.add(ee, sim.Projection(inh, exc, sim.FixedProbability(0.2), weight=-9.0, delay=0.5, receptor="inh", seed=2),
            sim.Projection(exc, inh, "all_to_all", weight=0.3, delay=2.0))
    mons = {"exc": net.add(sim.SpikeMonitor(exc)), "inh": net.add(sim.SpikeMonitor(inh, indices=[0, 5, 7])),
            "v": net.add(sim.StateMonitor(exc, "v", [0, 3, 100], every=0.5)), "x1": net.add(sim.StateMonitor(inh, "i_e", [1, 2])),
            "rate": net.add(sim.PopulationRateMonitor(exc))}
    return net, mons


def cuba_direct(backend, seed=7, refractory_input=False):
    """Current-based LIF with synapses onto v itself beside exc / inh currents (jumps in the spike step and during
    refractory periods lost, or applied with ``refractory_input``), and a second population without them (its
    refractory neurons are parked on the CPU)."""
    net = sim.Network(dt=0.1, seed=seed, backend=backend)
    pois = sim.PoissonInput(60, rate=80.0)
    jump = sim.LIF(30, v_rest=-52.0, v_th=-50.0, v_reset=-60.0, t_ref=3.0, theta_jump=0.5, tau_theta=20.0, refractory_input=refractory_input)
    plain = sim.LIF(30, v_rest=-49.0, v_th=-50.0, v_reset=-60.0, t_ref=4.0, noise=1.0)
    net.add(pois, jump, plain,
            sim.Projection(pois, jump, sim.FixedProbability(0.2), weight=0.8, receptor="v", delay=0.3, seed=1),
            sim.Projection(pois, jump, sim.FixedProbability(0.2), weight=2.0, receptor="exc", seed=2),
            sim.Projection(plain, jump, sim.FixedProbability(0.3), weight=-3.0, receptor="inh", delay=1.0, seed=3),
            sim.Projection(jump, plain, sim.FixedProbability(0.3), weight=1.0, receptor="exc", delay=0.5, seed=4))
    mons = {"jump": net.add(sim.SpikeMonitor(jump)), "plain": net.add(sim.SpikeMonitor(plain)),
            "vj": net.add(sim.StateMonitor(jump, "v")), "vp": net.add(sim.StateMonitor(plain, "v", [0, 1, 2, 3]))}
    return net, mons


def coba_direct(backend, seed=3, refractory_input=False):
    """Conductance LIF with jumps onto v (lost in the spike step and while refractory, or kept), t_ref 0 and 2 ms."""
    net = sim.Network(dt=0.1, seed=seed, backend=backend)
    pois = sim.PoissonInput(40, rate=120.0)
    cobs = [sim.ConductanceLIF(20, t_ref=t_ref, i_ext=9.0, refractory_input=refractory_input) for t_ref in (0.0, 2.0)]
    net.add(pois, *cobs)
    mons = {}
    for k, cob in enumerate(cobs):
        net.add(sim.Projection(pois, cob, sim.FixedProbability(0.3), weight=1.5, receptor="v", delay=0.2, seed=10 + k),
                sim.Projection(pois, cob, sim.FixedProbability(0.2), weight=0.1, seed=20 + k))
        mons[f"c{k}"] = net.add(sim.SpikeMonitor(cob))
        mons[f"v{k}"] = net.add(sim.StateMonitor(cob, "v", [0, 1, 2]))
    return net, mons


def coba_poisson(backend, seed=5):
    """Conductance LIF driven by Poisson inputs, spike generators and an injected current table."""
    net = sim.Network(dt=0.1, seed=seed, backend=backend)
    pois = sim.PoissonInput(100, rate=40.0)
    gen = sim.SpikeSource(4, times=np.array([1.0, 1.0, 2.5, 7.0, 7.0, 7.0]), indices=np.array([0, 1, 2, 3, 0, 2]))
    cob = sim.ConductanceLIF(50, noise=0.5)
    net.add(pois, gen, cob)
    net.add(sim.Projection(pois, cob, sim.FixedProbability(0.3), weight=0.05, delay=1.0, seed=4),
            sim.Projection(gen, cob, "all_to_all", weight=0.4, delay=0.3),
            sim.Projection(cob, cob, sim.FixedProbability(0.1), weight=0.5, delay=0.7, receptor="inh", seed=6))
    cob.inject(np.linspace(0.0, 30.0, 150))
    mons = {"cob": net.add(sim.SpikeMonitor(cob)), "pois": net.add(sim.SpikeMonitor(pois)),
            "v": net.add(sim.StateMonitor(cob, "v", [0, 1, 49]))}
    return net, mons


def izhikevich(backend, seed=7):
    """Izhikevich neurons with uniform and Gaussian noise, per-neuron parameters, direct synapses."""
    net = sim.Network(dt=0.25, seed=seed, backend=backend)
    rs = sim.Izhikevich(60, preset="regular_spiking", i_ext=6.0, noise=4.0, noise_kind="uniform")
    fs = sim.Izhikevich(20, a=np.linspace(0.02, 0.1, 20), b=0.2, c=-65.0, d=2.0, i_ext=3.0, noise=3.0, scheme="euler")
    net.add(rs, fs)
    net.add(sim.Projection(rs, fs, sim.FixedProbability(0.3), weight=3.0, delay=1.0, seed=8),
            sim.Projection(fs, rs, sim.FixedProbability(0.3), weight=-2.0, delay=0.5, receptor="inh", seed=9),
            sim.Projection(rs, rs, sim.FixedProbability(0.1), weight=2.0, delay=lambda r, n: np.arange(n) % 10 * 0.25 + 0.25, seed=10))
    mons = {"rs": net.add(sim.SpikeMonitor(rs)), "fs": net.add(sim.SpikeMonitor(fs)),
            "u": net.add(sim.StateMonitor(rs, "u", [0, 59]))}
    return net, mons


def plastic(backend, seed=11):
    """Pair STDP with dendritic delays, triplet STDP, reward-modulated STDP (both eligibility decays), samples."""
    net = sim.Network(dt=0.5, seed=seed, backend=backend)
    pre = sim.PoissonInput(60, rate=30.0)
    post = sim.LIF(12, v_rest=-65.0, v_th=-55.0, v_reset=-65.0, t_ref=2.0, noise=2.0)
    izh = sim.Izhikevich(20, preset="regular_spiking", noise=5.0)
    net.add(pre, post, izh)
    net.add_modulator("da", tau=200.0)
    pair = sim.Projection(pre, post, sim.FixedProbability(0.5), weight=lambda r, n: np.linspace(0.5, 4.0, n),
                          delay=lambda r, n: (np.arange(n) % 8 + 1) * 0.5, seed=12,
                          plasticity=PairSTDP(eta_plus=0.3, eta_minus=0.32, w_min=0.0, w_max=5.0, mu_plus=0.5, mu_minus=0.5,
                                              dendritic_fraction=0.5))
    trip = sim.Projection(pre, post, sim.FixedProbability(0.3), weight=1.0, delay=1.0, seed=13,
                          plasticity=TripletSTDP.preset("visual_cortex_nearest", w_min=0.0, w_max=3.0))
    rstdp = sim.Projection(pre, izh, sim.FixedProbability(0.4), weight=2.0, delay=lambda r, n: (np.arange(n) % 4 + 1) * 0.5, seed=14,
                           plasticity=RewardModulatedSTDP(update_interval=5.0), modulator="da")
    periodic = sim.Projection(izh, izh, sim.FixedProbability(0.3), weight=1.0, delay=1.0, seed=15, modulator="da",
                              plasticity=RewardModulatedSTDP(update_interval=10.0, eligibility_decay="periodic"))
    net.add(pair, trip, rstdp, periodic)
    mons = {"post": net.add(sim.SpikeMonitor(post)), "izh": net.add(sim.SpikeMonitor(izh)),
            "w": net.add(sim.SynapseMonitor(pair, "w", synapses=[0, 5, 9], every=2.0)),
            "e": net.add(sim.SynapseMonitor(rstdp, "eligibility", synapses=[1, 2])),
            "da": net.add(sim.ModulatorMonitor("da", every=1.0))}
    return net, mons, (pair, trip, rstdp, periodic)


def _reward(net):
    if net.step % 40 == 0:
        net.release("da", 0.5)


def _outputs(net, mons):
    out = {}
    for k, m in mons.items():
        if isinstance(m, sim.SpikeMonitor):
            out[k + ".t"], out[k + ".i"] = m.t, m.i
        elif isinstance(m, sim.PopulationRateMonitor):
            out[k] = m.rate
        elif isinstance(m, sim.ModulatorMonitor):
            out[k] = m.concentration
        else:
            out[k + ".t"], out[k] = m.t, m.values
    st = net.state()
    for k in ("v", "u", "x1", "x2", "isyn", "refrac", "syn_w", "ntr", "elig", "elig_post",
              "modulator", "period_next", "period_last", "gen_ptr"):
        out["state." + k] = st[k]
    out["events"] = net.counts["synaptic_events"]
    return out


def _compare(a, b, exact):
    assert a.keys() == b.keys()
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.shape == y.shape, f"{k}: shape {x.shape} vs {y.shape}"
        if exact or x.dtype.kind in "iub" or k.endswith(".t") or k.endswith(".i"):
            np.testing.assert_array_equal(x, y, err_msg=k)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-9, err_msg=k)


def _run_both(builder, backend, duration, chunks=1, **run_kw):
    res = []
    for b in ("cpu", backend):
        net, mons, *_ = builder(b)
        for _ in range(chunks):
            net.run(duration / chunks, **run_kw)
        res.append(_outputs(net, mons))
    return res


# ---------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("builder", [cuba, cuba_direct, partial(cuba_direct, refractory_input=True), coba_poisson, coba_direct,
                                     partial(coba_direct, refractory_input=True), izhikevich],
                         ids=["cuba", "cuba_direct", "cuba_direct_kept", "coba_poisson", "coba_direct", "coba_direct_kept", "izhikevich"])
def test_gpu_loop_equals_cpu_loop(builder, backend):
    cpu, gpu = _run_both(builder, backend, 60.0)
    assert cpu[next(k for k in cpu if k.endswith(".t"))].size > 10  # the networks do spike
    _compare(cpu, gpu, exact=True)


def _jumps_while_refractory(refractory_input):
    net, mons = cuba_direct("cpu", refractory_input=refractory_input)
    net.run(100.0)
    spk, v = mons["jump"], mons["vj"].values  # v after each step
    assert spk.count > 20
    moved = 0
    for i in range(30):
        for ts in spk.t[spk.i == i]:
            k = int(round(ts / 0.1))  # row of the spike's step (v_reset, plus the jumps delivered at its end)
            frozen = v[k : k + 30, i]  # and the refractory steps that follow (t_ref 3 ms): only jumps move v
            if frozen.size < 30:
                continue
            steps = np.round(np.diff(np.concatenate([[-60.0], frozen])) / 0.8, 9)
            assert np.all(steps >= 0) and np.all(steps == np.round(steps)), steps
            moved += np.count_nonzero(steps)
    return moved


def test_direct_jumps_apply_during_refractory_periods_when_kept():
    """refractory_input=True: refractory neurons of a population with synapses onto v are held (not parked): jumps
    arriving in the spike step or while one is refractory move its potential, which stays frozen otherwise."""
    assert _jumps_while_refractory(True) > 5  # some jumps did land during refractory periods


def test_direct_jumps_are_lost_during_refractory_periods_by_default():
    """The default: a refractory neuron's potential stays at v_reset whatever jumps arrive (the same network)."""
    assert _jumps_while_refractory(False) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_gpu_plasticity_equals_cpu(backend):
    cpu, gpu = _run_both(plastic, backend, 200.0, reward=_reward, reward_interval=5.0)
    net, _, projs = plastic("cpu")
    assert np.any(cpu["state.elig"] != 0) and np.any(cpu["state.ntr"] != 0)  # every rule was exercised
    w0 = np.concatenate([p.weights for p in projs])
    assert not np.allclose(np.sort(cpu["state.syn_w"]), np.sort(w0))
    _compare(cpu, gpu, exact=backend == "emulate")


@pytest.mark.parametrize("backend", BACKENDS)
def test_chunked_runs_and_save_restore_across_backends(backend, tmp_path):
    """Runs split in pieces equal one run; a state saved on the CPU continues on the GPU backend exactly."""
    whole, pieces = [], []
    for b in ("cpu", backend):
        net, mons = cuba(b)
        net.run(40.0)
        whole.append(_outputs(net, mons))
        net, mons = cuba(b)
        for _ in range(4):
            net.run(10.0)
        pieces.append(_outputs(net, mons))
    _compare(whole[1], pieces[1], exact=True)
    net, _ = cuba("cpu")
    net.run(20.0)
    path = net.save(tmp_path / "s.npz")
    net.run(20.0)
    ref = net.state()
    other, _ = cuba(backend)
    other.restore(path)
    other.run(20.0)
    got = other.state()
    for k in ("v", "x1", "x2", "refrac", "hist_n", "hist_step"):
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
    for r, n in enumerate(ref["hist_n"]):  # each step's spike list, in order (the rest of a row is stale, on every backend)
        np.testing.assert_array_equal(got["hist_idx"][r, :n], ref["hist_idx"][r, :n], err_msg=f"spike list {r}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_state_changed_between_runs_reaches_the_device(backend):
    res = []
    for b in ("cpu", backend):
        net, mons = cuba(b)
        net.run(10.0)
        exc = net.populations[0]
        exc.v = -50.5
        exc.i_ext = 0.7
        net.projections[0].weights = net.projections[0].weights * 1.5
        net.run(20.0)
        res.append(_outputs(net, mons))
    _compare(*res, exact=True)


@pytest.mark.parametrize("backend", ["cpu"] + BACKENDS)
def test_full_spike_buffer_halts_the_step_loop_and_resumes(backend, monkeypatch):
    """A spike buffer too small for a chunk: the loop stops before the step that might overflow it, the run goes on
    with a larger buffer, and nothing is lost (same result as one run with a large buffer)."""
    net, mons = cuba("cpu")
    net.run(60.0)
    ref = _outputs(net, mons)
    monkeypatch.setattr(sim.Network, "_SPIKE_BUFFER_MIN", 0)
    monkeypatch.setattr(sim.Network, "_SPIKE_BUFFER_PER_NEURON", 1)
    net, mons = cuba(backend)
    calls = []
    if backend == "cpu":
        run_steps = sim.network.E.run_steps
        monkeypatch.setattr(sim.network.E, "run_steps", lambda *a: calls.append(a[1]) or run_steps(*a))
    else:
        net._ensure_built()
        net._device_engine(net._prepare_run())
        run_chunk = net._engine.run_chunk
        monkeypatch.setattr(net._engine, "run_chunk", lambda *a: calls.append(a[1]) or run_chunk(*a))
    net.run(60.0, chunk=20.0)
    assert len(calls) > 3  # three chunks, and at least one stop on a full buffer
    _compare(ref, _outputs(net, mons), exact=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_spike_lists_come_in_the_cpu_loops_order(backend, monkeypatch):
    """The recorded spikes of a chunk, as the engine hands them over (no sorting): the CPU loop's list, in its order
    (the neurons that fired by index, then the generators' spikes, so not by neuron where a generator spikes)."""
    lists = {}
    for b in ("cpu", backend):
        net = sim.Network(dt=0.1, seed=2, backend=b)
        gen = sim.SpikeSource(4, times=np.arange(0.0, 20.0, 0.5), indices=np.arange(40) % 4)  # neurons 0-3: listed last
        pois = sim.PoissonInput(30, rate=400.0)
        lif = sim.LIF(20, v_rest=-50.0, v_th=-55.0, v_reset=-65.0, t_ref=1.0, noise=2.0)
        net.add(gen, pois, lif, sim.Projection(pois, lif, sim.FixedProbability(0.3), weight=0.5, delay=0.3, seed=1),
                sim.Projection(gen, lif, "all_to_all", weight=0.2))
        for p in (gen, pois, lif):
            net.add(sim.SpikeMonitor(p))
        seen = []
        collect = net._collect

        def spy(got, spk_step, spk_idx, *rest, _collect=collect, _seen=seen):
            _seen.append((np.array(spk_step), np.array(spk_idx)))
            return _collect(got, spk_step, spk_idx, *rest)

        monkeypatch.setattr(net, "_collect", spy)
        net.run(20.0, chunk=5.0)
        lists[b] = tuple(np.concatenate(x) for x in zip(*seen))
    np.testing.assert_array_equal(lists[backend][0], lists["cpu"][0])
    np.testing.assert_array_equal(lists[backend][1], lists["cpu"][1])
    steps, idx = lists["cpu"]
    assert any(np.any(np.diff(idx[steps == t]) < 0) for t in np.unique(steps))  # a step where the list is not by neuron


@pytest.mark.parametrize("backend", BACKENDS)
def test_recorded_spikes_stay_within_the_buffer(backend, monkeypatch):
    """The recording kernel writes no spike past the buffer's capacity, even when told a wrong worst case per step
    (before: it trusted cnt + n_rec and wrote on)."""
    net, _ = cuba(backend)
    net._ensure_built()
    eng = net._device_engine(net._prepare_run())
    monkeypatch.setattr(eng, "n_rec", 0)  # so the step loop never halts for the buffer
    cap, pad = 5, 64
    b = eng._buffers(400, cap + pad, 1, 1)
    b.spk_idx[...] = -7
    monkeypatch.setattr(eng, "_buffers", lambda *a: b)
    got, spk_step, spk_idx, *_ = eng.run_chunk(0, 400, 400, cap, 1, 1, 0)
    assert got < 400 and spk_idx.size == cap  # the buffer filled: the loop halted
    assert np.all(eng.dev.get(b.spk_idx)[cap:] == -7)  # nothing written past it


def repeated_spikes(backend, dendritic_fraction=0.5):
    """Source neurons spiking several times in one step (repeats="multiplicity") onto plastic synapses: pair STDP with
    both delivery orders and triplet STDP, into LIF neurons that spike (both sides of the rules run)."""
    net = sim.Network(dt=0.1, seed=0, backend=backend)
    times = np.concatenate([np.full(5, 11.0), np.full(3, 12.0), [12.0, 13.0, 13.0], np.arange(1, 40) * 0.7])
    idx = np.concatenate([np.zeros(5, int), [1, 1, 1], [0, 2, 2], np.arange(39) % 3])
    src = sim.SpikeSource(3, times, idx, repeats="multiplicity")
    post = sim.LIF(4, v_rest=0.0, v_th=1.5, v_reset=0.0, tau_e=5.0, t_ref=0.0, i_ext=np.array([16.0, 20.0, 30.0, 10.0]))
    net.add(src, post)
    for delivery, delay in (("after_update", 0.5), ("before_update", 0.6)):
        net.add(sim.Projection(src, post, "all_to_all", weight=lambda r, n: np.linspace(0.2, 0.9, n), delay=delay,
                               plasticity=PairSTDP(w_max=1.0, eta_plus=0.05, eta_minus=0.07, dendritic_fraction=dendritic_fraction,
                                                   delivery=delivery)))
    net.add(sim.Projection(src, post, "all_to_all", weight=0.4, delay=0.3,
                           plasticity=TripletSTDP.preset("visual_cortex_nearest", w_min=0.0, w_max=1.0)))
    mons = {"src": net.add(sim.SpikeMonitor(src)), "post": net.add(sim.SpikeMonitor(post)), "v": net.add(sim.StateMonitor(post, "v"))}
    return net, mons


@pytest.mark.parametrize("backend", BACKENDS)
def test_repeated_spikes_in_a_step_apply_each_event(backend):
    """Issue 22, item 1: a neuron listed k times in a step's spike list has its k presynaptic events applied to each of
    its synapses one after another (one block per neuron, so no lost update on a GPU), and its weight delivered k times."""
    cpu, gpu = _run_both(repeated_spikes, backend, 20.0)
    assert cpu["src.t"].size > np.unique(np.round(cpu["src.t"] / 0.1) * 10 + cpu["src.i"]).size  # repeats in a step
    assert cpu["post.t"].size > 5
    net, *_ = repeated_spikes("cpu")
    net._ensure_built()
    assert not np.array_equal(cpu["state.syn_w"], net._s.syn_w)  # the weights moved
    _compare(cpu, gpu, exact=True)


def test_repeated_spikes_fused_presynaptic_pass_equals_the_two_pass_path():
    """Segments without dendritic delay, which the CPU loop otherwise fuses: a neuron that can spike several times in a
    step keeps the two passes (Network._fuse_pre_events), so the CPU equals the GPU path."""
    cpu, gpu = _run_both(partial(repeated_spikes, dendritic_fraction=0.0), "emulate", 20.0)
    _compare(cpu, gpu, exact=True)


def _two_bursts(backend):
    """Two source neurons spiking three times in a step, one step apart, their synapses arriving in the same step."""
    net = sim.Network(dt=0.1, seed=1, backend=backend)
    a = sim.SpikeSource(1, np.full(3, 1.0), np.zeros(3, int), repeats="multiplicity")
    b = sim.SpikeSource(1, np.full(3, 1.1), np.zeros(3, int), repeats="multiplicity")
    post = sim.LIF(10, v_rest=0.0, v_th=1e9, v_reset=0.0, tau_e=1e9, refractory_input=True)
    net.add(a, b, post, sim.Projection(a, post, "all_to_all", weight=lambda r, n: np.linspace(0.1, 1.0, n), delay=0.2),
            sim.Projection(b, post, "all_to_all", weight=lambda r, n: np.linspace(0.3, 0.7, n), delay=0.1))
    return net, {"i_e": net.add(sim.StateMonitor(post, "i_e"))}


@pytest.mark.parametrize("backend", BACKENDS)
def test_delivery_event_buffer_holds_a_steps_worst_case(backend, monkeypatch):
    """Ordered delivery keeps a step's events in a buffer sized for the worst step (repeated spikes at every delay); a
    buffer found too small is an error, never a wrong input."""
    cpu, gpu = _run_both(_two_bursts, backend, 2.0)
    assert cpu["events"] == 60  # all in step 12
    _compare(cpu, gpu, exact=True)
    net, _ = _two_bursts(backend)
    net._ensure_built()
    eng = net._device_engine(net._prepare_run())
    assert eng.ev_cap >= 60
    monkeypatch.setattr(eng, "ev_cap", np.int64(50))
    with pytest.raises(RuntimeError, match="overflowed the event buffer"):
        net.run(2.0)


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend"):
        sim.Network(backend="tpu")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
@pytest.mark.parametrize("src", ["sim_step", "sim_synapses"])
def test_kernels_compile_for_the_gpu(src, tmp_path):
    """The CUDA side of the sources (intrinsics, atomics) compiles, for a Hopper GPU, with the driver's options."""
    from neuro.paths import kernel_dir

    for tgt, ev, fk in (("int", "int", "short"), ("long long", "long long", "int")):
        res = subprocess.run(["nvcc", "-arch=sm_90", "-ptx", "-fmad=false", f"-I{kernel_dir()}", f"-DTGT_T={tgt}", f"-DEV_T={ev}",
                              f"-DFK_T={fk}", "-o", str(tmp_path / f"{src}.ptx"), str(kernel_dir() / f"{src}.cu")],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        ptx = (tmp_path / f"{src}.ptx").read_text()
        assert ".entry" in ptx
