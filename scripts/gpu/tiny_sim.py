"""A small simulator run that touches every GPU kernel, for compute-sanitizer (scripts/gpu_check.sh).

usage: python scripts/gpu/tiny_sim.py [BACKEND]      (default cuda; cpu and emulate run the same network)
"""

import sys

import numpy as np

from neuro import sim
from neuro.ops.stdp import PairSTDP, TripletSTDP
from neuro.ops.three_factor import RewardModulatedSTDP


def main(backend: str) -> None:
    net = sim.Network(dt=0.5, seed=11, backend=backend)
    pre = sim.PoissonInput(60, rate=30.0)
    gen = sim.SpikeSource(4, times=np.array([1.0, 1.0, 2.5, 7.0]), indices=np.array([0, 1, 2, 3]))
    post = sim.LIF(12, v_rest=-65.0, v_th=-55.0, v_reset=-65.0, t_ref=2.0, noise=2.0)
    izh = sim.Izhikevich(20, preset="regular_spiking", noise=5.0)
    cob = sim.ConductanceLIF(10, noise=0.5)
    net.add(pre, gen, post, izh, cob)
    net.add_modulator("da", tau=200.0)
    pair = sim.Projection(pre, post, sim.FixedProbability(0.5), weight=lambda r, n: np.linspace(0.5, 4.0, n),
                          delay=lambda r, n: (np.arange(n) % 8 + 1) * 0.5, seed=12,
                          plasticity=PairSTDP(eta_plus=0.3, eta_minus=0.32, w_min=0.0, w_max=5.0, mu_plus=0.5, mu_minus=0.5,
                                              dendritic_fraction=0.5))
    trip = sim.Projection(pre, post, sim.FixedProbability(0.3), weight=1.0, delay=1.0, seed=13,
                          plasticity=TripletSTDP.preset("visual_cortex_nearest", w_min=0.0, w_max=3.0))
    rstdp = sim.Projection(pre, izh, sim.FixedProbability(0.4), weight=2.0, delay=lambda r, n: (np.arange(n) % 4 + 1) * 0.5, seed=14,
                           plasticity=RewardModulatedSTDP(update_interval=5.0), modulator="da")
    net.add(pair, trip, rstdp, sim.Projection(gen, cob, "all_to_all", weight=0.4, delay=0.5),
            sim.Projection(izh, cob, sim.FixedProbability(0.3), weight=0.3, delay=1.0, seed=3))
    mons = [net.add(sim.SpikeMonitor(post)), net.add(sim.StateMonitor(izh, "v", [0, 1])),
            net.add(sim.SynapseMonitor(pair, "w", synapses=[0, 5], every=2.0)), net.add(sim.ModulatorMonitor("da", every=1.0))]
    net.run(40.0, reward=lambda n: n.release("da", 0.5) if n.step % 20 == 0 else None, reward_interval=5.0)
    print("TINY done: spikes", net.counts["spikes"], "events", net.counts["synaptic_events"], "post spikes", mons[0].t.size)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "cuda")
