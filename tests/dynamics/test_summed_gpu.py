"""(summed) variables of a SynapseModel on the GPU engine (``<rule>_summed`` of kernels/synapse_model.cu.in) against the
CPU loop, bit for bit, through the host emulation (``backend="emulate"``: the generated CUDA compiled as C++ for this
CPU), compiled by nvcc where installed, and on a GPU (``@pytest.mark.gpu``; the rules here call no libm function, so
a GPU gives the CPU's bits too).

The CPU loop sets each target to 0 for the whole postsynaptic population, then adds each synapse's value in synapse
(creation) order; the GPU kernel runs one thread per postsynaptic neuron over its synapses in that order. Checked: the
gap-junction network of test_summed.py (spikes, the summed current sample for sample, the final state), two projections
summing into two variables of one population (random per-synapse conductances, synapses created out of presynaptic
order, neurons that receive nothing, an empty projection), the order of the additions itself (values whose sum depends
on it), and the rule the GPU refuses. A sentinel counts the launches of the generated ``_summed`` kernels, so a run
that never reached them cannot pass.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuro import sim
from neuro.dynamics import NeuronModel, SynapseModel, cudagen_synapse
from neuro.paths import kernel_dir
from neuro.sim import engine_gpu

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_summed import GAP, NEURON  # noqa: E402

pytestmark = pytest.mark.skipif(engine_gpu.HostEmulation.compiler() is None, reason="the emulation needs a C++ compiler")

# two (summed) inputs and one that only an empty projection sets
NEURON2 = NeuronModel("""
dv/dt = (v0 - v + Igap + Iin + Ix) / tau : 1
v0 : 1 (constant)
tau : second (constant)
Igap : 1
Iin : 1
Ix : 1
""", threshold="v > 1", reset="v = 0", inputs={"exc": "v"}, name="two_inputs")
# the weight itself summed (its delivery at spikes aside: the presynaptic neurons below never fire)
WSUM = SynapseModel("Iin_post = w : 1 (summed)", name="weight_sum")
XSUM = SynapseModel("c : 1 (constant)\nIx_post = c * v_pre : 1 (summed)", name="x_sum")


def _counting(monkeypatch) -> dict:
    """Counts the launches of the generated ``_summed`` kernels of each rule module."""
    launches: dict[str, int] = {}
    launch = engine_gpu.HostEmulation.launch

    def counting(self, src, name, grid, block, args):
        if name.startswith("synapse_model_") and name.endswith("_summed"):
            launches[src] = launches.get(src, 0) + 1
        return launch(self, src, name, grid, block, args)

    monkeypatch.setattr(engine_gpu.HostEmulation, "launch", counting)
    return launches


def gap_network(backend: str, g: float = 0.1, n: int = 10):
    net = sim.Network(dt=0.1, seed=0, backend=backend)
    pop = sim.Population(n, NEURON, v0=np.linspace(1.01, 3.0, n), tau=10.0, v=0.0, Igap=0.0, name="neurons")
    net.add(pop, sim.Projection(pop, pop, "all_to_all", weight=0.0, plasticity=GAP(g=g), receptor="exc"))
    mons = {"spikes": net.add(sim.SpikeMonitor(pop)), "Igap": net.add(sim.StateMonitor(pop, "Igap", indices=list(range(n))))}
    return net, mons


def two_projections(backend: str):
    """Six neurons: gap junctions among neurons 0-3 (random pairs, created in a shuffled order, random conductances per
    synapse) onto Igap; a silent population's weights onto Iin of neurons 0 and 2; an empty projection onto Ix. Neurons
    4 and 5 receive nothing: all three inputs start at nonzero values and must read 0."""
    rng = np.random.default_rng(3)
    net = sim.Network(dt=0.1, seed=0, backend=backend)
    pop = sim.Population(6, NEURON2, v0=np.linspace(1.05, 2.5, 6), tau=10.0, v=0.0, Igap=5.0, Iin=5.0, Ix=5.0, name="neurons")
    quiet = sim.Population(3, NEURON2, v0=0.5, tau=10.0, v=0.0, Igap=0.0, Iin=0.0, Ix=0.0, name="quiet")  # never fires
    pairs = np.array([(i, j) for i in range(4) for j in range(4) if i != j])[rng.permutation(12)]
    gaps = sim.Projection(pop, pop, (pairs[:, 0], pairs[:, 1]), weight=0.0, plasticity=GAP(g=rng.uniform(0.02, 0.2, 12)),
                          receptor="exc", name="gaps")
    # onto neuron 0 in creation order 1.0, 1e16, -1e16 (presynaptic order: 1e16, -1e16, 1.0): the order of the additions
    # decides the sum, 0.0 in creation order, 1.0 in presynaptic order
    weights = sim.Projection(quiet, pop, (np.array([2, 0, 1, 1, 0]), np.array([0, 0, 0, 2, 2])), weight=np.array([1.0, 1e16, -1e16, 0.25, 0.5]),
                             plasticity=WSUM, receptor="exc", name="weights")
    empty = sim.Projection(quiet, pop, (np.zeros(0, np.int64), np.zeros(0, np.int64)), weight=0.0, plasticity=XSUM(c=1.0),
                           receptor="exc", name="empty")
    net.add(pop, quiet, gaps, weights, empty)
    mons = {"spikes": net.add(sim.SpikeMonitor(pop))}
    for var in ("Igap", "Iin", "Ix", "v"):
        mons[var] = net.add(sim.StateMonitor(pop, var, indices=list(range(6))))
    return net, mons


def _outputs(net, mons) -> dict:
    out = {"spikes.t": mons["spikes"].t, "spikes.i": mons["spikes"].i}
    for k, m in mons.items():
        if k != "spikes":
            out[k] = m.values
    st = net.state()
    for k in ("v", "gen_state", "syn_state"):
        if k in st:
            out["state." + k] = st[k]
    return out


def _compare(build, duration: float, **kw) -> dict:
    """The CPU loop in one run, the emulated GPU in two (an upload and a download between); asserts them equal."""
    net, mons = build("cpu", **kw)
    net.run(duration, progress=False)
    cpu = _outputs(net, mons)
    net, mons = build("emulate", **kw)
    net.run(duration / 2, progress=False)
    net.run(duration / 2, progress=False)
    emu = _outputs(net, mons)
    assert cpu.keys() == emu.keys()
    for k in cpu:
        np.testing.assert_array_equal(np.asarray(emu[k]), np.asarray(cpu[k]), err_msg=k)
    return cpu


def test_gap_junctions_equal_the_cpu_loop(monkeypatch):
    launches = _counting(monkeypatch)
    out = _compare(gap_network, 30.0)
    assert sum(launches.values()) >= 300  # one per step (and per step of a graph past the run's end, which does nothing)
    assert out["spikes.i"].size > 20 and np.abs(out["Igap"]).max() > 0.05  # the neurons fire and the current is not nothing


@pytest.mark.parametrize(("threads", "duration"), [(None, 20.0), ("3x4", 6.0)])
def test_two_projections_neurons_without_synapses_and_the_order_of_the_sum(threads, duration, monkeypatch):
    """Sequential emulation, and 3 blocks x 4 lanes of OS threads started in a random order (one writer per target; a
    shorter run: each launch starts its threads)."""
    if threads:
        monkeypatch.setenv("NEURO_EMULATE_THREADS", threads)
    launches = _counting(monkeypatch)
    out = _compare(two_projections, duration)
    assert len(launches) == 3 and min(launches.values()) >= round(duration / 0.1)  # gaps, weights, the empty one: every step
    igap, iin, ix = out["Igap"].T, out["Iin"].T, out["Ix"].T  # [neuron, sample]
    assert np.all(igap[4:] == 0.0) and np.all(iin[[1, 3, 4, 5]] == 0.0) and np.all(ix == 0.0)  # not left at 5
    assert np.all(igap[:4, 1:] != 0.0) and np.all(iin[2] == 0.25 + 0.5)
    assert ((1.0 + 1e16) - 1e16, (1e16 - 1e16) + 1.0) == (0.0, 1.0)  # the two orders give different sums ...
    assert np.all(iin[0] == 0.0)  # ... and the sum is made in creation order
    assert out["spikes.i"].size > 0


def test_rule_reading_its_own_target_is_refused_on_the_gpu():
    """A (summed) expression reading a variable its rule sums into (here through ``_pre``) would read the CPU loop's
    partial sums: the CPU loop runs it, the GPU engine refuses it by name."""
    rule = SynapseModel("g : 1 (constant)\nIgap_post = g * (Igap_pre - v_post) : 1 (summed)", name="reads_target")
    for backend in ("cpu", "emulate"):
        net = sim.Network(dt=0.1, backend=backend)
        pop = sim.Population(3, NEURON, v0=2.0, tau=10.0, Igap=0.0, name="neurons")
        net.add(pop, sim.Projection(pop, pop, "all_to_all", weight=0.0, plasticity=rule(g=0.1), receptor="exc"))
        if backend == "cpu":
            net.run(0.5, progress=False)
        else:
            with pytest.raises(NotImplementedError, match=r"reads_target: its \(summed\) expressions read \['Igap_pre'\]"):
                net.run(0.5, progress=False)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
def test_summed_kernel_compiles_with_nvcc_for_sm90_without_fma(tmp_path):
    """The gap-junction rule's module (per-synapse conductances) compiles for a Hopper GPU with the engine's options; its
    _summed kernel is in the PTX, with no fused multiply-add anywhere (so a GPU adds as the CPU does)."""
    out = tmp_path / "gap.ptx"
    cmd = [shutil.which("nvcc"), "-arch=sm_90", "-ptx", "--std=c++17", "--fmad=false", "-DTGT_T=int", "-DEV_T=int", f"-I{kernel_dir()}",
           "-o", str(out), str(cudagen_synapse.write(GAP))]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    ptx = out.read_text()
    assert f".entry {cudagen_synapse.summed_kernel_name(GAP)}(" in ptx and not re.search(r"\bfma\.", ptx)


@pytest.mark.gpu
def test_summed_on_a_gpu_equal_the_cpu_loop():
    """On a GPU: the rules here are + - * / only (NVRTC --fmad=false), so spikes, sums and state equal the CPU loop's bits."""
    for build, duration in ((gap_network, 100.0), (two_projections, 20.0)):
        net, mons = build("cpu")
        net.run(duration, progress=False)
        cpu = _outputs(net, mons)
        net, mons = build("cuda")
        net.run(duration / 2, progress=False)
        net.run(duration / 2, progress=False)
        gpu = _outputs(net, mons)
        for k in cpu:
            np.testing.assert_array_equal(np.asarray(gpu[k]), np.asarray(cpu[k]), err_msg=f"{build.__name__}: {k}")
