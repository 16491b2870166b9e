"""CUBA network (Vogels & Abbott 2005; Brian2's examples/CUBA.py) in the event-driven simulator.

4000 current-based LIF neurons (3200 excitatory, 800 inhibitory), connection probability 0.02,
tau_m 20 ms, tau_e 5 ms, tau_i 10 ms, V_t -50 mV, V_r -60 mV, E_l -49 mV, 5 ms refractory,
w_e 1.62 mV, w_i -9 mV, dt 0.1 ms. Writes a raster and the population rate as PNG.

    python examples/cuba.py [--duration 1000] [--n 4000] [--out runs/cuba]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neuro import sim  # noqa: E402


def build(n: int = 4000, seed: int = 1):
    rng = np.random.default_rng(seed)
    n_exc = int(0.8 * n)
    net = sim.Network(dt=0.1, seed=seed)
    exc = sim.LIF(n_exc, tau_m=20, v_rest=-49, v_th=-50, v_reset=-60, t_ref=5, tau_e=5, tau_i=10, v_init=-60 + 10 * rng.random(n_exc), name="exc")
    inh = sim.LIF(n - n_exc, tau_m=20, v_rest=-49, v_th=-50, v_reset=-60, t_ref=5, tau_e=5, tau_i=10,
                  v_init=-60 + 10 * rng.random(n - n_exc), name="inh")
    net.add(exc, inh)
    for pre, w, rec in ((exc, 1.62, "exc"), (inh, -9.0, "inh")):
        for post in (exc, inh):
            net.add(sim.Projection(pre, post, sim.FixedProbability(0.02), weight=w, receptor=rec, seed=int(rng.integers(1 << 31))))
    return net, exc, inh


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=1000.0, help="biological time in ms (default 1000)")
    ap.add_argument("--n", type=int, default=4000, help="number of neurons (default 4000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("runs/cuba"), help="output folder")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    net, exc, inh = build(args.n, args.seed)
    spikes = net.add(sim.SpikeMonitor(exc))
    rate = net.add(sim.PopulationRateMonitor(exc))
    net.run(args.duration, progress=True)
    print(f"mean excitatory rate {spikes.rate(args.duration):.2f} Hz; {net.counts['synaptic_events']} synaptic events")
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    sel = spikes.i < 400
    a1.plot(spikes.t[sel], spikes.i[sel], ".", ms=1, color="k")
    a1.set_ylabel("excitatory neuron")
    a1.set_title("CUBA network")
    a2.plot(rate.t, rate.smoothed(5.0), color="tab:red")
    a2.set_xlabel("time (ms)")
    a2.set_ylabel("rate (Hz)")
    fig.tight_layout()
    fig.savefig(args.out / "cuba_raster.png", dpi=120)
    print(f"wrote {args.out / 'cuba_raster.png'}")


if __name__ == "__main__":
    main()
