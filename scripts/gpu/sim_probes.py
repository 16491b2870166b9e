"""Simulator probes for a GPU (scripts/gpu_check.sh): what the host emulation cannot show.

usage: python scripts/gpu/sim_probes.py BACKEND [race] [determinism] [overflow] [reward]

race         one source neuron spiking K times in one step onto a pair-STDP fan-out: weights vs the CPU engine, and
             run-to-run (lost updates where several threads update one synapse)
determinism  a random 2000-neuron network run twice on BACKEND and once on the CPU: first differing spike, state
overflow     more same-step spikes than neurons (2000 at once from one source): the spike list's bounds (run it
             under compute-sanitizer memcheck)
reward       the cost of a reward callback (state download / upload, graph re-capture) on a plastic network
"""

import inspect
import os
import sys
import time

import numpy as np

from neuro import sim
from neuro.ops.stdp import PairSTDP
from neuro.ops.three_factor import RewardModulatedSTDP


def dup_net(backend, k, n_post=200):
    """One source neuron spiking ``k`` times in one step (duplicates, as SpikeSource / from_events make) onto pair STDP."""
    net = sim.Network(dt=0.1, seed=1, backend=backend)
    post = sim.LIF(n_post, v_rest=-49.0, v_th=-50.0, v_reset=-60.0, t_ref=2.0, v_init=np.linspace(-49.5, -60, n_post))
    # repeated same-step spikes are kept as a multiplicity where SpikeSource asks to be told so
    extra = {"repeats": "multiplicity"} if "repeats" in inspect.signature(sim.SpikeSource).parameters else {}
    pre = sim.SpikeSource(1, times=np.full(k, 5.0), indices=np.zeros(k, int), **extra)
    proj = sim.Projection(pre, post, "all_to_all", weight=1.0, delay=1.0,
                          plasticity=PairSTDP(eta_plus=0.0, eta_minus=0.01, w_min=-100.0, w_max=100.0))
    net.add(post, pre, proj)
    return net, proj


def race(backend):
    for k in (16, 64):
        runs = {}
        for b in ("cpu", backend, backend, backend):
            net, proj = dup_net(b, k)
            net.run(10.0)
            runs.setdefault(b, []).append(np.array(proj.weights, copy=True))
        ref = runs["cpu"][0]
        for i, w in enumerate(runs[backend]):
            print(f"RACE K={k} {backend} run {i}: max|w-cpu| {np.abs(w - ref).max():.3e}, synapses differing {int((w != ref).sum())}/{w.size}",
                  flush=True)
        same = all(np.array_equal(runs[backend][0], w) for w in runs[backend][1:])
        print(f"RACE K={k} {backend} runs identical to each other: {same}", flush=True)


def rand_net(backend, n=2000, seed=3):
    net = sim.Network(dt=0.1, seed=seed, backend=backend)
    n_exc = int(0.8 * n)
    exc = sim.LIF(n_exc, v_rest=-45.0, v_th=-50.0, v_reset=-60.0, t_ref=2.0, noise=2.0, i_ext=4.0, v_init=np.linspace(-60, -50, n_exc))
    inh = sim.LIF(n - n_exc, v_rest=-45.0, v_th=-50.0, v_reset=-60.0, t_ref=2.0, noise=2.0, i_ext=2.0)
    net.add(exc, inh)
    net.add(sim.Projection(exc, exc, sim.FixedProbability(0.05), weight=lambda r, k: r.lognormal(0.0, 0.5, k),
                           delay=lambda r, k: r.integers(1, 20, k) * 0.1, seed=1),
            sim.Projection(exc, inh, sim.FixedProbability(0.05), weight=lambda r, k: r.lognormal(0.0, 0.5, k), delay=1.0, seed=2),
            sim.Projection(inh, exc, sim.FixedProbability(0.1), weight=lambda r, k: -r.lognormal(-2.0, 0.5, k), delay=0.5,
                           receptor="inh", seed=3))
    mon = net.add(sim.SpikeMonitor(exc))
    return net, mon


def determinism(backend):
    out = {}
    for tag, b in (("cpu", "cpu"), ("gpu1", backend), ("gpu2", backend)):
        net, mon = rand_net(b)
        t0 = time.perf_counter()
        net.run(300.0)
        st = net.state()
        out[tag] = dict(t=np.array(mon.t), i=np.array(mon.i), v=st["v"].copy(), secs=time.perf_counter() - t0)
    for x, y in (("cpu", "gpu1"), ("gpu1", "gpu2")):
        a, b = out[x], out[y]
        m = min(a["t"].size, b["t"].size)
        d = np.flatnonzero((a["t"][:m] != b["t"][:m]) | (a["i"][:m] != b["i"][:m]))
        first = float(a["t"][d[0]]) if d.size else (None if a["t"].size == b["t"].size else "length")
        print(f"DETERMINISM {x} vs {y}: spikes {a['t'].size} vs {b['t'].size}, first differing spike at {first}, "
              f"v bitwise-different {int((a['v'] != b['v']).sum())}/{a['v'].size}", flush=True)
    print("DETERMINISM seconds", {k: round(v["secs"], 2) for k, v in out.items()}, flush=True)


def overflow(backend):
    net, proj = dup_net(backend, 2000)
    net.add(sim.SpikeMonitor(net.populations[1]))
    net.run(10.0)
    print("OVERFLOW run finished; weights min/max", proj.weights.min(), proj.weights.max(), flush=True)


def reward(backend):
    n = int(os.environ.get("PROBE_N", "4000"))
    for every in (None, 1.0):
        net = sim.Network(dt=0.1, seed=1, backend=backend)
        pre = sim.PoissonInput(n, rate=10.0)
        post = sim.LIF(n, v_rest=-65.0, v_th=-55.0, v_reset=-65.0, t_ref=2.0, noise=2.0)
        net.add(pre, post)
        net.add_modulator("da", tau=200.0)
        net.add(sim.Projection(pre, post, sim.FixedProbability(0.25), weight=0.01, delay=1.0, seed=2,
                               plasticity=RewardModulatedSTDP(update_interval=10.0), modulator="da"))
        net.run(10.0)  # build and compile outside the timing
        t0 = time.perf_counter()
        if every is None:
            net.run(100.0)
        else:
            net.run(100.0, reward=lambda nt: nt.release("da", 0.1) if nt.step % 50 == 0 else None, reward_interval=every)
        print(f"REWARD synapses {net.projections[0].weights.size} reward_interval {every}: 100 ms in {time.perf_counter() - t0:.2f} s", flush=True)


PROBES = {"race": race, "determinism": determinism, "overflow": overflow, "reward": reward}

if __name__ == "__main__":
    backend, names = sys.argv[1], sys.argv[2:] or ["race", "determinism"]
    for name in names:
        PROBES[name](backend)
