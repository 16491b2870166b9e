"""The simulation loop on 2 threads against 1 thread, and against Brian2 C++ standalone with OpenMP on 2 threads.

The network is ``sim_scaling.py``'s CUBA-like network at 64k neurons (CUBA's neurons and synapses, 64 excitatory
and 16 inhibitory random inputs per neuron, ~5 Hz). ``Network(threads=2)`` runs the loop on two workers, each
updating half of the neurons and delivering into them (``engine_cpu.run_threads``); the benchmark first checks that the two runs give
the same spikes, then times them in interleaved pairs (2 threads, 1 thread, 2 threads, ...: each pair seconds apart,
under about the same load; see ``benchmarks/_pairs.py``), each network going on from where it was. The headline
``ratio`` is the median pair ratio of 2 threads over 1 thread. Brian2 C++ standalone is built with
``openmp_threads = 2`` on the same connectivity and its binary is run again against ours on 2 threads
(``ratio_vs_brian2``; its time is the sum of its code objects' profiled times, as in ``sim_vs_brian2.py``).

On a 2-core machine both threads need both cores: any other load on the machine slows the 2-thread runs far more
than the 1-thread runs (a thread that waits for a core stalls the step), so run this on a quiet machine.

    python benchmarks/sim_threads.py [--quick] [--n 64000] [--duration 200] [--pairs 5] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._pairs import build_fields, interleave, standalone_build, standalone_rerun  # noqa: E402
from benchmarks.sim_scaling import brian2_network, connectivity  # noqa: E402

THREADS = 2


def build_ours(n, seed, threads):
    from neuro import sim

    v0, pre, post = connectivity(n, seed)
    exc = pre < int(0.8 * n)
    net = sim.Network(dt=0.1, seed=seed, threads=threads)
    pop = sim.LIF(n, tau_m=20, v_rest=-49, v_th=-50, v_reset=-60, t_ref=5, tau_e=5, tau_i=10, v_init=v0)
    net.add(pop, sim.Projection(pop, pop, (pre[exc], post[exc]), weight=1.62, receptor="exc", multapses=True),
            sim.Projection(pop, pop, (pre[~exc], post[~exc]), weight=-9.0, receptor="inh", multapses=True))
    mon = net.add(sim.SpikeMonitor(pop))
    return net, mon


def stretch(net, duration):
    """A function running ``net`` on for ``duration`` ms and returning the seconds it took."""

    def run() -> float:
        t0 = time.perf_counter()
        net.run(duration, progress=False)
        return time.perf_counter() - t0

    return run


def build_brian2(n, duration, seed, threads):
    """Brian2 C++ standalone on ``threads`` OpenMP threads, built and run once; returns (rerun, rate in Hz)."""
    import brian2 as b2

    warnings.filterwarnings("ignore")
    b2.set_device("cpp_standalone", build_on_run=False)
    b2.device.reinit()
    b2.device.activate(build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = threads
    net, mon = brian2_network(b2, n, seed)
    net.run(duration * b2.ms, profile=True)
    standalone_build(b2, f"sim_threads_{n}_{threads}")
    return standalone_rerun(b2, net), int(mon.num_spikes) / n / (duration / 1000)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100-ms stretches, 3 pairs (under a minute once Brian2's build is kept)")
    ap.add_argument("--n", type=int, default=64000, help="neurons (default 64000)")
    ap.add_argument("--duration", type=float, default=None, help="biological ms per timed stretch (default 500, 100 with --quick)")
    ap.add_argument("--pairs", type=int, default=None, help="interleaved pairs (default 7, 3 with --quick)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-peer", action="store_true", help="skip Brian2")
    args = ap.parse_args(argv)
    if len(os.sched_getaffinity(0)) < THREADS:
        raise SystemExit(f"sim_threads needs {THREADS} cores, this process may use {len(os.sched_getaffinity(0))}")
    duration = args.duration or (100.0 if args.quick else 500.0)
    pairs = args.pairs or (3 if args.quick else 7)
    per_s = 1000.0 / duration
    nets = {}
    for th in (1, THREADS):
        net, mon = build_ours(args.n, args.seed, th)
        t0 = time.perf_counter()
        net.run(50.0, progress=False)  # build, JIT warm-up, and the spikes compared below
        nets[th] = (net, mon, time.perf_counter() - t0)
    same = bool(np.array_equal(nets[1][1].t, nets[THREADS][1].t) and np.array_equal(nets[1][1].i, nets[THREADS][1].i))
    if not same:
        raise SystemExit("sim_threads: 1 and 2 threads gave different spikes")
    spikes_checked = int(nets[1][1].i.size)
    res = interleave(stretch(nets[THREADS][0], duration), stretch(nets[1][0], duration), pairs)
    rate = nets[1][1].i.size / args.n / (nets[1][0].t / 1000)
    print(f"N {args.n}  rate {rate:.2f} Hz  {THREADS} threads {res['ours_s'] * per_s:.3f} s/bio-s  1 thread {res['peer_s'] * per_s:.3f} s/bio-s"
          f"  ratio {res['ratio']:.3f}  (pairs {[round(r, 3) for r in res['ratios']]})", file=sys.stderr, flush=True)
    result = {"name": "sim_threads", "unit": "seconds of loop per biological second", "quick": args.quick, "n_neurons": args.n,
              "synapses": args.n * 80, "biological_ms_per_stretch": duration, "threads": THREADS, "rate_hz": round(rate, 2),
              "same_spikes": same, "spikes_compared": spikes_checked,
              "ours_s": round(res["ours_s"] * per_s, 4), "peer": "neuro-1-thread", "peer_s": round(res["peer_s"] * per_s, 4),
              "ratio": round(res["ratio"], 3), "pair_ratios": [round(r, 3) for r in res["ratios"]],
              "load_avg_1min": round(os.getloadavg()[0], 2)}
    if not args.no_peer:
        try:
            rerun, b2_rate = build_brian2(args.n, duration, args.seed, THREADS)
        except Exception as exc:  # noqa: BLE001 - report the peer as missing rather than crash
            print(f"brian2 unavailable: {exc}", file=sys.stderr)
        else:
            vs = interleave(stretch(nets[THREADS][0], duration), rerun, pairs)
            print(f"brian2 cpp_standalone openmp {THREADS} threads: {vs['peer_s'] * per_s:.3f} s/bio-s (rate {b2_rate:.2f} Hz);"
                  f" ours {vs['ours_s'] * per_s:.3f}; ratio {vs['ratio']:.3f}", file=sys.stderr, flush=True)
            result.update({"brian2_openmp_s": round(vs["peer_s"] * per_s, 4), "brian2_rate_hz": round(b2_rate, 2),
                           "ratio_vs_brian2": round(vs["ratio"], 3), "pair_ratios_vs_brian2": [round(r, 3) for r in vs["ratios"]],
                           **build_fields("cpp_standalone")})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
