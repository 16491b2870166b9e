"""Supervised learning with symmetric STDP (Hao, Huang, Dong & Xu 2020) on scikit-learn's bundled digits.

The network of the paper, every part a definition from :mod:`neuro.dynamics.rules`: Poisson inputs (one per pixel of
the 8x8 digit, rate proportional to intensity) -> a hidden layer of conductance-based LIF neurons with a dynamic
threshold, each exciting its own inhibitory neuron that inhibits all the other hidden neurons (winner-take-all) ->
ten label neurons. Both plastic projections learn by symmetric STDP (:func:`~neuro.dynamics.rules.sym_stdp`); before
each sample the summed weight onto every hidden and every label neuron is scaled back to a constant (synaptic scaling,
:meth:`~neuro.sim.Projection.normalize_incoming`). While training, a teacher signal drives the label neuron of the
sample's class (Poisson at 100 Hz) and the label neurons ignore the hidden layer; while testing, the STDP and the
threshold adaptation are off and the label neuron that fires most names the class. A sample is shown for 350 ms, then
150 ms of rest; where the hidden layer fires fewer than 5 spikes, the sample is shown again with a higher input rate
(the authors' code).

Differences from the paper (docs/plasticity.md): 8x8 digits, not MNIST; the summed weight onto a hidden neuron is 0.6
per input (paper: 0.1 of 784 inputs, too little drive for 64); the authors' code adds a trace's jump once per synapse
of the neuron, so ``e2c_per_neuron_traces`` scales the hidden -> label jumps by the number of synapses to match (for the
input -> hidden synapses that scaling makes all hidden neurons learn one digit, so they keep the paper's 0.1).

The same 80/20 split trains the BPTT baseline (:func:`neuro.demo.train_digits`: a spiking MLP trained by surrogate
gradients, with as many hidden neurons).

    python examples/sym_stdp_digits.py                     # full run (a few minutes)
    python examples/sym_stdp_digits.py --quick             # 20 hidden, 150 digits, 2 BPTT epochs (CI, about 10 s)
    python examples/sym_stdp_digits.py --out runs/sym_stdp --hidden 200 --epochs 3

Writes ``result.json`` and ``sym_stdp_digits.png`` into ``--out``; prints the result as its last line (JSON).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from neuro import sim
from neuro.dynamics.rules import adaptive_conductance_lif, sym_stdp, teacher_gated_lif

PAPER_MNIST = 0.9673  # Hao et al. (2020), MNIST test accuracy, 6400 hidden neurons


@dataclass(frozen=True)
class Config:
    hidden: int = 100
    epochs: int = 2
    train_samples: int | None = None  # None: the whole training split
    test_samples: int | None = None
    max_rate: float = 63.75  # Hz at full intensity (the paper: 255 / 8 * 2)
    intensity_step: float = 63.75 / 2  # Hz added per repeat when the hidden layer stays silent
    input_norm: float = 0.6  # synaptic scaling: summed weight onto a hidden neuron = input_norm * inputs (paper: 0.1 of 784)
    label_norm: float = 0.8  # summed weight onto a label neuron = label_norm * hidden (the paper)
    teacher_rate: float = 100.0
    present_ms: float = 350.0
    rest_ms: float = 150.0
    min_spikes: int = 5
    max_repeats: int = 15
    dt: float = 0.5
    p2e_nu: float = 0.02  # learning rates nupre = nupost of the input -> hidden synapses (the authors' code: 0.02)
    p2e_per_neuron_traces: bool = False  # trace jumps as the authors' code has them (see the module docstring)
    e2c_per_neuron_traces: bool = True
    bptt_epochs: int = 30
    seed: int = 0


QUICK = Config(hidden=20, epochs=1, train_samples=150, test_samples=80, bptt_epochs=2)


def load_split(seed: int):
    """The digits (intensities in [0, 1], 64 pixels) and labels, split as :func:`neuro.demo.load_digits_split`."""
    from neuro.demo import load_digits_split

    xtr, ytr, xte, yte = load_digits_split(seed)
    return xtr.numpy().astype(np.float64), ytr.numpy(), xte.numpy().astype(np.float64), yte.numpy()


class SymSTDPNetwork:
    """The network of Hao et al. (2020) for ``n_in`` inputs, ``hidden`` hidden neurons and ``classes`` label neurons."""

    def __init__(self, n_in: int, hidden: int, classes: int, cfg: Config):
        self.cfg = cfg
        net = self.net = sim.Network(dt=cfg.dt, seed=cfg.seed)
        net.add_modulator("dopamine", tau=1e15, initial=1.0)  # 1 while learning, 0 while testing
        self.inputs = sim.PoissonInput(n_in, rate=0.0, name="inputs")
        self.hidden = sim.Population(hidden, adaptive_conductance_lif(), name="hidden")
        self.inhibitory = sim.Population(hidden, adaptive_conductance_lif(), v_rest=-60.0, v_reset=-45.0, v_th=-40.0, tau_m=10.0,
                                         theta=0.0, theta_plus=0.0, theta_offset=0.0, plastic=0.0, v=-100.0, name="inhibitory")
        self.labels = sim.Population(classes, teacher_gated_lif(), gate=0.0, name="labels")
        self.teacher = sim.PoissonInput(classes, rate=0.0, name="teacher")
        others = np.array([(i, j) for i in range(hidden) for j in range(hidden) if i != j]).T
        a = 0.1  # the traces' jump per spike
        def gain(n_pre, n_post, on):
            return {"Apre": a * n_post, "Apost": a * n_pre} if on else {}

        self.p2e = sim.Projection(self.inputs, self.hidden, weight=lambda r, n: r.uniform(0.0, 0.3, n),
                                  plasticity=sym_stdp()(w_max=1.0, nupre=cfg.p2e_nu, nupost=cfg.p2e_nu, **gain(n_in, hidden, cfg.p2e_per_neuron_traces)))
        self.e2c = sim.Projection(self.hidden, self.labels, weight=lambda r, n: r.uniform(0.0, 0.3, n),
                                  plasticity=sym_stdp()(nupre=0.08, nupost=0.08, w_max=8.0, **gain(hidden, classes, cfg.e2c_per_neuron_traces)))
        net.add(self.inputs, self.hidden, self.inhibitory, self.labels, self.teacher, self.p2e, self.e2c,
                sim.Projection(self.hidden, self.inhibitory, "one_to_one", weight=10.4),
                sim.Projection(self.inhibitory, self.hidden, (others[0], others[1]), weight=17.0, receptor="inh"),
                sim.Projection(self.teacher, self.labels, "one_to_one", weight=100.0, receptor="v"))
        self.repeats = 0

    def learning(self, on: bool) -> None:
        """Plasticity (STDP, threshold adaptation) and the teacher on; or off, the label neurons reading the hidden layer."""
        net = self.net
        net.release("dopamine", (1.0 if on else 0.0) - net.modulator("dopamine"))
        self.hidden.plastic = 1.0 if on else 0.0
        self.labels.gate = 0.0 if on else 1.0

    def present(self, x: np.ndarray, label: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Show one sample (``label``: the teacher's class while training); the spike counts of the hidden and label neurons."""
        cfg = self.cfg
        rate = cfg.max_rate
        for _ in range(cfg.max_repeats):
            if label is not None:
                self.p2e.normalize_incoming(cfg.input_norm * self.inputs.n)
                self.e2c.normalize_incoming(cfg.label_norm * self.hidden.n)
            self.hidden.count = 0.0
            self.labels.count = 0.0
            self.inputs.rate = x * rate
            if label is not None:
                t = np.zeros(self.teacher.n)
                t[label] = cfg.teacher_rate
                self.teacher.rate = t
            self.net.run(cfg.present_ms, progress=False)
            h, c = self.hidden.count.copy(), self.labels.count.copy()
            self.inputs.rate = 0.0
            self.teacher.rate = 0.0
            self.net.run(cfg.rest_ms, progress=False)
            if h.sum() >= cfg.min_spikes:
                break
            rate += cfg.intensity_step
            self.repeats += 1
        return h, c


def assignment_accuracy(train_counts: np.ndarray, train_y: np.ndarray, test_counts: np.ndarray, test_y: np.ndarray) -> float:
    """Diehl & Cook's unsupervised read-out of the hidden layer: each hidden neuron is assigned the class it answered
    most on the training samples; a test sample gets the class whose assigned neurons fire most on average."""
    resp = np.stack([train_counts[train_y == c].mean(0) if (train_y == c).any() else np.zeros(train_counts.shape[1]) for c in range(10)])
    assign = resp.argmax(0)
    score = np.stack([test_counts[:, assign == c].mean(1) if (assign == c).any() else np.full(len(test_y), -1.0) for c in range(10)], 1)
    return float((score.argmax(1) == test_y).mean())


def run(cfg: Config) -> tuple[dict, SymSTDPNetwork, dict]:
    """Train on the training split (``cfg.epochs`` passes), test with plasticity off; the result and what the figure needs."""
    xtr, ytr, xte, yte = load_split(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    if cfg.train_samples is not None:
        xtr, ytr = xtr[: cfg.train_samples], ytr[: cfg.train_samples]
    if cfg.test_samples is not None:
        xte, yte = xte[: cfg.test_samples], yte[: cfg.test_samples]
    model = SymSTDPNetwork(xtr.shape[1], cfg.hidden, 10, cfg)
    t0 = time.perf_counter()
    model.learning(True)
    train_counts = np.zeros((len(ytr), cfg.hidden))
    for epoch in range(cfg.epochs):
        for k in tqdm(rng.permutation(len(ytr)), desc=f"sym-STDP epoch {epoch + 1}/{cfg.epochs}", unit="sample"):
            train_counts[k], _ = model.present(xtr[k], int(ytr[k]))  # the last epoch's counts assign the hidden neurons
    train_s = time.perf_counter() - t0
    model.learning(False)
    test_hidden, test_labels = np.zeros((len(yte), cfg.hidden)), np.zeros((len(yte), 10))
    for k in tqdm(range(len(yte)), desc="sym-STDP test", unit="sample"):
        test_hidden[k], test_labels[k] = model.present(xte[k], None)
    silent = test_labels.sum(1) == 0
    pred = np.where(silent, -1, test_labels.argmax(1))  # no label spike: counted as an error
    result = {
        "name": "sym_stdp_digits", "config": asdict(cfg), "hidden": cfg.hidden,
        "test_accuracy": float((pred == yte).mean()),
        "test_silent_fraction": float(silent.mean()),
        "hidden_assignment_accuracy": assignment_accuracy(train_counts, ytr, test_hidden, yte),
        "train_samples": int(len(ytr)), "test_samples": int(len(yte)), "chance": 0.1, "repeats": model.repeats,
        "train_s": round(train_s, 1), "paper_mnist_accuracy": PAPER_MNIST, "paper_hidden": 6400,
    }
    confusion = np.zeros((10, 11), dtype=int)  # last column: no label spike
    for y, p in zip(yte, pred):
        confusion[y, p] += 1
    return result, model, {"confusion": confusion}


def bptt_baseline(cfg: Config, out: Path) -> dict:
    """:func:`neuro.demo.train_digits` (surrogate-gradient BPTT, as many hidden neurons) on the same split."""
    from neuro.demo import DemoConfig, train_digits

    run_dir = out / "bptt"
    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    got = train_digits(DemoConfig(hidden=cfg.hidden, epochs=cfg.bptt_epochs, seed=cfg.seed), run_dir)
    return {"test_accuracy": float(got["test_acc"]), "epochs": cfg.bptt_epochs, "hidden": cfg.hidden, "train_s": round(time.perf_counter() - t0, 1)}


def plot(result: dict, model: SymSTDPNetwork, extra: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = model.hidden.n
    side = int(np.ceil(np.sqrt(n)))
    w = np.zeros((n, model.inputs.n))
    w[model.p2e.post_index, model.p2e.pre_index] = model.p2e.weights
    tiles = np.zeros((side * 9, side * 9))
    for j in range(n):
        r, c = divmod(j, side)
        tiles[r * 9 : r * 9 + 8, c * 9 : c * 9 + 8] = w[j].reshape(8, 8)
    wl = np.zeros((n, 10))
    wl[model.e2c.pre_index, model.e2c.post_index] = model.e2c.weights
    order = np.lexsort((-wl.max(1), wl.argmax(1)))
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2), gridspec_kw={"width_ratios": [1.1, 0.6, 1.0, 0.9]})
    im = axes[0].imshow(tiles, cmap="hot", interpolation="nearest")
    axes[0].set_title(f"input -> hidden weights ({n} neurons, 8x8 each)")
    axes[0].axis("off")
    fig.colorbar(im, ax=axes[0], fraction=0.046, label="w")
    im = axes[1].imshow(wl[order], aspect="auto", cmap="viridis", interpolation="nearest")
    axes[1].set_xlabel("label neuron")
    axes[1].set_ylabel("hidden neuron (sorted by strongest label)")
    axes[1].set_xticks(range(10))
    axes[1].set_title("hidden -> label weights")
    fig.colorbar(im, ax=axes[1], fraction=0.08, label="w")
    conf = extra["confusion"]
    axes[2].imshow(conf, cmap="Blues")
    axes[2].set_xticks(range(11), [str(k) for k in range(10)] + ["none"])
    axes[2].set_yticks(range(10))
    axes[2].set_xlabel("label neuron firing most")
    axes[2].set_ylabel("digit")
    axes[2].set_title(f"test confusion ({result['test_samples']} digits)")
    names = ["sym-STDP\n(label layer)", "sym-STDP\n(hidden, assigned)", "BPTT\n(same data)", "paper\n(MNIST, 6400)"]
    vals = [result["test_accuracy"], result["hidden_assignment_accuracy"], result.get("bptt", {}).get("test_accuracy", np.nan),
            result["paper_mnist_accuracy"]]
    axes[3].bar(range(4), vals, color=["tab:blue", "tab:cyan", "tab:orange", "0.6"])
    for k, v in enumerate(vals):
        if np.isfinite(v):
            axes[3].text(k, v + 0.01, f"{v:.3f}", ha="center", fontsize=9)
    axes[3].axhline(0.1, color="k", ls=":", lw=1, label="chance")
    axes[3].set_xticks(range(4), names, fontsize=8)
    axes[3].set_ylim(0, 1.05)
    axes[3].set_ylabel("test accuracy")
    axes[3].legend(loc="lower right", fontsize=8)
    axes[3].set_title(f"digits, {n} hidden neurons")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 hidden neurons, 150 training and 80 test digits, 2 BPTT epochs (CI)")
    ap.add_argument("--hidden", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--no-bptt", action="store_true", help="skip the BPTT baseline")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="folder for result.json and the figure (default: a new temporary folder)")
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    changes = {"seed": args.seed, **({"hidden": args.hidden} if args.hidden else {}), **({"epochs": args.epochs} if args.epochs else {})}
    cfg = Config(**{**asdict(cfg), **changes})
    out = args.out or Path(tempfile.mkdtemp(prefix="sym_stdp_digits_"))
    out.mkdir(parents=True, exist_ok=True)
    result, model, extra = run(cfg)
    if not args.no_bptt:
        result["bptt"] = bptt_baseline(cfg, out)
    plot(result, model, extra, out / "sym_stdp_digits.png")
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
