"""The main job (``make demo`` / ``neuro demo``), everything into one run folder:

1. train a spiking network on the digits bundled with scikit-learn (8x8 images, 1797 samples,
   10 classes), rate-coded into Poisson spike trains of ``T`` steps, by surrogate gradients
   (BPTT through the fused multi-step LIF op); checkpoint (atomic) and learning curve (PNG);
2. simulate STDP with synaptic delays in the event-driven core: Song, Miller & Abbott's (2000)
   setup — 1000 Poisson inputs at 15 Hz onto one conductance-based LIF neuron through
   plastic synapses with additive STDP and axonal delays of 1-5 ms; the weights become
   bimodal; raster and weight-histogram PNGs;
3. estimate the operations and energy of the trained network on the test digits
   (:func:`neuro.energy.estimate`, 45 nm table): table, JSON and PNG.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .nn import LIF, poisson_encode


@dataclass(frozen=True)
class DemoConfig:
    time_steps: int = 16
    hidden: int = 128
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    tau: float = 2.0
    seed: int = 0


class DigitsSNN(nn.Module):
    """64 inputs -> Linear -> LIF -> Linear; logits are the output current averaged over time."""

    def __init__(self, hidden: int, tau: float):
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.lif1 = LIF(tau=tau, v_threshold=1.0, v_reset=0.0, surrogate="sigmoid", alpha=4.0)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:  # [T, B, 64] -> [B, 10]
        return self.fc2(self.lif1(self.fc1(spikes))).mean(0)


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

    from .viz.axes import epoch_axis

    fig, ax1 = plt.subplots(figsize=(6, 3.5))
    ax1.plot(history["epoch"], history["train_loss"], color="tab:red", label="train loss")
    ax1.set_xlabel("epoch")
    epoch_axis(ax1)
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


def simulate_stdp(run_dir: Path, duration_ms: float = 100_000.0, seed: int = 0) -> dict:
    """Song, Miller & Abbott (2000) with delays; writes ``stdp_raster.png`` and ``stdp_weights.png``."""
    from .ops.stdp import PairSTDP
    from .sim import ConductanceLIF, Network, PoissonInput, Projection, SpikeMonitor

    g_max = 0.01
    rule = PairSTDP(tau_plus=20.0, tau_minus=20.0, eta_plus=0.01 * g_max, eta_minus=0.0105 * g_max, w_min=0.0, w_max=g_max)
    net = Network(dt=0.1, seed=seed)
    inputs = PoissonInput(1000, rate=15.0, name="inputs")
    neuron = ConductanceLIF(1, tau_m=10.0, v_rest=-74.0, v_th=-54.0, v_reset=-60.0, t_ref=0.0, tau_e=5.0, e_exc=0.0, name="neuron")
    rng = np.random.default_rng(seed)
    w0 = rng.uniform(0.0, g_max, 1000)
    synapses = Projection(inputs, neuron, "all_to_all", weight=w0, delay=lambda r, n: r.integers(1, 6, n).astype(float),
                          plasticity=rule, seed=seed)
    net.add(inputs, neuron, synapses)
    out = net.add(SpikeMonitor(neuron))
    net.run(duration_ms - 1000.0, progress=True)
    inp = net.add(SpikeMonitor(inputs))  # the last second only, for the raster
    net.run(1000.0, progress=False)
    w = synapses.weights / g_max
    _plot_stdp(run_dir, inp, out, w0 / g_max, w, net.t)
    hist = np.histogram(w, bins=10, range=(0, 1))[0]
    return {"post_rate_hz": out.rate(duration_ms), "weights_low": float((w < 0.1).mean()), "weights_high": float((w > 0.9).mean()),
            "histogram": hist.tolist(), "synaptic_events": net.counts["synaptic_events"], "seconds_simulated": duration_ms / 1000}


def _plot_stdp(run_dir: Path, inp, out, w0, w, t_end: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    sel = inp.i < 200
    a1.plot(inp.t[sel] / 1000, inp.i[sel], "|", ms=2, color="k")
    a1.set_ylabel("input neuron (first 200)")
    a1.set_title("Last second: Poisson inputs (top), postsynaptic neuron (bottom)")
    ot = out.t[out.t >= t_end - 1000.0]
    a2.eventplot(ot / 1000, colors="tab:red")
    a2.set_yticks([])
    a2.set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(run_dir / "stdp_raster.png", dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 21)
    ax.hist(w0, bins=bins, alpha=0.5, label="initial")
    ax.hist(w, bins=bins, alpha=0.7, label="after STDP")
    ax.set_xlabel("w / w_max")
    ax.set_ylabel("synapses")
    ax.legend()
    ax.set_title("Additive STDP with 1-5 ms delays: the weights split to the bounds")
    fig.tight_layout()
    fig.savefig(run_dir / "stdp_weights.png", dpi=120)
    plt.close(fig)


def estimate_energy(run_dir: Path, model: nn.Module, x_test: torch.Tensor, time_steps: int, seed: int = 0) -> dict:
    """Energy report of the trained model on the encoded test set: ``energy.txt``, ``energy.json``, ``energy.png``."""
    from .energy import estimate

    spikes = poisson_encode(x_test, time_steps, torch.Generator().manual_seed(seed))
    model.eval()
    report = estimate(model, spikes)
    (run_dir / "energy.txt").write_text(report.format_table() + "\n")
    (run_dir / "energy.json").write_text(report.to_json())
    report.plot(run_dir / "energy.png")
    budget = report.bit_budget(weight_bits=32, state_bits=32)
    (run_dir / "bit_budget.json").write_text(json.dumps(budget, indent=1))
    return {"energy_per_sample_mj": report.per_sample_mj(), "snn_bit_ops": budget["snn_bit_ops"], "ann_bit_ops": budget["ann_bit_ops"],
            "ann_activation_bits": budget["ann_activation_bits"], "effective_acs": report.total("effective_acs"),
            "effective_macs": report.total("effective_macs"), "dense_macs": report.total("dense_macs"), "table": report.format_table()}


def run_demo(out_root: str | Path = "runs", epochs: int = 30, seed: int = 0, stdp_seconds: float = 100.0) -> Path:
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
    t1 = time.perf_counter()
    stdp = simulate_stdp(run_dir, duration_ms=stdp_seconds * 1000.0, seed=seed)
    t_sim = time.perf_counter() - t1
    energy = estimate_energy(run_dir, result["model"], result["test_x"], cfg.time_steps, seed)
    summary = {
        "run_dir": str(run_dir),
        "train": {"test_accuracy": result["test_acc"], "epochs": cfg.epochs, "seconds": round(t_train, 1),
                  "checkpoint": str(run_dir / "checkpoint.pt"), "curve": str(run_dir / "learning_curve.png")},
        "stdp": {**stdp, "seconds": round(t_sim, 1), "raster": str(run_dir / "stdp_raster.png"), "weights": str(run_dir / "stdp_weights.png")},
        "energy": {k: v for k, v in energy.items() if k != "table"},
        "total_seconds": round(time.perf_counter() - t0, 1),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print()
    print("=" * 64)
    print(f" neuro demo finished in {summary['total_seconds']} s — run folder: {run_dir}")
    print(f" 1. digits SNN: test accuracy {result['test_acc']:.3f} after {cfg.epochs} epochs ({t_train:.1f} s)")
    print(f"    checkpoint {run_dir / 'checkpoint.pt'}, curve {run_dir / 'learning_curve.png'}")
    print(f" 2. STDP with delays, {stdp['seconds_simulated']:.0f} s simulated in {t_sim:.1f} s: output {stdp['post_rate_hz']:.1f} Hz, "
          f"{100 * stdp['weights_low']:.0f} % of weights near 0 and {100 * stdp['weights_high']:.0f} % near w_max")
    print(f"    raster {run_dir / 'stdp_raster.png'}, weights {run_dir / 'stdp_weights.png'}")
    print(f" 3. energy of the digits SNN: {energy['energy_per_sample_mj']:.3e} mJ per sample; {energy['effective_acs']:.3g} spike-driven ACs "
          f"and {energy['effective_macs']:.3g} MACs vs {energy['dense_macs']:.3g} dense MACs")
    print(f"    bit budget per sample: SNN {energy['snn_bit_ops']:.3g} bit-ops vs {energy['ann_bit_ops']:.3g} for the "
          f"{energy['ann_activation_bits']}-bit quantized ANN with the same information (T = {cfg.time_steps})")
    print(f"    report {run_dir / 'energy.txt'}, {run_dir / 'energy.json'}, {run_dir / 'bit_budget.json'}, {run_dir / 'energy.png'}")
    print("=" * 64)
    return run_dir


__all__ = ["DemoConfig", "DigitsSNN", "estimate_energy", "run_demo", "simulate_stdp", "train_digits"]
