"""Compile the CPU kernels once, into Numba's disk cache: ``neuro warmup`` (run by ``make`` after installing).

The simulator's time loop is one large Numba function: compiling it takes 20-30 s on a 2-core machine,
loading it from the cache well under a second. The first run on a machine pays the compile; this command
pays it at setup instead, for the argument types ordinary networks and layers use (a network with
every population model, synapse kind, plasticity rule and monitor, and the threaded updates of ``Network(threads=2)``;
the LIF layer's float32 kernels; the ALIF layer's kernels in float32 and float64, which serve every reset, surrogate and
detach switch). Other types (float64 LIF layers, very large networks with 64-bit synapse indices) compile on first use.
"""

from __future__ import annotations

import time


def warm_simulator() -> float:
    """Run a 2-ms network that touches every branch of the time loop; returns the seconds it took."""
    import numpy as np

    from . import sim
    from .ops.stdp import PairSTDP, TripletSTDP
    from .ops.three_factor import RewardModulatedSTDP

    t0 = time.perf_counter()
    net = sim.Network(dt=0.1, seed=0)
    net.add_modulator("da", tau=100.0)
    lif = sim.LIF(8, name="lif")
    izh = sim.Izhikevich(8, noise=2.0, name="izh")
    src = sim.PoissonInput(8, rate=50.0, name="src")
    gen = sim.SpikeSource(2, times=[0.5, 1.0], indices=[0, 1], name="gen")
    net.add(lif, izh, src, gen,
            sim.Projection(src, lif, "all_to_all", weight=1.0, delay=0.2, plasticity=PairSTDP(w_max=2.0)),
            sim.Projection(src, izh, "all_to_all", weight=1.0, plasticity=TripletSTDP(w_max=2.0)),
            sim.Projection(gen, izh, "all_to_all", weight=0.5, plasticity=RewardModulatedSTDP(stdp=PairSTDP(w_max=4.0)), modulator="da"),
            sim.Projection(lif, izh, sim.FixedProbability(0.5), weight=-1.0, receptor="inh", seed=0))
    net.add(sim.SpikeMonitor(lif), sim.StateMonitor(izh, "v", indices=[0]))
    net.run(2.0, progress=False)
    plain = sim.Network(dt=0.1, seed=0)  # and the non-plastic layout most networks have
    a, b = sim.LIF(16, name="a"), sim.PoissonInput(16, rate=50.0, name="b")
    plain.add(a, b, sim.Projection(b, a, sim.FixedProbability(0.5), weight=np.full(1, 1.0)[0], seed=0), sim.SpikeMonitor(a))
    plain.run(2.0, progress=False)
    import os

    if len(os.sched_getaffinity(0)) >= 2:  # the workers of Network(threads=2): populations of 2 x 4096 neurons or more
        big = sim.Network(dt=0.1, seed=0, threads=2)
        from .dynamics import library

        big.add(sim.LIF(8192, noise=1.0, name="lif"), sim.ConductanceLIF(8192, name="coba"), sim.Izhikevich(8192, name="izh"),
                sim.Population(8192, library.eif(), name="eif"))
        big.run(0.2, progress=False)
    return time.perf_counter() - t0


def warm_lif() -> float:
    """Forward + backward of a float32 LIF layer, with a full and with a broadcast output gradient."""
    import torch

    from .nn import LIF

    t0 = time.perf_counter()
    layer = LIF(backend="numba")
    x = torch.randn(4, 2, 600, requires_grad=True)
    layer(x).sum().backward()
    s = layer(x)
    s.backward(torch.ones_like(s))
    return time.perf_counter() - t0


def warm_alif() -> float:
    """Forward + backward of :class:`neuro.nn.ALIF` in float32 and float64: one compiled kernel per direction and dtype,
    whatever the layer's reset, surrogate, detach flags or output gradient (full or broadcast); runtime arguments."""
    import torch

    from .nn import ALIF

    t0 = time.perf_counter()
    layer = ALIF(backend="numba")
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(4, 2, 600, dtype=dtype, requires_grad=True)
        layer(x).sum().backward()
        s = layer(x)
        s.backward(torch.ones_like(s))
    return time.perf_counter() - t0


def main() -> int:
    from . import backend

    if not backend.available("numba"):
        print("neuro warmup: Numba is not installed; nothing to compile")
        return 0
    print(f"simulator time loop: {warm_simulator():.1f} s")
    print(f"LIF kernels:         {warm_lif():.1f} s")
    print(f"ALIF kernels:        {warm_alif():.1f} s")
    return 0
