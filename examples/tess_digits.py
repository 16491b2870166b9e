"""TESS (temporally and spatially local learning) against backpropagation through time: accuracy and measured memory.

The same spiking network (64 inputs -> 128 -> 128 LIF -> 10, :class:`neuro.train.tess.TESSNetwork`) is trained on
scikit-learn's bundled digits (8x8 images, Poisson-coded over T steps, 80/20 split) once with TESS (each layer learns
from eligibility traces and a fixed projection of its own spikes onto the classes; nothing is propagated back in time
or across layers) and once with BPTT, from the same initial weights. Then the peak C-heap memory (glibc mallinfo2,
where PyTorch's CPU tensors live) of one training step is measured for growing T: TESS keeps one step's state, BPTT
every step's. Finally both train on SHD-format files (``neuro.data`` fixtures of the Spiking Heidelberg Digits'
layout, read by tonic through :func:`neuro.data.load`) whose events are synthetic and class-dependent (each class a
sweep of active channels at its own speed), not the real recordings.

Writes ``tess_digits.png`` (peak memory against T; test accuracy per method and data set) and ``tess_digits.json``.

    python examples/tess_digits.py [--quick] [--out runs/tess]    # --quick: 2 epochs, 64 SHD-format samples, for CI
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from neuro.nn import poisson_encode
from neuro.train.tess import PeakHeap, TESSNetwork, accuracy, fit

QUICK = dict(epochs=2, time_steps=10, memory_T=[10, 25, 50, 100], shd_samples=64, shd_epochs=2)
FULL = dict(epochs=15, time_steps=10, memory_T=[10, 25, 50, 100, 200, 400], shd_samples=600, shd_epochs=15)


def digits(seed: int):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = len(x) // 5
    return x[perm[n_test:]], y[perm[n_test:]], x[perm[:n_test]], y[perm[:n_test]]


def peak_memory(method: str, T: int, batch: int = 64, seed: int = 0) -> int:
    """Peak heap bytes above the start of one training step (forward and weight update) of a batch of ``T`` steps."""
    net = TESSNetwork([64, 128, 128], 10, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, batch, 64, generator=gen) < 0.3).float()
    y = torch.randint(0, 10, (batch,), generator=gen)
    with PeakHeap() as mem:
        if method == "tess":
            net.tess_step(x, y)
        else:
            loss, _ = net.bptt_loss(x, y)
            loss.backward()
    return mem.peak


def write_structured_shd(root: Path, n_samples: int, n_classes: int, seed: int) -> None:
    """SHD-format files (``neuro.data.fixtures``' layout) whose events depend on the class: class ``c`` sweeps its
    active channel from ``35 c`` upward at ``(c % 4 + 1)`` x 100 channels per second, plus uniform noise events."""
    import h5py

    from neuro.data import fixtures

    fixtures.make_fixture("shd", root, n_samples=n_samples, seed=seed, archive=False)
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        path = root / "SHD" / f"shd_{split}.h5"
        with h5py.File(path, "r+") as f:
            labels = rng.integers(0, n_classes, n_samples)
            for i, c in enumerate(labels):
                t = np.sort(rng.uniform(0.0, 1.0, 300))
                ch = (35 * c + (c % 4 + 1) * 100 * t + rng.normal(0, 3, t.size)) % 700
                noise_t, noise_ch = rng.uniform(0.0, 1.0, 100), rng.integers(0, 700, 100)
                order = np.argsort(np.concatenate([t, noise_t]))
                f["spikes/times"][i] = np.concatenate([t, noise_t])[order].astype(np.float16)
                f["spikes/units"][i] = np.concatenate([ch, noise_ch])[order].astype(np.uint16)
            f["labels"][...] = labels.astype(np.uint16)


def shd_tensors(root: Path, split: str, time_steps: int, channel_bins: int = 10):
    from neuro.data import load

    ds = load("shd", split, root=root, frames=dict(n_time_bins=time_steps), progress=False, cache=False)
    xs, ys = zip(*(ds[i] for i in range(len(ds))))
    x = torch.stack([torch.as_tensor(v, dtype=torch.float32).reshape(time_steps, -1) for v in xs])  # [N, T, 700]
    x = x.unflatten(-1, (700 // channel_bins, channel_bins)).sum(-1).clamp(max=1.0)  # spikes of 70 channel groups
    return x, torch.as_tensor(np.asarray(ys), dtype=torch.long)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 epochs, T up to 100 for memory, 64 SHD-format samples for 2 epochs (CI)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--out", type=Path, default=Path("runs/tess"))
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: small matrices, shared machines)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = QUICK if args.quick else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    progress = not args.no_progress
    result = {"config": {**cfg, "seed": args.seed, "lr": args.lr}, "accuracy": {}, "memory_bytes": {}}

    xtr, ytr, xte, yte = digits(args.seed)
    T = cfg["time_steps"]
    for method in ("tess", "bptt"):
        gen = torch.Generator().manual_seed(args.seed + 1)
        net = TESSNetwork([64, 128, 128], 10, seed=args.seed)
        if method == "tess":  # the control: the same initial weights, untrained
            gen0 = torch.Generator().manual_seed(args.seed + 1)
            result["accuracy"]["digits_untrained"] = accuracy(net, xte, yte, lambda b, g=gen0: poisson_encode(b, T, g))
        hist = fit(net, xtr, ytr, lambda b, g=gen: poisson_encode(b, T, g), method=method, epochs=cfg["epochs"], batch=32, lr=args.lr,
                   seed=args.seed, progress=progress)
        acc = accuracy(net, xte, yte, lambda b, g=gen: poisson_encode(b, T, g))
        result["accuracy"][f"digits_{method}"] = acc
        print(f"digits, {method}: train accuracy per epoch {[round(a, 3) for a in hist]}, test {acc:.3f}")

    peak_memory("tess", 5), peak_memory("bptt", 5)  # first calls allocate the allocator's own structures
    for method in ("tess", "bptt"):
        result["memory_bytes"][method] = [peak_memory(method, t) for t in cfg["memory_T"]]
        print(f"peak memory of one step, {method}: " + ", ".join(f"T={t}: {b / 1e6:.2f} MB" for t, b in zip(cfg["memory_T"], result["memory_bytes"][method])))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_structured_shd(root, cfg["shd_samples"], 20, args.seed)
        s_xtr, s_ytr = shd_tensors(root, "train", 25)
        s_xte, s_yte = shd_tensors(root, "test", 25)
    for method in ("tess", "bptt"):
        net = TESSNetwork([70, 128, 128], 20, seed=args.seed)
        fit(net, s_xtr, s_ytr, lambda b: b.transpose(0, 1), method=method, epochs=cfg["shd_epochs"], batch=32, lr=args.lr, seed=args.seed,
            progress=progress)
        acc = accuracy(net, s_xte, s_yte, lambda b: b.transpose(0, 1))
        result["accuracy"][f"shd_format_{method}"] = acc
        print(f"SHD-format synthetic, {method}: test accuracy {acc:.3f} (chance 0.05)")

    plot(result, cfg["memory_T"], args.out / "tess_digits.png")
    (args.out / "tess_digits.json").write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out / 'tess_digits.png'}")
    return result


def plot(result: dict, ts: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    for method, color in (("tess", "tab:blue"), ("bptt", "tab:red")):
        a1.plot(ts, np.array(result["memory_bytes"][method]) / 1e6, "o-", color=color, label=method.upper())
    a1.set_xlabel("time steps T")
    a1.set_ylabel("peak heap of one training step (MB)")
    a1.set_title("memory against T (batch 64, 64-128-128-10)")
    a1.legend()
    names = ["digits", "shd_format"]
    w = 0.38
    for k, (method, color) in enumerate((("tess", "tab:blue"), ("bptt", "tab:red"))):
        a2.bar(np.arange(len(names)) + (k - 0.5) * w, [result["accuracy"][f"{n}_{method}"] for n in names], w, color=color, label=method.upper())
    a2.set_xticks(range(len(names)), ["digits (10 classes)", "SHD-format synthetic (20)"])
    a2.set_ylabel("test accuracy")
    a2.set_ylim(0, 1)
    a2.set_title("accuracy")
    a2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
