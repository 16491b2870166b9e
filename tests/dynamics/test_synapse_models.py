"""User-defined plasticity rules (neuro.dynamics.SynapseModel): definitions and their errors, generated kernels against
their references, the simulator against its built-in rules and against Brian2 running the same equations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neuro import sim
from neuro.dynamics import DefinitionError, NeuronModel, SynapseModel, syncodegen
from neuro.ops.stdp import PairSTDP

PAIR = """
    dapre/dt = -apre / taupre : 1 (event-driven)
    dapost/dt = -apost / taupost : 1 (event-driven)
    taupre : second (constant)
    taupost : second (constant)
    Apre : 1 (constant)
    Apost : 1 (constant)
    wmax : 1 (constant)
"""
ON_PRE = "apre += Apre; w = clip(w + apost, 0, wmax)"
ON_POST = "apost += Apost; w = clip(w + apre, 0, wmax)"


def pair_rule(**kw) -> SynapseModel:
    return SynapseModel(PAIR, on_pre=ON_PRE, on_post=ON_POST, defaults={"taupre": 20.0, "taupost": 20.0, "Apre": 0.01, "Apost": -0.0105,
                                                                         "wmax": 1.0}, **kw)


# ---------------------------------------------------------------------------------------------------------- definitions
def test_definition_sorts_names_into_variables_and_parameters():
    m = SynapseModel(PAIR + "c : 1\n", on_pre=ON_PRE + "; c += 1", on_post=ON_POST, defaults={"taupre": 20.0})
    assert m.event_driven == ["apre", "apost"] and m.clock_driven == []
    assert m.states == ["apre", "apost", "c"]
    assert m.params == ["taupre", "taupost", "Apre", "Apost", "wmax"]
    assert m.key != pair_rule().key


@pytest.mark.parametrize("eqs, on_pre, on_post, match", [
    ("dx/dt = -x / tau : 1\ntau : second", "x += 1", "", "event-driven"),                   # no flag
    (PAIR, "apre += Apre; w = clip(w + bogus, 0, wmax)", ON_POST, "unknown name 'bogus'"),
    (PAIR, ON_PRE + "; t = 1*ms", ON_POST, "'t' cannot be written"),
    (PAIR, ON_PRE + "; taupre = 5*ms", ON_POST, r"\(constant\) parameter"),
    (PAIR, "apre += taupre", ON_POST, "unit"),                                              # 1 += second
    ("dx/dt = -x**2 / tau : 1 (event-driven)\ntau : second", "x += 1", "", "linear in its own variable"),
    ("dx/dt = -x / tau : 1 (event-driven)\ntau : second", "y += 1", "", "not a variable"),
    ("dx/dt = -x / tau + xi / sqrt(tau) : 1 (clock-driven)\ntau : second", "", "", "noise"),
    ("", "", "", "changes nothing"),
])
def test_bad_definitions_name_the_problem(eqs, on_pre, on_post, match):
    with pytest.raises(DefinitionError, match=match):
        SynapseModel(eqs, on_pre=on_pre, on_post=on_post)


def test_synaptic_flags_are_refused_in_neuron_models():
    with pytest.raises(DefinitionError, match="flags of synaptic equations"):
        NeuronModel("dv/dt = -v / (10*ms) : volt (event-driven)")


def test_neuron_variables_are_checked_when_the_projection_is_built():
    rule = SynapseModel("dx/dt = (u_post - x) / (5*ms) : volt (clock-driven)", on_pre="w += 0.001 * x / mV")
    net = sim.Network(dt=0.1)
    a, b = sim.LIF(2), sim.LIF(2)
    net.add(a, b, sim.Projection(a, b, weight=1.0, plasticity=rule))
    with pytest.raises(DefinitionError, match=r"reads \['u_post'\], which the neurons do not have"):
        net.build()
    bad_units = SynapseModel("dx/dt = (v_post - x) / (5*ms) : 1 (clock-driven)", on_pre="w += x")  # x is 1, v_post volt
    net = sim.Network(dt=0.1)
    a, b = sim.LIF(2), sim.LIF(2)
    net.add(a, b, sim.Projection(a, b, weight=1.0, plasticity=bad_units))
    with pytest.raises(DefinitionError, match="unit"):
        net.build()


def test_values_are_checked_and_modulators_must_exist():
    with pytest.raises(ValueError, match="unknown parameter"):
        pair_rule()(tau=3.0)
    rule = SynapseModel(PAIR, on_pre=ON_PRE, on_post=ON_POST)  # no defaults
    net = sim.Network(dt=0.1)
    a, b = sim.LIF(2), sim.LIF(2)
    net.add(a, b, sim.Projection(a, b, plasticity=rule))
    with pytest.raises(ValueError, match="parameter 'taupre'"):
        net.build()
    da = SynapseModel("c : 1", on_pre="w += c * dopamine; c = 0", modulators=("dopamine",))
    net = sim.Network(dt=0.1)
    a, b = sim.LIF(2), sim.LIF(2)
    net.add(a, b, sim.Projection(a, b, plasticity=da))
    with pytest.raises(ValueError, match="modulator 'dopamine'"):
        net.build()


# ---------------------------------------------------------------------------------------------- kernels vs references
def _table(model, arrays):
    names = syncodegen.layout(model)
    tab = np.array([arrays[k].ctypes.data for k in names], dtype=np.uint64)
    return tab


def test_event_and_loop_kernels_equal_their_references():
    model = SynapseModel("""
        dapre/dt = -apre / taupre : 1 (event-driven)
        dx/dt = (v_post - x) / tau_x : volt (clock-driven)
        taupre : second
        tau_x : second (constant)
        eta : 1 (constant)
        c : 1
    """, on_pre="apre += 1; w = clip(w + eta * apre * (x - v_pre) / mV, -1, 1)", on_post="c += apre * dopamine",
        periodic={"every": 1.0, "code": "w += 0.1 * c; c = 0"}, modulators=("dopamine",))
    rng = np.random.default_rng(0)
    n, n_neurons = 7, 5

    def arrays():
        r = np.random.default_rng(1)
        A = {"_w": r.normal(size=n + 3), "_s": np.arange(3, n + 3, dtype=np.int64), "_i": r.integers(0, n_neurons, n).astype(np.int64),
             "_j": r.integers(0, n_neurons, n).astype(np.int64), "_lastupdate": r.uniform(0, 5, n), "v_pre": r.normal(-60, 5, n_neurons),
             "v_post": r.normal(-60, 5, n_neurons), "dopamine": np.array([0.3])}
        for k in model.states + model.params:
            A[k] = r.uniform(0.5, 2.0, n)
        return A

    mod = syncodegen.load(model, {"tau_x": 4.0, "eta": 0.01})
    A, B = arrays(), arrays()
    tab = _table(model, A)
    events = [(int(rng.integers(50, 90)), int(rng.integers(0, n))) for _ in range(20)]
    for t, k in sorted(events):
        s, i, j = int(A["_s"][k]), int(A["_i"][k]), int(A["_j"][k])
        mod.on_pre.ctypes(t, 0.1, 0, tab.ctypes.data, s, k, i, j)
        mod.ref_on_pre(B, t, 0.1, s, k, i, j)
        mod.on_post.ctypes(t, 0.1, 0, tab.ctypes.data, s, k, i, j)
        mod.ref_on_post(B, t, 0.1, s, k, i, j)
    for t in (100, 110):
        mod.clock.ctypes(t, 0, n, 0.1, 0, tab.ctypes.data)
        mod.ref_clock(B, t, 0.1)
        mod.periodic.ctypes(t, 0, n, 0.1, 0, tab.ctypes.data)
        mod.ref_periodic(B, t, 0.1)
    for k in A:
        np.testing.assert_array_equal(A[k], B[k], err_msg=k)
    assert not np.array_equal(A["_w"], arrays()["_w"])  # something happened


# ---------------------------------------------------------------------------------- the simulator vs its built-in rules
def _network(rule, delay, seed=5):
    net = sim.Network(dt=0.1, seed=seed)
    inp = sim.PoissonInput(60, rate=40.0)
    out = sim.LIF(6)
    proj = sim.Projection(inp, out, connect=sim.FixedProbability(0.5), weight=lambda r, n: r.uniform(3.0, 8.0, n), delay=delay,
                          plasticity=rule)
    net.add(inp, out, proj)
    return net, proj


@pytest.mark.parametrize("delivery", ["after_update", "before_update"])
@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_pair_stdp_as_a_definition_equals_the_builtin_rule(delivery, fraction):
    """Heterogeneous delays split into axonal and dendritic parts, both delivery orders: the generated rule (traces per
    synapse, decayed from their last event) and the built-in one (traces per neuron, decayed every step) agree."""
    delay = lambda r, n: r.integers(1, 30, n) * 0.1  # noqa: E731
    ours = pair_rule(delivery=delivery, dendritic_fraction=fraction)(wmax=20.0)
    builtin = PairSTDP(tau_plus=20.0, tau_minus=20.0, eta_plus=0.01, eta_minus=0.0105, w_min=0.0, w_max=20.0, delivery=delivery,
                       dendritic_fraction=fraction)
    net_a, pa = _network(ours, delay)
    net_b, pb = _network(builtin, delay)
    ma, mb = net_a.add(sim.SpikeMonitor(pa.post)), net_b.add(sim.SpikeMonitor(pb.post))
    net_a.run(500.0, progress=False)
    net_b.run(500.0, progress=False)
    np.testing.assert_array_equal(ma.i, mb.i)
    np.testing.assert_array_equal(ma.t, mb.t)
    assert ma.i.size > 50
    np.testing.assert_allclose(pa.weights, pb.weights, rtol=0, atol=1e-12)
    assert np.abs(pa.weights - pa._w).max() > 0.05  # the weights moved


def test_nearest_spike_pairing_as_a_definition():
    nearest = SynapseModel(PAIR, on_pre="apre = 1; w = clip(w - 0.0105 * apost, 0, wmax)", on_post="apost = 1; w = clip(w + 0.01 * apre, 0, wmax)",
                           defaults={"taupre": 20.0, "taupost": 20.0, "Apre": 0.0, "Apost": 0.0, "wmax": 10.0})
    builtin = PairSTDP(tau_plus=20.0, tau_minus=20.0, eta_plus=0.01, eta_minus=0.0105, w_min=0.0, w_max=10.0, pairing="nearest")
    net_a, pa = _network(nearest, 0.5)
    net_b, pb = _network(builtin, 0.5)
    net_a.run(300.0, progress=False)
    net_b.run(300.0, progress=False)
    np.testing.assert_allclose(pa.weights, pb.weights, rtol=0, atol=1e-12)


def test_variables_persist_across_rebuilds_save_restore_and_are_monitored(tmp_path):
    net, proj = _network(pair_rule()(wmax=10.0), 1.0)
    net.run(100.0, progress=False)
    apre = proj.variable("apre")
    assert apre.shape == (len(proj),) and apre.max() > 0
    net.save(tmp_path / "state.npz")
    mon = net.add(sim.SynapseMonitor(proj, "apre", synapses=[0, 1], every=10.0))  # a rebuild
    np.testing.assert_array_equal(proj.variable("apre"), apre)
    net.run(100.0, progress=False)
    assert mon.values.shape == (10, 2)
    after = proj.weights
    net.restore(tmp_path / "state.npz")
    np.testing.assert_array_equal(proj.variable("apre"), apre)
    net.run(100.0, progress=False)
    np.testing.assert_array_equal(proj.weights, after)  # the same 100 ms again
    with pytest.raises(ValueError, match="no variable 'bogus'"):
        proj.variable("bogus")


def test_initial_values_drawn_from_the_network_seed():
    rule = SynapseModel("c : 1", on_pre="c += 1; w += 0.0 * c")
    vals = []
    for _ in range(2):
        net, proj = _network(rule(c=lambda r, n: r.uniform(0, 1, n)), 1.0, seed=11)
        net.build()
        vals.append(proj.variable("c"))
    np.testing.assert_array_equal(*vals)
    assert np.unique(vals[0]).size == vals[0].size


def test_periodic_code_and_a_modulator_three_factor_rule():
    """Eligibility c (event-driven, decaying) gathers pre-before-post pairings; every 10 ms w += eta * c * dopamine. With
    two source neurons firing at known times the result is computed by hand."""
    rule = SynapseModel("""
        dc/dt = -c / tau_c : 1 (event-driven)
        dapre/dt = -apre / (10*ms) : 1 (event-driven)
        tau_c : second (constant)
    """, on_pre="apre += 1", on_post="c += apre", periodic={"every": 10.0, "code": "w += 0.5 * c * dopamine"},
        modulators=("dopamine",), defaults={"tau_c": 50.0})
    net = sim.Network(dt=0.1)
    net.add_modulator("dopamine", tau=1e9, initial=0.0)
    pre = sim.SpikeSource(1, times=[5.0], indices=[0])
    post = sim.SpikeSource(1, times=[8.0], indices=[0])
    proj = sim.Projection(pre, post, weight=1.0, plasticity=rule)
    net.add(pre, post, proj)
    net.run(15.0, progress=False)  # periodic at t = 0, 10: dopamine 0
    assert proj.weights[0] == 1.0
    net.release("dopamine", 2.0)
    net.run(10.0, progress=False)  # periodic at t = 20
    c20 = np.exp(-3.0 / 10.0) * np.exp(-12.0 / 50.0)  # apre at 8 ms, c decayed from 8 to 20 ms
    da = 2.0 * np.exp(-0.1 / 1e9) ** 50  # released at 15 ms, decayed over the 50 steps to 20 ms
    np.testing.assert_allclose(proj.weights[0], 1.0 + 0.5 * c20 * da, rtol=1e-12)
    np.testing.assert_allclose(proj.variable("c")[0], c20, rtol=1e-12)


# ------------------------------------------------------------------------------------------------------- vs Brian2
@pytest.fixture
def b2():
    b2 = pytest.importorskip("brian2", reason="brian2 comes with the test environment (requirements/peers.txt)")
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    b2.BrianLogger.suppress_name("resolution_conflict")
    return b2


def test_stdp_between_spike_sources_equals_brian2(b2):
    """Random pre and post spike trains, heterogeneous presynaptic delays, the pair rule written once: the weights and
    traces of Brian2 (numpy target) running the same equations."""
    rng = np.random.default_rng(4)
    n_pre, n_post, T, dt = 12, 4, 300.0, 0.1
    tp = [np.unique(rng.integers(1, int(T / dt), 25)) for _ in range(n_pre)]
    tq = [np.unique(rng.integers(1, int(T / dt), 25)) for _ in range(n_post)]
    pi = np.concatenate([np.full(t.size, k) for k, t in enumerate(tp)])
    qi = np.concatenate([np.full(t.size, k) for k, t in enumerate(tq)])
    ps, qs = np.concatenate(tp), np.concatenate(tq)
    ii, jj = np.repeat(np.arange(n_pre), n_post), np.tile(np.arange(n_post), n_pre)
    delays = rng.integers(0, 40, ii.size) * dt
    w0 = rng.uniform(0.2, 0.8, ii.size)
    wmax = rng.uniform(0.9, 1.0, ii.size)  # a per-synapse parameter

    net = sim.Network(dt=dt)
    pre = sim.SpikeSource(n_pre, times=ps * dt, indices=pi)
    post = sim.SpikeSource(n_post, times=qs * dt, indices=qi)
    proj = sim.Projection(pre, post, connect=(ii, jj), weight=w0, delay=delays, plasticity=pair_rule()(wmax=wmax, Apre=0.05, Apost=-0.06))
    net.add(pre, post, proj)
    net.run(T, progress=False)

    ms = b2.ms
    b2.defaultclock.dt = dt * ms
    g_pre = b2.SpikeGeneratorGroup(n_pre, pi, ps * dt * ms)
    g_post = b2.SpikeGeneratorGroup(n_post, qi, qs * dt * ms)
    syn = b2.Synapses(g_pre, g_post, "w : 1\nwmax : 1\n" + "\n".join(line for line in PAIR.splitlines() if "wmax" not in line),
                      on_pre=ON_PRE, on_post=ON_POST, namespace={})
    syn.connect(i=ii, j=jj)
    syn.w = w0
    syn.wmax = wmax
    syn.taupre = syn.taupost = 20 * ms
    syn.Apre, syn.Apost = 0.05, -0.06
    syn.pre.delay = delays * ms
    b2.run(T * ms)
    np.testing.assert_allclose(proj.weights, np.asarray(syn.w), rtol=0, atol=1e-12)
    np.testing.assert_allclose(proj.variable("apre"), np.asarray(syn.apre), rtol=1e-12, atol=1e-15)
    assert np.abs(proj.weights - w0).max() > 0.05


def test_clock_driven_rule_reading_the_postsynaptic_voltage_equals_brian2(b2):
    """A filtered postsynaptic voltage per synapse (clock-driven, reads v_post of a user-defined neuron) and a
    presynaptically triggered change reading it, the new weight then delivered onto v (mV): Brian2 running the same
    neuron and synapse equations (its on_pre ends with the delivery, ``v_post += w * mV``)."""
    dt, T = 0.1, 200.0
    eqs = "dv/dt = (E - v) / tau : volt\nE : volt (constant)\ntau : second (constant)"
    neuron = NeuronModel(eqs, inputs={"v": "v"})
    firing = NeuronModel(eqs, threshold="v > -50*mV", reset="v = -65*mV")
    rule = SynapseModel("""
        dx/dt = (v_post - x) / tau_x : volt (clock-driven)
        tau_x : second (constant)
    """, on_pre="w = w + 0.01 * (x - v_post) / mV", defaults={"tau_x": 7.0})
    rng = np.random.default_rng(3)
    E_post, E_pre = rng.uniform(-70, -40, 3), np.array([-45.0, -40.0])
    net = sim.Network(dt=dt)
    pre = sim.Population(2, firing, E=E_pre, tau=10.0, v=-65.0)
    post = sim.Population(3, neuron, E=E_post, tau=10.0, v=-65.0)
    proj = sim.Projection(pre, post, weight=0.0, receptor="v", plasticity=rule(x=-65.0))
    spikes = net.add(sim.SpikeMonitor(pre))
    net.add(pre, post, proj)
    net.run(T, progress=False)
    assert spikes.i.size > 10 and proj.variable("x").std() > 0.1
    ms, mV = b2.ms, b2.mV
    b2.defaultclock.dt = dt * ms
    b2eqs = "dv/dt = (E - v) / tau : volt\nE : volt\ntau : second"
    g_pre = b2.NeuronGroup(2, b2eqs, threshold="v > -50*mV", reset="v = -65*mV", method="exact")
    g_pre.E, g_pre.tau, g_pre.v = E_pre * mV, 10 * ms, -65 * mV
    g_post = b2.NeuronGroup(3, b2eqs, method="exact")
    g_post.E, g_post.tau, g_post.v = E_post * mV, 10 * ms, -65 * mV
    syn = b2.Synapses(g_pre, g_post, "w : 1\ndx/dt = (v_post - x) / tau_x : volt (clock-driven)", on_pre="w = w + 0.01 * (x - v_post) / mV; v_post += w * mV",
                      method="exact", namespace={"tau_x": 7 * ms})
    syn.connect()
    syn.x = -65 * mV
    b2_spikes = b2.SpikeMonitor(g_pre)
    b2.run(T * ms)
    np.testing.assert_array_equal(spikes.i, np.asarray(b2_spikes.i))
    np.testing.assert_allclose(proj.variable("x"), np.asarray(syn.x) / float(mV), rtol=1e-9)
    np.testing.assert_allclose(proj.weights, np.asarray(syn.w), rtol=1e-9, atol=1e-12)
    assert np.abs(proj.weights).max() > 0.01


def test_triplet_stdp_as_a_definition_equals_the_builtin_rule():
    """Pfister & Gerstner's triplet rule (four traces, each read before its own jump) written as a definition."""
    from neuro.ops.stdp import TripletSTDP

    p = dict(tau_plus=16.8, tau_minus=33.7, tau_x=101.0, tau_y=125.0, a2_plus=5e-3, a3_plus=6.2e-3, a2_minus=7e-3, a3_minus=2.3e-4)
    triplet = SynapseModel("""
        dr1/dt = -r1 / tau_plus : 1 (event-driven)
        dr2/dt = -r2 / tau_x : 1 (event-driven)
        do1/dt = -o1 / tau_minus : 1 (event-driven)
        do2/dt = -o2 / tau_y : 1 (event-driven)
        tau_plus : second (constant)
        tau_minus : second (constant)
        tau_x : second (constant)
        tau_y : second (constant)
        a2_plus : 1 (constant)
        a3_plus : 1 (constant)
        a2_minus : 1 (constant)
        a3_minus : 1 (constant)
        wmax : 1 (constant)
    """, on_pre="w = clip(w - o1 * (a2_minus + a3_minus * r2), 0, wmax); r1 += 1; r2 += 1",
        on_post="w = clip(w + r1 * (a2_plus + a3_plus * o2), 0, wmax); o1 += 1; o2 += 1", defaults={**p, "wmax": 20.0})
    net_a, pa = _network(triplet, 1.0)
    net_b, pb = _network(TripletSTDP(**p, w_min=0.0, w_max=20.0), 1.0)
    net_a.run(300.0, progress=False)
    net_b.run(300.0, progress=False)
    np.testing.assert_allclose(pa.weights, pb.weights, rtol=0, atol=1e-12)
    assert np.abs(pa.weights - pa._w).max() > 0.05


def test_rules_write_the_state_of_user_defined_neurons():
    """A homeostatic rule raising the postsynaptic threshold at each postsynaptic event of each synapse; the same
    network without it fires more. Writing a parameter or a built-in neuron's variable is refused."""
    neuron = NeuronModel("""
        dv/dt = (E - v) / (10*ms) : volt
        dtheta/dt = (-50*mV - theta) / (500*ms) : volt
        E : volt (constant)
    """, threshold="v > theta", reset="v = -65*mV", inputs={"v": "v"})
    rule = SynapseModel("c : 1", on_post="theta_post += 0.5*mV; c += 1")
    counts = []
    for plastic in (False, True):
        net = sim.Network(dt=0.1)
        src = sim.SpikeSource(1, times=[1.0], indices=[0])
        pop = sim.Population(2, neuron, E=-40.0, v=-65.0, theta=-50.0)
        proj = sim.Projection(src, pop, weight=0.0, receptor="v", plasticity=rule if plastic else None)
        mon = net.add(src, pop, proj, sim.SpikeMonitor(pop))
        net.run(300.0, progress=False)
        counts.append(mon.i.size)
        if plastic:
            np.testing.assert_array_equal(proj.variable("c"), np.bincount(mon.i, minlength=2))
            assert pop.theta.min() > -50.0
    assert counts[1] < counts[0]
    bad = SynapseModel("c : 1", on_post="E_post += 1*mV; c += 1")
    net = sim.Network(dt=0.1)
    src, pop = sim.SpikeSource(1, times=[1.0], indices=[0]), sim.Population(2, neuron, E=-40.0, v=-65.0, theta=-50.0)
    net.add(src, pop, sim.Projection(src, pop, weight=0.0, receptor="v", plasticity=bad))
    with pytest.raises(DefinitionError, match=r"writes \['E_post'\]"):
        net.build()
    lif = SynapseModel("c : 1", on_pre="v_post += 1*mV")
    net = sim.Network(dt=0.1)
    a, b = sim.LIF(2), sim.LIF(2)
    net.add(a, b, sim.Projection(a, b, plasticity=lif))
    with pytest.raises(DefinitionError, match=r"writes \['v_post'\]"):
        net.build()


def test_short_term_plasticity_as_a_rule_equals_brian2(b2):
    """Tsodyks-Markram depression/facilitation (library.tsodyks_markram): the postsynaptic potential a spike train
    builds through it equals Brian2's with the same equations (its on_pre delivers ``v_post += w0*u*x`` first)."""
    from neuro.dynamics import library

    dt, T = 0.1, 300.0
    times = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 150.0, 160.0, 250.0])
    neuron = NeuronModel("dv/dt = -v / (20*ms) : volt", inputs={"v": "v"})
    net = sim.Network(dt=dt)
    src = sim.SpikeSource(2, times=np.r_[times, times + 3.0], indices=np.r_[np.zeros(times.size, int), np.ones(times.size, int)])
    post = sim.Population(2, neuron)
    rule = library.tsodyks_markram(U=0.2, tau_f=300.0)
    proj = sim.Projection(src, post, connect="one_to_one", weight=0.0, receptor="v", plasticity=rule(w0=np.array([2.0, 3.0])))
    vm = net.add(src, post, proj, sim.StateMonitor(post, "v"))
    net.run(T, progress=False)
    ms, mV = b2.ms, b2.mV
    b2.defaultclock.dt = dt * ms
    g_src = b2.SpikeGeneratorGroup(2, np.r_[np.zeros(times.size, int), np.ones(times.size, int)], np.r_[times, times + 3.0] * ms)
    g_post = b2.NeuronGroup(2, "dv/dt = -v / (20*ms) : volt", method="exact")
    syn = b2.Synapses(g_src, g_post, """w0 : 1
        dx/dt = (1 - x) / tau_d : 1 (event-driven)
        du/dt = (U - u) / tau_f : 1 (event-driven)""", on_pre="v_post += w0 * u * x * mV; x -= u * x; u += U * (1 - u)",
        namespace={"U": 0.2, "tau_d": 200 * ms, "tau_f": 300 * ms})
    syn.connect(j="i")
    syn.w0, syn.x, syn.u = [2.0, 3.0], 1.0, 0.5
    b2_vm = b2.StateMonitor(g_post, "v", record=True)
    b2.run(T * ms)
    # our sample at step k is the state after that step's update, Brian2's the state before it (its sample k + 1)
    np.testing.assert_allclose(vm.values.T[:, :-1], np.asarray(b2_vm.v)[:, 1:] / float(mV), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(proj.variable("x"), np.asarray(syn.x), rtol=1e-12)
    assert vm.values.max() > 0.5
