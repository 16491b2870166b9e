"""A small network of user-defined models (EIF, AdEx, Hodgkin-Huxley: their generated CUDA kernels) and one of
user-defined plasticity rules (Clopath et al.'s voltage-based rule, a clock-driven filter of v_post, pair STDP as a
definition: neuro.dynamics.cudagen_synapse) run on a backend and on the CPU loop; exits 1 unless spikes and final
states are equal bit for bit, but for pair STDP's weights and traces, within 1e-12 (its event-driven decay calls CUDA's
exp, which may round an ulp away from glibc's; the others call no libm function). scripts/gpu_check.sh runs it under
compute-sanitizer.

usage: python scripts/gpu/generated_sim.py [BACKEND]      (default cuda; emulate runs the same kernels on the CPU)
"""

import sys

import numpy as np

from neuro import sim
from neuro.dynamics import SynapseModel, library


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


def run_rules(backend: str):
    """Clopath's rule between clopath neurons driven by Poisson input, a clock-driven filter of v_post into LIF neurons and
    pair STDP (both delivery orders): (exact outputs, pair STDP's weights and traces)."""
    net = sim.Network(dt=0.1, seed=6, backend=backend)
    pois = sim.PoissonInput(30, rate=40.0)
    cl = sim.Population(8, library.clopath_neuron())
    lif = sim.LIF(6, refractory_input=True)
    filt = SynapseModel("dx/dt = (v_post - x) / tau_x : volt (clock-driven)\ntau_x : second (constant)",
                        on_pre="w = w + 0.01 * (x - v_post) / mV", defaults={"tau_x": 7.0})
    pair = SynapseModel("dapre/dt = -apre / (20*ms) : 1 (event-driven)\ndapost/dt = -apost / (20*ms) : 1 (event-driven)",
                        on_pre="apre += 0.01; w = clip(w + apost, 0, 20)", on_post="apost -= 0.0105; w = clip(w + apre, 0, 20)")
    projs = [sim.Projection(pois, cl, sim.FixedProbability(0.5), weight=10.0, delay=0.5, seed=1),
             sim.Projection(cl, cl, sim.FixedProbability(0.5), weight=0.25, delay=1.0, seed=2, plasticity=library.clopath_rule()),
             sim.Projection(pois, lif, sim.FixedProbability(0.5), weight=4.0, receptor="v", delay=0.3, seed=3, plasticity=filt(x=-65.0)),
             sim.Projection(pois, lif, sim.FixedProbability(0.3), weight=3.0, delay=0.7, seed=4, plasticity=pair),
             sim.Projection(pois, cl, sim.FixedProbability(0.3), weight=0.1, delay=0.4, seed=5,
                            plasticity=SynapseModel(pair.equations, on_pre=pair.on_pre, on_post=pair.on_post, delivery="before_update"))]
    net.add(pois, cl, lif, *projs)
    mons = [net.add(sim.SpikeMonitor(p)) for p in (cl, lif)]
    net.run(40.0)
    exact = [m.t for m in mons] + [m.i for m in mons] + [projs[1].weights, projs[2].weights, projs[2].variable("x")]
    return exact, [projs[3].weights, projs[4].weights, projs[3].variable("apre"), projs[4].variable("apost")]


def main(backend: str) -> int:
    ours, cpu = run(backend), run("cpu")
    same = all(np.array_equal(a, b) for a, b in zip(ours, cpu))
    print(f"GENERATED {backend}: spikes {sum(a.size for a in ours[:3])}, {'EQUAL to' if same else 'DIFFERENT from'} the CPU loop")
    (ex_o, pr_o), (ex_c, pr_c) = run_rules(backend), run_rules("cpu")
    rules_same = all(np.array_equal(a, b) for a, b in zip(ex_o, ex_c))
    err = max(float(np.abs(a - b).max(initial=0.0)) for a, b in zip(pr_o, pr_c))
    print(f"GENERATED rules {backend}: spikes {sum(a.size for a in ex_o[:2])}, Clopath and clock-driven "
          f"{'EQUAL to' if rules_same else 'DIFFERENT from'} the CPU loop; pair STDP max |difference| {err:.3g}")
    return 0 if same and rules_same and err <= 1e-12 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "cuda"))
