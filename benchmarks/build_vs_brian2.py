"""Network construction: a recurrent population of LIF neurons whose pairs are each connected with probability ``p``
(FixedProbability; Brian2: ``Synapses.connect(p=p)``), one weight per synapse, a 1 ms delay, built in neuro.sim and in
Brian2's C++ standalone mode, one thread each.

What is compared (both sides from the draw of the synapses to the state the first time step starts from):

- ours: ``Projection(pop, pop, FixedProbability(p), ...)`` added to a network (the synapses are drawn) plus
  ``Network.build()`` (the delivery layout: CSR by presynaptic neuron and delay, targets, current frames, segment
  codes), in this process, after a warm-up construction (which loads the compiled passes from Numba's disk cache;
  its time is ``ours_first_s``);
- Brian2: inside its standalone binary, from just before ``connect(p=p)`` to just before the network's first step:
  the synapse creation code object, the weights written, and the ``before_run`` code objects (the spike queue
  prepared per presynaptic neuron and delay). Timed with ``clock_gettime`` lines inserted into ``main.cpp``
  (``device.insert_code``); ``peer_connect_s`` is the creation code object alone, ``peer_binary_wall_s`` the whole
  binary (process start, loading and writing its arrays included). The binary is compiled once per size (kept under
  ``~/.cache/neuro/brian2-standalone/build_vs_brian2_<neurons>``) and run again for each pair.

The two draw different random synapses (each side its own generator) from the same law; both counts are reported.
Timed in ``--pairs`` interleaved pairs, ``ratio`` the median of the pair ratios (``benchmarks/_pairs.py``).

Both sides' times are mostly first touches of fresh memory (ours writes about 90 bytes per synapse: the projection's
index arrays, the layout, and ``build()``'s copy of the loop's arrays onto huge pages; Brian2 about 25). Where the
kernel hands memory back to a hypervisor (a microVM with free page reporting), a first touch costs microseconds per
page and the times vary by a factor of three from pair to pair; ``ours_min_s`` / ``peer_min_s`` are the fastest runs.
5 M synapses (20,000 neurons, p = 0.0125); the full run also builds 50 M (63,246 neurons), ``at_50m``.

    python benchmarks/build_vs_brian2.py [--quick] [--pairs 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._pairs import interleave, summary_fields  # noqa: E402

P_CONNECT = 0.0125
DELAY_MS = 1.0
_TIMES = "construction_time.txt"


def neurons_for(synapses: float, p: float = P_CONNECT) -> int:
    """Population size whose n * n * p pairs make ``synapses`` expected synapses."""
    return int(round(math.sqrt(synapses / p)))


def build_ours(n: int, p: float, seed: int = 1) -> tuple[float, float, int]:
    """``(draw seconds, build seconds, synapses)`` of one construction; the network is released before returning."""
    from neuro import sim

    net = sim.Network(dt=0.1, seed=seed)
    pop = sim.LIF(n, tau_m=20.0, v_rest=-60.0, v_th=-50.0, v_reset=-60.0, t_ref=5.0, tau_e=5.0, tau_i=10.0)
    net.add(pop)
    t0 = time.perf_counter()
    proj = sim.Projection(pop, pop, sim.FixedProbability(p), weight=0.5, delay=DELAY_MS)
    net.add(proj)  # the synapses are drawn here (from the network's seed)
    t1 = time.perf_counter()
    net.build()
    t2 = time.perf_counter()
    count = len(proj)
    del net, pop, proj
    gc.collect()
    return t1 - t0, t2 - t1, count


class Brian2Build:
    """The same network in Brian2's C++ standalone mode, compiled once; :meth:`run` runs the binary again and returns
    the construction seconds it measured (see the module docstring)."""

    def __init__(self, n: int, p: float, seed: int = 1):
        import brian2 as b2

        warnings.filterwarnings("ignore")
        b2.set_device("cpp_standalone", build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
        b2.prefs.codegen.target = "numpy"
        b2.seed(seed)
        ms, mV = b2.ms, b2.mV
        b2.defaultclock.dt = 0.1 * ms
        g = b2.NeuronGroup(n, "dv/dt = (-60*mV - v) / (20*ms) : volt (unless refractory)", threshold="v > -50*mV",
                           reset="v = -60*mV", refractory=5 * ms, method="exact")
        g.v = -60 * mV
        syn = b2.Synapses(g, g, "w : volt", on_pre="v += w", delay=DELAY_MS * ms)
        clock = "clock_gettime(CLOCK_MONOTONIC, &{});"
        b2.device.insert_code("main", "struct timespec _nb_t0, _nb_t1, _nb_t2; " + clock.format("_nb_t0"))
        syn.connect(p=p)
        b2.device.insert_code("main", clock.format("_nb_t1"))
        syn.w = 0.5 * mV
        span = "({1}.tv_sec - {0}.tv_sec) + 1e-9 * ({1}.tv_nsec - {0}.tv_nsec)"
        b2.device.insert_code("before_network_run", clock.format("_nb_t2") + f' {{ std::ofstream _f("{_TIMES}"); _f.precision(9); '
                              f"_f << {span.format('_nb_t0', '_nb_t1')} << ' ' << {span.format('_nb_t0', '_nb_t2')} << std::endl; }}")
        b2.run(0 * ms)
        self.b2, self.syn = b2, syn
        root = Path(os.environ.get("NEURO_BRIAN2_BUILD_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                    / "neuro" / "brian2-standalone")
        self.directory = root / f"build_vs_brian2_{n}"
        self.directory.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        # an unchanged network keeps its objects: make recompiles only what changed since the last run on this machine
        b2.device.build(directory=str(self.directory), compile=True, run=True, debug=False)
        self.build_s = time.perf_counter() - t0
        self.synapses = int(len(syn))
        self.connect_s, self.total_s = self._read()
        self.wall_s = float("nan")

    def _read(self) -> tuple[float, float]:
        connect, total = (float(x) for x in (self.directory / _TIMES).read_text().split())
        return connect, total

    def run(self) -> float:
        t0 = time.perf_counter()
        self.b2.device.run()
        self.wall_s = time.perf_counter() - t0
        self.connect_s, self.total_s = self._read()
        return self.total_s


def measure(synapses: float, pairs: int) -> dict:
    n = neurons_for(synapses)
    draw, build, count = build_ours(n, P_CONNECT)  # warm-up: loads the compiled passes, first touches of this much memory
    first = draw + build
    splits = []

    def ours() -> float:
        d, b, _ = build_ours(n, P_CONNECT)
        splits.append((d, b))
        return d + b

    try:
        peer = Brian2Build(n, P_CONNECT)
        peer_name = "brian2-cpp_standalone"
        connects, walls = [], []

        def theirs() -> float:
            t = peer.run()
            connects.append(peer.connect_s)
            walls.append(peer.wall_s)
            return t
    except Exception as exc:  # noqa: BLE001 - report the peer as missing rather than crash
        print(f"brian2 unavailable: {exc}", file=sys.stderr)
        peer, peer_name, connects, walls = None, "brian2 (unavailable)", [], []

        def theirs() -> float:
            return float("nan")

    res = interleave(ours, theirs, pairs)
    for o, q in zip(res["ours_runs"], res["peer_runs"]):
        print(f"{count / 1e6:.1f} M synapses: ours {o:.3f} s  {peer_name} {q:.3f} s  (ratio {o / q:.3f})")
    med = np.median(np.array(splits), axis=0)
    return {
        **summary_fields(res, 1.0), "ours_min_s": round(min(res["ours_runs"]), 4), "peer_min_s": round(min(res["peer_runs"]), 4),
        "synapses_ours": count, "synapses_peer": peer.synapses if peer else None, "n_neurons": n,
        "p": P_CONNECT, "ours_draw_s": round(float(med[0]), 4), "ours_build_s": round(float(med[1]), 4), "ours_first_s": round(first, 3),
        "peer_connect_s": round(float(np.median(connects)), 4) if connects else None,
        "peer_binary_wall_s": round(float(np.median(walls)), 4) if walls else None,
        "peer_compile_s": round(peer.build_s, 2) if peer else None,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 M synapses, 3 pairs (under a minute once Brian2's build is cached)")
    ap.add_argument("--pairs", type=int, default=None, help="interleaved timing pairs (default 5, 3 with --quick)")
    args = ap.parse_args(argv)
    pairs = args.pairs or (3 if args.quick else 5)
    main_size = 1e6 if args.quick else 5e6
    result = {"name": "build_vs_brian2", "peer": "brian2-cpp_standalone", **measure(main_size, pairs)}
    if not args.quick:  # a second process: Brian2's device is set up once per process
        import subprocess

        code = (f"import sys, json; sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))!r})\n"
                "from benchmarks.build_vs_brian2 import measure\n"
                f"print(json.dumps(measure(5e7, {max(2, pairs // 2)})))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        sys.stdout.write("\n".join(ln for ln in out.stdout.splitlines()[:-1]) + "\n")
        result["at_50m"] = json.loads(out.stdout.splitlines()[-1]) if out.returncode == 0 else {"error": out.stderr[-500:]}
    if result["peer_s"] is None or result["peer_s"] != result["peer_s"]:
        result["peer"] = "brian2 (unavailable)"
    result.update(unit="seconds to construct the network", threads=1, quick=args.quick,
                  compared="ours: Projection drawn + Network.build(); Brian2 C++ standalone: connect + weights + before_run "
                           "(spike queue), timed inside the binary")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
