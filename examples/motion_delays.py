"""Heterogeneous learnable delays for motion detection: a layer of spiking neurons detects the direction of a moving dot.

After Grimaldi & Perrinet, "Learning heterogeneous delays in a layer of spiking neurons for fast motion detection"
(Biological Cybernetics 117, 2023): one layer of LIF neurons, one per direction, reads a DVS event stream through
synapses that each have their own delay; a neuron fires when the events of its motif, delayed so that they arrive
together, coincide. The delays are learned with the weights by surrogate gradients
(:class:`neuro.nn.delays.LearnableDelayLinear`: one delay per synapse, a Gaussian kernel around it whose width shrinks
during training, rounded to whole steps for evaluation), and the same network with every delay fixed to 0 is the
control.

The events are synthetic, in DVS format (tonic-style structured arrays with fields x, y, t (µs), p): a 1-pixel dot
crosses ``path`` pixels in one of four directions at 1 pixel per ms; each pixel it reaches emits one event of random
polarity (a textured dot: the sign of the contrast change carries no direction, unlike a uniform dot's leading ON and
trailing OFF edges), plus uniform noise events. Summed over time, a dot moving right and one moving left over the same
pixels are the same, and no single time step holds more than one of the dot's events, so only timing across steps
tells the directions apart: through the delays, or through the membrane's leak (the only memory of the control). The
events are binned into 1 ms frames by :func:`neuro.data.to_frames` and batched by :func:`neuro.data.pad_time`.

    python examples/motion_delays.py                 # 16x16 sensor, 2048 training streams (6 min on a loaded 2-core machine)
    python examples/motion_delays.py --quick         # 10x10, 512 streams, 10 epochs: about 10 s, for CI
    python examples/motion_delays.py --out runs/motion

Writes ``result.json`` and ``motion_delays.png`` into ``--out``; prints the result as its last line (JSON).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from neuro.data import pad_time
from neuro.data.frames import Frames, to_frames
from neuro.nn import LIF
from neuro.nn.delays import LearnableDelayLinear, dcls_sigma

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])  # t in µs
DIRECTIONS = np.array([(1, 0), (-1, 0), (0, 1), (0, -1)])  # right, left, down, up: (dx, dy) per step
NAMES = ("right", "left", "down", "up")


@dataclass(frozen=True)
class Config:
    size: int = 16  # sensor width = height (pixels), 2 polarities
    path: int = 8  # pixels crossed by the dot (1 per ms)
    noise: int = 8  # uniform noise events per stream
    jitter_us: float = 200.0  # uniform timing jitter of the dot's events
    patch: int = 5  # receptive field of a neuron (pixels)
    stride: int = 2  # between neighbouring neurons' receptive fields (pixels)
    max_delay: int = 6  # steps (1 ms each): delays 0..6
    tau: float = 2.0  # LIF membrane time constant (steps)
    train: int = 2048
    test: int = 1024
    epochs: int = 30
    batch: int = 64
    lr: float = 5e-3
    delay_lr_scale: float = 10.0  # delays learn this much faster than weights (Adam)
    seed: int = 0


QUICK = Config(size=10, path=6, train=512, test=256, epochs=10, lr=0.02)


def moving_dot(rng: np.random.Generator, direction: int, cfg: Config) -> np.ndarray:
    """One event stream: a dot crossing ``cfg.path`` pixels in ``DIRECTIONS[direction]`` at 1 pixel per ms, one event
    of random polarity per pixel when the dot reaches it (times jittered), plus ``cfg.noise`` uniform events; sorted
    by time."""
    if not 0 <= direction < len(DIRECTIONS):
        raise ValueError(f"direction must be in 0..{len(DIRECTIONS) - 1}, got {direction}")
    if not 1 <= cfg.path <= cfg.size:
        raise ValueError(f"path must be 1..size = {cfg.size} pixels, got {cfg.path}")
    d = DIRECTIONS[direction]
    lo = np.where(d < 0, cfg.path - 1, 0)
    hi = np.where(d > 0, cfg.size - cfg.path, cfg.size - 1)
    start = rng.integers(lo, hi + 1)
    k = np.arange(cfg.path)
    xy = start[None, :] + k[:, None] * d[None, :]
    t0 = 1000.0
    n = cfg.path + cfg.noise
    ev = np.zeros(n, EVENT_DTYPE)
    ev["x"][: cfg.path], ev["y"][: cfg.path] = xy[:, 0], xy[:, 1]
    ev["t"][: cfg.path] = np.round(t0 + 1000.0 * k + rng.uniform(-cfg.jitter_us, cfg.jitter_us, cfg.path))
    ev["x"][cfg.path:] = rng.integers(0, cfg.size, cfg.noise)
    ev["y"][cfg.path:] = rng.integers(0, cfg.size, cfg.noise)
    ev["t"][cfg.path:] = rng.integers(int(t0), int(t0 + 1000.0 * cfg.path), cfg.noise)
    ev["p"] = rng.integers(0, 2, n)
    return ev[np.argsort(ev["t"], kind="stable")]


def dataset(rng: np.random.Generator, n: int, cfg: Config) -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]:
    """``n`` streams of random directions, binned into 1 ms frames and padded: ``x [T + max_delay, n, 2, size, size]``
    (the tail lets late events through the delays), labels ``[n]`` and the raw events."""
    labels = rng.integers(0, len(DIRECTIONS), n)
    events = [moving_dot(rng, int(y), cfg) for y in labels]
    sensor = (cfg.size, cfg.size, 2)
    bins = Frames(time_window=1000.0, include_incomplete=True)  # from the first event on; the last bin kept
    frames = [(torch.from_numpy(to_frames(ev, sensor, bins).astype(np.float32)), int(y)) for ev, y in zip(events, labels)]
    x = pad_time(frames).data  # [T, n, 2, H, W]
    return F.pad(x, (0, 0, 0, 0, 0, 0, 0, 0, 0, cfg.max_delay)), torch.as_tensor(labels), events


class MotionLayer(nn.Module):
    """A convolutional layer of LIF neurons behind per-synapse delays: at every position of the sensor, one neuron per
    direction reads the ``patch`` x ``patch`` x 2 events around it through synapses with their own weight and delay,
    shared by all positions (the HD-SNN layer of Grimaldi & Perrinet). ``[T, B, 2, H, W]`` -> spike counts
    ``[B, directions]`` summed over time and positions. ``learn_delays=False``: every delay fixed at 0 (the control);
    the weights learn either way."""

    def __init__(self, cfg: Config, learn_delays: bool = True):
        super().__init__()
        self.learn_delays, self.patch, self.stride = learn_delays, cfg.patch, cfg.stride
        self.sigma_init = cfg.max_delay / 2
        n_in = 2 * cfg.patch**2
        delays = None if learn_delays else torch.zeros(len(DIRECTIONS), n_in)
        gen = torch.Generator().manual_seed(cfg.seed)
        self.synapses = LearnableDelayLinear(n_in, len(DIRECTIONS), cfg.max_delay, sigma=self.sigma_init if learn_delays else 0.0,
                                             delays=delays, delay_lr_scale=cfg.delay_lr_scale, round_in_eval=True, generator=gen)
        self.synapses.delay_raw.requires_grad_(learn_delays)
        with torch.no_grad():
            self.synapses.weight.uniform_(0.0, 0.2, generator=gen)
        self.lif = LIF(tau=cfg.tau, v_threshold=1.0, v_reset=0.0, decay_input=False, detach_reset=True, surrogate="atan", alpha=5.0,
                       backend="torch")  # small tensors: the reference is as fast as a kernel and compiles nothing

    def spikes(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes ``[T, B, positions, directions]``."""
        t, b = x.shape[:2]
        patches = F.unfold(x.flatten(0, 1), self.patch, stride=self.stride)  # [T*B, 2*patch^2, positions]
        positions = patches.shape[-1]
        patches = patches.transpose(1, 2).reshape(t, b * positions, -1)
        return self.lif(self.synapses(patches)).reshape(t, b, positions, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spikes(x).sum((0, 2))


def accuracy(model: MotionLayer, x: torch.Tensor, y: torch.Tensor) -> tuple[float, np.ndarray]:
    """The direction whose neuron fires most (no spike at all, or a tie for the most: an error); the confusion matrix
    (last column: no answer)."""
    model.eval()
    with torch.no_grad():
        counts = model(x)
    top = counts.max(1).values
    unique = (counts == top[:, None]).sum(1) == 1
    pred = torch.where((top > 0) & unique, counts.argmax(1), torch.full_like(y, len(DIRECTIONS)))
    conf = np.zeros((len(DIRECTIONS), len(DIRECTIONS) + 1), dtype=int)
    np.add.at(conf, (y.numpy(), pred.numpy()), 1)
    return float((pred == y).float().mean()), conf


def train(model: MotionLayer, x: torch.Tensor, y: torch.Tensor, cfg: Config, desc: str) -> list[float]:
    """Adam on the cross-entropy of the spike counts; sigma annealed over the first half of the epochs (learned
    delays). Returns the loss per epoch."""
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    losses = []
    for epoch in tqdm(range(cfg.epochs), desc=desc, unit="epoch"):
        if model.learn_delays:
            model.synapses.sigma = dcls_sigma(epoch, max(cfg.epochs // 2, 1), sigma_init=model.sigma_init)
        model.train()
        total = 0.0
        for idx in torch.randperm(y.numel(), generator=gen).split(cfg.batch):
            counts = model(x[:, idx])
            loss = F.cross_entropy(counts, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        losses.append(total / y.numel())
    if model.learn_delays:
        model.synapses.round_delays()
    return losses


def run(cfg: Config) -> tuple[dict, dict]:
    """Train the learned-delay layer and the zero-delay control on the same streams; test both."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    xtr, ytr, _ = dataset(rng, cfg.train, cfg)
    xte, yte, ev_te = dataset(rng, cfg.test, cfg)
    t = max(xtr.shape[0], xte.shape[0])
    xtr, xte = (F.pad(v, (0, 0, 0, 0, 0, 0, 0, 0, 0, t - v.shape[0])) for v in (xtr, xte))
    result = {"name": "motion_delays", "config": asdict(cfg), "chance": 1 / len(DIRECTIONS), "directions": list(NAMES)}
    models, extra = {}, {"events": ev_te[:4], "labels": yte[:4].tolist()}
    t0 = time.perf_counter()
    for key, learn in (("learned_delays", True), ("zero_delays", False)):
        model = MotionLayer(cfg, learn_delays=learn)
        losses = train(model, xtr, ytr, cfg, key)
        acc, conf = accuracy(model, xte, yte)
        train_acc, _ = accuracy(model, xtr, ytr)
        result[key] = {"test_accuracy": acc, "train_accuracy": train_acc, "final_loss": losses[-1],
                       "delay_range": [int(model.synapses.integer_delays().min()), int(model.synapses.integer_delays().max())]}
        models[key], extra[f"{key}_confusion"], extra[f"{key}_losses"] = model, conf, losses
    result["train_s"] = round(time.perf_counter() - t0, 1)
    extra["models"] = models
    return result, extra


def plot(result: dict, extra: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = result["config"]
    size = cfg["patch"]
    model = extra["models"]["learned_delays"]
    d = model.synapses.integer_delays().reshape(len(DIRECTIONS), 2, size, size).numpy().astype(float)
    w = model.synapses.weight.detach().reshape(len(DIRECTIONS), 2, size, size).numpy()
    fig = plt.figure(figsize=(18, 4.6))
    grid = fig.add_gridspec(2, 7, width_ratios=[1.3, 1, 1, 1, 1, 0.1, 1.3])
    ax = fig.add_subplot(grid[:, 0])
    for k, (ev, y) in enumerate(zip(extra["events"], extra["labels"])):
        pos = ev["x"] if DIRECTIONS[y][0] else ev["y"]
        ax.scatter(ev["t"] / 1000.0, pos + 0.15 * k, s=12, marker="o^sv"[k], label=f"moving {NAMES[y]}")
    ax.set_xlabel("t (ms)")
    ax.set_ylabel("position along the motion's axis (px)")
    ax.set_title("test streams (dot and noise)")
    ax.legend(fontsize=8)
    for k in range(len(DIRECTIONS)):
        a = fig.add_subplot(grid[0, 1 + k])
        strong = w[k, 1] > 0.3 * float(w[k, 1].max())  # delays of the ON synapses with a large weight
        im = a.imshow(np.where(strong, d[k, 1], np.nan), cmap="viridis", vmin=0, vmax=cfg["max_delay"])
        a.set_title(f"'{NAMES[k]}' neuron: delays\n(ON synapses, w > 0.3 max)", fontsize=9)
        a.axis("off")
        b = fig.add_subplot(grid[1, 1 + k])
        b.imshow(w[k, 1], cmap="RdBu_r", vmin=-np.abs(w).max(), vmax=np.abs(w).max())
        b.set_title("ON weights", fontsize=9)
        b.axis("off")
    fig.colorbar(im, cax=fig.add_subplot(grid[0, 5]), label="delay (ms)")
    ax = fig.add_subplot(grid[:, 6])
    vals = [result["learned_delays"]["test_accuracy"], result["zero_delays"]["test_accuracy"]]
    ax.bar([0, 1], vals, color=["tab:blue", "tab:orange"])
    for k, v in enumerate(vals):
        ax.text(k, v + 0.01, f"{v:.3f}", ha="center")
    ax.axhline(result["chance"], color="k", ls=":", lw=1, label="chance")
    ax.set_xticks([0, 1], ["learned\ndelays", "delays\nfixed at 0"])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy (direction)")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smaller run for CI")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="folder for result.json and the figure (default: a new temporary folder)")
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    cfg = Config(**{**asdict(cfg), "seed": args.seed, **({"epochs": args.epochs} if args.epochs else {})})
    out = args.out or Path(tempfile.mkdtemp(prefix="motion_delays_"))
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    result, extra = run(cfg)
    plot(result, extra, out / "motion_delays.png")
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
