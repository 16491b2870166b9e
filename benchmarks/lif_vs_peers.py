"""Forward + backward of a multi-step LIF layer: neuro vs SpikingJelly 2.0, snntorch, norse and a plain torch loop.

Two cases, each with the same settings for everyone (tau = 2 / beta = 0.5, threshold 1, hard reset to 0,
sigmoid surrogate alpha = 4 where the library has it):

* ``lif``: one LIF layer on ``[T, B, N]`` input, at ``[32, 64, 2048]`` and ``[100, 32, 700]`` (SHD-like);
  the loss is ``spikes.sum()``.
* ``alif``: the adaptive-threshold ``neuro.nn.ALIF`` (defaults: tau_mem 20, tau_adapt 200, beta_a 1.8, soft reset,
  triangle surrogate) at ``[100, 32, 700]``, its fused kernels against its torch loop over steps
  (:func:`neuro.ops.alif.reference.multi_step_autograd`); only neuro has this law. The JSON's ``alif`` field.
* ``linear``: ``Linear(N, N)`` applied to all T steps, then the LIF layer, batch 16, T = 500 (the Open
  Neuromorphic benchmark's setup), N = 4096 on CPU (``--linear-n 4096 16384`` adds the 16k case; on two CPU
  cores one 16k step takes minutes). Every library gets the same Linear (same weights, one matmul over
  all steps), so the difference is the neuron's.

Each library runs through the module its users call: ``neuro.nn.LIF``, SpikingJelly ``LIFNode(step_mode='m')``,
snntorch ``Leaky`` in a Python loop over steps, norse ``LIF`` (its current-based LIF: norse has no
multi-step current-free LIF) and our own torch reference loop. Medians of repeats, 2 threads unless
``--threads``. Memory: the bytes autograd keeps for backward per neuron-step (every saved tensor, counted
once per storage, through ``torch.autograd.graph.saved_tensors_hooks``), the figure that sets peak
training memory. On a GPU (``--device cuda``) it also reports the LIF kernels' memory bandwidth in GB/s.

The libraries take turns within each round of repeats (this machine is shared: its speed moves by tens of
percent within minutes); ``ratio`` is the median over rounds of neuro's time over the fastest peer's time in the
same round, ``ratio_of_medians`` the ratio of the two medians, ``runs_ms`` every timing.

``--quick`` (under a minute on 2 cores) runs every case and every library at a quarter of the batch (``[32, 16, 2048]``,
``[100, 8, 700]``, Linear+LIF at T = 50 with N = 1024), 3 repeats (2 for Linear+LIF), one thread on CPU.

    python benchmarks/lif_vs_peers.py [--quick] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import torch

from neuro import nn as snn
from neuro.ops.lif import LIFParams
from neuro.ops.lif.autograd import lif_multi_step

warnings.filterwarnings("ignore")
KINDS = ("neuro", "spikingjelly", "snntorch", "norse", "torch-loop")


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn, repeats, device):
    fn()  # warm-up (JIT, allocator)
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def neuron(kind, device):
    """A function ``[T, B, N] -> spikes [T, B, N]`` running library ``kind``'s LIF."""
    if kind == "neuro":
        lif = snn.LIF(tau=2.0, v_threshold=1.0, v_reset=0.0, surrogate="sigmoid", alpha=4.0)
        return lif
    if kind == "torch-loop":
        p = LIFParams(v_th=1.0, v_reset=0.0, surrogate="sigmoid", alpha=4.0)
        return lambda x: lif_multi_step(x, None, 0.5, p, backend="torch", need_h=False)[0]
    if kind == "spikingjelly":
        from spikingjelly.activation_based import neuron as sj_neuron
        from spikingjelly.activation_based import surrogate

        # SpikingJelly 2.0 picks its own kernels (Triton on CUDA when installed, torch otherwise)
        node = sj_neuron.LIFNode(tau=2.0, surrogate_function=surrogate.Sigmoid(alpha=4.0), step_mode="m")

        def run(x):
            node.reset()
            return node(x)

        return run
    if kind == "snntorch":
        import snntorch

        lif = snntorch.Leaky(beta=0.5, threshold=1.0, reset_mechanism="zero")

        def run(x):
            mem = lif.init_leaky()
            out = []
            for t in range(x.shape[0]):
                spk, mem = lif(x[t], mem)
                out.append(spk)
            return torch.stack(out)

        return run
    if kind == "norse":
        import norse.torch as norse

        lif = norse.LIF(norse.LIFParameters(tau_mem_inv=torch.tensor(500.0, device=device), v_th=torch.tensor(1.0, device=device),
                                            v_reset=torch.tensor(0.0, device=device), v_leak=torch.tensor(0.0, device=device)), dt=1e-3)
        return lambda x: lif(x)[0]
    raise ValueError(kind)


def saved_bytes(fn, x):
    """Bytes autograd keeps for backward (each storage once) while ``fn(x)`` runs."""
    storages = {}

    def pack(t):
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(x)
    del out
    return sum(storages.values())


def lif_case(kind, shape, device, memory):
    """``(run, bytes per neuron-step or None)``: ``run()`` does one forward + backward of library ``kind``'s LIF."""
    x = (torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.6).to(device).requires_grad_(True)
    f = neuron(kind, device)

    def run():
        x.grad = None
        f(x).sum().backward()

    return run, (saved_bytes(f, x) / x.numel() if memory else None)


def round_robin(runs: dict, repeats: int, device) -> dict:
    """Seconds of each ``runs[kind]()``, ``repeats`` times, the kinds taking turns within each round: on a shared
    machine whose speed moves within minutes, every library is timed under the same conditions."""
    for fn in runs.values():
        fn()  # warm-up (JIT, allocator)
    _sync(device)
    times = {k: [] for k in runs}
    for _ in range(repeats):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[k].append(time.perf_counter() - t0)
    return times


def alif_case(shape, device, repeats):
    """Forward + backward of ``neuro.nn.ALIF``: the fused op and the torch loop, in ms."""
    from neuro.ops.alif import reference as alif_ref

    x = (torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.6).to(device).requires_grad_(True)
    alif = snn.ALIF().to(device)
    flat = x.reshape(shape[0], -1)
    zeros = torch.zeros(flat.shape[1], device=device)
    coef = (alif.beta().float(), alif.rho().float(), alif.beta_a().float())

    def loop(inp):
        return alif_ref.multi_step_autograd(inp.reshape(shape[0], -1), zeros, zeros, *coef, *alif.params.kernel_args())[0]

    times = {}
    for name, f in (("alif_ms", alif), ("alif_torch_loop_ms", loop)):
        def run(f=f):
            x.grad = None
            f(x).sum().backward()

        times[name] = round(timeit(run, repeats, device) * 1e3, 2)
    return times


def linear_case(kind, shape, device, memory):
    T, B, N = shape
    lin = torch.nn.Linear(N, N).to(device)
    with torch.no_grad():
        lin.weight.normal_(0.0, 1.5 / N**0.5)
    x = (torch.rand(T, B, N, generator=torch.Generator().manual_seed(0)) < 0.2).float().to(device)
    f = neuron(kind, device)

    def forward(inp):
        return f(lin(inp.reshape(T * B, N)).reshape(T, B, N))

    def run():
        lin.zero_grad(set_to_none=True)
        forward(x).sum().backward()

    return run, (saved_bytes(forward, x) / x.numel() if memory else None)


def kernel_bandwidth(shape, device, repeats):
    """GB/s of the fused forward and backward kernels alone (bytes each must move / time)."""
    from neuro import backend

    T, B, N = shape
    n = B * N
    x = torch.randn(T, n, device=device) * 0.8 + 0.6
    v0 = torch.zeros(n, device=device)
    beta = torch.tensor([0.5], device=device)
    args = (1.0, 0.0, 0.0, False, True, False, 0, 4.0)
    fwd = backend.op("lif", "multi_step_forward", device=device)
    bwd = backend.op("lif", "multi_step_backward", device=device)
    t_f = timeit(lambda: fwd(x, v0, beta, *args, need_h=False), repeats, device)
    gs = torch.ones_like(x)
    t_b = timeit(lambda: bwd(gs, torch.zeros_like(x), torch.zeros_like(v0), x, v0, beta, *args, input_grad=True), repeats, device)
    item = x.element_size()
    # forward: read x, write s; backward: read x (recompute) + read grad_s + read grad_h + write grad_x
    return {"forward_GBps": round(2 * T * n * item / t_f / 1e9, 1), "backward_GBps": round(4 * T * n * item / t_b / 1e9, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a quarter of the batch, N = 1024 and T = 50 for Linear+LIF, 3 repeats, "
                                                         "one thread (under a minute on 2 cores)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--threads", type=int, default=None, help="torch / Numba threads on CPU (default 2; 1 with --quick)")
    ap.add_argument("--linear-n", type=int, nargs="*", default=None, help="N of the Linear+LIF case (default: 4096; 4096 16384 on a GPU)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")
    if args.threads is None:  # --quick: two spinning threads per process on a shared 2-core machine slow everyone down
        args.threads = 1 if args.quick else 2
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    torch.manual_seed(0)
    repeats = 3 if args.quick else 10
    linear_n = args.linear_n or ([4096, 16384] if device.type == "cuda" else [1024] if args.quick else [4096])
    lif_shapes = [(32, 16, 2048), (100, 8, 700)] if args.quick else [(32, 64, 2048), (100, 32, 700)]
    linear_shapes = [(50 if args.quick else 500, 16, n) for n in linear_n]
    if args.quick and device.type == "cpu":
        linear_shapes = linear_shapes[:1]
    rows = {}
    paired = {}  # per case: the median over rounds of neuro's time / the fastest peer's time in the same round
    cases = [("lif", s, lif_case, repeats) for s in lif_shapes] + [("linear", s, linear_case, 2 if args.quick else 3) for s in linear_shapes]
    for case, shape, fn, reps in cases:
        runs, mem = {}, {}
        for kind in KINDS:
            try:
                runs[kind], mem[kind] = fn(kind, shape, device, memory=case == "lif" and shape == lif_shapes[0])
            except ImportError as exc:
                print(f"{kind}: not installed ({exc})")
        times = round_robin(runs, reps, device)
        del runs
        for kind, ts in times.items():
            rows[(case, shape, kind)] = {"s": statistics.median(ts), "runs": ts}
            if mem[kind] is not None:
                rows[(case, shape, kind)]["bytes_per_neuron_step"] = mem[kind]
        peer_kinds = [k for k in ("spikingjelly", "snntorch", "norse") if k in times]
        if peer_kinds and "neuro" in times:
            fastest = min(peer_kinds, key=lambda k: statistics.median(times[k]))
            paired[(case, shape)] = statistics.median(o / p for o, p in zip(times["neuro"], times[fastest]))
        line = "  ".join(f"{k} {rows[(case, shape, k)]['s'] * 1e3:.1f} ms" for k in KINDS if (case, shape, k) in rows)
        print(f"{case} T,B,N={shape}: {line}", flush=True)

    def key(case, shape):
        return f"{case}/{'x'.join(map(str, shape))}"

    first = ("lif", lif_shapes[0])
    peers = {k: rows[(*first, k)]["s"] for k in ("spikingjelly", "snntorch", "norse") if (*first, k) in rows}
    if not peers:
        peers = {"torch-loop": rows[(*first, "torch-loop")]["s"]}
    peer = min(peers, key=peers.get)
    ours = rows[(*first, "neuro")]["s"]
    ratios = {}
    for case, shape, _, _ in cases:
        peer_times = {k: rows[(case, shape, k)]["s"] for k in ("spikingjelly", "snntorch", "norse") if (case, shape, k) in rows}
        if peer_times:
            fastest = min(peer_times, key=peer_times.get)
            ratios[key(case, shape)] = {"fastest_peer": fastest, "ratio": round(rows[(case, shape, "neuro")]["s"] / peer_times[fastest], 3),
                                        "speedup": round(peer_times[fastest] / rows[(case, shape, "neuro")]["s"], 2),
                                        "paired_ratio": round(paired[(case, shape)], 3), "paired_speedup": round(1 / paired[(case, shape)], 2)}
    head = paired.get(first, ours / peers[peer])  # median of the per-round ratios (same round, same machine load)
    result = {
        "name": "lif_fwd_bwd", "ours_s": round(ours, 5), "peer": peer, "peer_s": round(peers[peer], 5), "ratio": round(head, 3),
        "ratio_of_medians": round(ours / peers[peer], 3),
        "device": str(device), "shape_TBN": list(lif_shapes[0]), "threads": torch.get_num_threads() if device.type == "cpu" else None, "quick": args.quick,
        "all_ms": {f"{key(c, s)}/{k}": round(r["s"] * 1e3, 2) for (c, s, k), r in rows.items()},
        "vs_fastest_peer": ratios,
        "saved_bytes_per_neuron_step": {k: round(r["bytes_per_neuron_step"], 2) for (c, s, k), r in rows.items() if "bytes_per_neuron_step" in r},
        "runs_ms": {f"{key(c, s)}/{k}": [round(t * 1e3, 2) for t in r["runs"]] for (c, s, k), r in rows.items()},
    }
    alif_shape = lif_shapes[1]
    result["alif"] = {**alif_case(alif_shape, device, repeats), "shape_TBN": list(alif_shape)}
    print(f"alif T,B,N={alif_shape}: neuro {result['alif']['alif_ms']:.1f} ms  torch-loop {result['alif']['alif_torch_loop_ms']:.1f} ms", flush=True)
    if device.type == "cuda":
        result["kernel_bandwidth"] = kernel_bandwidth(lif_shapes[0], device, repeats)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
