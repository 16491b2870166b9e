"""The main job (``make demo`` / ``neuro demo``): train a spiking network on the digits bundled with
scikit-learn, then write everything into one run folder and print a summary.

The digits (8x8 grey images, 1797 samples, 10 classes) are rate-coded into Poisson spike
trains of ``T`` steps; a two-layer LIF network is trained by surrogate gradients (BPTT
through the fused multi-step LIF op); the checkpoint is written atomically and the
learning curve is saved as a PNG.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .ops.lif import LIFParams
from .ops.lif.autograd import lif_multi_step


@dataclass(frozen=True)
class DemoConfig:
    time_steps: int = 16
    hidden: int = 128
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    tau: float = 2.0
    seed: int = 0


class _LIF(nn.Module):
    """Multi-step LIF on ``[T, B, N]`` (SpikingJelly-style: tau = 2, hard reset to 0, sigmoid surrogate)."""

    is_spiking = True

    def __init__(self, tau: float):
        super().__init__()
        self.beta = 1.0 - 1.0 / tau
        self.params = LIFParams(v_th=1.0, v_reset=0.0, surrogate="sigmoid", alpha=4.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lif_multi_step(x, None, self.beta, self.params)[0]


class DigitsSNN(nn.Module):
    """64 inputs -> Linear -> LIF -> Linear; logits are the output current averaged over time."""

    def __init__(self, hidden: int, tau: float):
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.lif1 = _LIF(tau)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:  # [T, B, 64] -> [B, 10]
        return self.fc2(self.lif1(self.fc1(spikes))).mean(0)


def poisson_encode(images: torch.Tensor, time_steps: int, generator: torch.Generator) -> torch.Tensor:
    """``[B, F]`` intensities in [0, 1] -> ``[T, B, F]`` Bernoulli spikes with that probability per step."""
    probs = images.unsqueeze(0).expand(time_steps, *images.shape)
    return torch.bernoulli(probs, generator=generator)


def load_digits_split(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = len(x) // 5
    test, train = perm[:n_test], perm[n_test:]
    return x[train], y[train], x[test], y[test]


def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: DemoConfig, gen: torch.Generator) -> float:
    model.eval()
    with torch.no_grad():
        pred = model(poisson_encode(x, cfg.time_steps, gen)).argmax(1)
    model.train()
    return float((pred == y).float().mean())


def train_digits(cfg: DemoConfig, run_dir: Path) -> dict:
    """Train :class:`DigitsSNN`; write ``checkpoint.pt``, ``history.json`` and ``learning_curve.png`` into ``run_dir``."""
    torch.manual_seed(cfg.seed)
    xtr, ytr, xte, yte = load_digits_split(cfg.seed)
    model = DigitsSNN(cfg.hidden, cfg.tau)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    history = {"epoch": [], "train_loss": [], "train_acc": [], "test_acc": []}
    bar = tqdm(range(cfg.epochs), desc="train digits SNN", unit="epoch")
    for epoch in bar:
        perm = torch.randperm(len(xtr), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            logits = model(poisson_encode(xtr[idx], cfg.time_steps, gen))
            loss = nn.functional.cross_entropy(logits, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == ytr[idx]).sum())
            total += len(idx)
        sched.step()
        test_acc = _evaluate(model, xte, yte, cfg, gen)
        for k, v in zip(history, (epoch + 1, loss_sum / total, correct / total, test_acc)):
            history[k].append(v)
        bar.set_postfix(loss=f"{loss_sum / total:.3f}", train=f"{correct / total:.3f}", test=f"{test_acc:.3f}")
        _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1, "config": asdict(cfg)}, run_dir / "checkpoint.pt")
    (run_dir / "history.json").write_text(json.dumps(history, indent=1))
    _plot_curve(history, run_dir / "learning_curve.png")
    return {"model": model, "history": history, "test_acc": history["test_acc"][-1], "test_x": xte, "test_y": yte}


def _plot_curve(history: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax1 = plt.subplots(figsize=(6, 3.5))
    ax1.plot(history["epoch"], history["train_loss"], color="tab:red", label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy", color="tab:red")
    ax2 = ax1.twinx()
    ax2.plot(history["epoch"], history["train_acc"], color="tab:blue", ls="--", label="train accuracy")
    ax2.plot(history["epoch"], history["test_acc"], color="tab:blue", label="test accuracy")
    ax2.set_ylabel("accuracy", color="tab:blue")
    ax2.set_ylim(0, 1)
    ax2.legend(loc="center right")
    ax1.set_title("Spiking MLP on scikit-learn digits (Poisson-coded, surrogate gradients)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_demo(out_root: str | Path = "runs", epochs: int = 30, seed: int = 0) -> Path:
    """Run the main job; returns the run folder."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    run_dir = Path(out_root) / time.strftime("demo-%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=False)
    print(f"neuro demo: writing into {run_dir}")
    t0 = time.perf_counter()
    cfg = DemoConfig(epochs=epochs, seed=seed)
    result = train_digits(cfg, run_dir)
    t_train = time.perf_counter() - t0
    summary = {
        "run_dir": str(run_dir),
        "train": {"test_accuracy": result["test_acc"], "epochs": cfg.epochs, "seconds": round(t_train, 1),
                  "checkpoint": str(run_dir / "checkpoint.pt"), "curve": str(run_dir / "learning_curve.png")},
        "total_seconds": round(time.perf_counter() - t0, 1),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print()
    print("=" * 64)
    print(f" neuro demo finished in {summary['total_seconds']} s — run folder: {run_dir}")
    print(f" 1. digits SNN: test accuracy {result['test_acc']:.3f} after {cfg.epochs} epochs ({t_train:.1f} s)")
    print(f"    checkpoint {run_dir / 'checkpoint.pt'}, curve {run_dir / 'learning_curve.png'}")
    print("=" * 64)
    return run_dir


__all__ = ["DemoConfig", "DigitsSNN", "poisson_encode", "run_demo", "train_digits"]
