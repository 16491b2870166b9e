"""COBA (Brette et al. 2007, benchmark 1: conductance-based LIF, Vogels & Abbott's network) in neuro.sim and in
Brian2, same run, one thread each.

4000 neurons (3200 excitatory, 800 inhibitory), 2 % random connectivity (the CUBA benchmark's), conductances
relative to the leak (10 nS): excitatory jumps 0.6 (6 nS), inhibitory 6.7 (67 nS), tau_e 5 ms, tau_i 10 ms,
E_e 0 mV, E_i -80 mV, E_l -60 mV, threshold -50 mV, reset -60 mV, 5 ms refractory, tau_m 20 ms, dt 0.1 ms;
potentials start uniform in [-60, -50] mV and conductances at Brian's example values (g_e ~ N(4, 1.5),
g_i ~ N(20, 12)), which start the self-sustained activity. Both sides integrate with exponential Euler.
Reports loop seconds per biological second in ``--pairs`` interleaved pairs (ratio: the median pair ratio,
``benchmarks/_pairs.py``) and both mean rates.

    python benchmarks/coba_vs_brian2.py [--quick] [--target numpy|cython|cpp_standalone] [--pairs 5]
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

from benchmarks._pairs import build_fields, interleave, summary_fields  # noqa: E402
from benchmarks.sim_vs_brian2 import _stretch, connectivity, time_brian2  # noqa: E402

W_E, W_I = 0.6, 6.7  # 6 nS and 67 nS over the 10 nS leak


def initial_state(n, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n) * 1.5 + 4.0, rng.standard_normal(n) * 12.0 + 20.0


def run_ours(n, duration, v0, pre, post, g0, backend="cpu"):
    from neuro import sim

    exc = pre < int(0.8 * n)
    net = sim.Network(dt=0.1, backend=backend)
    pop = sim.ConductanceLIF(n, tau_m=20.0, v_rest=-60.0, v_th=-50.0, v_reset=-60.0, t_ref=5.0, tau_e=5.0, tau_i=10.0,
                             e_exc=0.0, e_inh=-80.0, v_init=v0)
    net.add(pop, sim.Projection(pop, pop, (pre[exc], post[exc]), weight=W_E, receptor="exc"),
            sim.Projection(pop, pop, (pre[~exc], post[~exc]), weight=W_I, receptor="inh"))
    mon = net.add(sim.SpikeMonitor(pop))
    net.build()
    pop.g_e, pop.g_i = g0
    t0 = time.perf_counter()
    net.run(1.0, progress=False)  # JIT warm-up (cached after the first process)
    warm = time.perf_counter() - t0
    loop = _stretch(net, duration)
    return loop, warm, mon.count / n / ((duration + 1.0) / 1000), net


def run_brian2(n, duration, v0, pre, post, g0, target):
    import brian2 as b2

    warnings.filterwarnings("ignore")
    b2.prefs.codegen.target = "numpy" if target == "cpp_standalone" else target
    if target == "cpp_standalone":
        b2.set_device("cpp_standalone", build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    ms, mV = b2.ms, b2.mV
    b2.defaultclock.dt = 0.1 * ms
    eqs = """dv/dt = (ge*(Ee-v) + gi*(Ei-v) + (El-v))/taum : volt (unless refractory)
             dge/dt = -ge/taue : 1
             dgi/dt = -gi/taui : 1"""
    ns = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-60 * mV, Ee=0 * mV, Ei=-80 * mV)
    g = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exponential_euler", namespace=ns)
    g.v = v0 * mV
    g.ge, g.gi = g0
    exc = pre < int(0.8 * n)
    ce = b2.Synapses(g, g, on_pre=f"ge += {W_E}")
    ce.connect(i=pre[exc], j=post[exc])
    ci = b2.Synapses(g, g, on_pre=f"gi += {W_I}")
    ci.connect(i=pre[~exc], j=post[~exc])
    mon = b2.SpikeMonitor(g)
    return time_brian2(b2, b2.Network(g, ce, ci, mon), mon, n, duration, target, build_name="coba_vs_brian2")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 ms, 2 pairs (under a minute)")
    ap.add_argument("--target", choices=["numpy", "cython", "cpp_standalone"], default=None, help="Brian2 code generation target")
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--pairs", type=int, default=None, help="interleaved timing pairs (default 5, 2 with --quick)")
    ap.add_argument("--device", choices=["cpu", "cuda", "emulate"], default="cpu", help="our backend (Brian2 stays on one CPU thread)")
    args = ap.parse_args(argv)
    duration = 200.0 if args.quick else 1000.0
    args.pairs = args.pairs or (2 if args.quick else 5)
    target = args.target or "cpp_standalone"
    v0, pre, post = connectivity(args.n, 1)
    g0 = initial_state(args.n, 2)
    _, warm, rate, net = run_ours(args.n, duration, v0, pre, post, g0, backend=args.device)
    try:
        _, peer_warm, peer_rate, rerun = run_brian2(args.n, duration, v0, pre, post, g0, target)
        peer_name = f"brian2-{target}"
    except Exception as exc:  # noqa: BLE001 - report the peer as missing rather than crash
        print(f"brian2 unavailable: {exc}", file=sys.stderr)
        peer_warm, peer_rate, peer_name = float("nan"), float("nan"), "brian2 (unavailable)"
        rerun = lambda: float("nan")  # noqa: E731
    pairs = interleave(lambda: _stretch(net, duration), rerun, args.pairs)
    per_s = 1000.0 / duration
    for o, p in zip(pairs["ours_runs"], pairs["peer_runs"]):
        print(f"pair: ours {o * per_s:.4f}  {peer_name} {p * per_s:.4f} s per biological s  (ratio {o / p:.3f})")
    result = {
        "name": "coba_vs_brian2" + ("" if args.device == "cpu" else f"_{args.device}"), "device": args.device,
        "peer": peer_name, **summary_fields(pairs, per_s), "unit": "seconds of loop per biological second",
        "network": "COBA (Brette et al. 2007 benchmark 1): 4000 conductance-based LIF, 2 % connectivity, exponential Euler",
        "ours_warmup_s": round(warm, 2), "peer_warmup_s": round(peer_warm, 2), **build_fields(target), "rate_hz_ours": round(rate, 2),
        "rate_hz_peer": round(peer_rate, 2), "n_neurons": args.n, "biological_ms": duration, "dt_ms": 0.1, "threads": 1, "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
