"""A small network of user-defined models (EIF, AdEx, Hodgkin-Huxley: their generated CUDA kernels) run on a backend
and on the CPU loop; exits 1 unless spikes and final states are equal bit for bit (scripts/gpu_check.sh runs it under
compute-sanitizer).

usage: python scripts/gpu/generated_sim.py [BACKEND]      (default cuda; emulate runs the same kernels on the CPU)
"""

import sys

import numpy as np

from neuro import sim
from neuro.dynamics import library


def run(backend: str):
    net = sim.Network(dt=0.1, seed=4, backend=backend)
    pois = sim.PoissonInput(40, rate=60.0)
    eif = sim.Population(30, library.eif(), I=np.linspace(0.0, 900.0, 30), t_ref=2.0)
    adex = sim.Population(20, library.adex(), I=np.linspace(0.0, 1200.0, 20))
    hh = sim.Population(20, library.hodgkin_huxley(), v=lambda r, n: -60.0 + 10.0 * r.random(n))
    net.add(pois, eif, adex, hh)
    net.add(sim.Projection(pois, eif, sim.FixedProbability(0.3), weight=4.0, receptor="v", delay=0.5, seed=1),
            sim.Projection(pois, hh, sim.FixedProbability(0.3), weight=6.0, receptor="exc", delay=0.3, seed=3),
            sim.Projection(eif, hh, sim.FixedProbability(0.3), weight=20.0, receptor="inh", delay=1.0, seed=4),
            sim.Projection(hh, adex, sim.FixedProbability(0.3), weight=-2.0, receptor="v", delay=0.7, seed=5))
    mons = [net.add(sim.SpikeMonitor(p)) for p in (eif, adex, hh)] + [net.add(sim.StateMonitor(hh, "m", [0, 1]))]
    net.run(40.0)
    st = net.state()
    return [m.t for m in mons[:3]] + [m.i for m in mons[:3]] + [mons[3].values] + [st[k] for k in ("v", "x1", "x2", "gen_state")]


def main(backend: str) -> int:
    ours, cpu = run(backend), run("cpu")
    same = all(np.array_equal(a, b) for a, b in zip(ours, cpu))
    print(f"GENERATED {backend}: spikes {sum(a.size for a in ours[:3])}, {'EQUAL to' if same else 'DIFFERENT from'} the CPU loop")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "cuda"))
