"""Plastic network side by side: Song, Miller & Abbott (2000) additive STDP (Brian2's examples/synapses/STDP.py) in
neuro.sim and in Brian2, one thread each.

N Poisson inputs at 15 Hz -> one conductance-based LIF neuron, all-to-all pair STDP (traces, hard bounds [0, g_max]),
dt = 0.1 ms, the same initial weights. Both integrate with exponential Euler and deliver the weight after the
presynaptic update (see tests/sim/test_stdp_vs_brian2.py). Reports the loop time per biological second (ours after
the JIT warm-up, reported apart, median of ``--repeat`` identical runs; Brian2's one run without code generation /
compilation, reported apart), the output rates and the final weight distributions (fractions within 10% of each
bound, a two-sample KS test).

    python benchmarks/plasticity_vs_brian2.py [--quick | --full] [--target cpp_standalone|cython|numpy] [--plot weights.png]
                                              [--network sma|spnet] [--repeat 3]

Times are wall-clock; the JSON gives the machine's 1-minute load average (a shared machine inflates both sides).
``--network spnet`` runs Izhikevich's (2006) polychronization network of examples/polychronization.py instead (the
issue's reference workload; Brian2 on the same connectivity, delays and initial weights).

Brian2 runs as C++ standalone when a compiler is found (else numpy), ``--quick`` included; its build is kept between
runs (``benchmarks/_pairs.py``: the first build takes 15-60 s of g++ here, a reused one about a second; the JSON's
``peer_build_reused`` says which). ``--quick``: 5 s of model time (under a minute); default: 30 s; ``--full``: the
example's 100 s, where the weights are bimodal (spnet: 2 s / 10 s / 60 s). The JSON names the target that ran (``peer``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
import warnings

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._pairs import build_fields, interleave, standalone_build, standalone_rerun, summary_fields  # noqa: E402

TAU_M, E_L, V_TH, V_RESET, TAU_E, TAU_STDP, RATE = 10.0, -74.0, -54.0, -60.0, 5.0, 20.0, 15.0
G_MAX, D_A = 0.01, 0.01


def stdp_definition():
    """The example's rule written as a user-defined :class:`neuro.dynamics.SynapseModel` (Brian2's equations and code)."""
    from neuro.dynamics import SynapseModel

    return SynapseModel("""
        dApre/dt = -Apre / taupre : 1 (event-driven)
        dApost/dt = -Apost / taupost : 1 (event-driven)
        taupre : second (constant)
        taupost : second (constant)
        dApre : 1 (constant)
        dApost : 1 (constant)
        gmax : 1 (constant)
    """, on_pre="Apre += dApre; w = clip(w + Apost, 0, gmax)", on_post="Apost += dApost; w = clip(w + Apre, 0, gmax)",
        defaults={"taupre": TAU_STDP, "taupost": TAU_STDP, "dApre": D_A * G_MAX, "dApost": -1.05 * D_A * G_MAX, "gmax": G_MAX},
        name="Song-Miller-Abbott STDP")


def run_ours(n, duration, w0, seed=1, backend="cpu", rule_kind="builtin"):
    from neuro import sim
    from neuro.ops.stdp import PairSTDP

    if rule_kind == "definition":
        rule = stdp_definition()
    else:
        rule = PairSTDP(tau_plus=TAU_STDP, tau_minus=TAU_STDP, eta_plus=D_A * G_MAX, eta_minus=1.05 * D_A * G_MAX, w_min=0.0, w_max=G_MAX)
    net = sim.Network(dt=0.1, seed=seed, backend=backend)
    inp = sim.PoissonInput(n, rate=RATE)
    post = sim.ConductanceLIF(1, tau_m=TAU_M, v_rest=E_L, v_th=V_TH, v_reset=V_RESET, t_ref=0.0, tau_e=TAU_E, e_exc=0.0)
    proj = sim.Projection(inp, post, weight=w0, plasticity=rule)
    net.add(inp, post, proj)
    mon = net.add(sim.SpikeMonitor(post))
    t0 = time.perf_counter()
    net.run(1.0, progress=False)  # JIT warm-up (cached after the first process)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.run(duration, progress=False)
    loop = time.perf_counter() - t0
    return loop, warm, mon.count / ((duration + 1.0) / 1000.0), proj.weights


def _standalone_loop_s(b2, net, total):
    """The standalone binary's own time for the network run (its last_run_info), else the sum of profiled code objects."""
    t = getattr(b2.device, "_last_run_time", None)
    if t:
        return float(t)
    return float(sum(v for _, v in net.profiling_info) / b2.second) if net.profiling_info else total


def run_brian2(n, duration, w0, target, seed=1):
    import brian2 as b2

    warnings.filterwarnings("ignore")
    b2.BrianLogger.suppress_name("resolution_conflict")
    if target == "cpp_standalone":
        b2.set_device("cpp_standalone", build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    else:
        b2.prefs.codegen.target = target
    b2.seed(seed)
    ms, mV = b2.ms, b2.mV
    b2.defaultclock.dt = 0.1 * ms
    ns = dict(taum=TAU_M * ms, Ee=0 * mV, El=E_L * mV, taue=TAU_E * ms, vt=V_TH * mV, vr=V_RESET * mV, gmax=G_MAX,
              dApre=D_A * G_MAX, dApost=-1.05 * D_A * G_MAX, taupre=TAU_STDP * ms, taupost=TAU_STDP * ms)
    eqs = """dv/dt = (ge * (Ee - v) + El - v) / taum : volt
             dge/dt = -ge / taue : 1"""
    inp = b2.PoissonGroup(n, rates=RATE * b2.Hz)
    g = b2.NeuronGroup(1, eqs, threshold="v > vt", reset="v = vr", method="exponential_euler", namespace=ns)
    g.v = E_L * mV
    syn = b2.Synapses(inp, g, """w : 1
                      dApre/dt = -Apre / taupre : 1 (event-driven)
                      dApost/dt = -Apost / taupost : 1 (event-driven)""",
                      on_pre="""Apre += dApre
                      w = clip(w + Apost, 0, gmax)
                      ge += w""",
                      on_post="""Apost += dApost
                      w = clip(w + Apre, 0, gmax)""", namespace=ns)
    syn.connect()
    syn.w = w0
    mon = b2.SpikeMonitor(g)
    net = b2.Network(inp, g, syn, mon)
    t0 = time.perf_counter()
    if target == "cpp_standalone":
        net.run((duration + 1.0) * ms, namespace={}, profile=True)
        standalone_build(b2, "plasticity_vs_brian2_stdp")
        total = time.perf_counter() - t0
        loop = _standalone_loop_s(b2, net, total) * duration / (duration + 1.0)
        warm = total - loop
    else:
        net.run(1.0 * ms, namespace={})  # code generation / compilation
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        net.run(duration * ms, namespace={})
        loop = time.perf_counter() - t0
    return loop, warm, mon.num_spikes / ((duration + 1.0) / 1000.0), np.asarray(syn.w)


def _spnet_example():
    """``build`` of examples/polychronization.py (Izhikevich 2006 spnet in neuro.sim): the benchmark runs the example's network."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "polychronization.py"
    spec = importlib.util.spec_from_file_location("_polychronization_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build


def run_ours_spnet(duration, seed=0, backend="cpu"):
    # sd decays once a second after the weight update, as in Izhikevich's code and in the Brian2 version below
    net, cortex, exc = _spnet_example()(seed, eligibility_decay="periodic", backend=backend)
    mon = net.add(__import__("neuro.sim", fromlist=["SpikeMonitor"]).SpikeMonitor(cortex))
    t0 = time.perf_counter()
    net.run(10.0, progress=False)  # JIT warm-up
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.run(duration, progress=False)
    loop = time.perf_counter() - t0
    return loop, warm, mon.count / cortex.n / ((duration + 10.0) / 1000.0), net


def run_brian2_spnet(net_ours, duration, target, seed=0):
    """spnet in Brian2 on our example's connectivity and delays: Izhikevich's two half-steps for v (run_regularly), one
    Poisson kick source per neuron at 1 Hz (20 mV), nearest-spike traces 0.1 x 0.95 per ms with LTD factor 1.2 into
    ``sd``, and once per second ``w = clip(w + 0.01 + sd, 0, 10); sd *= 0.9`` (Izhikevich's discrete decay of ``sd``;
    ours runs the example with ``eligibility_decay="periodic"``, the same law)."""
    import brian2 as b2

    warnings.filterwarnings("ignore")
    b2.BrianLogger.suppress_name("resolution_conflict")
    if target == "cpp_standalone":
        b2.set_device("cpp_standalone", build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    else:
        b2.prefs.codegen.target = target
    b2.seed(seed)
    ms = b2.ms
    b2.defaultclock.dt = 1.0 * ms
    n_exc, n = 800, 1000
    g = b2.NeuronGroup(n, """v : 1
                          u : 1
                          I : 1
                          a : 1
                          d : 1""", threshold="v >= 30", reset="v = -65; u += d")
    g.a = np.r_[np.full(n_exc, 0.02), np.full(n - n_exc, 0.1)]
    g.d = np.r_[np.full(n_exc, 8.0), np.full(n - n_exc, 2.0)]
    g.v = -65.0
    g.u = 0.2 * -65.0
    g.run_regularly("""v += 0.5 * (0.04 * v**2 + 5 * v + 140 - u + I)
                       v += 0.5 * (0.04 * v**2 + 5 * v + 140 - u + I)
                       u += a * (0.2 * v - u)
                       I = 0""", when="groups")
    tau = -1.0 / math.log(0.95) * ms
    tau_c_steps = 1000.0
    kicks = b2.PoissonGroup(n, rates=1.0 * b2.Hz)
    drive = b2.Synapses(kicks, g, on_pre="I += 20")
    drive.connect(j="i")
    exc, inh = (next(p for p in net_ours.projections if p.name == name) for name in ("exc", "inh"))
    pre, post = exc.pre_index, exc.post_index
    se = b2.Synapses(g, g, """w : 1
                      sd : 1
                      dApre/dt = -Apre / tau : 1 (event-driven)
                      dApost/dt = -Apost / tau : 1 (event-driven)""",
                     on_pre="""I_post += w
                     sd -= 1.2 * Apost
                     Apre = 0.1""",
                     on_post="""sd += Apre
                     Apost = 0.1""", namespace={"tau": tau})
    se.connect(i=pre, j=post)
    se.w = exc.weights
    se.delay = exc.delays * ms
    se.run_regularly("w = clip(w + 0.01 + sd, 0, 10)\nsd *= 0.9", dt=tau_c_steps * ms)
    si = b2.Synapses(g, g, "w : 1", on_pre="I_post += w")
    si.connect(i=inh.pre_index, j=inh.post_index)
    si.w = inh.weights
    si.delay = inh.delays * ms
    mon = b2.SpikeMonitor(g)
    net = b2.Network(g, kicks, drive, se, si, mon)
    t0 = time.perf_counter()
    if target == "cpp_standalone":
        net.run((duration + 10.0) * ms, namespace={}, profile=True)
        standalone_build(b2, "spnet_vs_brian2")
        total = time.perf_counter() - t0
        loop = _standalone_loop_s(b2, net, total) * duration / (duration + 10.0)
        warm = total - loop
        rate, w = mon.num_spikes / n / ((duration + 10.0) / 1000.0), np.asarray(se.w)
        rerun = standalone_rerun(b2, net, duration / (duration + 10.0))  # the binary again, from t = 0
        return loop, warm, rate, w, rerun, lambda: None  # the build directory goes at exit (standalone_build)
    net.run(10.0 * ms, namespace={})
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.run(duration * ms, namespace={})
    loop = time.perf_counter() - t0

    def rerun():  # the run goes on for another stretch
        t1 = time.perf_counter()
        net.run(duration * ms, namespace={})
        return time.perf_counter() - t1

    return loop, warm, mon.num_spikes / n / ((duration + 10.0) / 1000.0), np.asarray(se.w), rerun, lambda: None


def main_spnet(args, duration, target):
    """Ours and Brian2 timed in ``--repeat`` interleaved pairs, each a run from t = 0 (ours: a fresh build of the same
    network; Brian2 C++ standalone: its compiled binary again); ``ratio``: the median of the pair ratios."""
    _, warm, rate, net = run_ours_spnet(duration, backend=args.device)
    exc = next(p for p in net.projections if p.name == "exc")
    # Brian2 gets the example's connectivity, delays and *initial* weights (a fresh build with the same seed:
    # `net` has run, its weights have learned)
    fresh = _spnet_example()(0, eligibility_decay="periodic")[0]
    cleanup = lambda: None  # noqa: E731
    try:
        _, peer_warm, peer_rate, w_peer, rerun, cleanup = run_brian2_spnet(fresh, duration, target)
        peer_name = f"brian2-{target}"
    except Exception as exc_:  # noqa: BLE001 - report the peer as missing rather than crash
        print(f"brian2 ({target}) unavailable: {exc_}", file=sys.stderr)
        peer_warm, peer_rate, w_peer, peer_name = float("nan"), float("nan"), None, "brian2 (unavailable)"
        rerun = lambda: float("nan")  # noqa: E731
    try:
        pairs = interleave(lambda: run_ours_spnet(duration, backend=args.device)[0], rerun, args.repeat or (3 if args.quick else 5))
    finally:
        cleanup()
    per_s = 1000.0 / duration
    for o, p in zip(pairs["ours_runs"], pairs["peer_runs"]):
        print(f"pair: ours {o * per_s:.4f}  {peer_name} {p * per_s:.4f} s per biological s  (ratio {o / p:.3f})")
    print(f"rates: ours {rate:.2f} Hz, {peer_name} {peer_rate:.2f} Hz per neuron")
    result = {
        "name": "plasticity_vs_brian2_spnet" + ("" if args.device == "cpu" else f"_{args.device}"), "device": args.device,
        "peer": peer_name, **summary_fields(pairs, per_s), "unit": "seconds of loop per biological second",
        "network": "Izhikevich 2006 spnet (examples/polychronization.py): 1000 Izhikevich neurons, 100k synapses, delays 1-20 ms, STDP",
        "ours_warmup_s": round(warm, 2), "peer_warmup_s": round(peer_warm, 2), **build_fields(target), "rate_hz_ours": round(rate, 2),
        "rate_hz_peer": round(peer_rate, 2), "ours_minutes_per_model_hour_at_first_10s_speed": round(pairs["ours_s"] * per_s * 3600 / 60, 2),
        "biological_ms": duration, "dt_ms": 1.0, "threads": 1, "quick": args.quick, "load_average_1min": round(os.getloadavg()[0], 2),
        "exc_weights_ours_below1_above9": [round(float(np.mean(exc.weights < 1)), 3), round(float(np.mean(exc.weights > 9)), 3)],
    }
    if w_peer is not None:
        result["exc_weights_peer_below1_above9"] = [round(float(np.mean(w_peer < 1)), 3), round(float(np.mean(w_peer > 9)), 3)]
    print(json.dumps(result))


def shape(w):
    x = np.asarray(w) / G_MAX
    return round(float(np.mean(x < 0.1)), 3), round(float(np.mean(x > 0.9)), 3)


def compiler_works() -> bool:
    return shutil.which(os.environ.get("CXX", "g++")) is not None or shutil.which("c++") is not None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="5 s of model time (spnet: 2 s; under a minute)")
    mode.add_argument("--full", action="store_true", help="the example's 100 s of model time")
    ap.add_argument("--target", choices=["numpy", "cython", "cpp_standalone"], default=None,
                    help="Brian2 code generation target (default: cpp_standalone when a C++ compiler is found, else numpy)")
    ap.add_argument("--n", type=int, default=1000, help="Poisson inputs (default 1000, as in the example)")
    ap.add_argument("--plot", default=None, help="write both final weight histograms to this PNG")
    ap.add_argument("--repeat", type=int, default=None,
                    help="timed runs (same seed; default 3); spnet: interleaved pairs with Brian2 (default 5, 3 with --quick), ratio the median pair ratio")
    ap.add_argument("--network", choices=["sma", "spnet"], default="sma",
                    help="sma: Song-Miller-Abbott (default); spnet: Izhikevich 2006 polychronization (the issue's anchor)")
    ap.add_argument("--device", choices=["cpu", "cuda", "emulate"], default="cpu", help="our simulator backend (Brian2 stays on one CPU thread)")
    ap.add_argument("--rule", choices=["builtin", "definition"], default="builtin",
                    help="our side's STDP: the built-in PairSTDP or the same rule written as a neuro.dynamics.SynapseModel (sma only)")
    args = ap.parse_args(argv)
    if args.network == "spnet":
        duration = 2_000.0 if args.quick else (60_000.0 if args.full else 10_000.0)
        return main_spnet(args, duration, args.target or ("cpp_standalone" if compiler_works() else "numpy"))
    duration = 5_000.0 if args.quick else (100_000.0 if args.full else 30_000.0)
    target = args.target or ("cpp_standalone" if compiler_works() else "numpy")
    w0 = np.random.default_rng(0).uniform(0.0, G_MAX, args.n)
    runs = [run_ours(args.n, duration, w0, backend=args.device, rule_kind=args.rule) for _ in range(max(1, args.repeat or 3))]
    ours_runs = [r[0] for r in runs]
    ours, (_, warm, rate, w_ours) = float(np.median(ours_runs)), runs[0]
    try:
        peer, peer_warm, peer_rate, w_peer = run_brian2(args.n, duration, w0, target)
        peer_name = f"brian2-{target}"
    except Exception as exc:  # noqa: BLE001 - report the peer as missing rather than crash
        print(f"brian2 ({target}) unavailable: {exc}", file=sys.stderr)
        peer, peer_warm, peer_rate, w_peer, peer_name = float("nan"), float("nan"), float("nan"), None, "brian2 (unavailable)"
    per_s = 1000.0 / duration
    extra = {}
    if w_peer is not None:
        from scipy.stats import ks_2samp

        extra = {"weights_peer_lo_hi": shape(w_peer), "ks_pvalue": round(float(ks_2samp(w_ours, w_peer).pvalue), 4)}
        if args.plot:
            from neuro.viz.plasticity import weight_histogram

            ax = weight_histogram(w_ours, w_min=0.0, w_max=G_MAX, label="neuro.sim", title=f"{args.n} inputs, {duration / 1000:.0f} s")
            weight_histogram(w_peer, w_min=0.0, w_max=G_MAX, ax=ax, label=peer_name)
            ax.figure.savefig(args.plot, dpi=110, bbox_inches="tight")
    print(f"ours:  {ours * per_s:.4f} s per biological s, output {rate:.1f} Hz, weights <0.1/>0.9 g_max {shape(w_ours)}")
    if w_peer is not None:
        print(f"{peer_name}: {peer * per_s:.4f} s per biological s, output {peer_rate:.1f} Hz, weights {shape(w_peer)}")
    result = {
        "name": "plasticity_vs_brian2_stdp" + ("" if args.rule == "builtin" else "_definition") + ("" if args.device == "cpu" else f"_{args.device}"),
        "device": args.device, "rule": args.rule,
        "ours_s": round(ours * per_s, 4), "peer": peer_name, "peer_s": round(peer * per_s, 4),
        "ratio": round(ours / peer, 3) if peer == peer else None, "unit": "seconds of loop per biological second",
        "network": f"Song-Miller-Abbott: {args.n} Poisson inputs at {RATE:.0f} Hz -> 1 COBA LIF, additive pair STDP",
        "ours_runs_s": [round(t * per_s, 4) for t in ours_runs], "peer_runs": 1,
        "ours_warmup_s": round(warm, 2), "peer_warmup_s": round(peer_warm, 2), **build_fields(target), "rate_hz_ours": round(rate, 2),
        "rate_hz_peer": round(peer_rate, 2), "weights_ours_lo_hi": shape(w_ours), **extra,
        "biological_ms": duration, "dt_ms": 0.1, "threads": 1, "quick": args.quick, "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
