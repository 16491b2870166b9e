"""Izhikevich (2006), "Polychronization: computation with spikes" (spnet) in the event-driven simulator.

1000 Izhikevich neurons (800 regular spiking excitatory, 200 fast spiking inhibitory), 100
synapses each. Excitatory synapses go to any neuron with conduction delays of 1-20 ms, five
synapses per delay; inhibitory ones go to excitatory neurons with a 1 ms delay. Weights +6 / -5,
excitatory weights capped at 10. Every millisecond one random neuron gets a 20 mV/ms kick
(here: 1000 Poisson sources at 1 Hz, one per neuron — one kick per ms on average). Excitatory
synapses learn by STDP (nearest-spike traces 0.1 x 0.95 per ms, LTD factor 1.2) accumulated in
``sd`` and applied once per second: ``s = clip(s + 0.01 + sd, 0, 10)``, ``sd *= 0.9``.

After an hour of model time the excitatory weights are bimodal (most near 0, a group at the
cap) and the network shows a gamma-band (30-100 Hz) rhythm.

    python examples/polychronization.py [--seconds 3600] [--out runs/polychronization]
    python examples/polychronization.py --resume        # continue from the last checkpoint in --out

The run checkpoints the network (``Network.save``, atomic) every ``--checkpoint-every`` seconds of model
time; ``--resume`` continues from the last one and ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neuro import sim  # noqa: E402
from neuro.ops.stdp import PairSTDP  # noqa: E402
from neuro.ops.three_factor import RewardModulatedSTDP  # noqa: E402


def build(seed: int = 0, n_exc: int = 800, n_inh: int = 200, m: int = 100, max_delay: int = 20, eligibility_decay: str = "continuous",
          backend: str = "cpu"):
    """The spnet network; ``eligibility_decay="periodic"`` decays ``sd`` once a second after the weight update, as
    Izhikevich's published code does (the default decays it continuously with the same 0.9 per second).
    ``backend``: the simulator's (``"cpu"``, ``"cuda"``)."""
    rng = np.random.default_rng(seed)
    n = n_exc + n_inh
    net = sim.Network(dt=1.0, seed=seed, backend=backend)
    net.add_modulator("none", tau=1.0)  # spnet has no neuromodulator: the periodic rule runs with DA = 0
    a = np.r_[np.full(n_exc, 0.02), np.full(n_inh, 0.1)]
    d = np.r_[np.full(n_exc, 8.0), np.full(n_inh, 2.0)]
    cortex = sim.Izhikevich(n, a=a, b=0.2, c=-65.0, d=d, preset=None, name="cortex")
    kicks = sim.PoissonInput(n, rate=1.0, name="thalamic kicks")
    exc_pre = np.repeat(np.arange(n_exc), m)
    # each excitatory neuron: m distinct targets, m / max_delay synapses at each delay 1..max_delay ms
    exc_post = np.concatenate([rng.permutation(n)[:m] for _ in range(n_exc)])
    exc_delay = np.tile(np.repeat(np.arange(1, max_delay + 1), m // max_delay), n_exc).astype(float)
    inh_pre = np.repeat(np.arange(n_exc, n), m)
    inh_post = np.concatenate([rng.permutation(n_exc)[:m] for _ in range(n_inh)])
    tau = -1.0 / math.log(0.95)
    stdp = PairSTDP(tau_plus=tau, tau_minus=tau, eta_plus=0.1, eta_minus=0.12, w_min=0.0, w_max=10.0, pairing="nearest")
    rule = RewardModulatedSTDP(stdp=stdp, tau_c=-1000.0 / math.log(0.9), baseline=1.0, weight_rate=1.0, update_interval=1000.0, drift=0.01,
                               eligibility_decay=eligibility_decay)
    # Izhikevich's D-step delay acts D steps later; ours acts at the end of step t + delay, i.e. one step sooner: shift by 1
    exc = sim.Projection(cortex, cortex, (exc_pre, exc_post), weight=6.0, delay=exc_delay - 1.0, plasticity=rule, modulator="none", name="exc")
    inh = sim.Projection(cortex, cortex, (inh_pre, inh_post), weight=-5.0, delay=0.0, name="inh")
    drive = sim.Projection(kicks, cortex, "one_to_one", weight=20.0, name="kicks")
    net.add(cortex, kicks, exc, inh, drive)
    return net, cortex, exc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3600.0, help="model time in seconds (default 3600, the paper's hour)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eligibility-decay", choices=["continuous", "periodic"], default="continuous",
                    help="decay sd continuously (default) or once a second after the weight update, as Izhikevich's code")
    ap.add_argument("--out", type=Path, default=Path("runs/polychronization"), help="output folder (also holds the checkpoint)")
    ap.add_argument("--checkpoint-every", type=float, default=60.0, help="seconds of model time between checkpoints (default 60)")
    ap.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    net, cortex, exc = build(args.seed, eligibility_decay=args.eligibility_decay)
    w0 = exc.weights
    ckpt = args.out / "checkpoint_net.npz"
    if args.resume:
        if not ckpt.is_file():
            raise SystemExit(f"--resume: no checkpoint {ckpt}")
        net.restore(ckpt)
        print(f"resuming at t = {net.t / 1000:.0f} s from {ckpt}")
    learn_until = max(0.0, args.seconds - 1.0) * 1000.0
    loop_s = 0.0  # wall time inside Network.run (checkpoints and plots excluded)
    while net.t < learn_until - 1e-9:
        t0 = time.perf_counter()
        net.run(min(max(args.checkpoint_every, 1.0) * 1000.0, learn_until - net.t), progress=True)
        loop_s += time.perf_counter() - t0
        net.save(ckpt)
    spikes = net.add(sim.SpikeMonitor(cortex))
    rate = net.add(sim.PopulationRateMonitor(cortex))
    net.run(1000.0, progress=False)
    w = exc.weights
    r = rate.rate - rate.rate.mean()
    freqs = np.fft.rfftfreq(r.size, d=1e-3)
    power = np.abs(np.fft.rfft(r)) ** 2
    band = (freqs >= 20) & (freqs <= 120)
    peak = float(freqs[band][np.argmax(power[band])]) if band.any() else float("nan")
    summary = {"seconds": args.seconds, "rate_hz": spikes.rate(1000.0), "weights_below_1": float((w < 1).mean()),
               "weights_above_9": float((w > 9).mean()), "spectral_peak_hz_20_120": peak,
               "simulate_wall_s_this_process": round(loop_s, 1)}
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    axes[0].plot(spikes.t - spikes.t.min() if spikes.t.size else [], spikes.i, ".", ms=1, color="k")
    axes[0].set_xlabel("time in the last second (ms)")
    axes[0].set_ylabel("neuron")
    axes[0].set_title("Raster")
    axes[1].hist(w0, bins=50, range=(0, 10), alpha=0.5, label="initial")
    axes[1].hist(w, bins=50, range=(0, 10), alpha=0.7, label="final")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("excitatory weight")
    axes[1].legend()
    axes[1].set_title("Weights")
    axes[2].semilogy(freqs[1:200], power[1:200])
    axes[2].set_xlabel("frequency (Hz)")
    axes[2].set_title("Population rate spectrum")
    fig.tight_layout()
    fig.savefig(args.out / "polychronization.png", dpi=120)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    print(f"wrote {args.out / 'polychronization.png'}")
    return summary, w


if __name__ == "__main__":
    main()
