"""COBAHH (Brette et al. 2007, benchmark 3: Hodgkin-Huxley neurons with conductance synapses, Brian2's COBAHH example)
in neuro.sim — the model given only as a definition (:func:`neuro.dynamics.library.hodgkin_huxley`, generated kernel) —
and in Brian2, same run, one thread each.

4000 neurons (3200 excitatory, 800 inhibitory), 2 % random connectivity, excitatory jumps of g_e 6 nS, inhibitory
of g_i 67 nS, exponential Euler, dt 0.1 ms, 3 ms refractory; v ~ E_l + N(-5, 5) mV, g_e ~ 10 N(4, 1.5) nS,
g_i ~ 10 N(20, 12) nS (the example's initialisation, drawn once and given to both). Reports loop seconds per
biological second in interleaved pairs (ratio: the median pair ratio, ``benchmarks/_pairs.py``) and both mean rates.

    python benchmarks/cobahh_vs_brian2.py [--quick] [--target numpy|cython|cpp_standalone] [--pairs 5]
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

from benchmarks._pairs import interleave, summary_fields  # noqa: E402
from benchmarks.sim_vs_brian2 import _stretch, connectivity, time_brian2  # noqa: E402

W_E, W_I = 6.0, 67.0  # nS


def initial_state(n, seed):
    rng = np.random.default_rng(seed)
    v = -60.0 + rng.standard_normal(n) * 5.0 - 5.0
    return v, (rng.standard_normal(n) * 1.5 + 4.0) * 10.0, (rng.standard_normal(n) * 12.0 + 20.0) * 10.0


def run_ours(n, duration, pre, post, init, backend="cpu"):
    from neuro import sim
    from neuro.dynamics import library

    v, ge, gi = init
    exc = pre < int(0.8 * n)
    net = sim.Network(dt=0.1, backend=backend)
    pop = sim.Population(n, library.hodgkin_huxley(), v=v, g_e=ge, g_i=gi)
    net.add(pop, sim.Projection(pop, pop, (pre[exc], post[exc]), weight=W_E, receptor="exc"),
            sim.Projection(pop, pop, (pre[~exc], post[~exc]), weight=W_I, receptor="inh"))
    mon = net.add(sim.SpikeMonitor(pop))
    t0 = time.perf_counter()
    net.run(1.0, progress=False)  # build, model code generation and JIT (cached after the first process)
    warm = time.perf_counter() - t0
    loop = _stretch(net, duration)
    return loop, warm, mon.count / n / ((duration + 1.0) / 1000), net


def run_brian2(n, duration, pre, post, init, target):
    import brian2 as b2

    warnings.filterwarnings("ignore")
    b2.prefs.codegen.target = "numpy" if target == "cpp_standalone" else target
    if target == "cpp_standalone":
        b2.set_device("cpp_standalone", build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    ms, mV, nS, umetre, cm, ufarad, siemens, msiemens = b2.ms, b2.mV, b2.nS, b2.umetre, b2.cm, b2.ufarad, b2.siemens, b2.msiemens
    b2.defaultclock.dt = 0.1 * ms
    area = 20000 * umetre**2
    ns = dict(Cm=(1 * ufarad * cm**-2) * area, gl=(5e-5 * siemens * cm**-2) * area, El=-60 * mV, EK=-90 * mV, ENa=50 * mV,
              g_na=(100 * msiemens * cm**-2) * area, g_kd=(30 * msiemens * cm**-2) * area, VT=-63 * mV, taue=5 * ms, taui=10 * ms,
              Ee=0 * mV, Ei=-80 * mV)
    eqs = """dv/dt = (gl*(El-v)+ge*(Ee-v)+gi*(Ei-v)-g_na*(m*m*m)*h*(v-ENa)-g_kd*(n*n*n*n)*(v-EK))/Cm : volt
             dm/dt = alpha_m*(1-m)-beta_m*m : 1
             dn/dt = alpha_n*(1-n)-beta_n*n : 1
             dh/dt = alpha_h*(1-h)-beta_h*h : 1
             dge/dt = -ge*(1./taue) : siemens
             dgi/dt = -gi*(1./taui) : siemens
             alpha_m = 0.32*(mV**-1)*4*mV/exprel((13*mV-v+VT)/(4*mV))/ms : Hz
             beta_m = 0.28*(mV**-1)*5*mV/exprel((v-VT-40*mV)/(5*mV))/ms : Hz
             alpha_h = 0.128*exp((17*mV-v+VT)/(18*mV))/ms : Hz
             beta_h = 4./(1+exp((40*mV-v+VT)/(5*mV)))/ms : Hz
             alpha_n = 0.032*(mV**-1)*5*mV/exprel((15*mV-v+VT)/(5*mV))/ms : Hz
             beta_n = .5*exp((10*mV-v+VT)/(40*mV))/ms : Hz"""
    g = b2.NeuronGroup(n, eqs, threshold="v>-20*mV", refractory=3 * ms, method="exponential_euler", namespace=ns)
    v, ge, gi = init
    g.v, g.ge, g.gi = v * mV, ge * nS, gi * nS
    exc = pre < int(0.8 * n)
    ce = b2.Synapses(g, g, on_pre="ge += we", namespace=dict(we=W_E * nS))
    ce.connect(i=pre[exc], j=post[exc])
    ci = b2.Synapses(g, g, on_pre="gi += wi", namespace=dict(wi=W_I * nS))
    ci.connect(i=pre[~exc], j=post[~exc])
    mon = b2.SpikeMonitor(g)
    return time_brian2(b2, b2.Network(g, ce, ci, mon), mon, n, duration, target)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1000 neurons (8 %% connectivity), 100 ms, one pair (under a minute)")
    ap.add_argument("--target", choices=["numpy", "cython", "cpp_standalone"], default="cpp_standalone", help="Brian2 code generation target")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--pairs", type=int, default=None, help="interleaved timing pairs (default 5, 1 with --quick)")
    args = ap.parse_args(argv)
    duration = 100.0 if args.quick else 1000.0
    n = args.n or (1000 if args.quick else 4000)
    args.pairs = args.pairs or (1 if args.quick else 5)
    _, pre, post = connectivity(n, 1) if n == 4000 else _connectivity(n)
    init = initial_state(n, 2)
    _, warm, rate, net = run_ours(n, duration, pre, post, init)
    try:
        _, peer_warm, peer_rate, rerun = run_brian2(n, duration, pre, post, init, args.target)
        peer_name = f"brian2-{args.target}"
    except Exception as exc:  # noqa: BLE001 - report the peer as missing rather than crash
        print(f"brian2 unavailable: {exc}", file=sys.stderr)
        peer_warm, peer_rate, peer_name = float("nan"), float("nan"), "brian2 (unavailable)"
        rerun = lambda: float("nan")  # noqa: E731
    pairs = interleave(lambda: _stretch(net, duration), rerun, args.pairs)
    per_s = 1000.0 / duration
    for o, p in zip(pairs["ours_runs"], pairs["peer_runs"]):
        print(f"pair: ours {o * per_s:.4f}  {peer_name} {p * per_s:.4f} s per biological s  (ratio {o / p:.3f})")
    result = {
        "name": "cobahh_vs_brian2", "peer": peer_name, **summary_fields(pairs, per_s), "unit": "seconds of loop per biological second",
        "network": f"COBAHH (Brette et al. 2007 benchmark 3): {n} Hodgkin-Huxley neurons from a definition, exponential Euler",
        "ours_warmup_s": round(warm, 2), "peer_warmup_s": round(peer_warm, 2), "rate_hz_ours": round(rate, 2),
        "rate_hz_peer": round(peer_rate, 2), "n_neurons": n, "biological_ms": duration, "dt_ms": 0.1, "threads": 1,
    }
    print(json.dumps(result))


def _connectivity(n):
    """Connectivity at another size, each neuron keeping the 4000-neuron network's mean in-degree (80)."""
    rng = np.random.default_rng(1)
    p = 80.0 / n
    pre, post = [], []
    for i in range(n):
        j = np.flatnonzero(rng.random(n) < p)
        pre.append(np.full(j.size, i))
        post.append(j)
    return None, np.concatenate(pre), np.concatenate(post)


if __name__ == "__main__":
    main()
