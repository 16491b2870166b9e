"""Izhikevich 2003 network (1000 neurons, all-to-all, dt 1 ms) in neuro.sim and in Brian2, same matrices, one thread each.

Our network is :func:`neuro.sim.classic.izhikevich2003`; Brian2's is :func:`brian2_izhikevich2003` below, the
published MATLAB step written out in a ``run_regularly`` (two 0.5 ms half-steps for v, one step for u, fresh
``randn()`` noise each step), threshold ``v >= 30``, reset ``v = c; u += d``, and synapses adding S to ``Isyn``
at the end of the spike's step (so it drives the next step). Reports loop seconds per biological second
(ours after JIT warm-up, reported apart; Brian2's after code generation / compilation), rates and the
spectral peak of the population rate. The two are timed in ``--pairs`` interleaved pairs (ours: a fresh run of
the same network; Brian2 C++ standalone: its compiled binary runs again) and ``ratio`` is the median of the pair
ratios (``benchmarks/_pairs.py``).

    python benchmarks/izhikevich_vs_brian2.py [--quick] [--target numpy|cython|cpp_standalone] [--pairs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._pairs import build_fields, interleave, standalone_build, standalone_rerun, summary_fields  # noqa: E402

# the published step (Izhikevich 2003), in Brian2 abstract code; I_drive is the thalamic input of this step.
# One operation per statement: Brian2 passes expressions through sympy, which reorders sums and products
# (0.04*(v*v) instead of (0.04*v)*v), and a different rounding would part the two chaotic networks after a
# few hundred ms; written this way, both compute the same floating-point operations as neuro.sim's loop.
HALF_STEP = """
x = 0.04*v
x = x*v
x = x + 5*v
x = x + 140
x = x - u
x = x + I_tot
v = v + 0.5*x
"""
STEP = "I_tot = I_drive + Isyn\n" + HALF_STEP + HALF_STEP + """
u = u + a*(b*v - u)
Isyn = 0
"""


def brian2_izhikevich2003(params, input_table=None, monitor=True):
    """The network in Brian2 (the current device and target): returns ``(objects, spike_monitor)``.

    Noise is ``sigma*randn()`` each step; ``input_table`` (``[steps, n]``) replays a fixed input instead
    (a ``TimedArray``). Call ``b2.start_scope()`` and set ``defaultclock.dt = 1*ms`` before.
    """
    import brian2 as b2

    S = np.asarray(params["S"])
    n, n_exc = S.shape[0], int(params["n_exc"])
    eqs = """a : 1 (constant)
             b : 1 (constant)
             c : 1 (constant)
             d : 1 (constant)
             sigma : 1 (constant)
             v : 1
             u : 1
             Isyn : 1
             I_tot : 1"""
    ns = {}
    if input_table is None:
        drive = "sigma*randn()"
    else:
        ns["I_in"] = b2.TimedArray(np.asarray(input_table, dtype=np.float64), dt=1 * b2.ms)
        drive = "I_in(t, i)"
    g = b2.NeuronGroup(n, eqs, threshold="v >= 30", reset="v = c; u = u + d", namespace=ns, name="izh")
    g.a, g.b, g.c, g.d, g.sigma = params["a"], params["b"], params["c"], params["d"], params["sigma"]
    g.v = -65.0
    g.u = params["b"] * -65.0
    g.run_regularly(STEP.replace("I_drive", drive), dt=1 * b2.ms, when="groups", name="izh_step")
    objs = [g]
    for name, lo, hi in (("exc", 0, n_exc), ("inh", n_exc, n)):
        pre, post = np.divmod(np.arange((hi - lo) * n, dtype=np.int64), n)
        pre += lo
        syn = b2.Synapses(g, g, "w : 1 (constant)", on_pre="Isyn_post += w", name=f"syn_{name}")
        syn.connect(i=pre, j=post)
        syn.w = S[post, pre]
        objs.append(syn)
    mon = b2.SpikeMonitor(g) if monitor else None
    if mon is not None:
        objs.append(mon)
    return objs, mon


def run_ours(params, duration, seed, backend="cpu"):
    from neuro.sim import classic

    net, _, mon = classic.izhikevich2003(params, seed=seed, backend=backend)
    t0 = time.perf_counter()
    net.run(1.0, progress=False)  # JIT warm-up (cached after the first process)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.run(duration, progress=False)
    loop = time.perf_counter() - t0
    return loop, warm, mon.t.copy(), net.counts["synaptic_events"]


def run_brian2(params, duration, target, seed):
    import brian2 as b2

    warnings.filterwarnings("ignore")
    b2.prefs.codegen.target = "numpy" if target == "cpp_standalone" else target
    if target == "cpp_standalone":
        b2.set_device("cpp_standalone", build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    b2.start_scope()
    b2.seed(seed)
    b2.defaultclock.dt = 1 * b2.ms
    objs, mon = brian2_izhikevich2003(params)
    net = b2.Network(*objs)
    t0 = time.perf_counter()
    if target == "cpp_standalone":
        net.run((duration + 1.0) * b2.ms, profile=True)
        standalone_build(b2, "izhikevich_vs_brian2")
        total = time.perf_counter() - t0
        loop = float(sum(v for _, v in net.profiling_info) / b2.second) if net.profiling_info else total
        return loop * duration / (duration + 1.0), total - loop, np.asarray(mon.t / b2.ms), standalone_rerun(b2, net, duration / (duration + 1.0))
    net.run(1.0 * b2.ms)  # code generation / compilation
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.run(duration * b2.ms)
    loop = time.perf_counter() - t0
    spikes = np.asarray(mon.t / b2.ms)

    def rerun():  # the run goes on for another stretch
        t1 = time.perf_counter()
        net.run(duration * b2.ms)
        return time.perf_counter() - t1

    return loop, warm, spikes, rerun


def spectral_peak(times, duration):
    from neuro.sim.classic import population_spectrum

    f, p = population_spectrum(times, duration)
    band = (f >= 5) & (f <= 200)
    return float(f[band][np.argmax(p[band])])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="500 ms, 2 pairs (under a minute)")
    ap.add_argument("--target", choices=["numpy", "cython", "cpp_standalone"], default=None, help="Brian2 code generation target")
    ap.add_argument("--duration", type=float, default=None, help="biological ms (default 1000, 500 with --quick)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=None, help="interleaved timing pairs (default 5, 2 with --quick)")
    ap.add_argument("--device", choices=["cpu", "cuda", "emulate"], default="cpu", help="our simulator backend (Brian2 stays on one CPU thread)")
    args = ap.parse_args(argv)
    duration = args.duration or (500.0 if args.quick else 1000.0)
    target = args.target or "cpp_standalone"
    args.pairs = args.pairs or (2 if args.quick else 5)
    from neuro.sim.classic import izhikevich2003_parameters

    params = izhikevich2003_parameters(seed=args.seed)
    n = params["S"].shape[0]
    _, warm, ot, events = run_ours(params, duration, args.seed, args.device)
    total = duration + 1.0
    try:
        _, peer_warm, bt, rerun = run_brian2(params, duration, target, args.seed)
        peer_name = f"brian2-{target}"
    except Exception as exc:  # noqa: BLE001 - report the peer as missing rather than crash
        print(f"brian2 unavailable: {exc}", file=sys.stderr)
        peer_warm, bt, peer_name = float("nan"), None, "brian2 (unavailable)"
        rerun = lambda: float("nan")  # noqa: E731
    pairs = interleave(lambda: run_ours(params, duration, args.seed, args.device)[0], rerun, args.pairs)
    per_s = 1000.0 / duration
    for o, p in zip(pairs["ours_runs"], pairs["peer_runs"]):
        print(f"pair: ours {o * per_s:.4f}  {peer_name} {p * per_s:.4f} s per biological s  (ratio {o / p:.3f})")
    rate_o = ot.size / n / (total / 1000)
    result = {
        "name": "izhikevich2003_vs_brian2" + ("" if args.device == "cpu" else f"_{args.device}"), "device": args.device,
        "peer": peer_name, **summary_fields(pairs, per_s), "unit": "seconds of loop per biological second",
        "ours_warmup_s": round(warm, 2), "peer_warmup_s": round(peer_warm, 2), **build_fields(target), "rate_hz_ours": round(rate_o, 2),
        "rate_hz_peer": round(bt.size / n / (total / 1000), 2) if bt is not None else None,
        "peak_hz_ours": round(spectral_peak(ot, total), 1), "peak_hz_peer": round(spectral_peak(bt, total), 1) if bt is not None else None,
        "synaptic_events": int(events), "n_neurons": n, "biological_ms": duration, "threads": 1,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # here, not at import: the tests import brian2_izhikevich2003
    main()
