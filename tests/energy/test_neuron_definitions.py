"""neuro.energy counts a layer built from a definition (neuro.nn.Neuron) by its type, not its name: its spikes, its
neuron and state-variable updates, the synaptic operations its spikes cause downstream, and (memory model) its own
law's arithmetic from Neuron.update_ops()."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuro.dynamics.discrete import DiscreteNeuron
from neuro.energy import estimate
from neuro.nn import LIF, Neuron

# an adaptive threshold, two variables: update 2 MACs (beta*v, rho*a) + 3 ACs (b = 1 + a; + x; the comparison);
# reset 1 AC per spike (a += 0.5; v = 0 is a write)
ADAPTIVE = DiscreteNeuron(update="b = 1 + a; v = beta * v + x; a = rho * a", threshold="v >= b", reset="v = 0; a += 0.5",
                          parameters={"beta": 0.8, "rho": 0.9}, states=["v", "a"], name="adaptive")


def _model(neuron):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 8), neuron, nn.Linear(8, 5))
    with torch.no_grad():
        model[0].weight.mul_(4.0)
        model[2].weight.copy_(torch.randn(5, 8).abs() + 0.1)  # no zero weight: every spike reaches 5 synapses
    return model


def test_update_ops_of_a_definition():
    assert Neuron(ADAPTIVE, backend="torch").update_ops() == {"states": 2, "macs": 2, "acs": 3, "reset_macs": 0, "reset_acs": 1}


def test_definition_layer_counted_like_lif_with_its_own_state_updates_and_arithmetic():
    x = (torch.rand(10, 3, 12, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    model = _model(Neuron(ADAPTIVE, backend="torch"))
    with torch.no_grad():
        spikes = model[1](model[0](x))
    n_spikes = int(spikes.sum())
    assert 0 < n_spikes < spikes.numel()
    rep = estimate(model, x)
    fc1, neurons, fc2 = rep.layers
    assert (neurons.role, neurons.kind) == ("neuron", "Neuron")
    assert neurons.spikes == n_spikes and neurons.steps["spikes"] == spikes.sum(dim=(1, 2)).long().tolist()
    assert neurons.neuron_updates == 10 * 3 * 8 and neurons.state_updates == 2 * 10 * 3 * 8
    assert (fc2.input_spiking, fc2.effective_acs, fc2.effective_macs) == (True, 5 * n_spikes, 0)  # synops of its spikes
    mem = rep.energy("memory")
    mac, ac = 4.6, 0.9  # fp32, 45 nm
    u = neurons.neuron_updates
    assert mem.layer("1")["terms"]["neuron"] == pytest.approx(u * (2 * mac + 3 * ac) + n_spikes * ac)
    bit = 10.0 / 64  # every structure here fits the 8 KB SRAM
    mem_bits = sum(v for k, v in mem.layer("1")["terms"].items() if k.startswith("mem:")) / bit
    assert mem_bits == pytest.approx(u * 32 + 2 * 2 * u * 32 + u)  # input, both variables read + written, spike bits
    assert rep.to_dict()["layers"][1]["state_updates"] == 2 * u


def test_lif_definition_and_nn_lif_same_spikes_same_synops():
    """The same law as nn.LIF and as a definition: the same counts except the law's own arithmetic."""
    d = DiscreteNeuron(update="v = beta * v + (1 - beta) * x", threshold="v >= v_th", reset="v = 0",
                       parameters={"beta": 0.5, "v_th": 1.0})
    x = (torch.rand(8, 2, 12, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    a, b = estimate(_model(Neuron(d, backend="torch")), x), estimate(_model(LIF(tau=2.0)), x)
    for key in ("spikes", "neuron_updates", "state_updates"):
        assert getattr(a.layers[1], key) == getattr(b.layers[1], key) > 0, key
    assert a.layers[2].effective_acs == b.layers[2].effective_acs > 0
    assert b.layers[1].neuron_ops is None and a.layers[1].neuron_ops == {"macs": 2.0, "acs": 2.0, "reset_macs": 0.0, "reset_acs": 0.0}
