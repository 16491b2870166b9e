"""(summed) variables of a SynapseModel (Brian2's syntax: ``Igap_post = g * (v_pre - v_post) : 1 (summed)``): every step,
before the neurons' updates, the target of each postsynaptic neuron is set to the sum over its synapses. Checked against
Brian2 on its gap-junction example (neurons coupled all-to-all, spike for spike), and the errors of misuse."""

from __future__ import annotations

import numpy as np
import pytest

from neuro import sim
from neuro.dynamics import DefinitionError, NeuronModel, SynapseModel

N = 10
NEURON = NeuronModel("""
dv/dt = (v0 - v + Igap) / tau : 1
v0 : 1 (constant)
tau : second (constant)
Igap : 1
""", threshold="v > 1", reset="v = 0", inputs={"exc": "v"}, name="gap_lif")
GAP = SynapseModel("""
g : 1 (constant)
Igap_post = g * (v_pre - v_post) : 1 (summed)
""", name="gap_junction")


def _ours(g: float, duration: float = 200.0):
    net = sim.Network(dt=0.1, seed=0)
    pop = sim.Population(N, NEURON, v0=np.linspace(1.01, 3.0, N), tau=10.0, v=0.0, Igap=0.0, name="neurons")
    # the projection's own delivery adds weight 0 (a gap junction delivers nothing at spikes)
    net.add(pop, sim.Projection(pop, pop, "all_to_all", weight=0.0, plasticity=GAP(g=g), receptor="exc"))
    mon = net.add(sim.SpikeMonitor(pop))
    st = net.add(sim.StateMonitor(pop, "Igap", indices=[0, N - 1]))
    net.run(duration, progress=False)
    return mon, st, net


def _brian2(g: float, duration: float = 200.0):
    b2 = pytest.importorskip("brian2")
    b2.prefs.codegen.target = "numpy"
    b2.start_scope()
    b2.defaultclock.dt = 0.1 * b2.ms
    eqs = """dv/dt = (v0 - v + Igap) / tau : 1
             v0 : 1 (constant)
             Igap : 1"""
    neurons = b2.NeuronGroup(N, eqs, threshold="v > 1", reset="v = 0", method="exact", namespace={"tau": 10 * b2.ms})
    neurons.v0 = np.linspace(1.01, 3.0, N)
    S = b2.Synapses(neurons, neurons, """g : 1 (constant)
                                         Igap_post = g * (v_pre - v_post) : 1 (summed)""")
    S.connect()  # all to all, self-connections included (their term is 0)
    S.g = g
    mon = b2.SpikeMonitor(neurons)
    st = b2.StateMonitor(neurons, "Igap", record=[0, N - 1])
    b2.run(duration * b2.ms)
    return mon, st


@pytest.mark.parametrize("g", [0.02, 0.1])
def test_gap_junctions_spike_for_spike_with_brian2(g):
    ours, ours_st, _ = _ours(g)
    theirs, theirs_st = _brian2(g)
    t_b = np.asarray(theirs.t_[:]) * 1000.0
    i_b = np.asarray(theirs.i[:])
    assert i_b.size > 50  # the neurons fire
    order_b = np.lexsort((i_b, np.round(t_b, 6)))
    order_o = np.lexsort((ours.i, np.round(ours.t, 6)))
    np.testing.assert_array_equal(ours.i[order_o], i_b[order_b])
    np.testing.assert_allclose(ours.t[order_o], t_b[order_b], atol=1e-9)
    # the summed current itself, sample for sample. Our StateMonitor samples after the step (the value a step set and
    # integrated with), Brian2's at the start of the next one: our sample k is Brian2's sample k + 1
    theirs_igap = np.asarray(theirs_st.Igap[:])
    assert np.abs(theirs_igap).max() > 0.01
    np.testing.assert_allclose(ours_st.Igap[:, :-1], theirs_igap[:, 1:], rtol=1e-9, atol=1e-12)


def test_coupling_changes_the_spikes():
    """The sum is used: with coupling the spike trains differ from the uncoupled network's, and they synchronise."""
    coupled, _, _ = _ours(0.1)
    free, _, _ = _ours(0.0)
    assert coupled.i.size != free.i.size or not np.array_equal(coupled.t, free.t)


def test_neurons_without_synapses_get_zero():
    net = sim.Network(dt=0.1)
    pop = sim.Population(4, NEURON, v0=2.0, tau=10.0, Igap=5.0, name="neurons")
    pre = sim.Population(1, NEURON, v0=3.0, tau=10.0, v=0.5, Igap=0.0, name="pre")
    proj = sim.Projection(pre, pop, (np.array([0]), np.array([1])), weight=0.0, plasticity=GAP(g=1.0), receptor="exc")
    net.add(pop, pre, proj)
    st = net.add(sim.StateMonitor(pop, "Igap", indices=[0, 1, 2, 3]))
    net.run(0.3, progress=False)
    assert np.all(st.Igap[[0, 2, 3]] == 0.0)  # set to the (empty) sum, not left at 5
    assert np.all(st.Igap[1] != 0.0)


def test_misuse_is_refused():
    with pytest.raises(DefinitionError, match="only a subexpression"):
        SynapseModel("dIgap_post/dt = -Igap_post / ms : 1 (summed)")
    with pytest.raises(DefinitionError, match="must be that variable's followed by _post"):
        SynapseModel("g : 1\nIgap_pre = g * v_post : 1 (summed)")
    with pytest.raises(DefinitionError, match="code cannot write it"):
        SynapseModel("g : 1\nIgap_post = g * v_pre : 1 (summed)", on_pre="Igap_post += 1")
    with pytest.raises(DefinitionError, match="flags of synaptic equations"):
        NeuronModel("dv/dt = -v / ms : 1\nI = v : 1 (summed)")
    # a target that is a differential variable
    net = sim.Network()
    pop = sim.Population(3, NEURON, v0=2.0, tau=10.0, Igap=0.0, name="neurons")
    bad = SynapseModel("g : 1\nv_post = g * v_pre : 1 (summed)")
    net.add(pop, sim.Projection(pop, pop, "all_to_all", weight=0.0, plasticity=bad(g=0.1), receptor="exc"))
    with pytest.raises(DefinitionError, match=r"sums into \['v_post'\]"):
        net.run(0.1, progress=False)
    # two projections summing into one variable
    net = sim.Network()
    pop = sim.Population(3, NEURON, v0=2.0, tau=10.0, Igap=0.0, name="neurons")
    net.add(pop, sim.Projection(pop, pop, "all_to_all", weight=0.0, plasticity=GAP(g=0.1), receptor="exc", name="a"),
            sim.Projection(pop, pop, "all_to_all", weight=0.0, plasticity=GAP(g=0.1), receptor="exc", name="b"))
    with pytest.raises(ValueError, match="both have a \\(summed\\) variable onto 'Igap'"):
        net.run(0.1, progress=False)
    # (the GPU engines run them: tests/dynamics/test_summed_gpu.py)
