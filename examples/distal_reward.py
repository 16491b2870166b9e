"""Izhikevich (2007), "Solving the distal reward problem through linkage of STDP and dopamine signaling".

1000 Izhikevich neurons (800 regular spiking excitatory, 200 fast spiking inhibitory), 100
synapses each (excitatory onto any neuron, inhibitory onto excitatory ones), weights +1 / -1,
excitatory weights capped at 4, the minimal delay (Izhikevich's D = 1 ms: a spike acts on the
next step), uniform noise 13 (rand - 0.5) into every neuron each ms. Excitatory synapses carry
reward-modulated STDP: STDP (nearest-spike traces 0.1 x 0.95 per ms, LTD factor 1.5) fills an
eligibility trace (x 0.99 every 10 ms) which dopamine turns into weight every 10 ms:
``s += (0.002 + DA) * sd``; dopamine decays x 0.995 per ms.

One synapse, n1 -> n2, starts at 0. Whenever n2 fires within 20 ms after n1, a reward
(DA += 0.5) is delivered 1-3 s later. Over an hour of model time that synapse alone grows to
the cap, while the others stay low: the network solves the credit-assignment problem.

    python examples/distal_reward.py [--seconds 3600] [--out runs/distal_reward]
    python examples/distal_reward.py --resume          # continue from the last checkpoint in --out

The run checkpoints every ``--checkpoint-every`` seconds of model time (the network's state with
``Network.save`` and the script's own state, each written atomically); ``--resume`` continues exactly
where the last checkpoint left off and reaches the same weights as an uninterrupted run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neuro import sim  # noqa: E402
from neuro.ops.stdp import PairSTDP  # noqa: E402
from neuro.ops.three_factor import RewardModulatedSTDP  # noqa: E402


def build(seed: int = 0, n_exc: int = 800, n_inh: int = 200, m: int = 100):
    rng = np.random.default_rng(seed)
    n = n_exc + n_inh
    net = sim.Network(dt=1.0, seed=seed)
    net.add_modulator("dopamine", tau=-1.0 / math.log(0.995))
    a = np.r_[np.full(n_exc, 0.02), np.full(n_inh, 0.1)]
    d = np.r_[np.full(n_exc, 8.0), np.full(n_inh, 2.0)]
    pop = sim.Izhikevich(n, a=a, b=0.2, c=-65.0, d=d, preset=None, noise=13.0 / math.sqrt(12.0), noise_kind="uniform", name="cortex")
    exc_pre = np.repeat(np.arange(n_exc), m)
    exc_post = rng.integers(0, n, n_exc * m)
    inh_pre = np.repeat(np.arange(n_exc, n), m)
    inh_post = rng.integers(0, n_exc, n_inh * m)
    tau = -1.0 / math.log(0.95)
    stdp = PairSTDP(tau_plus=tau, tau_minus=tau, eta_plus=0.1, eta_minus=0.15, w_min=0.0, w_max=4.0, pairing="nearest")
    rule = RewardModulatedSTDP(stdp=stdp, tau_c=-10.0 / math.log(0.99), baseline=0.002, weight_rate=1.0, update_interval=10.0)
    w0 = np.ones(exc_pre.size)
    w0[0] = 0.0  # the rewarded synapse n1 -> n2 starts silent
    exc = sim.Projection(pop, pop, (exc_pre, exc_post), weight=w0, delay=0.0, receptor="exc", multapses=True,
                         plasticity=rule, modulator="dopamine", name="exc")
    inh = sim.Projection(pop, pop, (inh_pre, inh_post), weight=-1.0, delay=0.0, receptor="inh", multapses=True, name="inh")
    net.add(pop, exc, inh)
    return net, pop, exc, int(exc_pre[0]), int(exc_post[0]), rng


def run(seconds: float, seed: int = 0, progress: bool = True, out: Path | None = None, checkpoint_every: float = 60.0, resume: bool = False):
    """Simulate ``seconds`` of model time; with ``out``, checkpoint every ``checkpoint_every`` s and (``resume``) continue."""
    net, pop, exc, n1, n2, rng = build(seed)
    watch = net.add(sim.SpikeMonitor(pop, indices=[n1, n2]))
    state = {"last_n1": -1e9, "seen": 0, "pending": [], "rewards": [], "trace_t": [], "trace_w": [], "trace_mean": []}
    ckpt_net, ckpt_py = (out / "checkpoint_net.npz", out / "checkpoint_state.pkl") if out is not None else (None, None)
    if resume:
        if ckpt_py is None or not ckpt_py.is_file() or not ckpt_net.is_file():
            raise SystemExit(f"--resume: no checkpoint in {out} (expected {ckpt_net.name} and {ckpt_py.name})")
        with open(ckpt_py, "rb") as fh:
            saved = pickle.load(fh)
        if saved["seed"] != seed:
            raise SystemExit(f"--resume: the checkpoint was made with --seed {saved['seed']}, not {seed}")
        net.restore(ckpt_net)
        state = saved["state"]
        state["seen"] = 0  # the spike monitor starts empty after a restore
        rng.bit_generator.state = saved["rng"]
        print(f"resuming at t = {net.t / 1000:.0f} s from {ckpt_net}")

    def reward(net):
        t, i = watch.t, watch.i
        for tt, ii in zip(t[state["seen"] :], i[state["seen"] :]):
            if ii == n1:
                state["last_n1"] = tt
            if ii == n2 and 0 < tt - state["last_n1"] < 20.0:
                state["pending"].append(tt + 1000.0 + rng.uniform(0, 2000.0))
                state["last_n1"] = -1e9  # one reward per pairing
        state["seen"] = t.size
        due = [r for r in state["pending"] if r <= net.t]
        if due:
            state["pending"] = [r for r in state["pending"] if r > net.t]
            for r in due:
                net.release("dopamine", 0.5)
                state["rewards"].append(r)
        if int(net.t) % 1000 == 0:
            w = exc.weights
            state["trace_t"].append(net.t / 1000)
            state["trace_w"].append(float(w[0]))
            state["trace_mean"].append(float(w[1:].mean()))

    # rewards come 1-3 s after the pairing: checking every 50 ms (spike times themselves are exact) is plenty
    end = seconds * 1000.0
    step = end if out is None else max(checkpoint_every * 1000.0, 1000.0)
    while net.t < end - 1e-9:
        net.run(min(step, end - net.t), reward=reward, reward_interval=50.0, progress=progress)
        if out is not None:
            net.save(ckpt_net)
            tmp = ckpt_py.with_name(ckpt_py.name + ".tmp")
            with open(tmp, "wb") as fh:
                pickle.dump({"seed": seed, "state": state, "rng": rng.bit_generator.state}, fh)
            os.replace(tmp, ckpt_py)
    return net, exc, state


def plot(state, weights, out: Path):
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
    a1.plot(state["trace_t"], state["trace_w"], color="tab:red", label="rewarded synapse n1 -> n2")
    a1.plot(state["trace_t"], state["trace_mean"], color="k", label="mean of the other excitatory synapses")
    if state["rewards"]:
        a1.plot(np.array(state["rewards"]) / 1000, np.full(len(state["rewards"]), 4.2), "|", color="tab:green", label="rewards")
    a1.set_xlabel("time (s)")
    a1.set_ylabel("weight (cap 4)")
    a1.legend(fontsize=8)
    a1.set_title("Distal reward: the rewarded synapse grows")
    a2.hist(weights[1:], bins=40, color="grey")
    a2.axvline(weights[0], color="tab:red", label="rewarded synapse")
    a2.set_xlabel("weight")
    a2.set_ylabel("synapses")
    a2.set_yscale("log")
    a2.legend(fontsize=8)
    a2.set_title("Excitatory weights at the end")
    fig.tight_layout()
    fig.savefig(out / "distal_reward.png", dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3600.0, help="model time in seconds (default 3600, the paper's hour)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/distal_reward"), help="output folder (also holds the checkpoints)")
    ap.add_argument("--checkpoint-every", type=float, default=60.0, help="seconds of model time between checkpoints (default 60)")
    ap.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    net, exc, state = run(args.seconds, args.seed, out=args.out, checkpoint_every=args.checkpoint_every, resume=args.resume)
    w = exc.weights
    summary = {"seconds": args.seconds, "rewards": len(state["rewards"]), "rewarded_weight": float(w[0]),
               "other_mean": float(w[1:].mean()), "other_p99": float(np.percentile(w[1:], 99)),
               "rank_of_rewarded": int((w[1:] > w[0]).sum())}
    plot(state, w, args.out)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    print(f"wrote {args.out / 'distal_reward.png'}")
    return summary, w


if __name__ == "__main__":
    main()
