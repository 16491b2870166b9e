"""The cortical microcircuit (``neuro.sim.microcircuit``, scaled down, background as a constant current) on 2 MPI ranks
against one process.

Each side runs in its own processes: the single process (``python sim_mpi.py --worker``, no communicator) and
``mpirun -n 2 python sim_mpi.py --worker`` (``Network.comm = MPI.COMM_WORLD``: each rank simulates half of every
population and exchanges spikes once per minimum delay, here one step: the circuit's delays go down to ``dt``). Both
build the same circuit (``background="dc"``: the Poisson background would be spike sources, whose spikes every rank
would exchange), run a warm-up (Numba's caches loaded, the ranks' parts built), then time ``net.run``; the
rank's time is its wall time for the run (rank 0 reports, after a barrier). They give the same spikes (checked here on
the spike counts per population; ``tests/sim/test_mpi.py`` checks spike trains). Pairs are interleaved
(``benchmarks/_pairs.py``); ``ratio`` is the median of 2-rank time over 1-process time.

Per rank it reports what the scaling model of ``docs/scaling.md`` needs: local neurons, synaptic events, seconds in
its part's loop (``compute_s``; the replay set-up included), seconds in the exchanges (``exchange_s``; waiting for the
other rank included), exchanges and the bytes it sent per exchange. The 1-process run gives the cost per neuron-step
and per synaptic event (``one_*``).

On a 2-core machine both ranks need both cores; any other load slows the 2-rank runs far more than the single
process, so run this on a quiet machine.

    python benchmarks/sim_mpi.py [--quick] [--scale 0.1] [--k-scale 0.1] [--duration 500] [--pairs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._pairs import interleave  # noqa: E402

WARMUP_MS = 20.0


def timed(scale: float, k_scale: float, duration: float, comm) -> dict:
    """Build the circuit, warm up, time ``duration`` ms; the measurements (per rank gathered on rank 0, else None)."""
    from neuro.sim.microcircuit import microcircuit

    t = time.perf_counter()
    net, pops, spikes = microcircuit(scale=scale, k_scale=k_scale, seed=1, record=True, background="dc")
    net.comm = comm  # the circuit is built by its own function: its synapses are explicit arrays, each rank keeps its part
    net.run(WARMUP_MS)
    build_s = time.perf_counter() - t
    if comm is not None:
        d = net._dist  # count the timed run only
        d.exchanges, d.bytes_sent, d.compute_s, d.exchange_s = 0, 0, 0.0, 0.0
        d.R.counts["synaptic_events"] = d.R.counts["neuron_updates"] = 0
        comm.Barrier()
    net.counts["synaptic_events"] = net.counts["neuron_updates"] = 0
    t = time.perf_counter()
    net.run(duration)
    wall = time.perf_counter() - t
    if comm is not None:
        from mpi4py import MPI

        comm.Barrier()
        wall = comm.allreduce(wall, op=MPI.MAX)
    counts = {name: int(np.sum(m.t >= WARMUP_MS)) for name, m in spikes.items()}
    out = {"wall_s": wall, "build_s": build_s, "steps": int(round(duration / net.dt)), "spikes": counts,
           "neurons": int(sum(p.n for p in net.populations)), "dt": net.dt}
    if comm is None:
        out["synaptic_events"] = net.counts["synaptic_events"]
        out["synapses"] = int(sum(len(p) for p in net.projections))
        # the same neurons without synapses (in-degrees scaled to 0, the lost input given as a constant current): the cost
        # per neuron-step alone
        bare, _, _ = microcircuit(scale=scale, k_scale=1e-9, seed=1, record=False, background="dc")
        bare.run(WARMUP_MS)
        t = time.perf_counter()
        bare.run(duration)
        out["neurons_only_s"] = time.perf_counter() - t
        return out
    d = net._dist
    mine = {"neurons": int(sum(p.n for p in d.R.local)), "synaptic_events": d.R.counts["synaptic_events"],
            "compute_s": d.compute_s, "exchange_s": d.exchange_s, "exchanges": d.exchanges, "bytes_sent": d.bytes_sent,
            "interval_steps": d.interval, "synapses": int(sum(len(rp) for rp, _ in d.projections.values()))}
    ranks = comm.gather(mine, root=0)
    if comm.Get_rank() != 0:
        return None
    out["ranks"] = ranks
    return out


def worker(args) -> None:
    """The circuit at ``scale`` (timed) and at ``scale / 5`` (for the overhead's dependence on the network's size);
    rank 0 (or the single process) writes the measurements to ``args.worker``."""
    comm = None
    if args.mpi:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    out = timed(args.scale, args.k_scale, args.duration, comm)
    small = timed(args.scale / 5, args.k_scale, args.duration, comm)
    if out is not None:
        out["small"] = small
        Path(args.worker).write_text(json.dumps(out))


# the scaling model of docs/scaling.md: the networks, and what is assumed of the interconnect
MODEL_ASSUMPTIONS = {"latency_us": 2.0, "bandwidth_GB_s": 10.0, "collective": "Allgather / Allgatherv in ceil(log2 p) rounds of "
                     "latency, every rank receiving all bytes once", "ranks": [1, 2, 10, 100, 1000], "dt_ms": 0.1}
MODEL_NETWORKS = {
    # Potjans & Diesmann: 77,169 neurons, ~0.3e9 synapses, 2.5e5 spikes/s (FULL_MEAN_RATES), delays down to dt: D = 1
    "microcircuit": {"neurons": 77169, "synapses": 2.99e8, "spikes_per_s": 2.5e5, "interval_steps": 1},
    # a random network of 1e6 neurons x 1000 synapses at 5 Hz, smallest delay 1.5 ms: D = 15
    "one_billion_synapses": {"neurons": 1e6, "synapses": 1e9, "spikes_per_s": 5e6, "interval_steps": 15},
}


def scaling_model(c_n, c_e, c_0, c_x, neurons, synapses, spikes_per_s, interval_steps) -> dict:
    """Milliseconds per step on p ranks: the work split evenly, the rank's overhead per exchange (``c_0 + c_x N`` as built;
    ``c_0 + c_x N / p`` once it is per local neuron), the exchange."""
    a = MODEL_ASSUMPTIONS
    dt_s = a["dt_ms"] / 1000.0
    spikes_step = spikes_per_s * dt_s
    events_step = spikes_step * synapses / neurons
    out = {}
    for p in a["ranks"]:
        work = (c_n * neurons + c_e * events_step) / p
        if p == 1:
            as_built = with_offsets = work
        else:
            rounds = int(np.ceil(np.log2(p)))
            exchange = 2 * rounds * a["latency_us"] * 1e-6 + (8 * p + 16 * spikes_step * interval_steps) / (a["bandwidth_GB_s"] * 1e9)
            as_built = work + (c_0 + c_x * neurons + exchange) / interval_steps
            with_offsets = work + (c_0 + c_x * neurons / p + exchange) / interval_steps
        out[str(p)] = {"as_built": round(1e3 * as_built, 4), "overhead_per_rank_part": round(1e3 * with_offsets, 4)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="scale 0.05, 100 ms, 2 pairs (about a minute)")
    p.add_argument("--scale", type=float, default=0.1)
    p.add_argument("--k-scale", type=float, default=0.1)
    p.add_argument("--duration", type=float, default=500.0, help="ms timed per run")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--mpi", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.scale, args.duration, args.pairs = 0.05, 100.0, 2
    mpirun = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")
    if mpirun is None:
        raise SystemExit("no mpirun: pip install mpi4py mpich (the dev and mpi extras)")
    tmp = Path(tempfile.mkdtemp(prefix="sim_mpi_"))
    common = ["--scale", str(args.scale), "--k-scale", str(args.k_scale), "--duration", str(args.duration)]
    results = {"one": [], "two": []}

    def run(kind: str) -> float:
        out = tmp / f"{kind}_{len(results[kind])}.json"
        cmd = [sys.executable, __file__, "--worker", str(out), *common]
        if kind == "two":
            cmd = [mpirun, "-n", "2", *cmd, "--mpi"]
        got = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if got.returncode != 0:
            raise SystemExit(f"{kind}: {' '.join(cmd)} failed:\n{got.stderr[-3000:]}")
        res = json.loads(out.read_text())
        results[kind].append(res)
        print(f"{kind}: {res['wall_s']:.3f} s for {res['steps']} steps", file=sys.stderr)
        return res["wall_s"]

    res = interleave(lambda: run("two"), lambda: run("one"), args.pairs)
    one, two = results["one"][-1], results["two"][-1]
    same = one["spikes"] == two["spikes"]
    steps = one["steps"]
    ranks = two["ranks"]
    per_rank = [{"neurons": r["neurons"], "synapses": r["synapses"], "synaptic_events_per_step": round(r["synaptic_events"] / steps, 1),
                 "compute_us_per_step": round(1e6 * r["compute_s"] / steps, 2), "exchange_us_per_step": round(1e6 * r["exchange_s"] / steps, 2),
                 "exchanges": r["exchanges"], "bytes_sent_per_exchange": round(r["bytes_sent"] / max(r["exchanges"], 1), 1),
                 "interval_steps": r["interval_steps"]} for r in ranks]
    total_spikes = sum(one["spikes"].values())
    # measured costs: per neuron-step (neurons alone), per synaptic event, and the rank's overhead per exchange beyond its
    # half of the single process's work (a fixed part and a part per neuron of the network, from the two sizes)
    n = one["neurons"]
    c_n = min(r["neurons_only_s"] for r in results["one"]) / (n * steps)
    # this scaled circuit is too quiet to time its synaptic events (a few per step); the cost per event is the saved
    # full-size result of benchmarks/sim_scaling.py (64k-neuron CUBA network: loop time / events, an upper bound)
    scaling = json.loads((Path(__file__).parent / "results" / "sim_scaling.json").read_text())["sizes"][-1]
    c_e = scaling["ns_per_event"] * 1e-9

    def overhead(key=None) -> float:
        """A rank's time per exchange beyond half of the single process's time per step (medians over the pairs)."""
        pick = (lambda r: r) if key is None else (lambda r: r[key])
        rank_s = np.median([max(x["compute_s"] for x in pick(r)["ranks"]) / pick(r)["ranks"][0]["exchanges"] for r in results["two"]])
        one_s = np.median([pick(r)["wall_s"] / pick(r)["steps"] for r in results["one"]])
        return float(max(rank_s - one_s / 2, 0.0))

    ov_big, ov_small, n_small = overhead(), overhead("small"), one["small"]["neurons"]
    c_x = max(ov_big - ov_small, 0.0) / (n - n_small)  # per neuron of the network, per exchange
    c_0 = max(ov_big - c_x * n, 0.0)  # per exchange
    model = {name: scaling_model(c_n, c_e, c_0, c_x, **net) for name, net in MODEL_NETWORKS.items()}
    print(json.dumps({
        "name": "sim_mpi", "ours_s": round(res["ours_s"], 4), "peer": "one process (neuro.sim, comm=None)", "peer_s": round(res["peer_s"], 4),
        "ratio": round(res["ratio"], 3), "pairs": len(res["ratios"]), "pair_ratios": [round(r, 3) for r in res["ratios"]],
        "same_spike_counts": same, "neurons": one["neurons"], "synapses": one["synapses"], "steps": steps, "dt_ms": one["dt"],
        "scale": args.scale, "k_scale": args.k_scale, "duration_ms": args.duration, "spikes": total_spikes,
        "one_us_per_step": round(1e6 * res["peer_s"] / steps, 2),
        "one_synaptic_events_per_step": round(one["synaptic_events"] / steps, 1),
        "per_rank": per_rank,
        "measured": {"ns_per_neuron_step": round(1e9 * c_n, 3), "ns_per_synaptic_event_sim_scaling": round(1e9 * c_e, 2),
                     "rank_overhead_us_per_exchange": round(1e6 * ov_big, 1), "rank_overhead_us_per_exchange_small": round(1e6 * ov_small, 1),
                     "neurons_small": n_small, "overhead_fixed_us_per_exchange": round(1e6 * c_0, 1),
                     "overhead_ns_per_network_neuron_per_exchange": round(1e9 * c_x, 2)},
        "model_assumptions": MODEL_ASSUMPTIONS, "model_ms_per_step": model,
        "quick": args.quick, "unit": "seconds per run (wall, after warm-up)",
    }))


if __name__ == "__main__":
    main()
