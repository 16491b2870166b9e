"""The event-driven simulator: analytic behaviour, kernel vs reference laws, delays, plasticity, state, errors."""

from __future__ import annotations

import numpy as np
import pytest

from neuro import sim
from neuro.ops.coba_lif import reference as coba_ref
from neuro.ops.cuba_lif import reference as cuba_ref
from neuro.ops.izhikevich import reference as izh_ref
from neuro.ops.stdp import PairSTDP
from neuro.sim import engine_cpu


def test_lif_constant_current_isi_matches_closed_form():
    drives = np.array([16.0, 20.0, 30.0, 14.0])
    net = sim.Network(dt=0.1)
    pop = sim.LIF(4, tau_m=20.0, v_rest=-65.0, v_th=-50.0, v_reset=-65.0, t_ref=2.0, i_ext=drives)
    mon = net.add(pop, sim.SpikeMonitor(pop))
    net.run(600.0)
    for k, train in enumerate(mon.trains()):
        expected = cuba_ref.isi_constant_current(drives[k], -65.0, -50.0, -65.0, 20.0, 2.0)
        if np.isinf(expected):
            assert train.size == 0
        else:
            isi = np.diff(train)
            assert isi.size > 5
            # the spike is found at the first step boundary past threshold: ISI within one dt of the closed form
            assert np.all(np.abs(isi - expected) <= 0.1 + 1e-9), (isi[:3], expected)


def test_exponential_synapse_decays_as_exp():
    net = sim.Network(dt=0.1)
    src = sim.SpikeSource(1, times=[1.0], indices=[0])
    pop = sim.LIF(1, v_th=1e6, tau_e=5.0)
    net.add(src, pop, sim.Projection(src, pop, "all_to_all", weight=2.0, receptor="exc"))
    st = net.add(sim.StateMonitor(pop, "i_e", indices=[0]))
    net.run(30.0)
    t, i_e = st.t, st.values[:, 0]
    after = t >= 1.0 - 1e-9
    # the spike at 1.0 ms is delivered at the end of its step: I_e(t) = 2 exp(-(t - 1) / 5)
    np.testing.assert_allclose(i_e[after], 2.0 * np.exp(-(t[after] - 1.0) / 5.0), rtol=1e-12)
    assert np.all(i_e[~after] == 0)


def _free_run(pop_factory, steps, dt, var="v"):
    net = sim.Network(dt=dt, seed=3)
    pop = pop_factory()
    st = net.add(pop, sim.StateMonitor(pop, var))
    mon = net.add(sim.SpikeMonitor(pop))
    net.run(steps * dt)
    return st.values, mon


@pytest.mark.parametrize("model", ["cuba", "coba", "izhikevich"])
def test_compiled_loop_equals_reference_step(model):
    rng = np.random.default_rng(0)
    n, steps, dt = 50, 200, 0.1
    i_ext = rng.uniform(5.0, 40.0, n)
    if model == "cuba":
        factory = lambda: sim.LIF(n, tau_m=15.0, t_ref=1.0, i_ext=i_ext)  # noqa: E731
    elif model == "coba":
        factory = lambda: sim.ConductanceLIF(n, i_ext=i_ext, t_ref=1.0)  # noqa: E731
    else:
        factory = lambda: sim.Izhikevich(n, preset="chattering", scheme="euler", i_ext=i_ext / 4)  # noqa: E731
    got, _ = _free_run(factory, steps, dt)
    pop = factory()
    v, u, refrac = pop.v.copy(), pop.u.copy(), np.zeros(n, dtype=np.int64)
    zero = np.zeros(n)
    ref = []
    for _ in range(steps):
        if model == "cuba":
            v, _, _, refrac, _ = cuba_ref.step(v, zero, zero, refrac, i_ext, dt, -65.0, -50.0, -65.0, 10, 15.0, 5.0, 10.0)
        elif model == "coba":
            v, _, _, refrac, _ = coba_ref.step(v, zero, zero, refrac, i_ext, dt, -60.0, -50.0, -60.0, 10, 20.0, 5.0, 10.0, 0.0, -80.0)
        else:
            a, b, c, d = izh_ref.PRESETS["chattering"]
            v, u, _ = izh_ref.step(v, u, i_ext / 4, dt, a, b, c, d, scheme="euler")
        ref.append(v.copy())
    np.testing.assert_allclose(got, np.array(ref), rtol=1e-12, atol=1e-9)


def test_compiled_loop_really_runs(monkeypatch):
    calls = []
    real = engine_cpu.run_steps
    monkeypatch.setattr(engine_cpu, "run_steps", lambda *a: calls.append(a[1]) or real(*a))
    net = sim.Network(dt=0.5)
    net.add(sim.LIF(3))
    net.run(100.0)
    assert sum(calls) == 200 and len(calls) < 200, "many steps per compiled call, not one call per step"


@pytest.mark.parametrize("delay", [0.0, 0.1, 3.0, 7.5])
def test_delays_deliver_at_spike_time_plus_delay(delay):
    net = sim.Network(dt=0.1)
    src = sim.SpikeSource(1, times=[2.0], indices=[0])
    pop = sim.LIF(1, v_th=1e6, tau_m=1e9, v_rest=0.0, v_init=0.0)
    net.add(src, pop, sim.Projection(src, pop, "all_to_all", weight=1.0, delay=delay, receptor="v"))
    st = net.add(sim.StateMonitor(pop, "v", indices=[0]))
    net.run(15.0)
    first = st.t[np.argmax(st.values[:, 0] > 0.5)]
    # delivered at the end of the step of time 2.0 + delay, recorded from that step on
    assert first == pytest.approx(2.0 + delay)


def test_heterogeneous_delays_and_event_count():
    net = sim.Network(dt=1.0)
    src = sim.SpikeSource(2, times=[0.0, 0.0, 5.0], indices=[0, 1, 0])
    pop = sim.LIF(20, v_th=1e6, tau_m=1e9, v_rest=0.0, v_init=0.0)
    delays = np.arange(1, 21, dtype=float)  # one synapse per delay 1..20 ms from neuron 0, as in Izhikevich 2006
    proj = sim.Projection(src, pop, (np.zeros(20, int), np.arange(20)), weight=1.0, delay=delays, receptor="v")
    net.add(src, pop, proj)
    st = net.add(sim.StateMonitor(pop, "v"))
    net.run(40.0)
    arrival = np.array([st.t[np.argmax(st.values[:, j] > 0.5)] for j in range(20)])
    np.testing.assert_array_equal(arrival, delays)
    assert net.counts["synaptic_events"] == 40  # neuron 0 spiked twice (20 synapses), neuron 1 has none
    np.testing.assert_allclose(st.values[-1], 2.0, rtol=1e-6)  # tau_m = 1e9 ms: no leak to speak of


def test_seed_reproducible_and_chunking_independent():
    def run(chunk, seed):
        net = sim.Network(dt=0.1, seed=seed)
        inp = sim.PoissonInput(100, rate=20.0)
        pop = sim.LIF(50, noise=3.0, i_ext=12.0)
        net.add(inp, pop, sim.Projection(inp, pop, sim.FixedProbability(0.1), weight=2.0, seed=4))
        m = net.add(sim.SpikeMonitor(pop))
        net.run(200.0, chunk=chunk)
        return m.t, m.i

    a, b, c = run(None, 1), run(7.3, 1), run(None, 2)
    assert a[0].size > 10
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].size != c[0].size or not np.array_equal(a[0], c[0])


def test_save_restore_continues_exactly(tmp_path):
    def make():
        net = sim.Network(dt=0.1, seed=5)
        inp = sim.PoissonInput(50, rate=30.0)
        pop = sim.LIF(30, noise=2.0, i_ext=10.0)
        net.add(inp, pop, sim.Projection(inp, pop, sim.FixedInDegree(10), weight=3.0, delay=1.0, seed=1,
                                        plasticity=PairSTDP(w_max=10.0)))
        return net, pop, net.add(sim.SpikeMonitor(pop))

    net, pop, mon = make()
    net.run(50.0)
    net.save(tmp_path / "state.npz")
    net.run(50.0)
    tail = mon.t[mon.t >= 50.0]
    net2, pop2, mon2 = make()
    net2.run(0.0)
    net2.restore(tmp_path / "state.npz")
    assert net2.t == pytest.approx(50.0)
    net2.run(50.0)
    np.testing.assert_array_equal(mon2.t, tail)
    np.testing.assert_array_equal(net.projections[0].weights, net2.projections[0].weights)


def test_state_can_be_read_and_changed_between_runs():
    net = sim.Network(dt=0.1)
    pop = sim.LIF(2, i_ext=0.0)
    mon = net.add(pop, sim.SpikeMonitor(pop))
    net.run(50.0)
    assert mon.count == 0
    pop.i_ext = [30.0, 0.0]
    pop.v = [-51.0, -65.0]
    net.run(50.0)
    assert mon.count > 0 and set(mon.i.tolist()) == {0}


def test_refractory_neurons_stay_frozen_across_runs_and_state_changes():
    """Runs cut in the middle of refractory periods give the same spikes and counters as one run, and a voltage
    changed by hand during the refractory period is where the neuron stays until the period ends (the reference
    step law, neuron by neuron)."""
    n, t_ref, dt = 6, 3.0, 0.1
    i_ext = np.array([80.0, 45.0, 30.0, 120.0, 0.0, 15.5])

    def make():
        net = sim.Network(dt=dt)
        pop = sim.LIF(n, tau_m=15.0, t_ref=t_ref, i_ext=i_ext, v_init=np.linspace(-65.0, -51.0, n))
        return net, pop, net.add(pop, sim.SpikeMonitor(pop))

    net, pop, mon = make()
    net.run(60.0)
    cut, pcut, mcut = make()
    for piece in (0.3, 0.1, 7.7, 1.2, 0.4, 50.3):  # boundaries inside refractory periods
        cut.run(piece)
    np.testing.assert_array_equal(mon.t, mcut.t)
    np.testing.assert_array_equal(mon.i, mcut.i)
    np.testing.assert_array_equal(net.state()["refrac"], cut.state()["refrac"])
    assert mon.count > 20
    # the reference law, with a voltage set by hand on neurons that are refractory right now
    refrac = cut.state()["refrac"].copy()
    frozen = np.flatnonzero(refrac > 1)
    assert frozen.size > 0
    v = pcut.v.copy()
    v[frozen] = -58.5
    pcut.v = v
    cut.run(0.1)
    np.testing.assert_array_equal(pcut.v[frozen], -58.5)  # still frozen at the value set
    zero = np.zeros(n)
    v_ref, _, _, r_ref, _ = cuba_ref.step(v, zero, zero, refrac, i_ext, dt, -65.0, -50.0, -65.0, int(round(t_ref / dt)), 15.0, 5.0, 10.0)
    np.testing.assert_allclose(pcut.v, v_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(cut.state()["refrac"], r_ref)


@pytest.mark.parametrize("dt_post", [-40.0, -10.0, 5.0, 25.0])
def test_stdp_in_network_follows_window_at_arrival_time(dt_post, sim_backend):
    """Pre spike at 60 ms with a 4 ms axonal delay arrives at 64 ms; the post neuron is forced to spike at 64 + dt_post."""
    rule = PairSTDP(eta_plus=0.01, eta_minus=0.012, tau_plus=16.8, tau_minus=33.7, w_max=1.0)
    net = sim.Network(dt=0.1, backend=sim_backend)
    pre = sim.SpikeSource(1, times=[60.0], indices=[0])
    t_post = 64.0 + dt_post
    driver = sim.SpikeSource(1, times=[t_post - 0.1], indices=[0])  # the kick lands one step before the post spike
    post = sim.LIF(1, v_rest=0.0, v_init=0.0, v_th=1.0, v_reset=0.0, tau_m=1e9, t_ref=0.0)
    plastic = sim.Projection(pre, post, "all_to_all", weight=0.5, delay=4.0, receptor="exc", plasticity=rule)
    net.add(pre, driver, post, plastic, sim.Projection(driver, post, "all_to_all", weight=5.0, receptor="v"))
    mon = net.add(sim.SpikeMonitor(post))
    net.run(100.0)
    assert mon.t.tolist() == pytest.approx([t_post])
    assert plastic.weights[0] - 0.5 == pytest.approx(float(rule.window(dt_post)), rel=1e-9)


@pytest.mark.parametrize(
    "make, err, msg",
    [
        (lambda a, b: sim.Projection(a, b, delay=-1.0), ValueError, "delays must be >= 0"),
        (lambda a, b: sim.Projection(a, b, weight=[1.0, 2.0]), ValueError, r"shape \(9,\)"),
        (lambda a, b: sim.Projection(a, b, weight=np.nan), ValueError, "NaN or infinite"),
        (lambda a, b: sim.Projection(a, b, receptor="ampa"), ValueError, "unknown receptor 'ampa'"),
        (lambda a, b: sim.Projection(a, b, modulator="dopamine"), ValueError, "can only drive a projection with RewardModulatedSTDP"),
        (lambda a, b: sim.Projection(a, b, "one_to_one", weight=1.0, connect_typo=1), TypeError, "connect_typo"),
        (lambda a, b: sim.LIF(3, tau_m=-5.0), ValueError, "tau_m must be a finite number > 0"),
        (lambda a, b: sim.LIF(3, v_th=float("nan")), ValueError, "v_th must be finite"),
        (lambda a, b: sim.LIF(3, i_ext=[1.0, 2.0]), ValueError, r"i_ext must be a scalar or an array of shape \(3,\)"),
        (lambda a, b: sim.LIF(3, tau_membrane=5.0), TypeError, "tau_membrane"),
        (lambda a, b: sim.Izhikevich(3, preset="bursty"), ValueError, "unknown Izhikevich preset 'bursty'"),
        (lambda a, b: sim.Projection(a, b, plasticity=PairSTDP(w_max=0.5), weight=1.0), ValueError, "plasticity bounds"),
    ],
)
def test_bad_input_is_named(make, err, msg):
    a, b = sim.LIF(3), sim.LIF(3)
    with pytest.raises(err, match=msg):
        make(a, b)


def test_delay_not_multiple_of_dt_and_izhikevich_dt_warning():
    net = sim.Network(dt=0.1)
    a, b = sim.LIF(2), sim.LIF(2)
    net.add(a, b, sim.Projection(a, b, delay=0.25))
    with pytest.raises(ValueError, match=r"delay 0.25 ms is not a whole number of steps of dt = 0.1"):
        net.run(1.0)
    net2 = sim.Network(dt=2.0)
    net2.add(sim.Izhikevich(2))
    with pytest.warns(RuntimeWarning, match="known to diverge for dt > 1.0"):
        net2.run(4.0)


def test_spike_monitor_streams_to_hdf5_and_loads_back(tmp_path):
    import h5py

    def run(h5):
        net = sim.Network(dt=0.1, seed=9)
        inp = sim.PoissonInput(200, rate=50.0)
        mon = net.add(inp, sim.SpikeMonitor(inp, h5=h5))
        net.run(300.0, chunk=20.0)  # many chunks: many appends to the file
        return mon

    mem, disk = run(None), run(tmp_path / "spikes.h5")
    assert mem.count > 1000 and disk.count == mem.count
    np.testing.assert_array_equal(disk.t, mem.t)
    np.testing.assert_array_equal(disk.i, mem.i)
    assert disk._t == [] and disk._i == [], "streamed spikes are not kept in memory"
    with h5py.File(tmp_path / "spikes.h5") as f:
        assert f["t"].chunks is not None and f.attrs["unit_t"] == "ms"


def test_izhikevich_presets_fire_as_named():
    """Under a constant drive of 10, regular spiking adapts, fast spiking does not, chattering bursts."""
    net = sim.Network(dt=0.25)
    pops = {name: sim.Izhikevich(1, preset=name, scheme="euler", i_ext=10.0, name=name)
            for name in ("regular_spiking", "fast_spiking", "chattering", "intrinsically_bursting")}
    mons = {name: net.add(p, sim.SpikeMonitor(p)) for name, p in pops.items()}
    net.run(500.0)
    isi = {name: np.diff(m.t) for name, m in mons.items()}
    assert isi["regular_spiking"][-1] > 1.5 * isi["regular_spiking"][0], "spike-frequency adaptation"
    assert mons["fast_spiking"].count > 2 * mons["regular_spiking"].count
    assert np.abs(np.diff(isi["fast_spiking"][3:])).max() < 0.6, "tonic, non-adapting"
    assert isi["chattering"].min() < 10.0 < isi["chattering"].max(), "bursts: short intra- and long inter-burst intervals"


def test_synaptic_scaling_normalises_incoming_weights():
    net = sim.Network(dt=0.1)
    a, b = sim.PoissonInput(50, rate=10.0), sim.LIF(5)
    proj = sim.Projection(a, b, sim.FixedInDegree(10), weight=lambda rng, n: rng.uniform(0.1, 2.0, n), seed=3)
    net.add(a, b, proj)
    net.run(1.0)
    proj.normalize_incoming(4.0, rate=0.5)
    sums = np.bincount(proj.post_index, weights=proj.weights, minlength=5)
    before = np.bincount(proj.post_index, weights=proj.weights * 0 + 1, minlength=5)
    assert before.tolist() == [10] * 5
    proj.normalize_incoming(4.0)
    np.testing.assert_allclose(np.bincount(proj.post_index, weights=proj.weights, minlength=5), 4.0)
    assert not np.allclose(sums, 4.0), "a half step does not reach the target at once"
    with pytest.raises(ValueError, match="total must be a finite number > 0"):
        proj.normalize_incoming(-1.0)


def test_adaptive_threshold_slows_firing_and_relaxes():
    net = sim.Network(dt=0.1)
    plain = sim.LIF(1, i_ext=30.0, t_ref=2.0)
    adapt = sim.LIF(1, i_ext=30.0, t_ref=2.0, theta_jump=3.0, tau_theta=100.0)
    m0 = net.add(plain, sim.SpikeMonitor(plain))
    m1 = net.add(adapt, sim.SpikeMonitor(adapt))
    net.run(500.0)
    isi = np.diff(m1.t)
    assert isi[-1] > 1.5 * isi[0] and m1.count < m0.count
    # theta follows its law exactly between spikes: decay by exp(-dt/tau) per step
    expected = adapt.theta[0] * np.exp(-10.0 / 100.0)
    adapt.i_ext = 0.0
    net.run(10.0)
    assert adapt.theta[0] == pytest.approx(expected, rel=1e-9)
