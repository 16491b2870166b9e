"""The Potjans & Diesmann (2014) cortical microcircuit (:mod:`neuro.sim.microcircuit`) in neuro.sim and in Brian2, one thread each.

Both simulators run the same network: Brian2's is built from our synapse arrays (pre, post, weight, delay of
every recurrent and background synapse), our initial potentials and DC currents, with the same Poisson
background sources (a ``PoissonGroup`` of ``m`` sources per neuron, as ours). Reported: loop wall time per
biological second (ours after the JIT warm-up; Brian2's after its code generation), synaptic events per
second of wall time, the real-time factor (wall / biological time, < 1 is faster than real time), and each
simulator's per-population rates (after a 100-ms onset transient).

At small scales our loop time is dominated by spikes, not synapses: the engine looks at each spike once per
delay slot up to the network's largest delay (51 steps here, the tail of the delay distribution), and most
spikes are background spikes with one synapse each. Measured at --quick size (300 ms, 0.76 M spikes, 1.28 M
synaptic events): loop 0.70 s; the same network with every delay at its mean (largest 15 steps) 0.28 s.

Brian2 runs the Cython runtime by default; ``--quick`` (scale 0.02, 300 ms) compares with Brian2 C++ standalone, whose
build is kept between runs (``benchmarks/_pairs.py``): a cold Cython cache costs minutes of compilation on 2 cores,
a kept standalone build none.

    python benchmarks/microcircuit.py [--quick] [--scale 0.1] [--k-scale 0.1] [--device cpu|cuda] [--target numpy|cython|cpp_standalone]
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

from benchmarks._pairs import build_fields, standalone_build  # noqa: E402

SKIP_MS = 100.0  # rates are measured after the onset transient


def build_ours(scale, k_scale, seed, device):
    from neuro.sim.microcircuit import microcircuit

    t0 = time.perf_counter()
    net, pops, spikes = microcircuit(scale=scale, k_scale=k_scale, dt=0.1, seed=seed, background="poisson", backend=device)
    net.build()
    return net, pops, spikes, time.perf_counter() - t0


def run_ours(net, pops, spikes, duration):
    t0 = time.perf_counter()
    net.run(1.0, progress=False)  # JIT warm-up (from Numba's disk cache after the first process)
    warm = time.perf_counter() - t0
    ev0 = net.counts["synaptic_events"]
    t0 = time.perf_counter()
    net.run(duration, progress=False)
    loop = time.perf_counter() - t0
    events = net.counts["synaptic_events"] - ev0
    rates = {k: float(np.sum(m.t >= SKIP_MS + 1.0)) / pops[k].n / ((duration - SKIP_MS) / 1000) for k, m in spikes.items()}
    return loop, warm, events, rates


def network_arrays(net):
    """Everything Brian2 needs, read from the built network: neurons in layout order, all synapses."""
    pops = [p for p in net.populations]
    start = {p.name: p.start for p in pops}
    syn = {"pre": [], "post": [], "w": [], "d": []}
    for proj in net.projections:
        syn["pre"].append(proj.pre_index + start[proj.pre.name])
        syn["post"].append(proj.post_index + start[proj.post.name])
        syn["w"].append(proj.weights)
        syn["d"].append(proj.delays)
    syn = {k: np.concatenate(v) for k, v in syn.items()}
    return pops, syn


def run_brian2(net, pops, v_init, duration, target, seed=1):
    import brian2 as b2

    from neuro.sim import LIF, PoissonInput

    warnings.filterwarnings("ignore")
    standalone = target == "cpp_standalone"
    if standalone:
        b2.set_device("cpp_standalone", build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    else:
        b2.prefs.codegen.target = target
    b2.defaultclock.dt = 0.1 * b2.ms
    b2.seed(seed)
    lif = [p for p in pops if isinstance(p, LIF)]
    src = [p for p in pops if isinstance(p, PoissonInput)]
    p0 = lif[0]
    # our layout: the LIF populations first, then the background sources (microcircuit() adds them in that order)
    n_lif = sum(p.n for p in lif)
    assert all(p.start < n_lif for p in lif) and all(p.start >= n_lif for p in src)
    _, syn = network_arrays(net)
    ns = {"tau_m": p0.tau_m * b2.ms, "tau_syn": p0.tau_e * b2.ms, "E_L": p0.v_rest * b2.mV, "V_th": p0.v_th * b2.mV,
          "V_reset": p0.v_reset * b2.mV}
    eqs = """dv/dt = (E_L - v + I + I_dc) / tau_m : volt (unless refractory)
             dI/dt = -I / tau_syn : volt
             I_dc : volt (constant)"""
    g = b2.NeuronGroup(n_lif, eqs, threshold="v > V_th", reset="v = V_reset", refractory=p0.t_ref * b2.ms, method="exact",
                       namespace=ns, name="neurons")
    g.v = np.concatenate([v_init[p.name] for p in lif]) * b2.mV
    g.I_dc = np.concatenate([p.i_ext for p in lif]) * b2.mV
    bg_rates = np.concatenate([p.rate for p in src])
    pg = b2.PoissonGroup(bg_rates.size, bg_rates * b2.Hz, name="background")
    rec = syn["pre"] < n_lif
    # one synaptic current: exc and inh have the same time constant (0.5 ms), so I = I_e + I_i exactly
    s_rec = b2.Synapses(g, g, "w : volt", on_pre="I += w", name="recurrent")
    s_rec.connect(i=syn["pre"][rec], j=syn["post"][rec])
    s_rec.w = syn["w"][rec] * b2.mV
    s_rec.delay = syn["d"][rec] * b2.ms
    s_bg = b2.Synapses(pg, g, "w : volt", on_pre="I += w", name="bg_synapses")
    s_bg.connect(i=syn["pre"][~rec] - n_lif, j=syn["post"][~rec])
    s_bg.w = syn["w"][~rec] * b2.mV
    s_bg.delay = syn["d"][~rec] * b2.ms
    mon = b2.SpikeMonitor(g)
    bg_mon = b2.SpikeMonitor(pg, record=False)
    bnet = b2.Network(g, pg, s_rec, s_bg, mon, bg_mon)
    t0 = time.perf_counter()
    if standalone:  # one run of 1 ms + duration; the loop time is the binary's own (its code objects' profiled time)
        bnet.run((duration + 1.0) * b2.ms, profile=True)
        standalone_build(b2, "microcircuit")
        total = time.perf_counter() - t0
        loop = float(sum(v for _, v in bnet.profiling_info) / b2.second) * duration / (duration + 1.0)
        warm, n0, nbg0 = total - loop, 0, 0
    else:
        bnet.run(1.0 * b2.ms)  # code generation / compilation
        warm = time.perf_counter() - t0
        n0, nbg0 = mon.num_spikes, bg_mon.num_spikes
        t0 = time.perf_counter()
        bnet.run(duration * b2.ms)
        loop = time.perf_counter() - t0
    i = np.asarray(mon.i)[n0:]
    t = np.asarray(mon.t / b2.ms)[n0:]
    out_deg = np.bincount(syn["pre"][rec], minlength=n_lif)
    events = int(out_deg[i].sum()) + int(bg_mon.num_spikes - nbg0)  # background synapses are one per source
    keep = t >= SKIP_MS + 1.0
    counts = np.bincount(i[keep], minlength=n_lif)
    r = {p.name: float(counts[p.start : p.start + p.n].sum()) / p.n / ((duration - SKIP_MS) / 1000) for p in lif}
    return loop, warm, events, r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="scale 0.02 (1,544 neurons), 300 ms, Brian2 C++ standalone (under a minute)")
    ap.add_argument("--scale", type=float, default=None, help="neuron-number scale (default 0.1, --quick 0.02)")
    ap.add_argument("--k-scale", type=float, default=0.1, help="in-degree scale, weights and DC compensated (default 0.1)")
    ap.add_argument("--duration", type=float, default=None, help="biological ms (default 1000, --quick 300)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="our backend (cuda: Network(backend='cuda'))")
    ap.add_argument("--target", choices=["numpy", "cython", "cpp_standalone"], default=None,
                    help="Brian2 target (default cython, --quick cpp_standalone)")
    ap.add_argument("--no-peer", action="store_true", help="skip Brian2")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    scale = args.scale if args.scale is not None else (0.02 if args.quick else 0.1)
    duration = args.duration if args.duration is not None else (300.0 if args.quick else 1000.0)
    target = args.target or ("cpp_standalone" if args.quick else "cython")
    if duration <= SKIP_MS:
        ap.error(f"--duration must exceed the {SKIP_MS:.0f}-ms transient")
    try:
        net, pops, spikes, build_s = build_ours(scale, args.k_scale, args.seed, args.device)
    except ValueError as exc:
        ap.error(str(exc))
    n_neurons = sum(p.n for p in pops.values())
    n_syn = sum(len(p) for p in net.projections if not p.name.startswith("bg_"))
    v_init = {p.name: p.v.copy() for p in net.populations}  # the initial state, for Brian2
    try:
        ours, warm, ev, rates = run_ours(net, pops, spikes, duration)
    except RuntimeError as exc:  # e.g. neuro.backend.BackendUnavailableError: no CUDA device or CuPy here
        ap.exit(2, f"{ap.prog}: --device {args.device} cannot run here: {exc}\n")
    per_s = 1000.0 / duration
    peer_name = f"brian2-{target}"
    peer = peer_warm = float("nan")
    peer_ev, peer_rates = 0, {}
    if not args.no_peer:
        try:
            peer, peer_warm, peer_ev, peer_rates = run_brian2(net, net.populations, v_init, duration, target, args.seed)
        except Exception as exc:  # noqa: BLE001 - report the peer as missing rather than crash
            print(f"brian2 unavailable: {exc}", file=sys.stderr)
            peer_name = "brian2 (unavailable)"
    else:
        peer_name = "brian2 (skipped)"
    for k in rates:
        print(f"{k:5s} ours {rates[k]:6.2f} Hz   brian2 {peer_rates.get(k, float('nan')):6.2f} Hz")
    result = {
        "name": "microcircuit", "ours_s": round(ours * per_s, 4), "peer": peer_name, "peer_s": round(peer * per_s, 4),
        "ratio": round(ours / peer, 3) if peer == peer else None, "unit": "seconds of loop per biological second",
        "ours_realtime_factor": round(ours * per_s, 4), "peer_realtime_factor": round(peer * per_s, 4),
        "ours_events_per_s": round(ev / ours), "peer_events_per_s": round(peer_ev / peer) if peer == peer else None,
        "ours_warmup_s": round(warm, 2), "peer_warmup_s": round(peer_warm, 2), **build_fields(target), "ours_build_s": round(build_s, 2),
        "rates_hz_ours": {k: round(v, 3) for k, v in rates.items()}, "rates_hz_peer": {k: round(v, 3) for k, v in peer_rates.items()},
        "scale": scale, "k_scale": args.k_scale, "n_neurons": n_neurons, "n_synapses": n_syn, "biological_ms": duration,
        "device": args.device, "threads": 1, "background": "poisson", "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
