"""SpikePoint learns motion classes from DVS128-Gesture-format event files as point clouds (no frames).

The data: a small fixture in DVS128 Gesture's extracted layout (``DVSGesture/ibmGesture<Split>/userNN_<light>/
<label>.npy``, int64 columns x, y, p, t in ms, written here) read back by :func:`neuro.data.load` through tonic. Each
class is a blob of events (sd 6 px) following its own path on the 128x128 sensor for 1.5 s, plus 20 % uniform noise
events: classes 0-7 cross the sensor in eighths of a turn (0-3: right, up, left, down; 4-7 the
diagonals), 8 and 9 circle clockwise and anticlockwise, 10
stays still. ``--classes`` keeps the first ``n`` of them. Each sample becomes ``--points`` points
``(x/128, y/128, t/duration)`` (:func:`neuro.nn.models.spikepoint.events_to_points`), and SpikePoint
(:class:`neuro.nn.models.spikepoint.SpikePoint`: farthest-point sampling, kNN groups, rate-coded coordinates, spiking
local and global extractors, voting classifier) is trained with Adam on the paper's MSE loss between the votes and the
one-hot label.

    python examples/spikepoint.py --quick              # 4 classes, 8 groups of 8 points, 12 epochs: about 8 s on one thread of a loaded 2-core machine
    python examples/spikepoint.py --out runs/spikepoint  # 11 classes, longer

Writes ``result.json`` and ``spikepoint.png`` (training loss, test accuracy per epoch, test confusion matrix) into
``--out``; prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from neuro.nn.models import count_parameters
from neuro.nn.models.spikepoint import SpikePoint, events_to_points, spikepoint_loss

N_GESTURES = 11
LIGHTINGS = ("fluorescent", "lab", "led", "natural")
DIRECTIONS = (0, 2, 4, 6, 1, 3, 5, 7)  # the first four classes are the four axis directions


def gesture_events(label: int, rng: np.random.Generator, n_events: int = 1500, noise: float = 0.2,
                   duration_ms: int = 1500) -> np.ndarray:
    """One sample, (N, 4) int64 columns x, y, p, t (ms), sorted by time (see the module docstring for the paths)."""
    if not 0 <= label < N_GESTURES:
        raise ValueError(f"label must be in [0, {N_GESTURES}), got {label}")
    n_sig = int(n_events * (1 - noise))
    t = np.sort(rng.uniform(0, duration_ms, n_events))
    s = rng.permutation(t)[:n_sig] / duration_ms                       # signal events' phase in [0, 1]
    jitter = rng.normal(0, 4, 2)
    if label < 8:
        a = 2 * np.pi * DIRECTIONS[label] / 8
        d = np.array([np.cos(a), np.sin(a)])
        centre = 64 - 40 * d + jitter + 80 * s[:, None] * d
    elif label < 10:
        sign = 1.0 if label == 8 else -1.0
        phi = rng.uniform(0, 2 * np.pi) + sign * 2 * np.pi * s
        centre = 64 + jitter + 35 * np.stack([np.cos(phi), np.sin(phi)], 1)
    else:
        centre = 64 + jitter + rng.normal(0, 3, (n_sig, 2))
    xy = np.concatenate([centre + rng.normal(0, 6, (n_sig, 2)), rng.uniform(0, 128, (n_events - n_sig, 2))])
    t_all = np.concatenate([s * duration_ms, rng.uniform(0, duration_ms, n_events - n_sig)])
    ev = np.stack([np.clip(xy[:, 0], 0, 127), np.clip(xy[:, 1], 0, 127), rng.integers(0, 2, n_events),
                   np.floor(t_all)], axis=1).astype(np.int64)
    return ev[np.argsort(ev[:, 3], kind="stable")]


def write_gesture_fixture(root: Path, classes: int, train_per_class: int, test_per_class: int, seed: int) -> None:
    """``<root>/DVSGesture/ibmGestureTrain`` (users 1..) and ``ibmGestureTest`` (users 24..), labels ``0 .. classes-1``."""
    rng = np.random.default_rng(seed)
    for folder, n, first_user in (("ibmGestureTrain", train_per_class, 1), ("ibmGestureTest", test_per_class, 24)):
        for k in range(n):
            d = root / "DVSGesture" / folder / f"user{first_user + k:02d}_{LIGHTINGS[k % len(LIGHTINGS)]}"
            d.mkdir(parents=True, exist_ok=True)
            for label in range(classes):
                np.save(d / f"{label}.npy", gesture_events(label, rng))


def load_points(root: Path, split: str, n_points: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[S, n_points, 3]`` points and ``[S]`` labels of one split, read with :func:`neuro.data.load` (sorted by path)."""
    from neuro.data import load

    ds = load("dvsgesture", split, root=root, cache=False, progress=False, verify=False)
    order = sorted(range(len(ds)), key=lambda i: str(ds.sample_path(i)))
    rng = np.random.default_rng(seed)
    pts, labels = [], []
    for i in order:
        ev, y = ds[i]
        pts.append(events_to_points(ev, n_points, rng=rng))
        labels.append(int(y))
    return torch.from_numpy(np.stack(pts)), torch.tensor(labels)


@torch.no_grad()
def evaluate(model: SpikePoint, x: torch.Tensor, y: torch.Tensor, classes: int) -> tuple[float, np.ndarray]:
    model.eval()
    pred = model(x).mean(0).argmax(-1)
    conf = np.zeros((classes, classes), dtype=int)
    np.add.at(conf, (y.numpy(), pred.numpy()), 1)
    return float((pred == y).float().mean()), conf


def figure(path: Path, log: dict, conf: np.ndarray, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].plot(np.arange(1, len(log["loss"]) + 1), log["loss"])
    axes[0].set_xlabel("training step")
    axes[0].set_ylabel("MSE loss (votes vs one-hot)")
    axes[0].set_title("training loss")
    epochs = np.arange(1, len(log["test_acc"]) + 1)
    axes[1].plot(epochs, log["test_acc"], marker="o", label="test")
    axes[1].plot(epochs, log["train_acc"], marker=".", label="train")
    axes[1].axhline(log["chance"], color="k", ls="--", lw=1, label="chance")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("accuracy")
    axes[1].set_ylim(0, 1.02)
    axes[1].legend(fontsize=8)
    axes[1].set_title("accuracy per epoch")
    im = axes[2].imshow(conf, cmap="Blues")
    axes[2].set_xticks(range(len(conf)))
    axes[2].set_yticks(range(len(conf)))
    axes[2].set_xlabel("predicted class")
    axes[2].set_ylabel("true class")
    axes[2].set_title("test confusion (last epoch)")
    fig.colorbar(im, ax=axes[2], label="samples")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true", help="CI size: 4 classes, 12 + 6 samples per class, 64 points, 8 groups, T = 8, 12 epochs, lr 0.02")
    p.add_argument("--classes", type=int, default=None, help="fixture classes (default 11; 4 with --quick)")
    p.add_argument("--train-per-class", type=int, default=None, help="default 24 (12 with --quick)")
    p.add_argument("--test-per-class", type=int, default=None, help="default 8 (6 with --quick)")
    p.add_argument("--points", type=int, default=None, help="points per sample (default 512; 64 with --quick)")
    p.add_argument("--groups", type=int, default=None, help="centroids M (default 128; 8 with --quick)")
    p.add_argument("--neighbors", type=int, default=None, help="points per group K (default 16; 8 with --quick)")
    p.add_argument("--width", type=int, default=None, help="local width D (default 32; 16 with --quick; the paper: 64)")
    p.add_argument("--time-steps", type=int, default=None, help="T (default 8; the paper: 16)")
    p.add_argument("--epochs", type=int, default=None, help="default 30 (12 with --quick)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 0.01; 0.02 with --quick)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", type=Path, default=None, help="where the fixture is written (default: a temporary folder)")
    p.add_argument("--out", type=Path, default=Path("runs/spikepoint"))
    a = p.parse_args(argv)
    q = a.quick
    classes = a.classes or (4 if q else N_GESTURES)
    if not 2 <= classes <= N_GESTURES:
        raise ValueError(f"--classes must be in [2, {N_GESTURES}], got {classes}")
    cfg = {"classes": classes, "train_per_class": a.train_per_class or (12 if q else 24),
           "test_per_class": a.test_per_class or (6 if q else 8), "points": a.points or (64 if q else 512),
           "groups": a.groups or (8 if q else 128), "neighbors": a.neighbors or (8 if q else 16),
           "width": a.width or (16 if q else 32), "time_steps": a.time_steps or 8,
           "epochs": a.epochs or (12 if q else 30), "batch": a.batch, "lr": a.lr or (2e-2 if q else 1e-2), "seed": a.seed}
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    torch.manual_seed(a.seed)

    with tempfile.TemporaryDirectory() as tmp:
        root = a.root or Path(tmp)
        write_gesture_fixture(root, classes, cfg["train_per_class"], cfg["test_per_class"], a.seed)
        xtr, ytr = load_points(root, "train", cfg["points"], a.seed)
        xte, yte = load_points(root, "test", cfg["points"], a.seed + 1)

    model = SpikePoint(num_classes=classes, width=cfg["width"], groups=cfg["groups"], neighbors=cfg["neighbors"],
                       time_steps=cfg["time_steps"])
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    steps_per_epoch = -(-len(xtr) // a.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["epochs"] * steps_per_epoch)
    gen = torch.Generator().manual_seed(a.seed)
    log = {"loss": [], "train_acc": [], "test_acc": [], "chance": 1.0 / classes}
    for _ in tqdm(range(cfg["epochs"]), desc="SpikePoint", leave=False):
        model.train()
        correct = 0
        for idx in torch.randperm(len(xtr), generator=gen).split(a.batch):
            votes = model(xtr[idx])
            loss = spikepoint_loss(votes, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            log["loss"].append(loss.item())
            correct += int((votes.detach().mean(0).argmax(-1) == ytr[idx]).sum())
        log["train_acc"].append(correct / len(xtr))
        acc, conf = evaluate(model, xte, yte, classes)
        log["test_acc"].append(acc)

    summary = {"name": "spikepoint", "config": cfg, "params": count_parameters(model), "train_samples": len(xtr),
               "test_samples": len(xte), "chance": 1.0 / classes, "test_accuracy": log["test_acc"][-1],
               "best_test_accuracy": max(log["test_acc"]), "train_accuracy": log["train_acc"][-1],
               "test_confusion": conf.tolist(), "log": log, "wall_s": round(time.perf_counter() - t0, 2)}
    figure(a.out / "spikepoint.png", log, conf,
           f"SpikePoint on a {classes}-class DVS-Gesture-format fixture ({len(xtr)} train / {len(xte)} test samples, "
           f"{summary['params']:,} parameters, T = {cfg['time_steps']})")
    (a.out / "result.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({"name": "spikepoint", "test_accuracy": summary["test_accuracy"], "chance": summary["chance"],
                      "params": summary["params"], "wall_s": summary["wall_s"]}), flush=True)
    return summary


if __name__ == "__main__":
    main()
