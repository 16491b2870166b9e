"""One training step of Spikformer on our neurons vs the same model on SpikingJelly's LIF neurons, same run.

Spikformer-4-384 (CIFAR layout), T = 4, 32x32 input, batch 32: forward, cross-entropy, backward and an
AdamW step, median of repeats. Both models have the same weights (one state dict) and the same neuron
equations (tau = 2, threshold 1 / 0.5, hard reset, detached reset, sigmoid surrogate); the benchmark checks
that their logits agree before timing. Only the neurons differ: ours run the fused op of neuro.ops.lif on
the backend neuro.backend picks (Numba on CPU, CuPy on GPU); the peer runs SpikingJelly 2.0's
``LIFNode(step_mode="m")`` on its default path. Without SpikingJelly the peer is a plain torch loop LIF
(said so in the JSON). On a GPU the ImageNet 8-512 size runs too (224x224), with images/s and peak memory.

``--quick`` (under a minute on 2 cores) shrinks the model, not the comparison: the CIFAR layout (32x32, T = 4) with
two blocks of width 128 (8 heads; 0.65 M parameters instead of 9.3 M), batch 8, 3 repeats, one thread (torch's and our
Numba kernels'), and no torch-reference row; ours and the peer still run the same weights in the same process. At this
size the convolutions, which both share, weigh more in a step, so the ratio says less about the neurons than the full size's.

    python benchmarks/transformer_step.py [--quick] [--config imagenet-8-512] [--batch 32] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from neuro.nn.models import count_parameters, make_lif, spikformer

warnings.filterwarnings("ignore")


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h):
        ctx.save_for_backward(h)
        return (h >= 0).to(h.dtype)

    @staticmethod
    def backward(ctx, g):
        (h,) = ctx.saved_tensors
        sg = torch.sigmoid(4.0 * h)
        return g * 4.0 * sg * (1 - sg)


class TorchLoopLIF(torch.nn.Module):
    """The fallback peer: a plain Python loop over time steps, autograd through torch ops."""

    is_spiking = True

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, **_):
        super().__init__()
        self.tau, self.v_th = tau, v_threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v, out = torch.zeros_like(x[0]), []
        for xt in x:
            h = v + (xt - v) / self.tau
            s = _Spike.apply(h - self.v_th)
            v = h * (1 - s.detach())
            out.append(s)
        return torch.stack(out)


def peer_factory():
    """(factory, description, reset) of SpikingJelly's LIFNode, or of the torch-loop fallback."""
    try:
        import spikingjelly
        from spikingjelly.activation_based import functional, neuron, surrogate
    except Exception as exc:  # noqa: BLE001 - any import failure means: no peer library
        return TorchLoopLIF, f"torch-loop LIF (spikingjelly unavailable: {type(exc).__name__})", lambda m: None

    def factory(tau: float = 2.0, v_threshold: float = 1.0, **_):
        return neuron.LIFNode(tau=tau, v_threshold=v_threshold, v_reset=0.0, detach_reset=True, surrogate_function=surrogate.Sigmoid(alpha=4.0),
                              step_mode="m")

    return factory, f"spikingjelly {getattr(spikingjelly, '__version__', '2.x')} LIFNode(step_mode='m')", functional.reset_net


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_timer(model, reset, x, y, device, repeats):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        reset(model)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up: JIT, allocator, cuDNN autotune
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    return statistics.median(times), peak


#: ``--quick``: config overrides of the shrunken model (cifar10-4-384 has 9.3 M parameters; this one 0.65 M).
QUICK_OVERRIDES = dict(embed_dim=128, depth=2, num_heads=8)


def compare(config: str, batch: int, repeats: int, device: torch.device, overrides: dict | None = None, reference: bool = True) -> dict:
    """Time ours and the peer on ``spikformer(config, **overrides)``; ``reference``: also our torch reference LIF (CPU only)."""
    overrides = overrides or {}
    factory, peer_name, reset = peer_factory()
    torch.manual_seed(0)
    ours = spikformer(config, **overrides).to(device)
    peer = spikformer(config, neuron=factory, **overrides).to(device)
    peer.load_state_dict(ours.state_dict())
    cfg = ours.cfg
    x = torch.rand(batch, cfg.in_channels, cfg.img_size, cfg.img_size, device=device)
    y = torch.randint(0, cfg.num_classes, (batch,), device=device)
    with torch.no_grad():  # same weights, same equations: same logits (up to float rounding near a threshold)
        reset(peer)
        match = bool(torch.allclose(ours.eval()(x), peer.eval()(x), rtol=1e-4, atol=1e-4))
    ours.train()
    peer.train()
    ours_s, ours_mem = step_timer(ours, lambda m: None, x, y, device, repeats)
    peer_s, peer_mem = step_timer(peer, reset, x, y, device, repeats)
    model_name = f"spikformer-{config}" + (f" ({', '.join(f'{k}={v}' for k, v in overrides.items())})" if overrides else "")
    row = {"model": model_name, "params": count_parameters(ours), "batch": batch, "time_steps": cfg.time_steps,
           "img_size": cfg.img_size, "ours_s": round(ours_s, 4), "peer": peer_name, "peer_s": round(peer_s, 4), "ratio": round(ours_s / peer_s, 3),
           "images_per_s_ours": round(batch / ours_s, 1), "images_per_s_peer": round(batch / peer_s, 1), "logits_match": match}
    if device.type == "cuda":
        row.update(peak_mem_mb_ours=round(ours_mem), peak_mem_mb_peer=round(peer_mem))
    if device.type == "cpu" and reference:  # our torch reference LIF, for scale
        torch.manual_seed(0)
        ref = spikformer(config, neuron=lambda **kw: make_lif(backend="torch", **kw), **overrides)
        ref.load_state_dict(ours.state_dict())
        row["ours_torch_reference_s"] = round(step_timer(ref, lambda m: None, x, y, device, repeats)[0], 4)
    return row


def _numba_threads(n: int) -> None:
    """Our Numba kernels' threads to ``n`` as well: both sides then use ``n`` threads, and Numba's OpenMP pool, started by
    our first kernel call, does not set torch's thread count back to Numba's default on the way."""
    try:
        import numba
    except ImportError:
        return
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="a shrunken cifar10-4-384 (" + ", ".join(f"{k}={v}" for k, v in QUICK_OVERRIDES.items())
                    + "), batch 8, 3 repeats, 1 thread, no torch-reference row (under a minute on 2 cores)")
    ap.add_argument("--config", default=None, help="a Spikformer config name (default cifar10-4-384; on GPU also imagenet-8-512); "
                                                   "with --quick, the published size of this config")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's; 1 with --quick)")
    args = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    threads = args.threads or (1 if args.quick else None)
    if threads:  # two spinning threads per process on a shared 2-core machine slow small convolutions down many times
        torch.set_num_threads(threads)
        _numba_threads(threads)
    batch = args.batch or (8 if args.quick else 32)
    repeats = args.repeats or (3 if args.quick else 5)
    overrides = QUICK_OVERRIDES if args.quick and not args.config else {}
    configs = [args.config] if args.config else (["cifar10-4-384", "imagenet-8-512"] if device.type == "cuda" and not args.quick else ["cifar10-4-384"])
    rows = []
    for config in configs:
        row = compare(config, batch, repeats, device, overrides, reference=not args.quick)
        print(json.dumps(row), flush=True)
        rows.append(row)
    head = rows[0]
    result = {"name": "transformer_step", "ours_s": head["ours_s"], "peer": head["peer"], "peer_s": head["peer_s"], "ratio": head["ratio"],
              "model": head["model"], "batch": batch, "time_steps": head["time_steps"],
              "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "threads": torch.get_num_threads(), "quick": args.quick, "runs": rows}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
