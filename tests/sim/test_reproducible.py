"""One seed fixes a whole network; saved states belong to their network; non-finite values are refused."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP

README_STDP = textwrap.dedent("""
    from neuro import sim
    from neuro.ops.stdp import PairSTDP
    net = sim.Network(dt=0.1, seed=0)
    inputs = sim.PoissonInput(200, rate=15.0)
    cell = sim.ConductanceLIF(1, tau_m=10.0, v_rest=-74.0, v_th=-54.0, v_reset=-60.0, t_ref=0.0)
    syn = sim.Projection(inputs, cell, "all_to_all", weight=0.05, delay=lambda rng, n: rng.integers(1, 6, n) * 1.0,
                         plasticity=PairSTDP(eta_plus=1e-4, eta_minus=1.05e-4, w_max=0.1))
    rec = sim.Projection(inputs, inputs, sim.FixedProbability(0.01), weight=0.0)
    exc = sim.LIF(20, v_init=lambda rng, n: rng.uniform(-65.0, -50.0, n))
    net.add(inputs, cell, syn, rec, exc)
    spikes = net.add(sim.SpikeMonitor(cell))
    net.run(300.0, progress=False)
    print(spikes.count, repr(float(syn.weights.sum())), repr(float(syn.delays.sum())), len(rec), repr(float(exc.v.sum())))
""")


def test_network_seed_fixes_projections_and_initial_values_across_processes():
    """The README's STDP example (with a random projection and random initial potentials) prints the same numbers
    in two processes: connectivity, delays and initial values come from Network(seed=0)."""
    outs = [subprocess.run([sys.executable, "-c", README_STDP], capture_output=True, text=True, check=True).stdout for _ in range(2)]
    assert outs[0] == outs[1], outs
    assert outs[0].split()[0] != "0"


def _net(seed, proj_seed=None):
    net = sim.Network(dt=0.1, seed=seed)
    a, b = sim.LIF(50), sim.LIF(40, v_init=lambda rng, n: rng.uniform(-65, -55, n))
    p = sim.Projection(a, b, sim.FixedProbability(0.2), weight=lambda rng, n: rng.uniform(0, 1, n), delay=lambda rng, n: rng.integers(1, 9, n) * 0.1,
                       seed=proj_seed)
    net.add(a, b, p)
    return net, p, b


def test_projection_draws_follow_the_network_seed_unless_given_its_own():
    _, p1, b1 = _net(1)
    _, p2, b2 = _net(1)
    _, p3, b3 = _net(2)
    assert np.array_equal(p1.post_index, p2.post_index) and np.array_equal(p1.weights, p2.weights) and np.array_equal(p1.delays, p2.delays)
    assert np.array_equal(b1.v, b2.v)
    assert not np.array_equal(p1.weights[:10], p3.weights[:10]) and not np.array_equal(b1.v, b3.v)
    _, q1, _ = _net(1, proj_seed=5)
    _, q2, _ = _net(2, proj_seed=5)
    assert np.array_equal(q1.weights, q2.weights)  # its own seed wins


def test_an_unadded_random_projection_says_when_it_draws():
    a, b = sim.LIF(5), sim.LIF(5)
    p = sim.Projection(a, b, sim.FixedProbability(0.5))
    with pytest.raises(RuntimeError, match="draws its synapses when it is added to a Network"):
        len(p)
    fixed = sim.Projection(a, b, "all_to_all", weight=0.5)
    assert len(fixed) == 25  # nothing random: drawn at once


def _plastic(delay):
    net = sim.Network(dt=0.1, seed=0)
    src = sim.PoissonInput(30, rate=50.0)
    post = sim.LIF(5, v_rest=-49.0)
    proj = sim.Projection(src, post, "all_to_all", weight=0.5, delay=delay, plasticity=PairSTDP(w_max=1.0))
    net.add(src, post, proj)
    return net


def test_restore_refuses_a_state_of_another_network(tmp_path):
    a = _plastic(1.0)
    a.run(20.0)
    path = a.save(tmp_path / "a.npz")
    same = _plastic(1.0)
    same.restore(path)
    assert same.step == a.step
    other = _plastic(2.0)  # same shapes, other delays
    before = other.state()
    with pytest.raises(ValueError, match=r"a\.npz: saved from a different network — its synapses and delays differ"):
        other.restore(path)
    after = other.state()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # nothing half-restored


def test_restore_of_a_damaged_file_names_it(tmp_path):
    a = _plastic(1.0)
    a.run(5.0)
    path = a.save(tmp_path / "state.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"state\.npz: not a readable network state"):
        _plastic(1.0).restore(path)


@pytest.mark.parametrize("duration", [float("nan"), float("inf"), -1.0])
def test_run_refuses_a_non_finite_duration(duration):
    net = _plastic(1.0)
    with pytest.raises(ValueError, match="duration must be"):
        net.run(duration)


def test_nan_set_through_a_view_is_refused_before_the_run():
    net = _plastic(1.0)
    net.build()
    post = net.populations[1]
    post.v[2] = np.nan
    with pytest.raises(FloatingPointError, match=r"lif\d+\.v is non-finite before the run .*first \[2\]: \[nan\]"):
        net.run(1.0)


def test_diverging_dynamics_are_reported():
    """A conductance-based neuron whose total conductance reaches 0 (an excitatory weight of -1, meaningless but
    accepted) gets v = inf / NaN: the run stops with the population, the variable and the time window named."""
    net = sim.Network(dt=0.1, seed=0)
    src = sim.SpikeSource(1, [2.0], [0])
    cob = sim.ConductanceLIF(2)
    net.add(src, cob, sim.Projection(src, cob, "all_to_all", weight=-1.0))
    with pytest.raises(FloatingPointError, match=r"coba\d+\.v became non-finite during the run \(between t = 0 and 5 ms\)"):
        net.run(5.0)


def test_release_refuses_nan():
    net = sim.Network()
    net.add_modulator("da")
    with pytest.raises(ValueError, match="amount must be finite"):
        net.release("da", float("nan"))
