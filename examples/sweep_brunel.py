"""A parameter sweep of a Brunel (2000) network on Dask: mean rate and irregularity over inhibition g and input rate.

Sparse random network of current-based LIF neurons with delta synapses (Brunel, J. Comput. Neurosci. 8, 2000): N_E
excitatory and N_E / 4 inhibitory neurons, each receiving C_E = 0.1 N_E excitatory and C_I = C_E / 4 inhibitory
synapses (weights J and -g J, delay 1.5 ms) and C_E external Poisson inputs of rate nu_ext = eta * nu_thr each
(nu_thr = theta / (J C_E tau_m), the rate that alone brings the mean potential to threshold). tau_m 20 ms,
theta 20 mV, V_r 10 mV, 2 ms refractory, dt 0.1 ms. These networks are far smaller than Brunel's (N_E = 10 000,
J = 0.1 mV, J C_E = 80 mV); J is set so that J C_E = 40 mV (1 mV at the quick size), which keeps his two regimes
apart: synchronous regular firing at high rates below g = 4 and asynchronous irregular firing above it. The external
inputs are drawn (C_E each) from one pool of N_E + N_I Poisson sources instead of being independent per neuron.
Each grid point is one network (its connectivity and input drawn from the point's seed) run on a 2-worker Dask
LocalCluster by :func:`neuro.sweep.sweep_network`; the finished points can be checkpointed (``--checkpoint FILE``),
so an interrupted sweep resumes where it stopped.

Writes ``sweep_brunel.png`` (excitatory rate and mean ISI CV over g and eta) and ``sweep_brunel.json`` (the table).

    python examples/sweep_brunel.py [--quick] [--workers 2] [--out runs/sweep_brunel]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from neuro import sim
from neuro.sweep import sweep_network

QUICK = dict(n_exc=400, duration=500.0, g=[2.0, 3.0, 4.0, 5.0, 6.0, 7.0], eta=[1.0, 2.0, 4.0])
FULL = dict(n_exc=2000, duration=1000.0, g=[2.0, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0], eta=[0.9, 1.0, 1.5, 2.0, 3.0, 4.0])


def build(g: float, eta: float, n_exc: int = 400, j: float | None = None, seed: int = 0) -> sim.Network:
    """One Brunel network (relative inhibition ``g``, external rate ``eta`` x nu_thr, weight ``j`` mV, by default
    40 mV / C_E) with a spike monitor on the excitatory population."""
    tau_m, theta, delay = 20.0, 20.0, 1.5
    n_inh, c_e = n_exc // 4, max(1, n_exc // 10)
    j = 40.0 / c_e if j is None else j
    c_i = max(1, c_e // 4)
    nu_thr = theta / (j * c_e * tau_m) * 1000.0  # Hz, per external input
    net = sim.Network(dt=0.1, seed=seed)
    kw = dict(tau_m=tau_m, v_rest=0.0, v_th=theta, v_reset=10.0, t_ref=2.0, v_init=lambda rng, n: rng.uniform(0.0, theta, n))
    exc, inh = sim.LIF(n_exc, name="exc", **kw), sim.LIF(n_inh, name="inh", **kw)
    ext = sim.PoissonInput(n_exc + n_inh, rate=eta * nu_thr, name="ext")  # a pool each neuron draws its C_E external inputs from
    net.add(exc, inh, ext)
    for post in (exc, inh):
        net.add(sim.Projection(exc, post, sim.FixedInDegree(c_e), weight=j, delay=delay, receptor="v", autapses=False),
                sim.Projection(inh, post, sim.FixedInDegree(c_i), weight=-g * j, delay=delay, receptor="v", autapses=False))
        net.add(sim.Projection(ext, post, sim.FixedInDegree(c_e), weight=j, receptor="v"))
    net.add(sim.SpikeMonitor(exc))
    return net


def measure(net: sim.Network, duration: float) -> dict:
    """Mean excitatory rate (Hz) and mean coefficient of variation of the inter-spike intervals (neurons with >= 3 spikes)."""
    mon = next(m for m in net.monitors if isinstance(m, sim.SpikeMonitor))
    cvs = []
    for t in mon.trains():
        if t.size >= 3:
            isi = np.diff(t)
            cvs.append(isi.std() / isi.mean())
    return {"rate_exc": float(mon.rate(duration)), "cv_isi": float(np.mean(cvs)) if cvs else float("nan")}


def plot(table: list[dict], g: list[float], eta: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rate = np.array([[next(r["rate_exc"] for r in table if r["g"] == gi and r["eta"] == ei) for gi in g] for ei in eta])
    cv = np.array([[next(r["cv_isi"] for r in table if r["g"] == gi and r["eta"] == ei) for gi in g] for ei in eta])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, z, title in ((axes[0], rate, "excitatory rate (Hz)"), (axes[1], cv, "mean ISI CV")):
        im = ax.imshow(z, origin="lower", aspect="auto", cmap="viridis", norm=matplotlib.colors.LogNorm() if z is rate and (z > 0).all() else None)
        ax.set_xticks(range(len(g)), [f"{x:g}" for x in g])
        ax.set_yticks(range(len(eta)), [f"{x:g}" for x in eta])
        ax.set_xlabel("relative inhibition g")
        ax.set_ylabel("external rate eta = nu_ext / nu_thr")
        ax.set_title(title)
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="6 x 3 grid of 500-neuron networks, 500 ms each (under a minute)")
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes (0: run here, without Dask)")
    ap.add_argument("--chunk-size", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", type=Path, default=None, help="keep finished points in this file; a rerun skips them")
    ap.add_argument("--out", type=Path, default=Path("runs/sweep_brunel"))
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    table = sweep_network(build, {"g": cfg["g"], "eta": cfg["eta"]}, cfg["duration"], measure=measure, fixed={"n_exc": cfg["n_exc"]},
                          seed=args.seed, workers=args.workers or None, chunk_size=args.chunk_size, checkpoint=args.checkpoint, as_frame=False)
    for r in table:
        print(f"g {r['g']:4.1f}  eta {r['eta']:4.1f}  rate {r['rate_exc']:7.2f} Hz  CV {r['cv_isi']:.2f}")
    plot(table, cfg["g"], cfg["eta"], args.out / "sweep_brunel.png")
    (args.out / "sweep_brunel.json").write_text(json.dumps(table, indent=1))
    print(f"wrote {args.out / 'sweep_brunel.png'}")
    print(f"wrote {args.out / 'sweep_brunel.json'}")
    return table


if __name__ == "__main__":
    main()
