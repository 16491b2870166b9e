"""Network(threads=N): the CPU loop's population updates cut into chunks of neurons on Numba's threads give the bits of
one thread (spikes, potentials, synaptic variables), for every model with a chunked update (the built-ins and a
user-defined model's generated kernel), noise included, with the delivery partitioned by target neuron."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from neuro import sim
from neuro.dynamics import NeuronModel
from neuro.sim import engine_cpu as E

needs_two = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="Numba's thread pool has one thread (NUMBA_NUM_THREADS)")

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
        events = net.counts["synaptic_events"]
    assert runs[0][1].size > 100  # the network fires: the comparison is not between two silent runs
    # and most steps deliver enough synapses to take the threaded delivery
    assert events / 500 > 2 * E._MIN_PAR_EVENTS, events / 500
    for a, b in zip(*runs):
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
    with pytest.raises(ValueError, match="more than Numba's thread pool"):
        sim.Network(threads=numba.config.NUMBA_NUM_THREADS + 1)
    net = sim.Network()
    with pytest.raises(ValueError, match="got 1.5"):
        net.threads = 1.5
