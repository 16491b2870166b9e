""""What" and "when" predictions (after Yamada & Chao 2025): an Izhikevich reservoir with readouts trained by an
error-modulated, attention-gated three-factor Hebbian rule.

The paradigm: every trial (800 ms) starts with a cue, a fixed 50 ms burst into 60 of the reservoir's neurons. Two
outcomes may follow, A at 300 ms and B at 550 ms after the cue, each a 100 ms, 100 Hz Poisson stimulus, present on a
trial with its own probability: 0.8 and 0.3 for the first block of trials, then swapped (0.3 and 0.8) without warning.
The reservoir: 300 heterogeneous Izhikevich (2003) neurons (240 excitatory, 60 inhibitory), sparse random recurrent
weights, a constant drive of 0-10 (random per neuron) and weak noise; its state is set back to rest at the start of each
trial. One readout neuron per outcome (:func:`~neuro.dynamics.rules.error_readout`) receives every reservoir neuron
through :func:`~neuro.dynamics.rules.gated_error_rule` (weights from 0); its outcome's stimulus enters only its error,
never its membrane, so what a readout fires is its prediction. The attention gate (a neuromodulator) is open from
150 ms after the cue to the end of the trial (the expectation period), closed during the cue's response.

Measured per trial: each readout's rate in its outcome's window (its prediction's magnitude), and in the rest of the
trial; at the end of each block, the readouts' mean rate in 20 ms bins over its last trials (their timing).

    python examples/what_and_when.py                 # 200 + 200 trials (a few minutes)
    python examples/what_and_when.py --quick         # 60 + 60 trials, for CI
    python examples/what_and_when.py --out runs/what_and_when --seed 1

Writes ``result.json`` and ``what_and_when.png`` into ``--out``; prints the result as its last line (JSON).
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
from neuro.dynamics.rules import error_readout, gated_error_rule


@dataclass(frozen=True)
class Config:
    n_exc: int = 240
    n_inh: int = 60
    p_connect: float = 0.1
    noise: float = 0.5  # Gaussian noise of the reservoir's input (Izhikevich units)
    drive: float = 10.0  # constant input, uniform in [0, drive] per neuron
    a_exc: tuple = (0.02, 0.02)  # recovery rate of the excitatory neurons, uniform in this range (1/ms)
    cue_neurons: int = 60
    dt: float = 0.5
    trial_ms: float = 800.0
    latency: tuple = (300.0, 550.0)  # ms after the cue: outcome A, outcome B
    stim_ms: float = 100.0
    stim_rate: float = 100.0  # Hz
    gate: tuple = ((150.0, 800.0),)  # ms after the cue: the attention gate's open windows
    p_first: tuple = (0.8, 0.3)
    p_second: tuple = (0.3, 0.8)
    trials: int = 200  # per block
    eta: float = 0.1  # mV per presynaptic spike and unit of error
    w_bound: float = 1.5  # readout weights in [-w_bound, w_bound] mV (unbounded, they drift and the timing blurs)
    last: int = 40  # trials at the end of each block averaged for the summary
    seed: int = 0


QUICK = Config(trials=60, last=20)


def reservoir_parameters(cfg: Config, rng: np.random.Generator):
    """Izhikevich (2003)'s heterogeneous network: excitatory a = 0.02, b = 0.2, c = -65 + 15 r^2, d = 8 - 6 r^2;
    inhibitory a = 0.02 + 0.08 r, b = 0.25 - 0.05 r, c = -65, d = 2 (r uniform in [0, 1] per neuron)."""
    re, ri = rng.random(cfg.n_exc), rng.random(cfg.n_inh)
    a = np.r_[rng.uniform(*cfg.a_exc, cfg.n_exc), 0.02 + 0.08 * ri]
    b = np.r_[np.full(cfg.n_exc, 0.2), 0.25 - 0.05 * ri]
    c = np.r_[-65 + 15 * re**2, np.full(cfg.n_inh, -65.0)]
    d = np.r_[8 - 6 * re**2, np.full(cfg.n_inh, 2.0)]
    return a, b, c, d


def schedule(cfg: Config, rng: np.random.Generator):
    """Cue and stimulus spikes of every trial (absolute times) and which outcomes were present in each trial."""
    n_trials = 2 * cfg.trials
    cue_cells = rng.choice(cfg.n_exc, cfg.cue_neurons, replace=False)
    cue_pattern = [(np.sort(rng.uniform(0, 50.0, 3)), k) for k in cue_cells]  # the same burst every trial
    probs = np.array([cfg.p_first] * cfg.trials + [cfg.p_second] * cfg.trials)
    present = rng.random((n_trials, 2)) < probs
    cue_t, cue_i, st_t, st_i = [], [], [], []
    for k in range(n_trials):
        t0 = k * cfg.trial_ms
        for tt, j in cue_pattern:
            cue_t.append(t0 + tt)
            cue_i.append(np.full(tt.size, j))
        for o in range(2):
            if present[k, o]:
                m = rng.poisson(cfg.stim_rate * cfg.stim_ms / 1000.0)
                st_t.append(t0 + cfg.latency[o] + np.sort(rng.uniform(0, cfg.stim_ms, m)))
                st_i.append(np.full(m, o))
    return (np.concatenate(cue_t), np.concatenate(cue_i)), (np.concatenate(st_t), np.concatenate(st_i)), present, probs


def build(cfg: Config, rng: np.random.Generator, cue, stimuli, plastic: bool = True):
    n = cfg.n_exc + cfg.n_inh
    a, b, c, d = reservoir_parameters(cfg, rng)
    net = sim.Network(dt=cfg.dt, seed=cfg.seed)
    net.add_modulator("attention", tau=1e12)
    res = sim.Izhikevich(n, a=a, b=b, c=c, d=d, preset=None, noise=cfg.noise, i_ext=cfg.drive * rng.random(n), name="reservoir")
    pre, post = np.nonzero(rng.random((n, n)) < cfg.p_connect)
    w = np.where(pre < cfg.n_exc, 5.0 * rng.random(pre.size), -10.0 * rng.random(pre.size))
    readouts = sim.Population(2, error_readout(), name="readouts")
    cue_src = sim.SpikeSource(n, *cue, repeats="multiplicity", name="cue")
    stim_src = sim.SpikeSource(2, *stimuli, repeats="multiplicity", name="stimuli")
    rule = gated_error_rule()(eta=cfg.eta, w_min=-cfg.w_bound, w_max=cfg.w_bound) if plastic else None
    learned = sim.Projection(res, readouts, weight=0.0, receptor="v", plasticity=rule, name="readout")
    net.add(res, readouts, cue_src, stim_src, learned,
            sim.Projection(res, res, (pre, post), weight=w, delay=1.0, receptor="v", name="recurrent"),
            sim.Projection(cue_src, res, "one_to_one", weight=20.0, receptor="v", name="cue"),
            sim.Projection(stim_src, readouts, "one_to_one", weight=1.0, receptor="exc", name="teacher"))
    mon = net.add(sim.SpikeMonitor(readouts))
    return net, res, readouts, learned, mon, b


def gate_edges(cfg: Config):
    """Times within a trial where the attention gate opens (+1) or closes (-1), in order."""
    edges = []
    for start, end in sorted(cfg.gate):
        if not 0.0 <= start < end <= cfg.trial_ms or (edges and start < edges[-1][0]):
            raise ValueError(f"gate must be disjoint windows (start, end) within [0, trial_ms = {cfg.trial_ms}], got {cfg.gate}")
        edges += [(start, 1.0), (end, -1.0)]
    return edges


def run(cfg: Config = Config(), progress: bool = True, plastic: bool = True):
    """All trials; returns the result (a flat dict) and the per-trial rates and end-of-block time courses."""
    rng = np.random.default_rng(cfg.seed)
    cue, stimuli, present, probs = schedule(cfg, rng)
    net, res, readouts, learned, mon, b = build(cfg, rng, cue, stimuli, plastic)
    edges = gate_edges(cfg)
    t_start = time.perf_counter()
    n_trials = 2 * cfg.trials
    for _ in tqdm(range(n_trials), desc="trials", disable=not progress):
        res.v = -65.0  # every trial starts from the same state
        res.u = b * -65.0
        readouts.v, readouts.r, readouts.s = -65.0, 0.0, 0.0
        now = 0.0
        for when, change in edges:
            if when > now:
                net.run(when - now, progress=False)
                now = when
            net.release("attention", change)
        net.run(cfg.trial_ms - now, progress=False)
    wall = time.perf_counter() - t_start
    t, i = np.asarray(mon.t), np.asarray(mon.i)
    trial_of, t_in = (t // cfg.trial_ms).astype(int), t % cfg.trial_ms
    # per trial: rate (Hz) of readout o in window w (outcome windows) and outside both
    rates = np.zeros((n_trials, 2, 3))
    for o in range(2):
        for w, lat in enumerate(cfg.latency):
            sel = (i == o) & (t_in >= lat) & (t_in < lat + cfg.stim_ms)
            rates[:, o, w] = np.bincount(trial_of[sel], minlength=n_trials)[:n_trials] / (cfg.stim_ms / 1000.0)
        outside = (i == o) & ~np.any([(t_in >= lat) & (t_in < lat + cfg.stim_ms) for lat in cfg.latency], axis=0)
        rates[:, o, 2] = np.bincount(trial_of[outside], minlength=n_trials)[:n_trials] / ((cfg.trial_ms - 2 * cfg.stim_ms) / 1000.0)
    bins = np.arange(0.0, cfg.trial_ms + 1e-9, 20.0)
    course = np.zeros((2, 2, bins.size - 1))  # block, readout, bin (Hz)
    for blk in range(2):
        last = (trial_of >= (blk + 1) * cfg.trials - cfg.last) & (trial_of < (blk + 1) * cfg.trials)
        for o in range(2):
            course[blk, o] = np.histogram(t_in[last & (i == o)], bins)[0] / cfg.last / 0.020
    first_end, second_end = slice(cfg.trials - cfg.last, cfg.trials), slice(2 * cfg.trials - cfg.last, 2 * cfg.trials)
    own = np.stack([rates[:, 0, 0], rates[:, 1, 1]], axis=1)  # each readout in its own outcome's window
    # adaptation: first trial of the second block after which readout B's own-window rate (10-trial mean) exceeds A's
    diff = np.convolve(own[cfg.trials :, 1] - own[cfg.trials :, 0], np.ones(10) / 10, mode="valid")
    crossed = np.nonzero(diff > 0)[0]
    result = {"config": asdict(cfg), "plastic": plastic,
              "block1_rate_A_in_A": float(own[first_end, 0].mean()), "block1_rate_B_in_B": float(own[first_end, 1].mean()),
              "block2_rate_A_in_A": float(own[second_end, 0].mean()), "block2_rate_B_in_B": float(own[second_end, 1].mean()),
              "block1_rate_A_in_B": float(rates[first_end, 0, 1].mean()), "block1_rate_B_in_A": float(rates[first_end, 1, 0].mean()),
              "block2_rate_A_in_B": float(rates[second_end, 0, 1].mean()), "block2_rate_B_in_A": float(rates[second_end, 1, 0].mean()),
              "block1_rate_A_outside": float(rates[first_end, 0, 2].mean()), "block1_rate_B_outside": float(rates[first_end, 1, 2].mean()),
              "block2_rate_A_outside": float(rates[second_end, 0, 2].mean()), "block2_rate_B_outside": float(rates[second_end, 1, 2].mean()),
              "expected_rates_block1": [p * cfg.stim_rate for p in cfg.p_first],
              "expected_rates_block2": [p * cfg.stim_rate for p in cfg.p_second],
              "trials_to_reverse": int(crossed[0] + 10) if crossed.size else None,
              "stimuli_present_fraction_block1": present[: cfg.trials].mean(axis=0).tolist(),
              "stimuli_present_fraction_block2": present[cfg.trials :].mean(axis=0).tolist(),
              "wall_s": round(wall, 1)}
    return result, {"own": own, "course": course, "bins": bins, "weights": learned.weights}


def plot(result: dict, extra: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = result["config"]
    fig, ax = plt.subplots(1, 3, figsize=(16, 3.8))
    centers = 0.5 * (extra["bins"][1:] + extra["bins"][:-1])
    colors = ("tab:blue", "tab:orange")
    for blk, a in enumerate(ax[:2]):
        probs = cfg["p_first"] if blk == 0 else cfg["p_second"]
        for o in range(2):
            a.plot(centers, extra["course"][blk, o], color=colors[o], label=f"readout {'AB'[o]} (p = {probs[o]:g})")
            lat = cfg["latency"][o]
            a.axvspan(lat, lat + cfg["stim_ms"], color=colors[o], alpha=0.15)
        a.set_xlabel("time after the cue (ms)")
        a.set_ylabel("readout rate (Hz)")
        a.legend(fontsize=8)
        a.set_title(f"Block {blk + 1}, last {cfg['last']} trials (shaded: outcome windows)", fontsize=10)
    own = extra["own"]
    k = np.arange(own.shape[0])
    for o in range(2):
        smooth = np.convolve(own[:, o], np.ones(10) / 10, mode="valid")
        ax[2].plot(k[9:], smooth, color=colors[o], label=f"readout {'AB'[o]} in its outcome's window")
        ax[2].plot([0, cfg["trials"]], [cfg["p_first"][o] * cfg["stim_rate"]] * 2, ls=":", color=colors[o])
        ax[2].plot([cfg["trials"], 2 * cfg["trials"]], [cfg["p_second"][o] * cfg["stim_rate"]] * 2, ls=":", color=colors[o])
    ax[2].axvline(cfg["trials"], color="k", lw=0.8)
    ax[2].set_xlabel("trial")
    ax[2].set_ylabel("rate (Hz), 10-trial mean")
    ax[2].legend(fontsize=8)
    ax[2].set_title("Prediction magnitude per trial (dotted: p x stimulus rate)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="60 + 60 trials (CI)")
    ap.add_argument("--trials", type=int, default=None, help="trials per block")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/what_and_when"))
    args = ap.parse_args(argv)
    cfg = replace(QUICK if args.quick else Config(), seed=args.seed)
    if args.trials is not None:
        if args.trials < cfg.last:
            raise SystemExit(f"--trials must be >= {cfg.last} (the trials averaged at the end of a block), got {args.trials}")
        cfg = replace(cfg, trials=args.trials)
    args.out.mkdir(parents=True, exist_ok=True)
    result, extra = run(cfg)
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    plot(result, extra, args.out / "what_and_when.png")
    print(f"wrote {args.out / 'what_and_when.png'}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
