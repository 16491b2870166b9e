"""One network across MPI ranks (neuro.sim.distributed): ``mpirun -n 2`` gives the spikes of the single process.

The networks are in ``tests/sim/mpi_scripts/networks.py`` (deterministic, one spike monitor streamed to HDF5 by rank 0;
random connectivity with Poisson inputs and noise; pair STDP and a user-defined rule); one ``mpirun -n 2`` runs them
all, distributed, and rank 0 runs each again in one process. The per-block draws that make connectivity decomposable,
the refusals and a dying rank are tested here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neuro import sim

pytest.importorskip("mpi4py")
SCRIPTS = Path(__file__).parent / "mpi_scripts"
MPIRUN = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")


def _mpirun(*args, timeout=180):
    if MPIRUN is None:
        pytest.skip("no mpirun (pip install mpich)")
    return subprocess.run([MPIRUN, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """One ``mpirun -n 2``: the networks (results in an .npz), then a run whose rank 1 dies."""
    out = tmp_path_factory.mktemp("mpi") / "runs.npz"
    t = time.monotonic()
    got = _mpirun("-disable-auto-cleanup", "-n", "2", sys.executable, str(SCRIPTS / "networks.py"), str(out), "--then-die")
    took = time.monotonic() - t
    assert out.exists(), got.stderr[-3000:]
    with np.load(out) as f:
        return {k: f[k] for k in f.files}, got, took


@pytest.fixture(scope="module")
def runs(job):
    return job[0]


# per network: the results compared, and the least number of spikes / synapses each must have (so the check means something)
EXPECTED = {
    "deterministic": {"src_i": 20, "exc_i": 60, "izh_i": 20, "exc_rate": 600, "exc_v_values": 2400},
    "random": {"poi_i": 100, "exc_i": 400, "inh_i": 80, "coba_i": 120, "inh_rate": 600},
    "plastic": {"exc_i": 400, "stdp_w": 2000, "rule_w": 1000, "stdp_pre": 2000, "rule_post": 1000},
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_two_ranks_give_the_single_process_results(runs, kind):
    for what, least in EXPECTED[kind].items():
        one, mpi = runs[f"{kind}/{what}/one"], runs[f"{kind}/{what}/mpi"]
        assert one.size >= least, f"{kind}/{what}: only {one.size} values, the comparison would say little"
        assert mpi.shape == one.shape, f"{kind}/{what}: {mpi.shape} across 2 ranks, {one.shape} in one process"
        np.testing.assert_array_equal(mpi, one, err_msg=f"{kind}/{what}")
    if kind == "plastic":  # the rules ran: weights left their initial values (uniform in [2, 4] and 2.0)
        assert np.any((runs["plastic/stdp_w/one"] < 2.0) | (runs["plastic/stdp_w/one"] > 4.0))
        assert np.mean(runs["plastic/rule_w/one"] != 2.0) > 0.5


def test_a_dying_rank_ends_the_run_with_an_error_on_the_others(job):
    _, got, took = job
    assert got.returncode != 0
    assert "neuro.sim rank 0/2: the spike count exchange did not complete within 1 s" in got.stderr, got.stderr[-2000:]
    assert "another rank died or hangs" in got.stderr
    assert "rank 0 finished" not in got.stdout
    assert took < 100  # bounded: the networks, then the 1 s timeout (no hang till the subprocess timeout of 180 s)


# ------------------------------------------------------------------------------------ decomposable random connectivity
@pytest.mark.parametrize("rule", [sim.FixedProbability(0.1), sim.FixedInDegree(7), sim.FixedOutDegree(5), "all_to_all"],
                         ids=["probability", "in-degree", "out-degree", "all-to-all"])
def test_the_synapses_onto_any_range_of_targets_are_those_of_the_whole_draw(rule):
    """A rank draws the synapses onto its neurons only; they must be the single process's, in its order."""
    pre, post = sim.LIF(120), sim.LIF(2500)  # blocks of TARGET_BLOCK = 1024 targets: 0-1023, 1024-2047, 2048-2499

    def draw(post_range=None):
        proj = sim.Projection(pre, post, rule, weight=lambda rng, n: rng.normal(1.0, 0.2, n),
                              delay=lambda rng, n: rng.integers(1, 9, n) * 0.5)
        proj._draw([5, 1, 2], post_range)
        return proj

    whole = draw()
    assert len(whole) >= 600  # out-degree: 120 x 5
    for lo, hi in [(0, 2500), (0, 1), (100, 400), (1023, 1025), (1024, 2048), (1000, 2100), (2499, 2500), (300, 300)]:
        part = draw((lo, hi))
        keep = (whole._post >= lo) & (whole._post < hi)
        for a, b in ((part._pre, whole._pre[keep]), (part._post, whole._post[keep]), (part._w, whole._w[keep]),
                     (part._delay_ms, whole._delay_ms[keep])):
            np.testing.assert_array_equal(a, b)


def test_per_block_draws_keep_the_law():
    """FixedProbability drawn per block of targets: the count of synapses is binomial(n_pre n_post, p)."""
    pre, post = sim.LIF(500), sim.LIF(1000)
    counts = [len(sim.Projection(pre, post, sim.FixedProbability(0.02), seed=s)) for s in range(20)]
    mean, sd = 500 * 1000 * 0.02, np.sqrt(500 * 1000 * 0.02 * 0.98)
    assert abs(np.mean(counts) - mean) < 4 * sd / np.sqrt(20)
    assert 0.5 * sd < np.std(counts) < 1.5 * sd


# -------------------------------------------------------------------------------------------------------------- refusals
class _Request:
    def Test(self):
        return True


class _TwoRanks:
    """Rank 0 of two as far as a distributed build asks (collectives answered with this rank's values)."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 2

    def Iallreduce(self, send, recv, op=None):
        recv[...] = send
        return _Request()

    def Iallgatherv(self, send, recv):
        raise AssertionError("not reached in these tests")


def _net(**kw):
    net = sim.Network(dt=0.1, comm=_TwoRanks(), **kw)
    a, b = sim.LIF(10, name="a"), sim.LIF(10, name="b")
    net.add(a, b)
    return net, a, b


@pytest.mark.parametrize("make, match", [
    (lambda net, a, b: net.add(sim.Projection(a, b, "all_to_all", delay=0.0)), "at least one step"),
    (lambda net, a, b: net.add(sim.SynapseMonitor(sim.Projection(a, b, "one_to_one"), synapses=[0])), "SynapseMonitor is not distributed"),
    (lambda net, a, b: net.add(sim.Projection(a, b, "one_to_one", delay=1.0, plasticity=sim_stdp(dendritic_fraction=0.5))),
     "dendritic delay fraction"),
    (lambda net, a, b: net.add(sim.SpikeSource(2, [1.0, 1.0], [0, 0], repeats="multiplicity")), "repeats='multiplicity'"),
], ids=["zero delay", "synapse monitor", "dendritic fraction", "repeated source spikes"])
def test_what_cannot_be_distributed_is_refused_by_name(make, match):
    net, a, b = _net()
    make(net, a, b)
    with pytest.raises((NotImplementedError, ValueError), match=match):
        net.run(1.0)


def sim_stdp(**kw):
    from neuro.ops.stdp import PairSTDP

    return PairSTDP(**kw)


def test_a_distributed_network_refuses_reward_callbacks_build_and_changes():
    net, a, b = _net()
    with pytest.raises(NotImplementedError, match="reward callbacks"):
        net.run(1.0, reward=lambda n: None)
    with pytest.raises(RuntimeError, match="laid out by each rank"):
        net.build()
    with pytest.raises(TypeError, match="comm must be an MPI communicator"):
        sim.Network(comm=object())
    with pytest.raises(ValueError, match="timeout must be"):
        sim.Network(comm=_TwoRanks(), timeout=0)
