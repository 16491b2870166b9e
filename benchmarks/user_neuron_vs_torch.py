"""Forward + backward of a user-defined two-variable neuron (LIF with an adaptive threshold, written as a user would):
``neuro.nn.Neuron`` (generated fused Numba kernels) vs autograd through a plain torch loop of the same law.

The definition (Bellec et al.'s ALIF law, as a :class:`~neuro.dynamics.discrete.DiscreteNeuron`)::

    update    b = v_th + beta_a * a;  v = beta * v + x;  a = rho * a
    threshold v >= b
    reset     v = v - v_th;  a = a + gamma

with beta = exp(-1/20), rho = exp(-1/200), beta_a = 1.8, v_th = 1, gamma = 1, triangle surrogate (alpha 1). Shapes
``[32, 64, 2048]`` and ``[100, 32, 700]``, float32, the loss ``spikes.sum()``; the input is drawn so that the neurons
fire (about 10 % of neuron-steps). The contenders take turns within each round (this machine's speed moves within
minutes); ``ratio`` is the median over rounds of ours / torch loop in the same round. The hand-written
``neuro.nn.ALIF`` (its own fused kernels, the same law) is timed in the same rounds for comparison; its spikes are
checked equal to ours. 2 threads unless ``--threads``.

``OMP_WAIT_POLICY=PASSIVE`` is set before torch loads (unless the environment sets it): torch and Numba each run an
OpenMP thread pool, and idle threads that spin take the two cores from the other pool and from other processes.
Measured on this shared 2-core machine under load, the torch loop at ``[32, 64, 2048]`` took 2.5 s with spinning
threads and 0.16 s without; ours 169 ms and 17 ms. ``--omp-active`` leaves the policy to the environment.

    python benchmarks/user_neuron_vs_torch.py [--quick] [--repeats R]

The last line is JSON: ``{"name", "ours_s", "peer", "peer_s", "ratio", ...}`` (``ours_s``, ``peer_s``: medians of the
larger shape; ``ratio``: the worst of the two shapes' paired medians; ``shapes``: every shape's numbers).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

if "--omp-active" not in sys.argv:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch and Numba start their OpenMP pools (module doc)

import torch  # noqa: E402

from neuro.dynamics.discrete import DiscreteNeuron  # noqa: E402
from neuro.nn import ALIF, Neuron  # noqa: E402
from neuro.ops.surrogate.reference import heaviside, surrogate_id  # noqa: E402

TAU_MEM, TAU_ADAPT = 20.0, 200.0
PARAMS = {"beta": math.exp(-1 / TAU_MEM), "rho": math.exp(-1 / TAU_ADAPT), "beta_a": 1.8, "v_th": 1.0, "gamma": 1.0}

ADAPTIVE_LIF = DiscreteNeuron(
    update="b = v_th + beta_a * a; v = beta * v + x; a = rho * a",
    threshold="v >= b",
    reset="v = v - v_th; a = a + gamma",
    parameters=PARAMS, states=["v", "a"], name="adaptive_lif")


def torch_loop(x: torch.Tensor) -> torch.Tensor:
    """The same law, step by step in torch (what a researcher writes without a kernel)."""
    p = PARAMS
    kind = surrogate_id("triangle")
    v = torch.zeros_like(x[0])
    a = torch.zeros_like(x[0])
    out = []
    for xt in x:
        b = p["v_th"] + p["beta_a"] * a
        v = p["beta"] * v + xt
        a = p["rho"] * a
        s = heaviside(v - b, kind, 1.0)
        v = v - p["v_th"] * s
        a = a + p["gamma"] * s
        out.append(s)
    return torch.stack(out)


def contenders():
    ours = Neuron(ADAPTIVE_LIF, surrogate="triangle", alpha=1.0, nonfinite="ignore")
    alif = ALIF(tau_mem=TAU_MEM, tau_adapt=TAU_ADAPT, beta_a=1.8, v_threshold=1.0, surrogate="triangle", alpha=1.0, nonfinite="ignore")
    return {"ours": ours, "torch_loop": torch_loop, "alif": alif}


def fwd_bwd(fn, x):
    x = x.detach().requires_grad_()
    s = fn(x)
    s.sum().backward()
    return s


def run_shape(shape, repeats, fns):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=gen) * 0.5
    spikes = {k: fwd_bwd(f, x) for k, f in fns.items()}  # warm-up (compilation), and the spikes to compare
    same_alif = bool(torch.equal(spikes["ours"], spikes["alif"]))
    same_loop = bool(torch.equal(spikes["ours"], spikes["torch_loop"]))
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            fwd_bwd(f, x)
            times[k].append(time.perf_counter() - t0)
    ratios = [o / t for o, t in zip(times["ours"], times["torch_loop"])]
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"shape": list(shape), "ours_s": med["ours"], "torch_loop_s": med["torch_loop"], "alif_s": med["alif"],
            "ratio": statistics.median(ratios), "ratio_vs_alif": statistics.median(o / a for o, a in zip(times["ours"], times["alif"])),
            "spike_rate": float(spikes["ours"].detach().mean()), "same_spikes_as_alif": same_alif, "same_spikes_as_torch_loop": same_loop,
            "runs_ms": {k: [round(1e3 * t, 2) for t in v] for k, v in times.items()}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (under a minute once compiled)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--omp-active", action="store_true", help="do not set OMP_WAIT_POLICY=PASSIVE (module doc)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import numba

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    repeats = args.repeats or (3 if args.quick else 10)
    fns = contenders()
    results = []
    for shape in ((32, 64, 2048), (100, 32, 700)):
        r = run_shape(shape, repeats, fns)
        results.append(r)
        print(f"{shape}: ours {1e3 * r['ours_s']:.1f} ms, torch loop {1e3 * r['torch_loop_s']:.1f} ms, neuro.nn.ALIF {1e3 * r['alif_s']:.1f} ms; "
              f"ratio ours/torch loop {r['ratio']:.3f}, ours/ALIF {r['ratio_vs_alif']:.2f}; spike rate {r['spike_rate']:.3f}; "
              f"spikes equal to ALIF: {r['same_spikes_as_alif']}, to the torch loop: {r['same_spikes_as_torch_loop']}")
    big = results[0]
    print(json.dumps({"name": "user_neuron_vs_torch", "ours_s": big["ours_s"], "peer": "torch_loop", "peer_s": big["torch_loop_s"],
                      "ratio": max(r["ratio"] for r in results), "alif_s": big["alif_s"], "threads": args.threads, "repeats": repeats,
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
                      "shapes": results}))


if __name__ == "__main__":
    main()
