"""Deployed network to HDF5 and back (identical spikes), to neuro.nn and to NIR."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from neuro.sim.deploy import DeployedNetwork, from_nn
from neuro.sim.export import load_h5, save_h5, to_nir, to_nn

_spec = importlib.util.spec_from_file_location("bridge_helpers", Path(__file__).with_name("test_from_nn.py"))
_h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_h)


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("reset", [0.0, None], ids=["hard", "soft"])
def test_h5_round_trip_identical_spikes(reset, tmp_path):
    model = _h._mlp(reset)
    net = from_nn(model, (40,))
    x = _h._input(30, (40,), 0.3, seed=9)[:, 0].numpy()
    # the deployed network changed after deployment (as on-line learning does): the file keeps the new weights
    rng = np.random.default_rng(0)
    net.synapses[-1].weights = net.synapses[-1].weights + rng.normal(0, 0.2, len(net.synapses[-1]))
    want = net.present(x)
    again = load_h5(save_h5(net, tmp_path / "net.h5"))
    assert isinstance(again, DeployedNetwork) and again.latency == net.latency and again.shapes == net.shapes
    np.testing.assert_array_equal(again.synapses[-1].weights, net.synapses[-1].weights)
    _same(again.present(x), want)
    assert sum(w.sum() for w in want) > 0


def test_h5_round_trip_conv_and_delays(tmp_path):
    model = _h._convnet(None)
    net = from_nn(model, (2, 8, 8))
    x = _h._input(20, (2, 8, 8), 0.35, seed=10)[:, 0].numpy()
    _same(load_h5(save_h5(net, tmp_path / "conv.h5")).present(x), net.present(x))
    delays = pytest.importorskip("neuro.nn.delays")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(30, 20), _h.LIF(tau=2.0), delays.DelayedLinear(20, 12, max_delay=4), _h.LIF(tau=2.0)).double()
    with torch.no_grad():
        model[0].weight.mul_(5.0)
        model[2].weight.mul_(10.0)
    net = from_nn(model, (30,))
    back = load_h5(save_h5(net, tmp_path / "delays.h5"))
    np.testing.assert_array_equal(back.synapses[1].delays, net.synapses[1].delays)
    x = _h._input(30, (30,), 0.3, seed=6)[:, 0].numpy()
    _same(back.present(x), net.present(x))


def test_to_nn_and_nir_give_the_deployed_spikes():
    pytest.importorskip("nir")
    from neuro.nn.nir import import_nir

    model = _h._convnet(0.0)
    model[4] = _h.LIF(tau=3.0)  # NIR has per-layer decays only; a per-channel PLIF does not export
    net = from_nn(model, (2, 8, 8))
    x = _h._input(20, (2, 8, 8), 0.35, seed=11)
    want = net.present(x[:, 0].numpy())
    dense = to_nn(net)
    got, _ = _h._nn_spikes(dense, x)
    _same([g.reshape(w.shape) for g, w in zip(got, want)], want)
    back = import_nir(to_nir(net)).double()
    got, _ = _h._nn_spikes(back, x)
    _same([g.reshape(w.shape) for g, w in zip(got, want)], want)


def test_h5_rejects_other_files(tmp_path):
    import h5py

    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.attrs["format"] = "something else"
    with pytest.raises(ValueError, match="not a neuro.sim network"):
        load_h5(tmp_path / "x.h5")
