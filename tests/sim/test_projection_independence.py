"""A plastic projection learns the same whatever other plastic projections share the network.

Guards the event loops' per-projection cache (parameter row, trace rows, gains): with a pair-STDP projection and a
reward-modulated one whose periodic update runs between the first one's events, the first one's weights must be
bit-identical to those it learns alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP, TripletSTDP
from neuro.ops.three_factor import RewardModulatedSTDP


def _net(extra: bool, backend: str):
    rng = np.random.default_rng(3)
    times = np.round(rng.uniform(0, 290, 600), 1)
    idx = rng.integers(0, 20, 600)
    keep = np.unique(idx * 10000 + np.rint(times * 10), return_index=True)[1]
    net = sim.Network(dt=0.1, seed=1, backend=backend)
    src = sim.SpikeSource(20, times[keep], idx[keep])
    post = sim.LIF(5, tau_m=10.0, v_rest=-65.0, v_th=-55.0, v_reset=-70.0, t_ref=2.0, tau_e=3.0)
    net.add(src, post)
    a = sim.Projection(src, post, "all_to_all", weight=lambda r, n: np.linspace(2.0, 6.0, n), delay=lambda r, n: (np.arange(n) % 7 + 1) * 0.3,
                       plasticity=PairSTDP(eta_plus=0.2, eta_minus=0.25, w_max=8.0, mu_plus=0.5, mu_minus=0.5, dendritic_fraction=0.5))
    net.add(a)
    if extra:
        # other plastic projections on other neurons: a reward-modulated one with a fast periodic update and a triplet one
        src2 = sim.SpikeSource(10, times[keep][:200], idx[keep][:200] % 10)
        post2 = sim.LIF(4, tau_m=10.0, v_rest=-65.0, v_th=-55.0, v_reset=-70.0, t_ref=2.0)
        net.add_modulator("da", tau=50.0, initial=1.0)
        net.add(src2, post2,
                sim.Projection(src2, post2, "all_to_all", weight=3.0, delay=1.0, modulator="da",
                               plasticity=RewardModulatedSTDP(stdp=PairSTDP(eta_plus=5.0, eta_minus=6.0, w_max=10.0, tau_plus=5.0, tau_minus=7.0),
                                                              update_interval=0.5, tau_c=20.0)),
                sim.Projection(src2, post2, "all_to_all", weight=2.0, delay=0.4, plasticity=TripletSTDP(w_max=5.0)))
    return net, a


@pytest.mark.parametrize("backend", ["cpu", "emulate"])
def test_projection_learns_the_same_with_other_plastic_projections(backend):
    if backend == "emulate":
        from neuro.sim.engine_gpu import HostEmulation

        if HostEmulation.compiler() is None:
            pytest.skip("no C++ compiler for the emulated CUDA kernels")
    alone, a1 = _net(False, backend)
    alone.run(300.0)
    shared, a2 = _net(True, backend)
    shared.run(300.0)
    w0 = np.linspace(2.0, 6.0, len(a1))
    assert np.abs(a1.weights - w0).max() > 0.05  # it did learn
    np.testing.assert_array_equal(a2.weights, a1.weights)
