"""Learnable synaptic delays: our LearnableDelayLinear vs the DCLS package's Dcls1d (gauss), same run.

One training step of one delay layer at the SHD recipe's size (examples/shd_delays.py: 140 inputs after
binning 700 channels by 5, 256 outputs, 25 taps = delays 0..24, 10 ms steps so ~100 + 12 steps): forward,
a squared-sum loss, backward; median of repeats. Both layers hold the same weights, positions and width
(the benchmark checks the outputs agree to 1e-5 first) and both end in one ``conv1d``; they differ in how
the Gaussian kernel is built: ours as a softmax over the taps of an ``[out, in, taps]`` tensor, DCLS's
through a 5-D index tensor, norm, exp and explicit normalisation. Also timed: the fixed-delay layer
(one-hot kernel in the same conv1d) against the definition (one masked matmul per delay value).

    python benchmarks/delays_vs_dcls.py [--quick] [--batch 32] [--device cpu]

Without the ``dcls`` package the peer is the masked-matmul definition of the fixed-delay layer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from neuro.nn.delays import DelayedLinear, LearnableDelayLinear, delayed_linear_reference


def timed(fns: dict, repeats: int, device: torch.device) -> dict:
    """Median seconds per call of each function, the calls interleaved so that a change in machine load hits all alike."""
    for fn in fns.values():
        fn()  # warm-up
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="batch 8, 3 repeats")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=112, help="time steps (SHD at 10 ms plus the recipe's right padding)")
    ap.add_argument("--inputs", type=int, default=140)
    ap.add_argument("--outputs", type=int, default=256)
    ap.add_argument("--taps", type=int, default=25)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args(argv)
    if a.quick:
        a.batch, a.repeats = 8, 3
    dev = torch.device(a.device)
    d = a.taps - 1
    g = torch.Generator().manual_seed(0)
    ours = LearnableDelayLinear(a.inputs, a.outputs, d, sigma=6.0, generator=g).to(dev).eval()
    x = (torch.rand(a.steps, a.batch, a.inputs, generator=g) < 0.1).float().to(dev)

    def step(module, fn):
        module.zero_grad(set_to_none=True)
        fn().square().sum().backward()

    fixed = DelayedLinear(a.inputs, a.outputs, d, generator=g).to(dev)
    fns = {"ours": lambda: step(ours, lambda: ours(x)), "fixed_conv": lambda: step(fixed, lambda: fixed(x)),
           "fixed_masked_matmul": lambda: step(fixed, lambda: delayed_linear_reference(x, fixed.weight, fixed.delays))}
    result = {"name": "delays_vs_dcls", "ours": "LearnableDelayLinear (softmax-Gaussian kernel + conv1d)",
              "shape": {"T": a.steps, "B": a.batch, "in": a.inputs, "out": a.outputs, "taps": a.taps}, "device": str(dev),
              "threads": torch.get_num_threads()}
    try:
        from DCLS.construct.modules import Dcls1d
    except ImportError:
        Dcls1d = None
    if Dcls1d is not None:
        peer = Dcls1d(a.inputs, a.outputs, kernel_count=1, dilated_kernel_size=a.taps, bias=False, version="gauss").to(dev)
        with torch.no_grad():
            peer.weight.copy_(ours.weight.unsqueeze(-1))
            peer.P.copy_((d - a.taps // 2 - ours.delays).reshape(peer.P.shape))
            peer.SIG.fill_(ours.sigma - 0.27)

        def run_peer():
            return peer(F.pad(x.permute(1, 2, 0), (d, 0))).permute(2, 0, 1)

        with torch.no_grad():
            y_ours = ours(x)
            err = float((y_ours - run_peer()).abs().max())
            scale = float(y_ours.abs().max())
        if err > 1e-5 * max(1.0, scale):
            raise SystemExit(f"outputs differ by {err:g}: the layers are not the same")
        fns["peer"] = lambda: step(peer, run_peer)
        result.update(peer="dcls 0.1.1 Dcls1d (gauss)", max_abs_diff=err)
    t = timed(fns, a.repeats, dev)
    result.update(ours_s=t["ours"], fixed_conv_s=t["fixed_conv"], fixed_masked_matmul_s=t["fixed_masked_matmul"])
    if "peer" in t:
        result["peer_s"] = t["peer"]
    else:
        result.update(peer="masked matmul per delay (fixed delays; dcls not installed)", peer_s=t["fixed_masked_matmul"], ours_s=t["fixed_conv"])
    result["ratio"] = result["ours_s"] / result["peer_s"]
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
