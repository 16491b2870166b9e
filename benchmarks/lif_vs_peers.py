"""Forward + backward of one multi-step LIF layer: neuro (Numba kernels) vs SpikingJelly 2.0, snntorch, a plain torch loop.

Same settings for all (tau = 2, threshold 1, hard reset to 0, sigmoid/arctan surrogate), median of repeats.

    python benchmarks/lif_vs_peers.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import torch

from neuro.ops.lif import LIFParams
from neuro.ops.lif.autograd import lif_multi_step

warnings.filterwarnings("ignore")


def timeit(fn, repeats):
    fn()  # warm-up (JIT, allocator)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def step_fn(kind, x):
    p = LIFParams(v_th=1.0, v_reset=0.0, surrogate="sigmoid", alpha=4.0)
    if kind == "neuro":
        def run():
            s = lif_multi_step(x, None, 0.5, p)[0]
            s.sum().backward()
    elif kind == "torch-loop":
        def run():
            s = lif_multi_step(x, None, 0.5, p, backend="torch")[0]
            s.sum().backward()
    elif kind == "spikingjelly":
        from spikingjelly.activation_based import neuron, surrogate

        node = neuron.LIFNode(tau=2.0, surrogate_function=surrogate.Sigmoid(alpha=4.0), step_mode="m")

        def run():
            node.reset()
            node(x).sum().backward()
    elif kind == "snntorch":
        import snntorch as snn

        lif = snn.Leaky(beta=0.5, threshold=1.0, reset_mechanism="zero")

        def run():
            mem = lif.init_leaky()
            out = []
            for t in range(x.shape[0]):
                spk, mem = lif(x[t], mem)
                out.append(spk)
            torch.stack(out).sum().backward()
    else:
        raise ValueError(kind)

    def wrapped():
        x.grad = None
        run()

    return wrapped


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats (under a minute)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    shapes = [(32, 64, 2048), (100, 32, 700)]
    repeats = 3 if args.quick else 10
    rows = {}
    for shape in shapes:
        x = (torch.randn(*shape) * 0.8 + 0.6).requires_grad_(True)
        for kind in ("neuro", "spikingjelly", "snntorch", "torch-loop"):
            try:
                rows[(shape, kind)] = timeit(step_fn(kind, x), repeats)
            except ImportError as exc:
                print(f"{kind}: not installed ({exc})")
        line = "  ".join(f"{k} {rows[(shape, k)] * 1e3:.1f} ms" for k in ("neuro", "spikingjelly", "snntorch", "torch-loop") if (shape, k) in rows)
        print(f"T,B,N={shape}: {line}")
    first = shapes[0]
    # the headline peer is the fastest peer library; the torch loop (our own reference) is reported beside it
    peers = {k: v for (s, k), v in rows.items() if s == first and k in ("spikingjelly", "snntorch")}
    if not peers:
        peers = {"torch-loop": rows[(first, "torch-loop")]}
    peer = min(peers, key=peers.get)
    result = {
        "name": "lif_fwd_bwd_cpu", "ours_s": round(rows[(first, "neuro")], 5), "peer": peer, "peer_s": round(peers[peer], 5),
        "ratio": round(rows[(first, "neuro")] / peers[peer], 3), "shape_TBN": list(first), "threads": torch.get_num_threads(),
        "all_ms": {f"{'x'.join(map(str, s))}/{k}": round(v * 1e3, 2) for (s, k), v in rows.items()},
        "ratio_vs_spikingjelly": {"x".join(map(str, s)): round(rows[(s, "neuro")] / rows[(s, "spikingjelly")], 3)
                                  for s in shapes if (s, "spikingjelly") in rows},
        "backward_bytes_per_neuron_step": 4,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
