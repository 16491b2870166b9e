"""Train, deploy, keep learning: a neuro.nn SNN trained on digits 0-4 adapts on-line to digits 5-9 in the simulator.

1. Train ``Linear(64, H) - LIF - Linear(H, 10) - LIF`` with surrogate gradients on scikit-learn's 8x8 digits
   of classes 0-4 only (rate-coded: each pixel a Bernoulli spike train, ``p = intensity``, T steps; the loss is
   the cross-entropy of the output spike counts). Outputs 5-9 are never targets, so they stay silent.
2. Deploy it with :func:`neuro.sim.from_nn` (identical spikes to the ``nn`` forward).
3. Present digits 5-9 one at a time to the simulator. After each presentation the readout synapses
   (hidden -> output) change by the error-modulated three-factor rule
   :class:`neuro.ops.three_factor.GatedHebbian` (``use_error=True``): presynaptic rate x (target - output rate)
   x the modulator ``M`` (here 1 while learning is on), :math:`\\Delta w_{ij} = \\eta M (y_i - r_i) r_j`
   (:func:`neuro.ops.three_factor.reference.gated_hebbian_update`). The hidden layer is left as trained.

The plot shows the accuracy on the new classes over the on-line presentations: the running accuracy of the
prediction made *before* each update (prequential), and the accuracy on held-out digits 5-9 (learning off)
at checkpoints; chance is 1/5 (the prediction is the most active output among 5-9).

    python examples/online_adaptation.py [--quick] [--out runs/online_adaptation.png]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from neuro.energy.sim_compare import compare_sim  # noqa: E402
from neuro.nn import LIF  # noqa: E402
from neuro.ops.three_factor import GatedHebbian  # noqa: E402
from neuro.ops.three_factor.reference import gated_hebbian_update  # noqa: E402
from neuro.sim.deploy import from_nn  # noqa: E402

NEW = np.arange(5, 10)


def load(seed: int):
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = d.data.astype(np.float32) / 16.0, d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    old, new = y < 5, y >= 5
    n_old_test = old.sum() // 5
    n_new_test = new.sum() * 3 // 10
    xo, yo, xn, yn = x[old], y[old], x[new], y[new]
    return {"old_train": (xo[n_old_test:], yo[n_old_test:]), "old_test": (xo[:n_old_test], yo[:n_old_test]),
            "new_stream": (xn[n_new_test:], yn[n_new_test:]), "new_test": (xn[:n_new_test], yn[:n_new_test])}


def encode(x: np.ndarray, T: int, seed: int) -> torch.Tensor:
    """Bernoulli rate code ``[T, B, 64]`` with ``p = intensity`` (one fixed spike train per sample and seed)."""
    g = torch.Generator().manual_seed(seed)
    p = torch.as_tensor(x)
    return (torch.rand((T, *p.shape), generator=g) < p).to(torch.float32)


def train(data, T: int, hidden: int, epochs: int, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, hidden), LIF(tau=2.0), nn.Linear(hidden, 10), LIF(tau=2.0))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    x, y = data["old_train"]
    yt = torch.as_tensor(y)
    for epoch in range(epochs):
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed + epoch))
        for i in range(0, len(y), 64):
            idx = perm[i : i + 64]
            s = encode(x[idx.numpy()], T, seed=1000 * epoch + i)
            counts = model(s).sum(0)
            loss = nn.functional.cross_entropy(counts, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def nn_accuracy(model, x, y, T: int, seed: int) -> float:
    with torch.no_grad():
        counts = model(encode(x, T, seed)).sum(0).numpy()
    return float((counts.argmax(1) == y).mean())


def predict_new(counts: np.ndarray) -> int:
    """The most active output among the new classes; -1 (wrong) when none of them fired."""
    sub = counts[NEW]
    return int(NEW[sub.argmax()]) if sub.max() > 0 else -1


def sim_accuracy(net, x, y, T: int, seed: int, classes: np.ndarray | None = None) -> float:
    spikes = encode(x, T, seed).numpy()
    hits = 0
    for b in range(len(y)):
        counts = net.present(spikes[:, b])[-1].sum(0)
        if classes is None:
            pred = int(counts.argmax()) if counts.max() > 0 else -1
        else:
            pred = predict_new(counts)
        hits += pred == y[b]
    return hits / len(y)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI size: fewer epochs, presentations and test digits")
    ap.add_argument("--out", default="runs/online_adaptation.png", help="PNG path (or a folder for online_adaptation.png)")
    ap.add_argument("--steps", type=int, default=12, help="time steps per digit")
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--eta", type=float, default=0.1, help="learning rate of the readout rule")
    ap.add_argument("--target-rate", type=float, default=0.5, help="output rate the correct class should reach")
    ap.add_argument("--rehearsal", type=float, default=0.0,
                    help="fraction of on-line presentations that are old digits 0-4 (rehearsal against forgetting; 0: new digits only)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".png":
        out = out / "online_adaptation.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    T = args.steps
    t0 = time.perf_counter()
    data = load(args.seed)
    epochs, n_online, n_test, every = (6, 300, 100, 50) if args.quick else (25, len(data["new_stream"][1]), len(data["new_test"][1]), 50)
    model = train(data, T, args.hidden, epochs, args.seed)
    acc_old_nn = nn_accuracy(model, *data["old_test"], T, seed=7)
    t_train = time.perf_counter() - t0

    net = from_nn(model.double(), (64,))
    # measured (simulator events) against estimated (neuro.energy.estimate) on held-out digits 0-4, before any learning
    n_energy = 10 if args.quick else 50
    energy = compare_sim(model, encode(data["old_test"][0][:n_energy], T, seed=19).double(), net)
    out.with_name(out.stem + "_energy.txt").write_text(energy.format_table() + "\n")
    print(energy.format_table())
    readout = net.synapses[-1]
    rule = GatedHebbian(eta=args.eta, use_error=True)
    x_test, y_test = data["new_test"][0][:n_test], data["new_test"][1][:n_test]
    xs, ys = data["new_stream"][0][:n_online], data["new_stream"][1][:n_online]
    if args.rehearsal > 0:
        if not 0 < args.rehearsal < 1:
            raise SystemExit("--rehearsal must be in [0, 1)")
        n_old = int(round(len(ys) * args.rehearsal / (1 - args.rehearsal)))
        xo, yo = data["old_train"]
        pick = np.random.default_rng(args.seed).choice(len(yo), n_old, replace=n_old > len(yo))
        order = np.random.default_rng(args.seed + 1).permutation(len(ys) + n_old)
        xs, ys = np.concatenate([xs, xo[pick]])[order], np.concatenate([ys, yo[pick]])[order]
    stream = encode(xs, T, seed=11).numpy()
    checkpoints = [(0, sim_accuracy(net, x_test, y_test, T, seed=13, classes=NEW))]
    print(f"trained on 0-4 in {t_train:.1f} s: nn accuracy on held-out 0-4 {acc_old_nn:.3f}; "
          f"deployed, accuracy on held-out 5-9 before adaptation {checkpoints[0][1]:.3f}")
    hits = []
    n_post, n_pre = readout.post.n, readout.pre.n
    for b in range(len(ys)):
        hidden, output = net.present(stream[:, b])
        counts = output.sum(0)
        if ys[b] >= 5:
            hits.append(predict_new(counts) == ys[b])
        # three factors: presynaptic rate, error (target - output rate), modulator M (learning on)
        w = np.zeros((n_post, n_pre))
        w[readout.post_index, readout.pre_index] = readout.weights
        target = np.zeros(n_post)
        target[ys[b]] = args.target_rate
        w = gated_hebbian_update(w, hidden.mean(0), output.mean(0), None, 1.0, rule, target=target)
        readout.weights = w[readout.post_index, readout.pre_index]
        if (b + 1) % every == 0 or b + 1 == len(ys):
            checkpoints.append((b + 1, sim_accuracy(net, x_test, y_test, T, seed=13, classes=NEW)))
    acc_old_after = sim_accuracy(net, *[a[:n_test] for a in data["old_test"]], T, seed=7)
    acc_all = sim_accuracy(net, np.concatenate([x_test, data["old_test"][0][:n_test]]), np.concatenate([y_test, data["old_test"][1][:n_test]]), T, seed=17)
    elapsed = time.perf_counter() - t0

    hits = np.asarray(hits, dtype=float)
    window = min(50, len(hits))
    running = np.convolve(hits, np.ones(window) / window, mode="valid")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(window, len(hits) + 1), running, label=f"on-line (prequential, running mean of {window})")
    cx, cy = zip(*checkpoints)
    ax.plot(cx, cy, "o-", label="held-out digits 5-9 (learning off)")
    ax.axhline(1 / len(NEW), color="grey", ls="--", label="chance (1/5)")
    ax.set_xlabel("on-line presentations of digits 5-9 in the simulator")
    ax.set_ylabel("accuracy on the new classes")
    ax.set_ylim(0, 1)
    ax.set_title("trained on 0-4 (neuro.nn), deployed (neuro.sim), readout learns on-line (GatedHebbian)", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    result = {"nn_accuracy_old_classes": acc_old_nn, "checkpoints": [[int(a), float(b)] for a, b in checkpoints],
              "final_new_class_accuracy": float(checkpoints[-1][1]), "before_new_class_accuracy": float(checkpoints[0][1]),
              "old_class_accuracy_after": float(acc_old_after), "all_class_accuracy_after": float(acc_all),
              "energy_digits": n_energy, "energy_pj": energy.energy,
              "energy_rows": [{k: r[k] for k in ("quantity", "nn", "sim_horizon", "sim_run")} for r in energy.rows],
              "presentations": int(len(ys)), "rehearsal": args.rehearsal, "steps_per_digit": T, "seconds": elapsed, "train_seconds": t_train}
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    print(f"held-out 5-9 accuracy: {checkpoints[0][1]:.3f} -> {checkpoints[-1][1]:.3f} after {len(ys)} presentations "
          f"(chance 0.2); 0-4 after: {acc_old_after:.3f}; 0-9 after: {acc_all:.3f}; {elapsed:.1f} s")
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
