"""A parameter sweep of small Brunel networks: neuro.sweep (2 Dask workers, and sequential) against Brian2's efficient loop.

Each point of a g x eta grid runs one Brunel (2000) network (``examples/sweep_brunel.py``'s model: N_E excitatory and
N_E / 4 inhibitory current-based LIF neurons with delta synapses, fixed in-degrees C_E = N_E / 10 and C_E / 4, 1.5 ms
delays, C_E inputs each from a pool of Poisson sources at eta * nu_thr). The connectivity is drawn once with NumPy from
``CONN_SEED`` and given to both simulators as index arrays, so every point of both sweeps runs the same network; the
points differ in the inhibitory weight (g), the Poisson rate (eta) and the seed of the Poisson input and initial
potentials (each simulator draws these itself, so the rates agree in distribution, not spike for spike).

* ours: ``neuro.sweep.sweep`` over a function that builds and runs the point's network, (a) with ``workers=2`` (a Dask
  LocalCluster of two processes, one thread each; the time includes starting the cluster, importing neuro in the
  workers and closing it: what a user waits for) and (b) sequentially in this process (``ours_sequential_s``; our
  compiled loop loaded once before timing, ``ours_warmup_s``).
* peer: Brian2 the way a Brian2 user writes an efficient sweep: one ``Network`` built once with the weights and rates as
  Brian2 variables (``w : volt (shared, constant)``, the ``PoissonGroup``'s ``rates`` array), ``store()``-d, and for
  every point ``restore()``, the point's values set, ``run()`` -- one set of generated code serves all points. Its
  construction, code generation and (``cython``) compilation are timed apart in a 1 ms warm-up run
  (``peer_setup_s``), like our warm-up. ``--target``: ``numpy`` (the ``--quick`` default: nothing to compile, so a
  fresh machine stays under a minute) or ``cython`` (the full run's default; its first compilation on a machine takes
  minutes, later runs load Brian2's disk cache).

``ratio`` = ours (2 workers) / peer; ``ratio_sequential`` = ours sequential / peer, the single-process comparison.
Times are seconds for the whole sweep; with ``--rounds R`` the three are timed in R interleaved rounds and the medians
reported.

    python benchmarks/sweep_vs_brian2.py [--quick] [--target cython|numpy] [--rounds 1]
"""

from __future__ import annotations

import argparse
import functools
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
CONN_SEED = 1


@functools.lru_cache(maxsize=4)
def connectivity(n_exc: int, conn_seed: int) -> dict:
    """Sizes, the weight J and the connectivity (index arrays) of the network with ``n_exc`` excitatory neurons."""
    rng = np.random.default_rng(conn_seed)
    n_inh = n_exc // 4
    n = n_exc + n_inh
    c_e, c_i = n_exc // 10, n_exc // 40

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

    return dict(n=n, n_exc=n_exc, c_e=c_e, j=40.0 / c_e, exc=in_degree(n_exc, c_e, 0, no_self=True),
                inh=in_degree(n_inh, c_i, n_exc, no_self=True), ext=in_degree(n, c_e))


def nu_ext(eta: float, p: dict) -> float:
    """The rate of each Poisson source (Hz): eta times the rate that brings the mean input to threshold."""
    return eta * THETA / (p["j"] * p["c_e"] * TAU_M) * 1000.0


def ours_point(g: float, eta: float, n_exc: int, duration: float, conn_seed: int, seed: int) -> dict:
    """Builds and runs one point on neuro.sim; the excitatory population's mean rate (Hz)."""
    from neuro import sim

    p = connectivity(n_exc, conn_seed)
    net = sim.Network(dt=0.1, seed=seed)
    pop = sim.LIF(p["n"], tau_m=TAU_M, v_rest=0.0, v_th=THETA, v_reset=V_RESET, t_ref=T_REF, v_init=lambda rng, k: rng.uniform(0.0, THETA, k))
    ext = sim.PoissonInput(p["n"], rate=nu_ext(eta, p))
    net.add(pop, ext,
            sim.Projection(pop, pop, p["exc"], weight=p["j"], delay=DELAY, receptor="v"),
            sim.Projection(pop, pop, p["inh"], weight=-g * p["j"], delay=DELAY, receptor="v"),
            sim.Projection(ext, pop, p["ext"], weight=p["j"], receptor="v"))
    mon = net.add(sim.SpikeMonitor(pop))
    net.run(duration, progress=False)
    return {"rate_exc": int(np.count_nonzero(mon.i < n_exc)) / n_exc / (duration / 1000.0)}


class Brian2Sweep:
    """One Brian2 network built once and stored; calling it runs one point (restore, set g / eta / seed, run)."""

    def __init__(self, b2, n_exc: int, conn_seed: int):
        self.b2, self.n_exc, self.conn_seed = b2, n_exc, conn_seed
        p = self.p = connectivity(n_exc, conn_seed)
        ms, mV = b2.ms, b2.mV
        b2.defaultclock.dt = 0.1 * ms
        ns = dict(tau=TAU_M * ms, theta=THETA * mV, vr=V_RESET * mV)  # constants of every point
        self.pop = b2.NeuronGroup(p["n"], "dv/dt = -v/tau : volt (unless refractory)", threshold="v > theta", reset="v = vr",
                                  refractory=T_REF * ms, method="exact", namespace=ns, name="brunel")
        self.ext = b2.PoissonGroup(p["n"], rates=0.0 * b2.Hz, name="poisson")  # ``rates`` is an array variable
        self.syn = {}
        for key, src, delay in (("exc", self.pop, DELAY), ("inh", self.pop, DELAY), ("ext", self.ext, 0.0)):
            s = b2.Synapses(src, self.pop, model="w : volt (shared, constant)", on_pre="v += w", delay=delay * ms, name=f"syn_{key}")
            s.connect(i=p[key][0], j=p[key][1])
            self.syn[key] = s
        self.mon = b2.SpikeMonitor(self.pop, name="spikes")
        self.net = b2.Network(self.pop, self.ext, *self.syn.values(), self.mon)
        self.net.store("initial")

    def __call__(self, g: float, eta: float, n_exc: int, duration: float, conn_seed: int, seed: int) -> dict:
        if (n_exc, conn_seed) != (self.n_exc, self.conn_seed):
            raise ValueError(f"this Brian2 network has n_exc={self.n_exc}, conn_seed={self.conn_seed}; got {n_exc}, {conn_seed}")
        b2, p, mV = self.b2, self.p, self.b2.mV
        self.net.restore("initial")
        b2.seed(seed)
        self.pop.v = np.random.default_rng(seed).uniform(0.0, THETA, p["n"]) * mV
        self.ext.rates = nu_ext(eta, p) * b2.Hz
        self.syn["exc"].w = p["j"] * mV
        self.syn["inh"].w = -g * p["j"] * mV
        self.syn["ext"].w = p["j"] * mV
        self.net.run(duration * b2.ms)
        return {"rate_exc": int(np.count_nonzero(np.asarray(self.mon.i) < n_exc)) / n_exc / (duration / 1000.0)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 x 2 grid of 500-neuron networks, 200 ms each, Brian2 numpy target")
    ap.add_argument("--target", choices=["cython", "numpy"], default=None, help="Brian2 code generation target (default: numpy with --quick, else cython)")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved timing rounds (medians reported)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    target = args.target or ("numpy" if args.quick else "cython")
    import brian2 as b2

    from neuro.sweep import sweep

    warnings.filterwarnings("ignore")
    b2.prefs.codegen.target = target
    b2.prefs.logging.console_log_level = "ERROR"
    if args.quick:
        n_exc, duration, grid = 400, 200.0, {"g": [3.0, 5.0, 7.0], "eta": [1.0, 2.0]}
    else:
        n_exc, duration, grid = 1000, 1000.0, {"g": [2.0, 3.0, 4.0, 5.0, 6.0, 7.0], "eta": [1.0, 2.0, 4.0]}
    fixed = {"n_exc": n_exc, "duration": duration, "conn_seed": CONN_SEED}
    n_points = len(grid["g"]) * len(grid["eta"])

    t0 = time.perf_counter()  # Brian2: the network built once, its code generated (and compiled) in a 1 ms run
    peer_point = Brian2Sweep(b2, n_exc, CONN_SEED)
    peer_point(5.0, 1.0, n_exc, 1.0, CONN_SEED, 0)
    peer_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours_point(5.0, 1.0, n_exc, 1.0, CONN_SEED, 0)  # our compiled loop loaded into this process (for the sequential run)
    ours_warm = time.perf_counter() - t0
    print(f"warm-up: brian2-{target} {peer_setup:.2f} s, ours {ours_warm:.2f} s", flush=True)

    runs = {"ours": [], "peer": [], "seq": []}
    tables = {}
    for _ in range(max(1, args.rounds)):
        for key, kw, fn in (("ours", {"workers": args.workers}, ours_point), ("peer", {}, peer_point), ("seq", {}, ours_point)):
            t0 = time.perf_counter()
            tables[key] = sweep(fn, grid, fixed=fixed, seed=1, progress=True, as_frame=False, **kw)
            runs[key].append(time.perf_counter() - t0)
    for a, b in zip(tables["ours"], tables["peer"]):
        print(f"g {a['g']:.1f} eta {a['eta']:.1f}: rate ours {a['rate_exc']:7.2f} Hz  brian2 {b['rate_exc']:7.2f} Hz")
    for k, v in runs.items():
        print(f"{k}: {', '.join(f'{t:.2f}' for t in v)} s")
    ours_s, peer_s, seq_s = (statistics.median(runs[k]) for k in ("ours", "peer", "seq"))
    rel = [abs(a["rate_exc"] - b["rate_exc"]) / max(b["rate_exc"], 1e-9) for a, b in zip(tables["ours"], tables["peer"])]
    result = {
        "name": "sweep_vs_brian2", "ours_s": round(ours_s, 3), "peer": f"brian2-{target} (one network, store/restore loop)",
        "peer_s": round(peer_s, 3), "ratio": round(ours_s / peer_s, 3), "unit": "seconds for the whole sweep", "ours_workers": args.workers,
        "ours_sequential_s": round(seq_s, 3), "ratio_sequential": round(seq_s / peer_s, 3),
        "ours_warmup_s": round(ours_warm, 2), "peer_setup_s": round(peer_setup, 2), "points": n_points,
        "neurons_per_point": n_exc + n_exc // 4, "biological_ms": duration, "rounds": max(1, args.rounds),
        "ours_runs_s": [round(t, 3) for t in runs["ours"]], "ours_sequential_runs_s": [round(t, 3) for t in runs["seq"]],
        "peer_runs_s": [round(t, 3) for t in runs["peer"]],
        "rates_hz_ours": [round(r["rate_exc"], 2) for r in tables["ours"]], "rates_hz_peer": [round(r["rate_exc"], 2) for r in tables["peer"]],
        "median_rate_rel_diff": round(float(np.median(rel)), 3), "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
