"""Network(threads=N): the CPU loop's workers (a thread each for the whole run, chunks of neurons per thread, delivery
partitioned by target neuron) give the bits of one thread (spikes, potentials, synaptic variables), for every model with a chunked
update (the built-ins and a user-defined model's generated kernel), noise included; with plasticity and monitors on
the lead worker."""

from __future__ import annotations

import os

import numpy as np
import pytest

from neuro import sim
from neuro.dynamics import NeuronModel
from neuro.sim import engine_cpu as E

needs_two = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: two threads would not run at once")

ADAPTIVE = NeuronModel("""
dv/dt = (mu - v - w) / tau + sigma * sqrt(2 / tau) * xi : volt (unless refractory)
dw/dt = -w / tau_w : volt
mu : volt
tau : second
tau_w : second
sigma : volt
""", threshold="v > 1 * mV", reset="v = 0 * mV; w += 0.2 * mV", refractory=1.0, inputs={"exc": "v", "inh": "w"}, name="adaptive_ou")

N = 9000  # > 2 x 4096: two chunks, and a boundary that is not a multiple of 64 from the population's start


def _network(kind: str, threads: int) -> tuple[sim.Network, sim.SpikeMonitor]:
    net = sim.Network(dt=0.1, seed=3, threads=threads)
    rng = np.random.default_rng(0)
    src = sim.PoissonInput(200, rate=40.0, name="src")
    small = sim.LIF(100, tau_m=10, v_th=-50, v_rest=-49, v_reset=-60, t_ref=2, name="small")  # a first population: offset chunks
    if kind == "cuba":
        pop = sim.LIF(N, tau_m=20, v_rest=-49, v_th=-50, v_reset=-60, t_ref=5, tau_e=5, tau_i=10, v_init=-60 + 10 * rng.random(N),
                      noise=1.5, name="pop")
    elif kind == "coba":
        pop = sim.ConductanceLIF(N, v_init=-60 + 10 * rng.random(N), noise=1.0, name="pop")
    elif kind == "izhikevich":
        pop = sim.Izhikevich(N, i_ext=4.0, noise=5.0, name="pop")
    else:  # a user-defined model: two variables, noise, refractoriness, per-neuron parameters
        pop = sim.Population(N, ADAPTIVE, mu=rng.uniform(0.5, 1.5, N), tau=10.0, sigma=0.5, tau_w=50.0, name="pop")
    w = {"cuba": 1.0, "coba": 0.1, "izhikevich": 8.0, "definition": 0.02}[kind]
    net.add(src, small, pop,
            sim.Projection(src, pop, sim.FixedProbability(0.05), weight=w, receptor="exc", seed=1),
            sim.Projection(pop, pop, sim.FixedProbability(0.05), weight=-w / 20, receptor="inh", seed=2),
            sim.Projection(src, small, "all_to_all", weight=0.5))
    mon = net.add(sim.SpikeMonitor(pop))
    return net, mon


@needs_two
@pytest.mark.parametrize("kind", ["cuba", "coba", "izhikevich", "definition"])
def test_two_threads_give_the_bits_of_one(kind):
    runs = []
    for threads in (1, 2):
        net, mon = _network(kind, threads)
        net.run(30.0, progress=False)
        net.run(20.0, progress=False)  # a second call: the state handed between runs is the same too
        s = net._s
        runs.append((mon.t.copy(), mon.i.copy(), s.v.copy(), s.x1.copy(), s.x2.copy(), s.u.copy(), s.gen_state.copy()))
        runs[-1] += (net.counts["synaptic_events"],)
    assert runs[0][1].size > 100  # the network fires: the comparison is not between two silent runs
    assert runs[0][-1] > 100 * 500  # and delivers (the partitioned delivery's count equals one thread's: compared below)
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def _plastic(threads: int):
    """Pair STDP (fused into the delivery pass), a rule written as a definition (its events on the lead worker), spike
    sources with repeated spikes, state and synapse monitors: the phases that run on the lead worker between barriers."""
    from neuro.dynamics import SynapseModel
    from neuro.ops.stdp import PairSTDP

    pair = SynapseModel("""
        dapre/dt = -apre / taupre : 1 (event-driven)
        dapost/dt = -apost / taupost : 1 (event-driven)
        taupre : second (constant)
        taupost : second (constant)
        Apre : 1 (constant)
        Apost : 1 (constant)
        wmax : 1 (constant)
    """, on_pre="apre += Apre; w = clip(w + apost, 0, wmax)", on_post="apost += Apost; w = clip(w + apre, 0, wmax)")

    net = sim.Network(dt=0.1, seed=5, threads=threads)
    rng = np.random.default_rng(1)
    src = sim.PoissonInput(300, rate=30.0, name="src")
    times = rng.uniform(0, 40, 400)
    gen = sim.SpikeSource(50, np.r_[times, times[:20]], np.r_[rng.integers(0, 50, 400), np.zeros(20, int)], repeats="multiplicity")
    pop = sim.LIF(N, tau_m=20, v_rest=-49, v_th=-50, v_reset=-60, t_ref=2, v_init=-60 + 10 * rng.random(N), name="pop")
    stdp = sim.Projection(src, pop, sim.FixedProbability(0.05), weight=1.0, receptor="exc", plasticity=PairSTDP(w_max=3.0), seed=1)
    rule = sim.Projection(gen, pop, sim.FixedProbability(0.1), weight=1.0, receptor="exc", seed=2,
                          plasticity=pair(taupre=20.0, taupost=20.0, Apre=0.01, Apost=-0.012, wmax=3.0))
    net.add(src, gen, pop, stdp, rule, sim.Projection(pop, pop, sim.FixedProbability(0.02), weight=-0.2, receptor="inh", seed=3))
    mons = [net.add(sim.SpikeMonitor(pop)), net.add(sim.StateMonitor(pop, "v", [0, 5000, N - 1])),
            net.add(sim.SynapseMonitor(stdp, "w", [0, 7]))]
    net.run(40.0, progress=False)
    return [mons[0].t, mons[0].i, mons[1].values, mons[2].values, stdp.weights, rule.weights, net._s.v.copy()]


@needs_two
def test_plasticity_and_monitors_on_two_threads_give_the_bits_of_one():
    one, two = _plastic(1), _plastic(2)
    assert one[1].size > 100 and not np.allclose(one[4], 1.0)  # it fires and the weights moved
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_chunks_cover_the_population_on_cache_line_boundaries():
    for lo, hi, n in [(0, 9000, 2), (100, 9100, 2), (7, 70_000, 8), (0, 5000, 1)]:
        bounds = [E._bound(lo, hi, c, n) for c in range(n + 1)]
        assert bounds[0] == lo and bounds[-1] == hi and bounds == sorted(bounds)
        assert all(b % 64 == 0 for b in bounds[1:-1])
    assert E._n_chunks(9000, 2) == 2 and E._n_chunks(8000, 2) == 1 and E._n_chunks(100_000, 1) == 1


def test_threads_argument_is_checked():
    with pytest.raises(ValueError, match="threads must be an integer >= 1, got 0"):
        sim.Network(threads=0)
    with pytest.raises(ValueError, match="more than the .* cores this process may use"):
        sim.Network(threads=len(os.sched_getaffinity(0)) + 1)
    net = sim.Network()
    with pytest.raises(ValueError, match="got 1.5"):
        net.threads = 1.5
