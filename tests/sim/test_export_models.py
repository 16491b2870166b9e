"""save_h5 / load_h5 with populations of user-defined models (sim.Population(n, NeuronModel)): the definition and the
values now go into the file, and the reloaded network runs the same spikes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from neuro import sim
from neuro.dynamics import NeuronModel, library
from neuro.nn import Neuron
from neuro.sim.deploy import DeployedNetwork, from_nn
from neuro.sim.export import load_h5, save_h5

pytest.importorskip("h5py")


def _eif_network(seed=3):
    """20 EIF neurons (2 ms refractory, per-neuron current, drawn initial v) under random jumps of v from a SpikeSource."""
    rng = np.random.default_rng(seed)
    n, m = 20, 1500
    times = rng.integers(0, 2999, m) * 0.1
    targets = rng.integers(0, n, m)
    net = sim.Network(dt=0.1, seed=seed)
    pop = sim.Population(n, library.eif(t_ref=2.0), I=np.linspace(300, 700, n), v=lambda r, k: r.uniform(-72.0, -60.0, k), name="eif")
    src = sim.SpikeSource(m, times, np.arange(m), name="jumps")
    net.add(pop, src, sim.Projection(src, pop, (np.arange(m), targets), weight=rng.uniform(0.5, 4.0, m), receptor="v", name="jumps->eif"))
    return net, pop


def _spikes(net, pop, duration):
    mon = net.add(sim.SpikeMonitor(pop))
    net.run(duration, progress=False)
    return list(zip(np.round(mon.t / net.dt).astype(int).tolist(), mon.i.tolist()))


def test_eif_network_saved_and_reloaded_runs_the_same_spikes(tmp_path):
    net, pop = _eif_network()
    back = load_h5(save_h5(net, tmp_path / "eif.h5"))
    loaded = back.populations[0]
    assert type(loaded).__name__ == "ModelPopulation" and loaded.name == "eif"
    assert loaded.definition.key == pop.definition.key and loaded.definition.method == pop.definition.method
    assert loaded.definition.refractory == "t_ref" and loaded.definition.inputs == {"v": "v"}
    for key in ("v", "I", "t_ref", "C", "V_cut"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(pop, key))
    assert np.unique(pop.v).size == 20  # the drawn initial values were saved, not drawn again
    want = _spikes(net, pop, 300.0)
    got = _spikes(back, loaded, 300.0)
    assert len(want) > 50
    assert got == want


def test_the_file_holds_the_values_after_a_run(tmp_path):
    """Variables and parameters changed by a run and by the user are the ones saved; the step count too."""
    net, pop = _eif_network(seed=4)
    _spikes(net, pop, 50.0)
    pop.I = np.linspace(100, 900, 20)  # a parameter changed after the run
    back = load_h5(save_h5(net, tmp_path / "after.h5"))
    loaded = back.populations[0]
    assert back.step == net.step == 500
    np.testing.assert_array_equal(loaded.v, pop.v)
    np.testing.assert_array_equal(loaded.I, np.linspace(100, 900, 20))
    assert np.any(loaded.v != -70.6)


def test_a_definition_that_reads_back_differently_is_refused(tmp_path):
    import h5py

    net, _ = _eif_network()
    path = save_h5(net, tmp_path / "eif.h5")
    with h5py.File(path, "r+") as f:
        record = json.loads(f["populations/0"].attrs["model"])
        record["reset"] = "v = V_r + 1 * mV"  # written by a neuro whose definitions differed
        f["populations/0"].attrs["model"] = json.dumps(record)
    with pytest.raises(ValueError, match="population 'eif'.*another model"):
        load_h5(path)


ADAPTIVE = NeuronModel("""
    dv/dt = (I - v) / tau : 1
    da/dt = -a / tau_a : 1
    I : 1
    tau : second (constant)
    tau_a : second (constant)
    theta : 1 (constant)
    jump : 1 (constant)
""", threshold="v > theta + a", reset="v = 0; a += jump", inputs={"v": "v"},
    defaults={"tau": 5.0, "tau_a": 40.0, "theta": 1.0, "jump": 0.3, "I": 0.0}, name="adaptive_threshold")


def test_deployed_user_model_layers_round_trip(tmp_path):
    """from_nn of two layers of a continuous two-variable definition (per-neuron tau, biases arriving as a constant
    input): saved and reloaded, the same spikes for two samples."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(30, 24), Neuron(ADAPTIVE, dt=1.0, input="v", learnable={"tau": "neuron"}, shape=(24,)),
                          nn.Linear(24, 10), Neuron(ADAPTIVE, dt=1.0, input="v", learnable={"tau": "neuron"}, shape=(10,))).double()
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[2].weight.mul_(3.0)
        model[1].learned["tau"].copy_(torch.linspace(3.0, 8.0, 24, dtype=torch.float64))
    net = from_nn(model, (30,))
    assert [type(p).__name__ for p in net.layers] == ["ModelPopulation", "ModelPopulation"] and len(net._constant) == 2
    back = load_h5(save_h5(net, tmp_path / "deployed.h5"))
    assert isinstance(back, DeployedNetwork) and len(back._constant) == 2 and back.shapes == net.shapes
    assert [p.name for p in back.populations] == [p.name for p in net.populations]
    np.testing.assert_array_equal(back.layers[0].tau, net.layers[0].tau)
    assert np.unique(net.layers[0].tau).size == 24
    g = torch.Generator().manual_seed(2)
    for _ in range(2):
        x = (torch.rand(40, 30, generator=g, dtype=torch.float64) < 0.3).double().numpy()
        want, got = net.present(x), back.present(x)
        assert sum(w.sum() for w in want) > 0
        for w, o in zip(want, got):
            np.testing.assert_array_equal(o, w)
