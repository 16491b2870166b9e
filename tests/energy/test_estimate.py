"""Energy estimator: every count of a hand-computed network is exact; tables are data; simulator runs are priced."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from neuro import nn as snn
from neuro.energy import EnergyTable, estimate, simulation_energy


class KnownSpikes(nn.Module):
    """A 'neuron' that emits a fixed spike pattern (for exact hand counts)."""

    is_spiking = True

    def __init__(self, spikes):
        super().__init__()
        self.register_buffer("pattern", spikes)

    def forward(self, x):
        return self.pattern.expand_as(x)


def test_two_layer_network_counts_are_exact():
    T, B = 2, 1
    x = torch.tensor([[[0.5, 0.0, 2.0]], [[0.0, 0.0, 1.5]]])  # [T, B, 3]: 3 non-zero real inputs
    spikes = torch.tensor([[[1.0, 0.0, 1.0, 1.0]], [[0.0, 0.0, 0.0, 1.0]]])  # 4 spikes out of 8 neuron-steps
    model = nn.Sequential(nn.Linear(3, 4), KnownSpikes(spikes), nn.Linear(4, 5))
    rep = estimate(model, x)
    fc1, neurons, fc2 = rep.layers
    assert (fc1.dense_macs, fc1.effective_macs, fc1.effective_acs, fc1.input_binary) == (T * B * 4 * 3, 3 * 4, 0, False)
    assert (neurons.neuron_updates, neurons.spikes, neurons.firing_rate) == (8, 4, 0.5)
    assert (fc2.dense_macs, fc2.effective_acs, fc2.effective_macs, fc2.input_binary) == (T * B * 5 * 4, 4 * 5, 0, True)
    assert (fc1.params, fc2.params) == (3 * 4 + 4, 4 * 5 + 5)
    assert rep.energy_pj == pytest.approx(12 * 4.6 + 20 * 0.9)
    assert json.loads(rep.to_json())["layers"][1]["firing_rate"] == 0.5
    assert "45 nm" in rep.format_table() and "MAC 4.60 pJ, AC 0.90 pJ" in rep.format_table()


def test_convolution_effective_ops_respect_padding_and_stride():
    conv = nn.Conv2d(1, 3, kernel_size=3, padding=1, stride=1)
    x = torch.zeros(1, 1, 1, 4, 4)  # [T, B, C, H, W] flattened by the model below
    x[0, 0, 0, 0, 0] = 1.0  # a corner pixel touches a 2x2 patch of outputs
    x[0, 0, 0, 2, 2] = 1.0  # an inner pixel touches a 3x3 patch

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return self.conv(x.flatten(0, 1))

    rep = estimate(Model(), x)
    (c,) = rep.layers
    assert c.effective_acs == (4 + 9) * 3
    assert c.dense_macs == 16 * 3 * 9


def test_real_model_rates_and_uncounted_modules():
    model = nn.Sequential(nn.Linear(10, 20), snn.LIF(tau=2.0), nn.LayerNorm(20), nn.Linear(20, 3))
    torch.manual_seed(0)
    rep = estimate(model, torch.rand(4, 8, 10) * 3)
    rates = [c.firing_rate for c in rep.layers if c.firing_rate is not None]
    assert len(rates) == 1 and 0 < rates[0] < 1
    assert rep.uncounted == ["2 (LayerNorm)"]


def test_tables_are_data_and_checked(tmp_path):
    t = EnergyTable.load()
    assert t.mac("fp32") == pytest.approx(4.6) and t.ac("fp32") == pytest.approx(0.9) and t.ac("int8") == pytest.approx(0.03)
    with pytest.raises(ValueError, match="no precision 'fp64'"):
        t.mac("fp64")
    with pytest.raises(FileNotFoundError, match="shipped tables: \\['horowitz45nm'\\]"):
        EnergyTable.load("7nm")
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "ops": {"fp32": {"add": 1.0}}}')
    with pytest.raises(ValueError, match="must have exactly 'add' and 'mult'"):
        EnergyTable.load(bad)


def test_simulation_energy_prices_counted_events():
    from neuro import sim

    net = sim.Network(dt=0.1, seed=0)
    inp = sim.PoissonInput(100, rate=50.0)
    pop = sim.LIF(10)
    net.add(inp, pop, sim.Projection(inp, pop, "all_to_all", weight=0.5))
    net.run(100.0)
    e = simulation_energy(net.counts)
    assert e["synaptic_events"] == net.counts["synaptic_events"] > 0
    assert e["synaptic_pj"] == pytest.approx(net.counts["synaptic_events"] * 0.9)
    assert e["neuron_pj"] == pytest.approx(10 * 1000 * 4.6)
    with pytest.raises(ValueError, match="counts must have 'synaptic_events'"):
        simulation_energy({"spikes": 3})


def test_cli_energy_report(tmp_path, capsys):
    from neuro import cli

    rc = cli.main(["energy", "neuro.demo:DigitsSNN", "--kwarg", "hidden=16", "--kwarg", "tau=2.0", "--input-shape", "4,3,64", "--spikes",
                   "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "fc1" in out and "energy per sample" in out
    assert (tmp_path / "energy.json").is_file() and (tmp_path / "energy.png").is_file()
    assert cli.main(["energy", "neuro.demo", "--input-shape", "4,3,64"]) == 2
    assert "MODULE:FACTORY" in capsys.readouterr().err


def test_bit_budget_snn_vs_quantized_ann():
    T, B = 3, 2
    model = nn.Sequential(nn.Linear(4, 5), KnownSpikes(torch.ones(T, B, 5)), nn.Linear(5, 2))
    model[2].weight_bits = 4  # a quantized layer declares its weight precision
    rep = estimate(model, torch.rand(T, B, 4))
    bb = rep.bit_budget(weight_bits=8, state_bits=16)
    assert bb["ann_activation_bits"] == 2  # ceil(log2(3 + 1))
    l1, l2 = bb["layers"]
    assert (l1["weight_bits"], l2["weight_bits"]) == (8, 4)
    assert l1["snn_bit_ops"] == 20 * 3 * 8 and l1["ann_bit_ops"] == 20 * 8 * 2
    assert l2["snn_bit_ops"] == 10 * 3 * 4 and l2["ann_bit_ops"] == 10 * 4 * 2
    assert bb["snn_storage_bits"] == (25 * 8 + 12 * 4) + 5 * 16 and bb["ann_storage_bits"] == 25 * 8 + 12 * 4
