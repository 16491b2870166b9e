"""CUBA (Vogels & Abbott 2005, Brian2's examples/CUBA.py) in neuro.sim and in Brian2, same run, one thread each.

Reports the simulation-loop time per second of biological time (ours after JIT warm-up, which is
reported apart — ``ours_warmup_s`` with the compiled loop in Numba's disk cache, ``ours_cold_warmup_s``
in a fresh process with an empty cache —; Brian2's after its code generation / compilation), the mean rates,
and a firing-rate sweep showing that our cost follows spike deliveries, not synapses. The two are timed in
``--pairs`` interleaved pairs (ours: the run goes on for another stretch; Brian2 C++ standalone: its compiled
binary runs again) and ``ratio`` is the median of the pair ratios (see ``benchmarks/_pairs.py``).

    python benchmarks/sim_vs_brian2.py [--quick] [--target numpy|cython|cpp_standalone] [--pairs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._pairs import build_fields, interleave, standalone_build, standalone_rerun, summary_fields  # noqa: E402


def connectivity(n, seed):
    rng = np.random.default_rng(seed)
    v0 = -60 + 10 * rng.random(n)
    pre, post = [], []
    for i in range(n):
        j = np.flatnonzero(rng.random(n) < 0.02)
        pre.append(np.full(j.size, i))
        post.append(j)
    return v0, np.concatenate(pre), np.concatenate(post)


def run_ours(n, duration, v0, pre, post, el=-49.0, repeats=1, backend="cpu"):
    from neuro import sim

    exc = pre < int(0.8 * n)
    net = sim.Network(dt=0.1, backend=backend)
    pop = sim.LIF(n, tau_m=20, v_rest=el, v_th=-50, v_reset=-60, t_ref=5, tau_e=5, tau_i=10, v_init=v0)
    net.add(pop, sim.Projection(pop, pop, (pre[exc], post[exc]), weight=1.62, receptor="exc"),
            sim.Projection(pop, pop, (pre[~exc], post[~exc]), weight=-9.0, receptor="inh"))
    mon = net.add(sim.SpikeMonitor(pop))
    t0 = time.perf_counter()
    net.run(1.0, progress=False)  # JIT warm-up (cached after the first process)
    warm = time.perf_counter() - t0
    loops = []
    for _ in range(repeats):  # the run goes on; the median of the consecutive stretches
        loops.append(_stretch(net, duration))
    total = repeats * duration + 1.0
    return float(np.median(loops)), warm, mon.count / n / (total / 1000), net.counts["synaptic_events"] * duration / total, net, mon


def _stretch(net, duration):
    """Seconds for the network to run another ``duration`` ms."""
    t0 = time.perf_counter()
    net.run(duration, progress=False)
    return time.perf_counter() - t0


def run_brian2(n, duration, v0, pre, post, target):
    import brian2 as b2

    warnings.filterwarnings("ignore")
    b2.prefs.codegen.target = "numpy" if target == "cpp_standalone" else target
    if target == "cpp_standalone":
        b2.set_device("cpp_standalone", build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    ms, mV = b2.ms, b2.mV
    b2.defaultclock.dt = 0.1 * ms
    eqs = """dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
             dge/dt = -ge/taue : volt
             dgi/dt = -gi/taui : volt"""
    ns = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-49 * mV)
    g = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact", namespace=ns)
    g.v = v0 * mV
    exc = pre < int(0.8 * n)
    ce = b2.Synapses(g, g, on_pre="ge += 1.62*mV")
    ce.connect(i=pre[exc], j=post[exc])
    ci = b2.Synapses(g, g, on_pre="gi += -9*mV")
    ci.connect(i=pre[~exc], j=post[~exc])
    mon = b2.SpikeMonitor(g)
    return time_brian2(b2, b2.Network(g, ce, ci, mon), mon, n, duration, target, build_name="sim_vs_brian2")


def time_brian2(b2, net, mon, n, duration, target, build_name=None):
    """Runs a Brian2 network for 1 ms + ``duration`` ms; returns (loop seconds of ``duration``, warm-up seconds, mean
    rate of ``mon``'s ``n`` neurons, a function that times another stretch: the standalone binary again, else the run
    going on). C++ standalone builds in a copy of the build kept under ``build_name`` (default: the script's name;
    see ``benchmarks/_pairs.py``), so an unchanged network is compiled once per machine."""
    ms = b2.ms
    t0 = time.perf_counter()
    if target == "cpp_standalone":
        net.run((duration + 1.0) * ms, profile=True)
        standalone_build(b2, build_name)
        total = time.perf_counter() - t0
        loop = float(sum(v for _, v in net.profiling_info) / b2.second) if net.profiling_info else total
        rerun = standalone_rerun(b2, net, duration / (duration + 1.0))
        return loop * duration / (duration + 1.0), total - loop, mon.num_spikes / n / ((duration + 1.0) / 1000), rerun
    net.run(1.0 * ms)  # code generation / compilation
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.run(duration * ms)
    loop = time.perf_counter() - t0
    rate = mon.num_spikes / n / ((duration + 1.0) / 1000)

    def rerun():  # the run goes on for another stretch
        t1 = time.perf_counter()
        net.run(duration * ms)
        return time.perf_counter() - t1

    return loop, warm, rate, rerun


def cold_warmup(n: int = 400) -> float:
    """Seconds of the first 1-ms run of a small CUBA network in a fresh process with an empty Numba cache
    (what the very first run on a machine pays; later processes load the compiled loop from the cache)."""
    import subprocess
    import tempfile

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (f"import sys; sys.path.insert(0, {root!r})\n"
            "from benchmarks.sim_vs_brian2 import connectivity, run_ours\n"
            f"v0, pre, post = connectivity({n}, 1)\n"
            f"print(run_ours({n}, 1.0, v0, pre, post)[1])")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def rate_sweep(n, duration, seed, backend="cpu"):
    """Cost per spike delivery at several firing rates (resting potential moves the rate)."""
    v0, pre, post = connectivity(n, seed)
    rows = []
    for el in (-51.0, -49.0, -47.0, -45.0):
        loop, _, rate, events = run_ours(n, duration, v0, pre, post, el=el, backend=backend)[:4]
        rows.append({"E_l_mV": el, "rate_hz": round(rate, 2), "loop_s": round(loop, 4), "synaptic_events": int(events)})
    ev = np.array([r["synaptic_events"] for r in rows], float)
    t = np.array([r["loop_s"] for r in rows])
    slope = np.polyfit(ev, t, 1)[0] if np.ptp(ev) > 0 else float("nan")
    return rows, 1e9 * slope


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 ms of CUBA, 2 pairs, a shorter rate sweep (under a minute)")
    ap.add_argument("--target", choices=["numpy", "cython", "cpp_standalone"], default=None, help="Brian2 code generation target")
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--pairs", type=int, default=None, help="interleaved timing pairs (default 5, 2 with --quick)")
    ap.add_argument("--device", choices=["cpu", "cuda", "emulate"], default="cpu",
                    help="our backend (cuda: the GPU kernels; Brian2 stays on one CPU thread)")
    args = ap.parse_args(argv)
    duration = 200.0 if args.quick else 1000.0
    args.pairs = args.pairs or (2 if args.quick else 5)
    target = args.target or "cpp_standalone"
    v0, pre, post = connectivity(args.n, 1)
    _, warm, rate, _, net, _ = run_ours(args.n, duration, v0, pre, post, repeats=1, backend=args.device)
    try:
        _, peer_warm, peer_rate, rerun = run_brian2(args.n, duration, v0, pre, post, target)
        peer_name = f"brian2-{target}"
    except Exception as exc:  # noqa: BLE001 - report the peer as missing rather than crash
        print(f"brian2 unavailable: {exc}", file=sys.stderr)
        peer_warm, peer_rate, peer_name = float("nan"), float("nan"), "brian2 (unavailable)"
        rerun = lambda: float("nan")  # noqa: E731
    pairs = interleave(lambda: _stretch(net, duration), rerun, args.pairs)
    per_s = 1000.0 / duration
    for o, p in zip(pairs["ours_runs"], pairs["peer_runs"]):
        print(f"pair: ours {o * per_s:.4f}  {peer_name} {p * per_s:.4f} s per biological s  (ratio {o / p:.3f})")
    sweep, ns_per_event = rate_sweep(args.n, duration / 2, 2, backend=args.device)
    for row in sweep:
        print(f"rate {row['rate_hz']:6.2f} Hz  loop {row['loop_s']:.3f} s  {row['synaptic_events']:>9} events")
    print(f"marginal cost per spike delivery: {ns_per_event:.1f} ns (slope of loop time against deliveries)")
    result = {
        "name": "sim_vs_brian2_cuba" + ("" if args.device == "cpu" else f"_{args.device}"), "device": args.device,
        "peer": peer_name, **summary_fields(pairs, per_s), "unit": "seconds of loop per biological second",
        "ours_warmup_s": round(warm, 2), "peer_warmup_s": round(peer_warm, 2), **build_fields(target), "rate_hz_ours": round(rate, 2),
        "rate_hz_peer": round(peer_rate, 2), "n_neurons": args.n, "biological_ms": duration, "threads": 1, "quick": args.quick,
        "rate_sweep": sweep, "marginal_ns_per_event": round(ns_per_event, 1),
    }
    if not args.quick and args.device == "cpu":
        result["ours_cold_warmup_s"] = round(cold_warmup(), 2)  # ours_warmup_s is with the compiled loop cached on disk
    print(json.dumps(result))


if __name__ == "__main__":
    main()
