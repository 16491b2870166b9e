"""A parameter sweep of small Brunel networks: neuro.sweep on 2 Dask workers against Brian2 in a Python loop.

Each point of a g x eta grid is one Brunel (2000) network (``examples/sweep_brunel.py``'s model: N_E excitatory and
N_E / 4 inhibitory current-based LIF neurons with delta synapses, fixed in-degrees C_E = N_E / 10 and C_E / 4, 1.5 ms
delays, C_E inputs each from a pool of Poisson sources at eta * nu_thr). Its connectivity is drawn with NumPy from the
point's seed and given to both simulators as index arrays, so both run the same networks (the Poisson input and
initial potentials are drawn by each simulator, so the rates agree in distribution, not spike for spike).

* ours: ``neuro.sweep.sweep`` with ``workers=2`` (a Dask LocalCluster of two processes, one thread each); the time
  includes starting the cluster, importing neuro in the workers and closing it: what a user waits for. The same sweep
  run sequentially in this process is reported beside it (``ours_sequential_s``).
* peer: Brian2, the same points one after another in a Python loop (``--target``: ``cython``, compiled once and
  cached, or ``numpy``), each point a fresh ``Network`` (Brian2's advice for sweeps in runtime mode); its code
  generation / compilation is timed in a 1-point warm-up run before the timed loop.

``ratio`` = ours (2 workers) / peer. Times are seconds for the whole sweep; with ``--rounds R`` the three are timed in
R interleaved rounds and the medians reported (``benchmarks/_pairs.py``).

    python benchmarks/sweep_vs_brian2.py [--quick] [--target cython|numpy] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TAU_M, THETA, V_RESET, T_REF, DELAY = 20.0, 20.0, 10.0, 2.0, 1.5  # ms, mV


def network(g: float, eta: float, n_exc: int, seed: int) -> dict:
    """The point's sizes, weights, rates and connectivity (index arrays), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    n_inh = n_exc // 4
    n = n_exc + n_inh
    c_e, c_i = n_exc // 10, n_exc // 40
    j = 40.0 / c_e
    nu_ext = eta * THETA / (j * c_e * TAU_M) * 1000.0  # Hz

    def in_degree(n_pre, k, offset=0, no_self=False):
        """``k`` distinct presynaptic neurons among ``offset .. offset + n_pre - 1`` for every neuron (itself excluded)."""
        pre = []
        for post in range(n):
            own = post - offset if no_self and offset <= post < offset + n_pre else None
            d = rng.choice(n_pre - (own is not None), k, replace=False)
            if own is not None:
                d[d >= own] += 1
            pre.append(offset + d)
        return np.concatenate(pre), np.repeat(np.arange(n), k)

    rec_pre_e, rec_post_e = in_degree(n_exc, c_e, 0, no_self=True)
    rec_pre_i, rec_post_i = in_degree(n_inh, c_i, n_exc, no_self=True)
    ext_pre, ext_post = in_degree(n, c_e)
    return dict(n=n, n_exc=n_exc, j=j, g=g, nu_ext=nu_ext, exc=(rec_pre_e, rec_post_e), inh=(rec_pre_i, rec_post_i), ext=(ext_pre, ext_post))


def ours_point(g: float, eta: float, n_exc: int, duration: float, seed: int) -> dict:
    from neuro import sim

    p = network(g, eta, n_exc, seed)
    net = sim.Network(dt=0.1, seed=seed)
    pop = sim.LIF(p["n"], tau_m=TAU_M, v_rest=0.0, v_th=THETA, v_reset=V_RESET, t_ref=T_REF, v_init=lambda rng, k: rng.uniform(0.0, THETA, k))
    ext = sim.PoissonInput(p["n"], rate=p["nu_ext"])
    net.add(pop, ext,
            sim.Projection(pop, pop, p["exc"], weight=p["j"], delay=DELAY, receptor="v"),
            sim.Projection(pop, pop, p["inh"], weight=-g * p["j"], delay=DELAY, receptor="v"),
            sim.Projection(ext, pop, p["ext"], weight=p["j"], receptor="v"))
    mon = net.add(sim.SpikeMonitor(pop))
    net.run(duration, progress=False)
    exc = int(np.count_nonzero(mon.i < n_exc))
    return {"rate_exc": exc / n_exc / (duration / 1000.0)}


def brian2_point(b2, g: float, eta: float, n_exc: int, duration: float, seed: int) -> dict:
    p = network(g, eta, n_exc, seed)
    ms, mV = b2.ms, b2.mV
    b2.seed(seed)
    b2.defaultclock.dt = 0.1 * ms
    ns = dict(tau=TAU_M * ms, theta=THETA * mV, vr=V_RESET * mV)
    pop = b2.NeuronGroup(p["n"], "dv/dt = -v/tau : volt (unless refractory)", threshold="v > theta", reset="v = vr",
                         refractory=T_REF * ms, method="exact", namespace=ns)
    pop.v = np.random.default_rng(seed).uniform(0.0, THETA, p["n"]) * mV
    ext = b2.PoissonGroup(p["n"], rates=p["nu_ext"] * b2.Hz)
    syn = []
    for src, (i, j), w, delay in ((pop, p["exc"], p["j"], DELAY), (pop, p["inh"], -g * p["j"], DELAY), (ext, p["ext"], p["j"], 0.0)):
        s = b2.Synapses(src, pop, model="w : volt (shared, constant)", on_pre="v += w", delay=delay * ms)  # the same code at every point
        s.connect(i=i, j=j)
        s.w = w * mV
        syn.append(s)
    mon = b2.SpikeMonitor(pop)
    net = b2.Network(pop, ext, *syn, mon)
    net.run(duration * ms)
    exc = int(np.count_nonzero(np.asarray(mon.i) < n_exc))
    return {"rate_exc": exc / n_exc / (duration / 1000.0)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 x 2 grid of 500-neuron networks, 300 ms each (under a minute once Brian2's cache is warm)")
    ap.add_argument("--target", choices=["cython", "numpy"], default="cython", help="Brian2 code generation target")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved timing rounds (medians reported)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    import brian2 as b2

    from neuro.sweep import sweep

    warnings.filterwarnings("ignore")
    b2.prefs.codegen.target = args.target
    b2.prefs.logging.console_log_level = "ERROR"
    if args.quick:
        n_exc, duration, grid = 400, 300.0, {"g": [3.0, 5.0, 7.0], "eta": [1.0, 2.0]}
    else:
        n_exc, duration, grid = 1000, 1000.0, {"g": [2.0, 3.0, 4.0, 5.0, 6.0, 7.0], "eta": [1.0, 2.0, 4.0]}
    fixed = {"n_exc": n_exc, "duration": duration}
    n_points = len(grid["g"]) * len(grid["eta"])

    t0 = time.perf_counter()  # Brian2's code generation / compilation, apart (cached between processes with cython)
    brian2_point(b2, 5.0, 1.0, n_exc, 1.0, 0)
    peer_warm = time.perf_counter() - t0
    ours_point(5.0, 1.0, n_exc, 1.0, 0)  # our compiled loop loaded into this process (for the sequential run)

    def peer_point(g, eta, n_exc, duration, seed):
        return brian2_point(b2, g, eta, n_exc, duration, seed)

    runs = {"ours": [], "peer": [], "seq": []}
    tables = {}
    for _ in range(max(1, args.rounds)):
        for key, kw, fn in (("ours", {"workers": args.workers}, ours_point), ("peer", {}, peer_point), ("seq", {}, ours_point)):
            t0 = time.perf_counter()
            tables[key] = sweep(fn, grid, fixed=fixed, seed=1, progress=False, as_frame=False, **kw)
            runs[key].append(time.perf_counter() - t0)
    for a, b in zip(tables["ours"], tables["peer"]):
        print(f"g {a['g']:.1f} eta {a['eta']:.1f}: rate ours {a['rate_exc']:7.2f} Hz  brian2 {b['rate_exc']:7.2f} Hz")
    for k, v in runs.items():
        print(f"{k}: {', '.join(f'{t:.2f}' for t in v)} s")
    ours_s, peer_s = statistics.median(runs["ours"]), statistics.median(runs["peer"])
    rel = [abs(a["rate_exc"] - b["rate_exc"]) / max(b["rate_exc"], 1e-9) for a, b in zip(tables["ours"], tables["peer"])]
    result = {
        "name": "sweep_vs_brian2", "ours_s": round(ours_s, 3), "peer": f"brian2-{args.target} (python loop)", "peer_s": round(peer_s, 3),
        "ratio": round(ours_s / peer_s, 3), "unit": "seconds for the whole sweep", "ours_workers": args.workers,
        "ours_sequential_s": round(statistics.median(runs["seq"]), 3), "peer_warmup_s": round(peer_warm, 2), "points": n_points,
        "neurons_per_point": n_exc + n_exc // 4, "biological_ms": duration, "rounds": max(1, args.rounds),
        "ours_runs_s": [round(t, 3) for t in runs["ours"]], "peer_runs_s": [round(t, 3) for t in runs["peer"]],
        "rates_hz_ours": [round(r["rate_exc"], 2) for r in tables["ours"]], "rates_hz_peer": [round(r["rate_exc"], 2) for r in tables["peer"]],
        "median_rate_rel_diff": round(float(np.median(rel)), 3), "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
