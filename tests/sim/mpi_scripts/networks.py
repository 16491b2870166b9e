"""Networks run across MPI ranks and in one process, for tests/sim/test_mpi.py.

    mpirun -disable-auto-cleanup -n 2 python tests/sim/mpi_scripts/networks.py OUT.npz [--then-die] [KIND ...]

Every rank runs each network distributed (``Network(comm=MPI.COMM_WORLD)``); rank 0 then runs the same script's network
in one process (``comm=None``) and writes both results (spikes per monitor, rate counts, sampled potentials, final
weights) to ``OUT.npz`` as ``<kind>/<what>/mpi`` and ``<kind>/<what>/one``.

``--then-die``: afterwards, a distributed run whose rank 1 dies (``os._exit(3)``) after 5 ms; rank 0 waits at the next
spike exchange at most its ``timeout`` (1 s), then reports on stderr and aborts the job (one job for both tests: each
``mpirun`` costs seconds of start-up).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from mpi4py import MPI

from neuro import sim
from neuro.dynamics import SynapseModel
from neuro.ops.stdp import PairSTDP
from neuro.sim.distributed import gather_synapses

PAIR_RULE = SynapseModel("""
    dapre/dt = -apre / taupre : 1 (event-driven)
    dapost/dt = -apost / taupost : 1 (event-driven)
    taupre : second (constant)
    taupost : second (constant)
    Apre : 1 (constant)
    Apost : 1 (constant)
    wmax : 1 (constant)
""", on_pre="apre += Apre; w = clip(w + apost, 0, wmax)", on_post="apost += Apost; w = clip(w + apre, 0, wmax)",
    defaults={"taupre": 20.0, "taupost": 20.0, "Apre": 0.05, "Apost": -0.05, "wmax": 8.0})


def deterministic(comm):
    """No randomness: a spike source drives a ring of LIF neurons and an Izhikevich population, delays 1-3 ms."""
    net = sim.Network(dt=0.1, seed=3, comm=comm, timeout=30.0)
    src = sim.SpikeSource(10, np.arange(0.0, 50.0, 2.5), np.arange(20) % 10, name="src")
    exc = sim.LIF(37, v_rest=-65.0, v_th=-50.0, v_reset=-65.0, tau_m=10.0, i_ext=np.linspace(14.0, 20.0, 37), name="exc")
    izh = sim.Izhikevich(23, i_ext=np.linspace(3.0, 8.0, 23), name="izh")
    pre = np.repeat(np.arange(10), 4)
    net.add(src, exc, izh,
            sim.Projection(src, exc, (pre, (pre * 7 + np.tile(np.arange(4), 10)) % 37), weight=6.0, delay=1.0),
            sim.Projection(exc, exc, (np.arange(37), (np.arange(37) + 1) % 37), weight=np.linspace(1.0, 3.0, 37),
                           delay=np.where(np.arange(37) % 2, 1.0, 2.0)),
            sim.Projection(exc, izh, "all_to_all", weight=0.05, delay=3.0),
            sim.Projection(izh, exc, "all_to_all", weight=-0.2, delay=1.5, receptor="inh"))
    mons = {name: net.add(sim.SpikeMonitor(p)) for name, p in (("src", src), ("exc", exc))}
    rank = 0 if comm is None else comm.Get_rank()  # izh's spikes streamed to one HDF5 file, by rank 0
    mons["izh"] = net.add(sim.SpikeMonitor(izh, h5=f"{OUT}.izh_{'one' if comm is None else 'mpi'}.h5" if rank == 0 else None))
    rates = {"exc": net.add(sim.PopulationRateMonitor(exc))}
    states = {"exc_v": net.add(sim.StateMonitor(exc, "v", indices=[0, 5, 20, 36]))}
    return net, mons, rates, states, [], 60.0


def random(comm):
    """Random connectivity (FixedProbability, FixedInDegree), Poisson inputs, noise, drawn weights, delays, initial values."""
    net = sim.Network(dt=0.1, seed=11, comm=comm, timeout=30.0)
    poi = sim.PoissonInput(60, rate=np.linspace(20.0, 60.0, 60), name="poi")
    exc = sim.LIF(600, v_init=lambda rng, n: rng.uniform(-65.0, -52.0, n), noise=1.5, i_ext=12.0, name="exc")
    inh = sim.LIF(150, v_init=lambda rng, n: rng.uniform(-65.0, -52.0, n), i_ext=14.0, name="inh")
    coba = sim.ConductanceLIF(90, i_ext=12.0, noise=0.5, name="coba")
    net.add(poi, exc, inh, coba,
            sim.Projection(poi, exc, sim.FixedProbability(0.2), weight=lambda rng, n: rng.uniform(1.0, 3.0, n), delay=1.0),
            sim.Projection(exc, exc, sim.FixedProbability(0.05), weight=0.6, delay=lambda rng, n: rng.integers(10, 30, n) * 0.1,
                           autapses=False),
            sim.Projection(exc, inh, sim.FixedInDegree(20), weight=0.8, delay=1.2),
            sim.Projection(inh, exc, sim.FixedProbability(0.1), weight=lambda rng, n: -rng.uniform(1.0, 2.0, n), delay=1.0, receptor="inh"),
            sim.Projection(exc, coba, sim.FixedOutDegree(3), weight=0.05, delay=1.0))
    mons = {name: net.add(sim.SpikeMonitor(p)) for name, p in (("poi", poi), ("exc", exc), ("inh", inh), ("coba", coba))}
    rates = {"inh": net.add(sim.PopulationRateMonitor(inh))}
    return net, mons, rates, {}, [], 60.0


def plastic(comm):
    """Pair STDP (built-in) and a user-defined pair rule (neuro.dynamics.SynapseModel) on random connectivity."""
    net = sim.Network(dt=0.1, seed=5, comm=comm, timeout=30.0)
    poi = sim.PoissonInput(80, rate=30.0, name="poi")
    exc = sim.LIF(120, i_ext=10.0, noise=2.0, name="exc")
    stdp = sim.Projection(poi, exc, sim.FixedProbability(0.3), weight=lambda rng, n: rng.uniform(2.0, 4.0, n), delay=1.0,
                          plasticity=PairSTDP(w_max=8.0, eta_plus=0.2, eta_minus=0.2))
    rule = sim.Projection(exc, exc, sim.FixedProbability(0.1), weight=2.0, delay=lambda rng, n: rng.integers(10, 20, n) * 0.1,
                          plasticity=PAIR_RULE)
    net.add(poi, exc, stdp, rule)
    mons = {"exc": net.add(sim.SpikeMonitor(exc))}
    return net, mons, {}, {}, [("stdp", stdp), ("rule", rule)], 100.0


KINDS = {"deterministic": deterministic, "random": random, "plastic": plastic}
OUT = "runs"  # the output path (main)


def results(build, comm) -> dict[str, np.ndarray]:
    net, mons, rates, states, projs, duration = build(comm)
    net.run(duration / 2)
    net.run(duration / 2)  # two runs: the exchange state carries over
    out = {}
    for name, syn in projs:  # collective: every rank takes part
        got = gather_synapses(net, syn)
        if got is not None:
            out.update({f"{name}_{k}": v for k, v in got.items()})
    for name, m in mons.items():
        out[f"{name}_t"], out[f"{name}_i"] = m.t, m.i
    for name, m in rates.items():
        out[f"{name}_rate"] = m.rate
    for name, m in states.items():
        out[f"{name}_t"], out[f"{name}_values"] = m.t, m.values
    return out


def die(comm) -> None:
    net = sim.Network(dt=0.1, seed=1, comm=comm, timeout=1.0)
    exc = sim.LIF(20, i_ext=20.0)
    net.add(exc, sim.Projection(exc, exc, sim.FixedProbability(0.2), weight=0.5, delay=1.0))
    net.run(5.0)
    if comm.Get_rank() == 1:
        os._exit(3)
    net.run(5.0)
    print("rank 0 finished the run after rank 1 died", flush=True)


def main(path: str, kinds: list[str], then_die: bool) -> None:
    global OUT
    OUT = path
    comm = MPI.COMM_WORLD
    saved = {}
    for kind in kinds:
        t = time.perf_counter()
        dist = results(KINDS[kind], comm)
        t_dist = time.perf_counter() - t
        if comm.Get_rank() == 0:
            one = results(KINDS[kind], None)
            for k in one:
                saved[f"{kind}/{k}/one"] = one[k]
                saved[f"{kind}/{k}/mpi"] = dist.get(k, np.zeros(0))
            print(f"{kind}: distributed {t_dist:.2f} s, one process {time.perf_counter() - t - t_dist:.2f} s", file=sys.stderr)
    if comm.Get_rank() == 0:
        np.savez(path, **saved)
    if then_die:
        die(comm)


if __name__ == "__main__":
    args = sys.argv[2:]
    main(sys.argv[1], [a for a in args if a != "--then-die"] or list(KINDS), "--then-die" in args)
