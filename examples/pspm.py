"""Pre-synaptic pool modification (Bagley, Bordelon, Moseley & Wessel 2020): recover a recurrent network's weights from
its spike trains.

A ground-truth network of 30 LIF neurons (:func:`~neuro.dynamics.rules.pspm_lif`, current-based synapses, 1 ms delays)
has sparse random weights (20 % connected, 80 % of the neurons excitatory with weights of 1-4 mV, the others
inhibitory with -2 to -6 mV) and each neuron its own Poisson drive (700 Hz of 1 mV jumps, Bernoulli per step). Its
spikes are recorded. A model network of the same neurons, driven by the same inputs, starts with all recurrent weights
at 0 and learns them with :func:`~neuro.dynamics.rules.pspm_rule`: the recorded spikes are replayed as its
presynaptic activity (teacher forcing: the pool of an event is taken from the target trains) and as its teacher;
missed target spikes potentiate the pool, extra own spikes depress it.

Measured on a held-out stretch with fresh inputs:

* the Pearson correlation of the learned and true weights (all 870 ordered pairs), against the same correlation with
  the true weights shuffled (200 permutations: mean and 99th percentile);
* spike-train similarity with the ground truth: Kistler's coincidence factor (2 ms window; 1 identical, 0 chance) and
  the van Rossum distance (10 ms) divided by the ground truth's distance to an empty train, for the model run open
  loop (presynaptic spikes from the ground truth) and closed loop (the model network alone, its own spikes recurrent),
  against the model with its recurrent weights at 0 and with the learned weights shuffled.

    python examples/pspm.py                  # 120 s of training data (a few minutes)
    python examples/pspm.py --quick          # 10 s, for CI
    python examples/pspm.py --out runs/pspm --seed 1

Writes ``result.json`` and ``pspm.png`` into ``--out``; prints the result as its last line (JSON).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from neuro import sim
from neuro.dynamics.rules import pspm_lif, pspm_rule


@dataclass(frozen=True)
class Config:
    n: int = 30
    p_connect: float = 0.2
    frac_inh: float = 0.2
    w_exc: tuple = (1.0, 4.0)  # mV, uniform
    w_inh: tuple = (-6.0, -2.0)
    input_rate: float = 700.0  # Hz per neuron
    input_weight: float = 1.0  # mV
    delay: float = 1.0  # ms, every recurrent synapse
    dt: float = 0.1
    train_s: float = 120.0
    test_s: float = 10.0
    chunk_s: float = 2.0  # training is run (and the weight correlation logged) in chunks of this length
    eta: float = 0.05  # mV per missed / extra spike
    window: float = 5.0  # ms, the pre-synaptic pool
    delta: float = 1.5  # ms, matching tolerance (shorter than the 2 ms refractory period)
    seed: int = 0


QUICK = Config(train_s=10.0, test_s=3.0)


def ground_truth_weights(cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """``W[i, j]``: the weight from neuron ``i`` to neuron ``j`` (mV), 0 where unconnected and on the diagonal."""
    n = cfg.n
    inh = rng.random(n) < cfg.frac_inh
    mask = (rng.random((n, n)) < cfg.p_connect) & ~np.eye(n, dtype=bool)
    w = np.where(inh[:, None], rng.uniform(*cfg.w_inh, (n, n)), rng.uniform(*cfg.w_exc, (n, n)))
    return np.where(mask, w, 0.0)


def poisson_inputs(cfg: Config, seconds: float, rng: np.random.Generator, t0: float = 0.0):
    """One train per neuron: a spike in each step with probability rate * dt; (times ms, indices), times from ``t0``."""
    steps = int(round(seconds * 1000.0 / cfg.dt))
    hits = rng.random((steps, cfg.n)) < cfg.input_rate * cfg.dt / 1000.0
    k, i = np.nonzero(hits)
    return t0 + k * cfg.dt, i


def _pairs(n: int):
    pre, post = np.nonzero(~np.eye(n, dtype=bool))
    return pre, post


def simulate(cfg: Config, w: np.ndarray, inputs, seconds: float, recurrent=None):
    """Spike trains (times, indices) of the network with weights ``w`` driven by ``inputs``.

    ``recurrent=None``: closed loop (the network's own spikes through ``w``); ``recurrent=(times, indices)``: open loop,
    the recurrent input replayed from those trains through ``w``."""
    net = sim.Network(dt=cfg.dt, seed=cfg.seed)
    pop = sim.Population(cfg.n, pspm_lif(), name="network")
    drive = sim.SpikeSource(cfg.n, *inputs, name="drive")
    src = pop if recurrent is None else sim.SpikeSource(cfg.n, *recurrent, name="replay")
    pre, post = _pairs(cfg.n)
    net.add(pop, drive, sim.Projection(drive, pop, "one_to_one", weight=cfg.input_weight, receptor="v"),
            sim.Projection(src, pop, (pre, post), weight=w[pre, post], delay=cfg.delay, receptor="v"))
    if src is not pop:
        net.add(src)
    mon = net.add(sim.SpikeMonitor(pop))
    net.run(seconds * 1000.0, progress=False)
    return np.asarray(mon.t), np.asarray(mon.i)


def train(cfg: Config, inputs, target, progress: bool = True, w_true: np.ndarray | None = None, w_init: np.ndarray | None = None):
    """Learn the recurrent weights from the ``target`` trains (times, indices) and the ``inputs`` that drove them.

    The recurrent weights start at ``w_init`` (default 0). Returns the learned ``W`` (as :func:`ground_truth_weights`),
    with ``w_true`` the weight correlation after each chunk (a list of (seconds of training data, r)), and the numbers
    of target and own spikes."""
    net = sim.Network(dt=cfg.dt, seed=cfg.seed)
    model = sim.Population(cfg.n, pspm_lif(), name="model")
    drive = sim.SpikeSource(cfg.n, *inputs, name="drive")
    replay = sim.SpikeSource(cfg.n, *target, name="target")
    pre, post = _pairs(cfg.n)
    rule = pspm_rule(every=cfg.dt)(eta=cfg.eta, window=cfg.window, delta=cfg.delta)
    w0 = 0.0 if w_init is None else np.asarray(w_init, dtype=float)[pre, post]
    learned = sim.Projection(replay, model, (pre, post), weight=w0, delay=cfg.delay, receptor="v", plasticity=rule, name="learned")
    net.add(model, drive, replay, learned, sim.Projection(drive, model, "one_to_one", weight=cfg.input_weight, receptor="v"),
            sim.Projection(replay, model, "one_to_one", weight=1.0, receptor="exc", name="teacher"))
    history = []
    chunks = int(np.ceil(cfg.train_s / cfg.chunk_s - 1e-9))
    for k in tqdm(range(chunks), desc="PSPM training", disable=not progress):
        net.run(min(cfg.chunk_s, cfg.train_s - k * cfg.chunk_s) * 1000.0, progress=False)
        if w_true is not None:
            history.append((net.t / 1000.0, weight_correlation(learned.weights, w_true[pre, post])))
    w = np.zeros((cfg.n, cfg.n))
    w[pre, post] = learned.weights
    return w, history, {"target_spikes": int(np.asarray(target[0]).size), "own_spikes": int(model.n_own.sum())}


def weight_correlation(a, b) -> float:
    a, b = np.ravel(a), np.ravel(b)
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def coincidence_factor(data: np.ndarray, model: np.ndarray, duration: float, window: float = 2.0) -> float:
    """Kistler et al. (1997): :math:`\\Gamma = (N_{coinc} - 2 \\nu \\Delta N_{data}) / (\\tfrac12 (N_{data} + N_{model})
    (1 - 2 \\nu \\Delta))`, :math:`\\nu` the model's rate, :math:`N_{coinc}` the data spikes with a model spike within
    :math:`\\pm\\Delta`. 1 for identical trains, 0 on average for independent ones; ``nan`` when both are empty."""
    nd, nm = data.size, model.size
    if nd + nm == 0:
        return float("nan")
    if nd == 0 or nm == 0:
        return 0.0
    model = np.sort(model)
    k = np.searchsorted(model, data)
    left = np.abs(data - model[np.clip(k - 1, 0, nm - 1)])
    right = np.abs(model[np.clip(k, 0, nm - 1)] - data)
    coinc = int((np.minimum(left, right) <= window + 1e-9).sum())
    nu = nm / duration
    return float((coinc - 2 * nu * window * nd) / (0.5 * (nd + nm) * (1 - 2 * nu * window)))


def van_rossum(a: np.ndarray, b: np.ndarray, duration: float, tau: float = 10.0, dt: float = 0.1) -> float:
    """van Rossum (2001) distance: the L2 norm of the difference of the two trains convolved with
    :math:`e^{-t/\\tau}`, divided by :math:`\\sqrt{\\tau}` (so a train of ``n`` isolated spikes is at
    :math:`\\sqrt{n/2}` from an empty one)."""
    steps = int(np.ceil(duration / dt)) + 1
    k = np.concatenate([np.minimum((np.asarray(a) / dt).astype(int), steps - 1), np.minimum((np.asarray(b) / dt).astype(int), steps - 1)])
    sign = np.concatenate([np.ones(np.size(a)), -np.ones(np.size(b))])
    # f[k] = sum_i sign_i q^(k - k_i) for k >= k_i (q = exp(-dt / tau)); summed over k < steps in closed form per pair:
    # sum_k f[k]^2 = sum_ij sign_i sign_j q^|k_i - k_j| (1 - q^(2 (steps - max(k_i, k_j)))) / (1 - q^2)
    q = np.exp(-dt / tau)
    total = 0.0
    for lo in range(0, k.size, 512):  # rows in blocks: memory stays bounded for long trains
        kb, sb = k[lo:lo + 512, None], sign[lo:lo + 512, None]
        total += float((sb * sign[None, :] * q ** np.abs(kb - k[None, :]) * (1.0 - q ** (2 * (steps - np.maximum(kb, k[None, :]))))).sum())
    total /= 1.0 - q * q
    return float(np.sqrt(max(total, 0.0) * dt / tau))


def similarity(cfg: Config, data, model, duration: float) -> dict:
    """Mean over neurons of the coincidence factor and of the normalised van Rossum distance (neurons the ground truth
    fires in)."""
    gammas, dists = [], []
    for j in range(cfg.n):
        d, m = data[0][data[1] == j], model[0][model[1] == j]
        if d.size == 0:
            continue
        gammas.append(coincidence_factor(d, m, duration))
        dists.append(van_rossum(d, m, duration, dt=cfg.dt) / van_rossum(d, np.zeros(0), duration, dt=cfg.dt))
    return {"coincidence": float(np.mean(gammas)), "van_rossum": float(np.mean(dists))}


def run(cfg: Config = Config(), progress: bool = True):
    """The whole experiment; returns the result (a flat dict) and the arrays the figure needs."""
    rng = np.random.default_rng(cfg.seed)
    w_true = ground_truth_weights(cfg, rng)
    train_in = poisson_inputs(cfg, cfg.train_s, rng)
    test_in = poisson_inputs(cfg, cfg.test_s, rng)
    t0 = time.perf_counter()
    target = simulate(cfg, w_true, train_in, cfg.train_s)
    test_target = simulate(cfg, w_true, test_in, cfg.test_s)
    w, history, counts = train(cfg, train_in, target, progress=progress, w_true=w_true)
    pre, post = _pairs(cfg.n)
    r = weight_correlation(w[pre, post], w_true[pre, post])
    perm = np.random.default_rng(cfg.seed + 1)
    shuffled_r = np.array([weight_correlation(w[pre, post], perm.permutation(w_true[pre, post])) for _ in range(200)])
    w_shuffled = np.zeros_like(w)
    w_shuffled[pre, post] = perm.permutation(w[pre, post])
    dur = cfg.test_s * 1000.0
    rms = float(np.sqrt(np.mean((w[pre, post] - w_true[pre, post]) ** 2)))
    runs = {"trained_open_loop": simulate(cfg, w, test_in, cfg.test_s, recurrent=test_target),
            "trained_closed_loop": simulate(cfg, w, test_in, cfg.test_s),
            "zero_weights": simulate(cfg, np.zeros_like(w), test_in, cfg.test_s),
            "shuffled_weights": simulate(cfg, w_shuffled, test_in, cfg.test_s),
            "true_weights_closed_loop": simulate(cfg, w_true, test_in, cfg.test_s),
            # the true weights plus independent errors as large as the learned weights' (their RMS error): how far
            # a closed loop drifts from errors of that size alone
            "true_weights_perturbed_closed_loop": simulate(cfg, w_true + np.where(np.eye(cfg.n, dtype=bool), 0.0, perm.normal(0.0, rms, w.shape)),
                                                           test_in, cfg.test_s)}
    sims = {k: similarity(cfg, test_target, v, dur) for k, v in runs.items()}
    connected = w_true[pre, post] != 0
    result = {"config": asdict(cfg), "weight_correlation": r, "shuffled_correlation_mean": float(shuffled_r.mean()),
              "shuffled_correlation_p99": float(np.quantile(shuffled_r, 0.99)),
              "correlation_connected_only": weight_correlation(w[pre, post][connected], w_true[pre, post][connected]),
              "weight_rms_error": rms, "learned_mean_unconnected": float(w[pre, post][~connected].mean()),
              "learned_sd_unconnected": float(w[pre, post][~connected].std()),
              "ground_truth_rate_hz": float(target[0].size / cfg.n / cfg.train_s),
              **{f"{k}_{m}": v for k, s in sims.items() for m, v in s.items()}, **counts,
              "wall_s": round(time.perf_counter() - t0, 1)}
    return result, {"w": w, "w_true": w_true, "history": history, "test_target": test_target, "runs": runs}


def plot(result: dict, extra: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg_n = result["config"]["n"]
    pre, post = _pairs(cfg_n)
    w, w_true = extra["w"][pre, post], extra["w_true"][pre, post]
    fig, ax = plt.subplots(1, 4, figsize=(17, 3.8))
    ax[0].scatter(w_true, w, s=6, alpha=0.5, color="k")
    ax[0].set_xlabel("ground-truth weight (mV)")
    ax[0].set_ylabel("learned weight (mV)")
    ax[0].set_title(f"Weights, r = {result['weight_correlation']:.2f} (shuffled: {result['shuffled_correlation_mean']:.2f})", fontsize=10)
    h = np.array(extra["history"])
    ax[1].plot(h[:, 0], h[:, 1], color="tab:blue")
    ax[1].axhline(result["shuffled_correlation_p99"], color="grey", ls="--", label="shuffled, 99th percentile")
    ax[1].set_xlabel("training data (s)")
    ax[1].set_ylabel("weight correlation")
    ax[1].legend(fontsize=8)
    ax[1].set_title("Correlation with the ground truth during training", fontsize=10)
    span, shown = 300.0, 10
    tt, ti = extra["test_target"]
    mt, mi = extra["runs"]["trained_closed_loop"]
    keep, mkeep = (tt < span) & (ti < shown), (mt < span) & (mi < shown)
    ax[2].plot(tt[keep], ti[keep], "|", color="k", ms=5, label="ground truth")
    ax[2].plot(mt[mkeep], mi[mkeep] + 0.35, "|", color="tab:red", ms=5, label="learned network (closed loop)")
    ax[2].set_xlabel("time (ms, held-out input)")
    ax[2].set_ylabel("neuron")
    ax[2].legend(fontsize=8, loc="upper right")
    ax[2].set_title(f"Spike trains of {shown} neurons, start of the test", fontsize=10)
    names = ["trained_open_loop", "trained_closed_loop", "true_weights_perturbed_closed_loop", "shuffled_weights", "zero_weights"]
    labels = ["learned\nopen loop", "learned\nclosed loop", "true + error\nclosed loop", "learned,\nshuffled", "recurrent\nweights 0"]
    vals = [result[f"{k}_coincidence"] for k in names]
    ax[3].bar(range(len(vals)), vals, color=["tab:blue", "tab:blue", "tab:orange", "grey", "grey"])
    ax[3].set_xticks(range(len(vals)), labels, fontsize=8)
    ax[3].set_ylabel("coincidence factor (2 ms)")
    ax[3].set_title("Similarity to the ground truth (test)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 s of training data (CI)")
    ap.add_argument("--train-s", type=float, default=None, help="seconds of recorded spikes to learn from")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/pspm"))
    args = ap.parse_args(argv)
    cfg = replace(QUICK if args.quick else Config(), seed=args.seed)
    if args.train_s is not None:
        if args.train_s <= 0:
            raise SystemExit(f"--train-s must be > 0, got {args.train_s}")
        cfg = replace(cfg, train_s=args.train_s)
    args.out.mkdir(parents=True, exist_ok=True)
    result, extra = run(cfg)
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    plot(result, extra, args.out / "pspm.png")
    print(f"wrote {args.out / 'pspm.png'}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
