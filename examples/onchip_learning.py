"""On-chip learning under a processor's budget (after Stewart, Orchard, Shrestha & Neftci 2020, SOEL on Intel's Loihi):
deploy a pre-trained network, check that it fits the chip, quantise its weights, then learn new classes online with the
chip's weight precision.

1. **Pre-training (off chip).** A spiking MLP (64 -> ``hidden`` LIF -> 5 LIF) is trained by BPTT on the bundled 8x8
   digits of classes 0-4 only (their feature layer is what the chip keeps fixed).
2. **Deployment.** :func:`neuro.sim.from_nn` converts it; :func:`neuro.sim.check_budget` maps it on the ``--chip``
   profile (greedy layer-wise packing) and reports whether it fits; :func:`neuro.sim.quantize_weights` rounds its
   weights to the chip's bits (the error is reported, and the accuracy on classes 0-4 before and after).
3. **On-chip learning.** A new readout of 5 :func:`~neuro.dynamics.rules.error_readout` neurons, one per new class
   5-9, receives the deployed hidden layer through synapses learning with :func:`~neuro.dynamics.rules_onchip.soel_rule`
   on the chip's weight grid (weights from 0), a teacher spike train into the right readout's error trace. ``shots``
   samples per new class are streamed once (online, one pass); then learning is switched off and held-out samples of
   classes 5-9 are classified by the readout that fires most. The control: the same readout without learning
   (weights stay 0: it never fires; chance is 0.2).

    python examples/onchip_learning.py                 # 100 shots per class (about 30 s)
    python examples/onchip_learning.py --quick         # 32 hidden, 5 pre-training epochs, 20 shots per class (CI, < 10 s)
    python examples/onchip_learning.py --chip tinyodin --out runs/onchip

Writes ``result.json`` and ``onchip_learning.png`` into ``--out``; prints the result as its last line (JSON).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neuro import sim
from neuro.demo import load_digits_split
from neuro.dynamics.rules import error_readout
from neuro.dynamics.rules_onchip import soel_rule
from neuro.nn import LIF


@dataclass(frozen=True)
class Config:
    hidden: int = 64
    T: int = 16  # steps per sample
    gap: int = 16  # silent steps between samples (membranes and traces decay)
    rate: float = 0.5  # spike probability per step at full intensity
    epochs: int = 15  # pre-training
    shots: int = 100  # per new class, streamed once
    test_per_class: int = 30
    chip: str = "loihi"
    w_max: float = 4.0  # mV, the readout weights' range [-w_max, w_max] on the chip's grid
    k: int = 4  # grid steps per update
    theta: float = 1.0  # error threshold (trace units)
    teacher: float = 0.5  # teacher spike's jump of the error trace
    tau_r: float = 5.0  # ms, the readout's traces
    tau_m: float = 5.0  # ms, the readout's membrane
    seed: int = 0


QUICK = Config(hidden=32, epochs=5, shots=20, test_per_class=20)
OLD, NEW = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)


def encode(x: np.ndarray, cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli spikes [n, T, 64], probability ``rate * intensity`` per step."""
    return (rng.random((len(x), cfg.T, x.shape[1])) < cfg.rate * x[:, None, :]).astype(np.float64)


def pretrain(cfg: Config, x: np.ndarray, y: np.ndarray) -> torch.nn.Sequential:
    torch.manual_seed(cfg.seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, cfg.hidden), LIF(tau=2.0, v_threshold=1.0, v_reset=0.0),
                                torch.nn.Linear(cfg.hidden, len(OLD)), LIF(tau=2.0, v_threshold=1.0, v_reset=0.0))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(cfg.seed)
    yt = torch.tensor(y)
    for _ in tqdm(range(cfg.epochs), desc="pre-training (classes 0-4)"):
        spikes = torch.tensor(encode(x, cfg, rng), dtype=torch.float32).transpose(0, 1)  # [T, n, 64]
        for idx in torch.randperm(len(x), generator=torch.Generator().manual_seed(int(rng.integers(1 << 31)))).split(64):
            counts = model(spikes[:, idx]).sum(0)
            loss = torch.nn.functional.cross_entropy(counts, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def stream(net, spikes: np.ndarray, cfg: Config, learning: float) -> np.ndarray:
    """Present samples [n, T, 64] back to back (``gap`` silent steps between) in one run with the ``learning``
    modulator at ``learning`` (1 on, 0 frozen); returns the step at which each sample starts."""
    n = len(spikes)
    period = cfg.T + cfg.gap
    full = np.zeros((n * period, spikes.shape[2]))
    for i in range(n):
        full[i * period:i * period + cfg.T] = spikes[i]
    start = net.step
    net.set_input(full)
    net.release("learning", learning - net.modulator("learning"))
    net.run((n * period + net.latency) * net.dt, progress=False)
    return start + np.arange(n) * period


def counts_in_windows(mon, starts: np.ndarray, lag: int, cfg: Config, n_out: int) -> np.ndarray:
    """Spikes of each neuron of ``mon``'s population in each sample's window (its ``T`` steps, ``lag`` steps late)."""
    steps = np.rint(np.asarray(mon.t)).astype(np.int64)
    i = np.asarray(mon.i)
    out = np.zeros((len(starts), n_out))
    k = np.searchsorted(starts + lag, steps, side="right") - 1
    keep = (k >= 0) & (steps - (starts[np.clip(k, 0, None)] + lag) < cfg.T + 1)
    np.add.at(out, (k[keep], i[keep]), 1.0)
    return out


def run(cfg: Config = Config(), progress: bool = True) -> tuple[dict, dict]:
    t0 = time.perf_counter()
    if cfg.chip not in sim.PROFILES:
        raise ValueError(f"chip must be one of {sorted(sim.PROFILES)}, got {cfg.chip!r}")
    chip = sim.PROFILES[cfg.chip]
    rng = np.random.default_rng(cfg.seed)
    xtr, ytr, xte, yte = (a.numpy() for a in load_digits_split(cfg.seed))
    old_tr = np.isin(ytr, OLD)
    model = pretrain(cfg, xtr[old_tr], ytr[old_tr])

    # deployment: budget, quantisation, accuracy on the old classes before and after
    net = sim.from_nn(model, (64,), seed=cfg.seed)
    report = sim.check_budget(net, chip)
    old_te = np.flatnonzero(np.isin(yte, OLD))[:100]
    old_spikes = encode(xte[old_te], cfg, rng)

    def old_accuracy() -> float:
        pred = [net.present(s)[-1].sum(0).argmax() for s in old_spikes]
        return float(np.mean(np.array(pred) == yte[old_te]))

    acc_float = old_accuracy()
    qerr = sim.quantize_weights(net, chip.weight_bits)
    acc_quant = old_accuracy()

    # on-chip learning of the new classes: a new readout on the hidden layer
    qmax = 2 ** (chip.weight_bits - 1) - 1
    q = cfg.w_max / qmax
    results = {}
    for plastic in (True, False):
        net = sim.from_nn(model, (64,), seed=cfg.seed)
        sim.quantize_weights(net, chip.weight_bits)
        hidden = net.layers[0]
        readout = sim.Population(len(NEW), error_readout(), name="readout", tau_r=cfg.tau_r, tau_m=cfg.tau_m)
        net.add_modulator("learning", tau=1e15)
        rule = soel_rule()(q=q, q_max=float(qmax), k=float(cfg.k), theta=cfg.theta)
        learned = sim.Projection(hidden, readout, "all_to_all", weight=0.0, receptor="v", plasticity=rule, name="hidden->readout")
        shots = np.concatenate([rng.permutation(np.flatnonzero(ytr == c))[:cfg.shots] for c in NEW])
        shots = rng.permutation(shots)
        period = cfg.T + cfg.gap
        # the teacher: the sample's readout, at every step its hidden spikes arrive (one step after the input)
        lag = 1
        tt = np.concatenate([np.arange(cfg.T) + i * period + lag for i in range(len(shots))]).astype(np.float64)
        ti = np.repeat(ytr[shots] - NEW[0], cfg.T).astype(np.int64)
        teacher = sim.SpikeSource(len(NEW), tt * net.dt, ti, name="teacher")
        net.add(readout, learned, teacher, sim.Projection(teacher, readout, "one_to_one", weight=cfg.teacher, receptor="exc", name="teacher"))
        mon = net.add(sim.SpikeMonitor(readout))
        with tqdm(total=2, desc=f"on chip ({'SOEL' if plastic else 'no learning'})", disable=not progress) as bar:
            train_starts = stream(net, encode(xtr[shots], cfg, rng), cfg, learning=1.0 if plastic else 0.0)
            bar.update()
            teacher.times, teacher.indices = np.zeros(0), np.zeros(0, dtype=np.int64)
            test = np.concatenate([np.flatnonzero(yte == c)[:cfg.test_per_class] for c in NEW])
            w_before_test = learned.weights
            test_starts = stream(net, encode(xte[test], cfg, rng), cfg, learning=0.0)
            bar.update()
        counts = counts_in_windows(mon, test_starts, lag + 1, cfg, len(NEW))
        pred = np.where(counts.max(1) > 0, counts.argmax(1), -1)
        acc = float(np.mean(pred == yte[test] - NEW[0]))
        train_counts = counts_in_windows(mon, train_starts, lag + 1, cfg, len(NEW))
        w = learned.weights
        results["soel" if plastic else "no_learning"] = {
            "accuracy": acc, "silent_fraction": float(np.mean(counts.max(1) == 0)),
            "weights_on_grid": bool(np.allclose(w / q, np.rint(w / q), atol=1e-6)), "weights_frozen_in_test": bool(np.array_equal(w, w_before_test)),
            "w_min": float(w.min()), "w_max": float(w.max()), "train_spikes": float(train_counts.sum())}
        if plastic:
            extra = {"counts": counts, "labels": yte[test] - NEW[0]}
    result = {"config": asdict(cfg), "chip": asdict(chip), "fits": report.fits, "violations": [str(v) for v in report.violations],
              "cores_used": report.mapping.n_cores, "cores_per_layer": {k: len(v) for k, v in report.mapping.cores.items()},
              "weight_bits": chip.weight_bits, "quantisation_relative_rms_error": {k: v["relative_rms_error"] for k, v in qerr.items()},
              "old_classes_accuracy_float": acc_float, "old_classes_accuracy_quantised": acc_quant,
              "new_classes_accuracy_soel": results["soel"]["accuracy"], "new_classes_accuracy_no_learning": results["no_learning"]["accuracy"],
              "chance": 1.0 / len(NEW), "soel": results["soel"], "no_learning": results["no_learning"],
              "wall_s": round(time.perf_counter() - t0, 1)}
    return result, extra


def plot(result: dict, extra: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(14, 3.8))
    names = ["classes 0-4\nfloat weights", f"classes 0-4\n{result['weight_bits']}-bit weights", "classes 5-9\nSOEL on chip",
             "classes 5-9\nno learning"]
    vals = [result["old_classes_accuracy_float"], result["old_classes_accuracy_quantised"], result["new_classes_accuracy_soel"],
            result["new_classes_accuracy_no_learning"]]
    ax[0].bar(range(4), vals, color=["grey", "grey", "tab:blue", "tab:red"])
    ax[0].axhline(result["chance"], color="k", ls="--", lw=1, label="chance (5 classes)")
    ax[0].set_xticks(range(4), names, fontsize=8)
    ax[0].set_ylabel("test accuracy")
    ax[0].set_ylim(0, 1)
    ax[0].legend(fontsize=8)
    ax[0].set_title(f"Deployed on {result['chip']['name']} ({result['cores_used']} cores)", fontsize=10)
    counts, labels = extra["counts"], extra["labels"]
    conf = np.zeros((5, 5))
    for c in range(5):
        conf[c] = counts[labels == c].mean(0)
    im = ax[1].imshow(conf, cmap="viridis")
    ax[1].set_xlabel("readout (class 5-9)")
    ax[1].set_ylabel("true class (5-9)")
    ax[1].set_xticks(range(5), [str(c) for c in NEW])
    ax[1].set_yticks(range(5), [str(c) for c in NEW])
    fig.colorbar(im, ax=ax[1], label="spikes per sample")
    ax[1].set_title("Readout spikes after on-chip learning (test)", fontsize=10)
    w = result["soel"]
    ax[2].text(0.02, 0.5, "\n".join([f"fits: {result['fits']}", f"cores per layer: {result['cores_per_layer']}",
                                      f"weight bits: {result['weight_bits']}",
                                      *(f"RMS error {k}: {v:.3f}" for k, v in result["quantisation_relative_rms_error"].items()),
                                      f"readout weights in [{w['w_min']:.2f}, {w['w_max']:.2f}] mV, on the grid: {w['weights_on_grid']}"]),
               fontsize=9, va="center", transform=ax[2].transAxes)
    ax[2].axis("off")
    ax[2].set_title("Budget report", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="32 hidden neurons, 5 pre-training epochs, 20 shots per class (CI)")
    ap.add_argument("--chip", default=None, help=f"processor profile: {', '.join(sorted(sim.PROFILES))}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/onchip_learning"))
    args = ap.parse_args(argv)
    cfg = replace(QUICK if args.quick else Config(), seed=args.seed)
    if args.chip is not None:
        cfg = replace(cfg, chip=args.chip)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    result, extra = run(cfg)
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    plot(result, extra, args.out / "onchip_learning.png")
    print(f"wrote {args.out / 'onchip_learning.png'}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
