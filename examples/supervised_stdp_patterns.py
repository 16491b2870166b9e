"""Supervised STDP with homeostasis learning spatial patterns (after Davies, Gait, Rowley & Di Nuovo 2025, SpiNNaker).

A spatial pattern is a set of the ``n_inputs`` input neurons spiking together. The network: the inputs, all connected to
one output neuron (:func:`~neuro.dynamics.rules_supervised.homeostatic_detector`) by plastic synapses
(:func:`~neuro.dynamics.rules_supervised.supervised_stdp_homeostasis`), and a teacher that makes the output neuron
spike with each pattern it must learn. Each pattern is shown once (one-shot), 100 ms apart. Then learning is switched
off (the ``learning`` modulator and the neuron's ``plastic`` set to 0) and every one of the :math:`2^{n}` possible input
sets is shown; the output should fire for the trained patterns and for nothing else. The paper's performance metrics
come from that confusion matrix: accuracy, precision, recall (sensitivity), specificity, F1.

Three experiments, each repeated over independent networks (one detector per trial, all trials simulated together):

* one pattern (random, each input on with probability 1/2);
* two patterns of ``n_inputs / 2`` active inputs each, at every even Hamming distance between them;
* three random patterns.

The all-inputs test runs one copy of the trained detector (its weights and threshold) per input set, in one network,
rather than :math:`2^{n}` presentations to the same neuron one after the other (``test_sequential`` in the test checks
that both give the same answers).

    python examples/supervised_stdp_patterns.py                 # 12 inputs (4096 test sets), about a minute
    python examples/supervised_stdp_patterns.py --quick         # 8 inputs, a few seconds, for CI
    python examples/supervised_stdp_patterns.py --out runs/sstdp --inputs 10

Writes ``result.json`` and ``supervised_stdp_patterns.png`` into ``--out``; prints the result as its last line (JSON).
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
from neuro.dynamics.rules_supervised import homeostatic_detector, supervised_stdp_homeostasis

PAPER = {"one_pattern_accuracy": 1.0}  # Davies et al. (abstract): "the ideal detector, with 100% accuracy" for one pattern
GAP_MS = 100.0  # between presentations while training (the traces decay to exp(-5) in between)


@dataclass(frozen=True)
class Config:
    n_inputs: int = 12
    single_trials: int = 20
    pair_trials: int = 5  # per Hamming distance
    triple_trials: int = 20
    nu_plus: float = 1.0  # mV, potentiation of an active synapse per teacher spike (times the pre trace, ~1)
    beta: float = 1.0  # mV, heterosynaptic depression of a silent synapse per teacher spike
    margin: float = 0.5  # mV, the detector's threshold sits this far below the taught pattern's drive
    teacher_weight: float = 100.0  # mV, a teacher spike always makes the output fire
    dt: float = 0.1
    seed: int = 0


QUICK = Config(n_inputs=8, single_trials=8, pair_trials=2, triple_trials=8)


def all_inputs(n: int) -> np.ndarray:
    """Every input set of ``n`` inputs, as rows of 0/1 (row k: the binary digits of k)."""
    if not 1 <= n <= 16:
        raise ValueError(f"n_inputs must be in 1..16 (2^n test sets), got {n}")
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)


def train(patterns: np.ndarray, cfg: Config) -> dict:
    """Teach ``patterns`` (trials x patterns x inputs, 0/1), each shown once with a teacher spike, one detector per
    trial; returns the weights (trials x inputs), thresholds and the output's spike count per presentation."""
    patterns = np.asarray(patterns, dtype=bool)
    if patterns.ndim != 3:
        raise ValueError(f"patterns must be (trials, patterns, inputs), got shape {patterns.shape}")
    trials, k, n = patterns.shape
    net = sim.Network(dt=cfg.dt, seed=cfg.seed)
    net.add_modulator("learning", tau=1e15, initial=1.0)
    trial, which, inp = np.nonzero(patterns)
    times = 5.0 + GAP_MS * which
    inputs = sim.SpikeSource(trials * n, times=times, indices=trial * n + inp, name="inputs")
    teacher = sim.SpikeSource(trials, times=np.tile(5.0 + GAP_MS * np.arange(k), trials), indices=np.repeat(np.arange(trials), k),
                              name="teacher")
    out = sim.Population(trials, homeostatic_detector(), margin=cfg.margin, name="output")
    pre = np.arange(trials * n)
    plastic = sim.Projection(inputs, out, (pre, pre // n), weight=0.0,
                             plasticity=supervised_stdp_homeostasis()(nu_plus=cfg.nu_plus, beta=cfg.beta))
    mon = sim.SpikeMonitor(out)
    net.add(inputs, teacher, out, plastic, sim.Projection(teacher, out, "one_to_one", weight=cfg.teacher_weight, receptor="v"), mon)
    net.run(GAP_MS * k, progress=False)
    t, i = np.asarray(mon.t), np.asarray(mon.i)
    counts = np.zeros((trials, k), dtype=int)
    np.add.at(counts, (i, np.minimum((t // GAP_MS).astype(int), k - 1)), 1)
    w = np.zeros((trials, n))
    w[plastic.post_index, plastic.pre_index % n] = plastic.weights
    return {"weights": w, "theta": np.asarray(out.theta, dtype=float).copy(), "train_spikes": counts, "network": net, "output": out,
            "inputs": inputs, "projection": plastic}


def respond(weights: np.ndarray, theta: np.ndarray, x: np.ndarray, cfg: Config) -> np.ndarray:
    """Whether each trained detector (rows of ``weights``, ``theta``) fires for each input set (rows of ``x``): one
    copy of each detector per input set, learning off, every set's spikes at 1 ms; fired[trial, set]."""
    weights, x = np.atleast_2d(weights), np.asarray(x, dtype=bool)
    trials, n = weights.shape
    if x.shape[1] != n:
        raise ValueError(f"x must have {n} columns (one per input), got shape {x.shape}")
    m = x.shape[0]
    net = sim.Network(dt=cfg.dt, seed=cfg.seed)
    copy, inp = np.nonzero(np.broadcast_to(x, (trials, m, n)).reshape(trials * m, n))
    src = sim.SpikeSource(trials * m * n, times=np.ones(copy.size), indices=copy * n + inp)
    out = sim.Population(trials * m, homeostatic_detector(), margin=cfg.margin, plastic=0.0, theta=np.repeat(theta, m))
    pre = np.arange(trials * m * n)
    net.add(src, out, sim.Projection(src, out, (pre, pre // n), weight=np.repeat(weights, m, axis=0).ravel()))
    net.run(5.0, progress=False)
    return (np.asarray(out.count) > 0).reshape(trials, m)


def metrics(fired: np.ndarray, target: np.ndarray) -> dict:
    """The confusion matrix of one detector over the test sets and the metrics drawn from it."""
    tp = int(np.sum(fired & target))
    fp = int(np.sum(fired & ~target))
    tn = int(np.sum(~fired & ~target))
    fn = int(np.sum(~fired & target))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    specificity = tn / (tn + fp) if tn + fp else 0.0
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "accuracy": (tp + tn) / fired.size, "precision": precision, "recall": recall,
            "specificity": specificity, "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "balanced_accuracy": (recall + specificity) / 2}


def summarise(rows: list[dict]) -> dict:
    keys = ("accuracy", "precision", "recall", "specificity", "f1", "balanced_accuracy")
    return {k: float(np.mean([r[k] for r in rows])) for k in keys} | {"min_accuracy": float(min(r["accuracy"] for r in rows)),
                                                                        "trials": len(rows)}


def evaluate(patterns: np.ndarray, cfg: Config, x: np.ndarray) -> tuple[list[dict], dict]:
    """Train one detector per trial on its patterns, test every input set; per-trial metrics and the raw pieces."""
    got = train(patterns, cfg)
    fired = respond(got["weights"], got["theta"], x, cfg)
    code = 2 ** np.arange(x.shape[1])
    rows = []
    for t in range(patterns.shape[0]):
        target = np.zeros(x.shape[0], dtype=bool)
        target[(patterns[t].astype(int) @ code)] = True
        row = metrics(fired[t], target)
        row["pattern_fired"] = fired[t][patterns[t].astype(int) @ code].astype(int).tolist()  # recognition of each trained pattern
        row["taught_spikes"] = got["train_spikes"][t].tolist()
        rows.append(row)
    return rows, {"fired": fired, **got}


def random_patterns(rng, trials: int, k: int, n: int) -> np.ndarray:
    """``trials`` sets of ``k`` distinct non-empty random patterns (each input on with probability 1/2)."""
    out = np.zeros((trials, k, n), dtype=bool)
    for t in range(trials):
        codes = set()
        while len(codes) < k:
            p = rng.random(n) < 0.5
            c = int(p @ (2 ** np.arange(n)))
            if c and c not in codes:
                codes.add(c)
                out[t, len(codes) - 1] = p
    return out


def pair_at_distance(rng, n: int, h: int) -> np.ndarray:
    """Two patterns of n/2 active inputs each at Hamming distance ``h`` (even): h/2 of the first's inputs swapped."""
    p1 = np.zeros(n, dtype=bool)
    p1[rng.permutation(n)[: n // 2]] = True
    p2 = p1.copy()
    p2[rng.permutation(np.flatnonzero(p1))[: h // 2]] = False
    p2[rng.permutation(np.flatnonzero(~p1))[: h // 2]] = True
    return np.stack([p1, p2])


def run(cfg: Config) -> tuple[dict, dict]:
    """The three experiments and the untrained control; the result and what the figure needs."""
    rng = np.random.default_rng(cfg.seed)
    n = cfg.n_inputs
    x = all_inputs(n)
    t0 = time.perf_counter()
    steps = tqdm(total=3, desc="supervised STDP patterns", unit="experiment")
    single = random_patterns(rng, cfg.single_trials, 1, n)
    rows1, got1 = evaluate(single, cfg, x)
    steps.update()
    # the detector's answer against the input's Hamming distance from the trained pattern (one pattern)
    dist = (x[None, :, :] != single[:, 0, None, :]).sum(-1)
    by_distance = [float(got1["fired"][dist == d].mean()) for d in range(n + 1)]
    distances = list(range(2, n + 1, 2))
    pairs = np.stack([pair_at_distance(rng, n, h) for h in distances for _ in range(cfg.pair_trials)])
    rows2, _ = evaluate(pairs, cfg, x)
    steps.update()
    per_distance = {h: summarise(rows2[j * cfg.pair_trials:(j + 1) * cfg.pair_trials]) for j, h in enumerate(distances)}
    triples = random_patterns(rng, cfg.triple_trials, 3, n)
    rows3, _ = evaluate(triples, cfg, x)
    steps.update()
    steps.close()
    hd3 = [float(np.mean([(p[a] != p[b]).sum() for a, b in ((0, 1), (0, 2), (1, 2))])) for p in triples]
    untrained = respond(np.zeros((1, n)), homeostatic_detector().defaults["theta"] * np.ones(1), x, cfg)[0]
    control = [metrics(untrained, np.eye(2**n, dtype=bool)[single[t, 0].astype(int) @ (2 ** np.arange(n))]) for t in range(cfg.single_trials)]
    result = {
        "name": "supervised_stdp_patterns", "config": asdict(cfg), "test_sets": int(2**n),
        "one_pattern": summarise(rows1), "one_pattern_fired_by_distance": by_distance,
        "two_patterns": summarise(rows2), "two_patterns_by_distance": {str(h): v for h, v in per_distance.items()},
        "two_patterns_blend_bound": {str(h): 2.0 / 2**h for h in distances},
        "three_patterns": summarise(rows3), "three_patterns_mean_distance": hd3,
        "three_patterns_accuracy": [r["accuracy"] for r in rows3], "three_patterns_precision": [r["precision"] for r in rows3],
        "three_patterns_recall": [r["recall"] for r in rows3],
        # the output's answer to each trained pattern, by the order they were taught (mean over trials)
        "two_patterns_recognised_by_order": np.mean([r["pattern_fired"] for r in rows2], 0).tolist(),
        "three_patterns_recognised_by_order": np.mean([r["pattern_fired"] for r in rows3], 0).tolist(),
        "untrained": summarise(control), "paper": PAPER, "run_s": round(time.perf_counter() - t0, 1),
    }
    return result, {"single": single, "one": got1}


def plot(result: dict, extra: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = result["config"]["n_inputs"]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    p, w = extra["single"][0, 0], extra["one"]["weights"][0]
    axes[0].bar(np.arange(n), w, color=np.where(p, "tab:red", "tab:blue"))
    axes[0].axhline(extra["one"]["theta"][0] / max(p.sum(), 1), color="k", ls=":", lw=1, label="threshold / |P|")
    axes[0].set_xlabel("input")
    axes[0].set_ylabel("w (mV)")
    axes[0].set_title("one pattern, after one presentation\n(red: inputs of the pattern)")
    axes[0].legend(fontsize=8)
    axes[1].plot(range(n + 1), result["one_pattern_fired_by_distance"], "o-", label="trained")
    axes[1].set_xlabel("Hamming distance of the input set from the pattern")
    axes[1].set_ylabel("fraction of input sets firing the output")
    axes[1].set_title(f"one pattern: {result['one_pattern']['trials']} detectors, {result['test_sets']} sets each")
    axes[1].set_ylim(-0.05, 1.05)
    bd = result["two_patterns_by_distance"]
    hs = [int(h) for h in bd]
    for key, style in (("accuracy", "o-"), ("precision", "s-"), ("recall", "^-"), ("f1", "d-")):
        axes[2].plot(hs, [bd[str(h)][key] for h in hs], style, label=key)
    axes[2].plot(hs, [result["two_patterns_blend_bound"][str(h)] for h in hs], "k:", label="2 / 2^h")
    axes[2].set_xlabel("Hamming distance h between the two patterns")
    axes[2].set_ylabel(f"metric over the {result['test_sets']} input sets")
    axes[2].set_title("two patterns (n/2 active inputs each)")
    axes[2].set_ylim(-0.05, 1.05)
    axes[2].legend(fontsize=8)
    hd3 = np.array(result["three_patterns_mean_distance"])
    axes[3].scatter(hd3, result["three_patterns_accuracy"], label="accuracy")
    axes[3].scatter(hd3, result["three_patterns_precision"], marker="s", label="precision")
    axes[3].scatter(hd3, result["three_patterns_recall"], marker="^", label="recall")
    axes[3].set_xlabel("mean Hamming distance between the three patterns")
    axes[3].set_title("three random patterns")
    axes[3].set_ylim(-0.05, 1.05)
    axes[3].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 inputs, fewer trials (a few seconds)")
    ap.add_argument("--inputs", type=int, default=None, help="number of inputs (2^n input sets are tested)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="folder for result.json and the figure (default: a new temporary folder)")
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    cfg = Config(**{**asdict(cfg), "seed": args.seed, **({"n_inputs": args.inputs} if args.inputs else {})})
    out = args.out or Path(tempfile.mkdtemp(prefix="supervised_stdp_patterns_"))
    out.mkdir(parents=True, exist_ok=True)
    result, extra = run(cfg)
    plot(result, extra, out / "supervised_stdp_patterns.png")
    (out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
