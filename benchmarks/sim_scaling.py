"""Scaling of the simulation loop with network size: a CUBA-like network at 4k, 16k, 64k and 256k neurons, one thread.

CUBA's neurons and synapses (Vogels & Abbott 2005, Brian2's examples/CUBA.py: tau_m 20 ms, tau_e 5 ms,
tau_i 10 ms, V_t -50 mV, V_r -60 mV, E_l -49 mV, 5 ms refractory, w_e 1.62 mV, w_i -9 mV, dt 0.1 ms) with
CUBA's in-degree at every size: each neuron gets 64 excitatory and 16 inhibitory inputs (CUBA's
0.02 x 3200 and 0.02 x 800), drawn at random (multapses allowed), so activity per neuron is the same at
every N and the work per biological second grows as N. Reported per size: loop seconds per biological
second, spikes, synaptic events (spike deliveries), and the loop time per event and per neuron-step. At
CUBA's rate (~5 Hz) and in-degree a neuron receives ~0.04 deliveries per 0.1 ms step, so the neuron
updates (~8 ns each) are most of the loop and a delivery's own cost (a few ns; see the rate sweep of
``sim_vs_brian2.py``) cannot be separated from them reliably here: flat ns per event and per neuron-step
across N mean that neither cost grows with the size of the network. Each timing is the shortest of
``--repeats`` runs (the network goes on from where it was), as the machine is shared. Peer: Brian2 (cython runtime) on the same connectivity at 4k and
16k; with ``--quick`` (0.2 s at 4k, 16k, 64k) Brian2 C++ standalone at 4k, whose build is kept between runs
(``benchmarks/_pairs.py``): a cold Cython cache would cost minutes of compilation, a kept standalone build none.

    python benchmarks/sim_scaling.py [--quick] [--sizes 4000 16000 ...] [--no-peer] [--target cython|cpp_standalone|numpy]
    python benchmarks/sim_scaling.py --device cuda [--in-degree 100]     # GPU: 64k, 256k, 1M neurons

On the GPU (``--device cuda``; ``emulate`` runs the same kernels on the CPU, for checking the script) the
default sizes are 64k, 256k and 1M neurons with 100 inputs each (1M neurons, 100M synapses), each row
reports synaptic events per second, and the peer is our own Numba loop (one thread) at the smallest size.
Published anchors for the GPU: GeNN runs the Potjans-Diesmann microcircuit (77k neurons, 0.3 billion
synapses) at about 0.5x real time on a V100 (``benchmarks/microcircuit.py --device cuda`` runs it here).
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

K_EXC, K_INH = 64, 16  # CUBA's in-degree: p = 0.02 of 3200 excitatory and 800 inhibitory neurons


def connectivity(n, seed, k_exc=K_EXC, k_inh=K_INH):
    """Initial v and fixed in-degree (pre, post) arrays, sorted by pre: post-major draws, k_exc + k_inh per neuron."""
    rng = np.random.default_rng(seed)
    n_exc = int(0.8 * n)
    v0 = -60 + 10 * rng.random(n)
    post = np.repeat(np.arange(n, dtype=np.int64), k_exc + k_inh)
    pre = np.concatenate([rng.integers(0, n_exc, (n, k_exc)), rng.integers(n_exc, n, (n, k_inh))], axis=1).ravel()
    order = np.argsort(pre, kind="stable")
    return v0, pre[order], post[order]


def _best_of(net, duration, repeats):
    """The shortest of ``repeats`` runs of ``duration`` ms (the network goes on from where it was) and the counts of that run."""
    best, counts = float("inf"), None
    for _ in range(repeats):
        before = dict(net.counts)
        t0 = time.perf_counter()
        net.run(duration, progress=False)
        took = time.perf_counter() - t0
        if took < best:
            best, counts = took, {k: net.counts[k] - before[k] for k in net.counts}
    return best, counts


def run_ours(n, duration, seed, repeats=3, backend="cpu", k_exc=K_EXC, k_inh=K_INH):
    from neuro import sim

    v0, pre, post = connectivity(n, seed, k_exc, k_inh)
    exc = pre < int(0.8 * n)
    net = sim.Network(dt=0.1, seed=seed, backend=backend)
    pop = sim.LIF(n, tau_m=20, v_rest=-49, v_th=-50, v_reset=-60, t_ref=5, tau_e=5, tau_i=10, v_init=v0)
    net.add(pop, sim.Projection(pop, pop, (pre[exc], post[exc]), weight=1.62, receptor="exc", multapses=True),
            sim.Projection(pop, pop, (pre[~exc], post[~exc]), weight=-9.0, receptor="inh", multapses=True))
    del pre, post, exc
    t0 = time.perf_counter()
    net.run(1.0, progress=False)  # build and JIT warm-up (cached after the first process)
    warm = time.perf_counter() - t0
    loop, c = _best_of(net, duration, repeats)
    return {"n": n, "loop_s": loop, "warmup_s": warm, "spikes": c["spikes"], "synaptic_events": c["synaptic_events"],
            "neuron_steps": c["neuron_updates"], "rate_hz": c["spikes"] / n / (duration / 1000)}


def brian2_network(b2, n, seed, k_exc=K_EXC, k_inh=K_INH):
    """The same network in Brian2 (a fresh scope): ``(network, spike monitor)``."""
    b2.start_scope()
    ms, mV = b2.ms, b2.mV
    b2.defaultclock.dt = 0.1 * ms
    v0, pre, post = connectivity(n, seed, k_exc, k_inh)
    exc = pre < int(0.8 * n)
    eqs = """dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
             dge/dt = -ge/taue : volt
             dgi/dt = -gi/taui : volt"""
    ns = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-49 * mV)
    g = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="exact", namespace=ns)
    g.v = v0 * mV
    ce = b2.Synapses(g, g, on_pre="ge += 1.62*mV")
    ce.connect(i=pre[exc], j=post[exc])
    ci = b2.Synapses(g, g, on_pre="gi += -9*mV")
    ci.connect(i=pre[~exc], j=post[~exc])
    mon = b2.SpikeMonitor(g, record=False)
    return b2.Network(g, ce, ci, mon), mon


def run_brian2(n, duration, seed, target):
    import brian2 as b2

    warnings.filterwarnings("ignore")
    standalone = target == "cpp_standalone"
    if standalone:
        b2.set_device("cpp_standalone", build_on_run=False)
        b2.device.reinit()  # a fresh project for each size
        b2.device.activate(build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    else:
        b2.prefs.codegen.target = target
    net, mon = brian2_network(b2, n, seed)
    ms = b2.ms
    t0 = time.perf_counter()
    if standalone:  # one run of 1 ms + duration; the loop time is the binary's own (its code objects' profiled time)
        net.run((duration + 1.0) * ms, profile=True)
        standalone_build(b2, f"sim_scaling_{n}")
        total = time.perf_counter() - t0
        loop = float(sum(v for _, v in net.profiling_info) / b2.second) * duration / (duration + 1.0)
        return {"n": n, "loop_s": loop, "warmup_s": total - loop, "rate_hz": int(mon.num_spikes) / n / ((duration + 1.0) / 1000)}
    net.run(1.0 * ms)  # code generation / compilation
    warm = time.perf_counter() - t0
    before = int(mon.num_spikes)
    t0 = time.perf_counter()
    net.run(duration * ms)
    loop = time.perf_counter() - t0
    return {"n": n, "loop_s": loop, "warmup_s": warm, "rate_hz": (int(mon.num_spikes) - before) / n / (duration / 1000)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="0.2 s at 4k, 16k, 64k; Brian2 C++ standalone at 4k (under a minute)")
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="network sizes (default 4000 16000 64000 256000)")
    ap.add_argument("--duration", type=float, default=None, help="biological ms (default 1000, 200 with --quick)")
    ap.add_argument("--no-peer", action="store_true", help="skip Brian2")
    ap.add_argument("--target", choices=["numpy", "cython", "cpp_standalone"], default=None,
                    help="Brian2 target (default cython; cpp_standalone with --quick)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per size (the shortest is kept; the machine is shared)")
    ap.add_argument("--device", choices=["cpu", "cuda", "emulate"], default="cpu", help="simulator backend (default cpu)")
    ap.add_argument("--in-degree", type=int, default=None, help="inputs per neuron, 80 %% excitatory (default 80 on CPU, 100 on GPU)")
    args = ap.parse_args(argv)
    gpu = args.device != "cpu"
    if gpu:
        sizes = args.sizes or ([16000, 64000] if args.quick else [64000, 256000, 1000000])
    else:
        sizes = args.sizes or ([4000, 16000, 64000] if args.quick else [4000, 16000, 64000, 256000])
    k_in = args.in_degree or (100 if gpu else K_EXC + K_INH)
    k_exc, k_inh = int(round(0.8 * k_in)), k_in - int(round(0.8 * k_in))
    duration = args.duration or (200.0 if args.quick else 1000.0)
    per_s = 1000.0 / duration
    rows = []
    for n in sizes:
        r = run_ours(n, duration, args.seed, args.repeats, args.device, k_exc, k_inh)
        r["loop_s_per_bio_s"] = r["loop_s"] * per_s
        r["ns_per_event"] = 1e9 * r["loop_s"] / max(r["synaptic_events"], 1)
        r["ns_per_neuron_step"] = 1e9 * r["loop_s"] / max(r["neuron_steps"], 1)
        r["events_per_s"] = r["synaptic_events"] / r["loop_s"]
        rows.append(r)
        print(f"N {n:>7}  rate {r['rate_hz']:5.2f} Hz  loop {r['loop_s_per_bio_s']:8.3f} s/bio-s  events {r['synaptic_events']:>11}"
              f"  {r['ns_per_event']:6.1f} ns/event  {r['ns_per_neuron_step']:5.2f} ns/neuron-step  (warm-up {r['warmup_s']:.1f} s)",
              file=sys.stderr, flush=True)
    peers = []
    target = args.target or ("cpp_standalone" if args.quick else "cython")
    if gpu and not args.no_peer:  # the peer of a GPU run: our Numba loop, one thread, at the smallest size
        p = run_ours(sizes[0], duration, args.seed, args.repeats, "cpu", k_exc, k_inh)
        p["loop_s_per_bio_s"] = p["loop_s"] * per_s
        peers.append(p)
        target = "neuro-cpu"
        print(f"neuro cpu N {sizes[0]:>7}  rate {p['rate_hz']:5.2f} Hz  loop {p['loop_s_per_bio_s']:8.3f} s/bio-s", file=sys.stderr, flush=True)
    elif not args.no_peer:
        for n in ([4000] if args.quick else [s for s in sizes if s <= 16000]):
            try:
                p = run_brian2(n, duration, args.seed, target)
            except Exception as exc:  # noqa: BLE001 - report the peer as missing rather than crash
                print(f"brian2 unavailable: {exc}", file=sys.stderr)
                break
            p["loop_s_per_bio_s"] = p["loop_s"] * per_s
            peers.append(p)
            print(f"brian2-{target} N {n:>7}  rate {p['rate_hz']:5.2f} Hz  loop {p['loop_s_per_bio_s']:8.3f} s/bio-s", file=sys.stderr, flush=True)
    first, last = rows[0], rows[-1]
    table = [{"n_neurons": r["n"], "rate_hz": round(r["rate_hz"], 2), "loop_s_per_bio_s": round(r["loop_s_per_bio_s"], 4),
              "synaptic_events": int(r["synaptic_events"]), "ns_per_event": round(r["ns_per_event"], 2),
              "ns_per_neuron_step": round(r["ns_per_neuron_step"], 2), "warmup_s": round(r["warmup_s"], 2),
              "events_per_s": round(r["events_per_s"]), "synapses": int(r["n"] * k_in)} for r in rows]
    result = {"name": "sim_scaling" if not gpu else f"sim_scaling_{args.device}", "unit": "seconds of loop per biological second", "quick": args.quick,
              "biological_ms": duration, "threads": 1, "device": args.device, "in_degree": k_in, "sizes": table,
              "ns_per_event_growth": round(last["ns_per_event"] / first["ns_per_event"], 3)}
    if peers:
        top = peers[-1]
        ours_top = next(r for r in rows if r["n"] == top["n"])
        result.update({"ours_s": round(ours_top["loop_s_per_bio_s"], 4), "peer": target if gpu else f"brian2-{target}",
                       "peer_s": round(top["loop_s_per_bio_s"], 4),
                       "ratio": round(ours_top["loop_s"] / top["loop_s"], 3), "compared_at_n": top["n"], **build_fields(target),
                       "peer_sizes": [{"n_neurons": p["n"], "rate_hz": round(p["rate_hz"], 2), "loop_s_per_bio_s": round(p["loop_s_per_bio_s"], 4),
                                       "ratio": round(next(r for r in rows if r["n"] == p["n"])["loop_s"] / p["loop_s"], 3)} for p in peers]})
    else:
        # no peer: the headline is the growth of our cost per delivery from the smallest to the largest size
        result.update({"ours_s": round(last["loop_s_per_bio_s"], 4), "peer": "none (scaling of ours)", "peer_s": None,
                       "ratio": result["ns_per_event_growth"]})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
