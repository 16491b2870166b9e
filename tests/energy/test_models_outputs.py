"""Energy tables as data, bit budget, simulator energy, report JSON / PNG, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from neuro import nn as snn
from neuro.energy import EnergyOptions, EnergyTable, SimCounts, activation_bits_for, estimate, simulation_energy


class AllSpikes(nn.Module):
    is_spiking = True

    def forward(self, x):
        return torch.ones_like(x)


def test_shipped_table_is_horowitz_45nm():
    t = EnergyTable.load()
    assert t.mac("fp32") == pytest.approx(4.6) and t.ac("fp32") == pytest.approx(0.9)
    assert (t.ac("int8"), t.mac("int8"), t.ac("int32"), t.mac("int32")) == pytest.approx((0.03, 0.23, 0.1, 3.2))
    assert (t.mac("fp16"), t.bits("fp16"), t.bits("int8")) == (pytest.approx(1.5), 16, 8)
    assert (t.integer_precision(4), t.integer_precision(8), t.integer_precision(16), t.integer_precision(64)) == ("int8", "int8", "int32", None)
    assert [t.memory_level(s).name for s in (100, 8192, 8193, 2**20, 2**20 + 1)] == ["SRAM 8 KB", "SRAM 8 KB", "SRAM 32 KB", "SRAM 1 MB", "DRAM"]
    assert t.memory_level(10**9).pj_per_bit() == pytest.approx(1950 / 64)
    assert "horowitz45nm" in EnergyTable.available()


def test_user_tables_are_read_and_checked(tmp_path):
    good = tmp_path / "mine.json"
    good.write_text(json.dumps({"name": "7 nm guess", "ops": {"fp32": {"add": 0.1, "mult": 0.5}, "int4": {"add": 0.01, "mult": 0.02}},
                                "memory": [{"name": "SRAM", "capacity_bytes": 1024, "pj_per_64bit": 1.0},
                                           {"name": "DRAM", "capacity_bytes": None, "pj_per_64bit": 100.0}]}))
    t = EnergyTable.load(good)
    assert (t.mac("fp32"), t.bits("int4"), t.integer_precision(3)) == (pytest.approx(0.6), 4, "int4")
    assert "7 nm guess" in t.describe() and "mine.json" in t.describe()
    model = nn.Sequential(nn.Linear(3, 2), AllSpikes(), nn.Linear(2, 1))
    rep = estimate(model, torch.full((2, 1, 3), 0.5), table=str(good))
    assert rep.energy("ops").total_pj == pytest.approx(2 * 3 * 2 * 0.6 + 2 * 2 * 1 * 0.1)
    assert "7 nm guess" in rep.format_table()
    with pytest.raises(ValueError, match="no precision 'fp64'"):
        t.mac("fp64")
    with pytest.raises(FileNotFoundError, match="shipped tables: \\['horowitz45nm'\\]"):
        EnergyTable.load("7nm")
    for bad, msg in [({"name": "x", "ops": {"fp32": {"add": 1.0}}}, "must have 'add' and 'mult'"),
                     ({"ops": {}}, "lacks the field 'name'"),
                     ({"name": "x", "ops": {}, "memory": [{"name": "D", "capacity_bytes": None, "pj_per_64bit": 1},
                                                           {"name": "S", "capacity_bytes": 10, "pj_per_64bit": 1}]}, "smallest first")]:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=msg):
            EnergyTable.load(path)


def test_bit_budget_snn_vs_quantized_ann():
    T, B = 3, 2
    model = nn.Sequential(nn.Linear(4, 5), AllSpikes(), nn.Linear(5, 2))
    model[2].weight_bits = 4  # a quantized layer declares its weight precision
    rep = estimate(model, torch.rand(T, B, 4))
    bb = rep.bit_budget(weight_bits=8, state_bits=16, activation_bits=8)
    assert bb["ann_activation_bits"] == 2 == activation_bits_for(3)  # ceil(log2(3 + 1))
    l1, l2 = bb["layers"]
    assert (l1["weight_bits"], l1["input_bits"], l2["weight_bits"], l2["input_bits"]) == (8, 8, 4, 1)
    # real-valued input: T steps of 8-bit inputs in the SNN, once in the ANN; spike input: T x 1 bit vs one 2-bit activation
    assert l1["snn_bit_ops"] == 20 * 3 * 8 * 8 and l1["ann_bit_ops"] == 20 * 8 * 8
    assert l2["snn_bit_ops"] == 10 * 3 * 4 * 1 and l2["ann_bit_ops"] == 10 * 4 * 2
    assert l2["snn_effective_bit_ops"] == 10 * 3 * 4  # every input spiked
    assert bb["snn_storage_bits"] == (25 * 8 + 12 * 4) + 5 * 16 and bb["ann_storage_bits"] == 25 * 8 + 12 * 4
    sweep = {s["time_steps"]: s for s in bb["sweep"]}
    assert sweep[8]["snn_bit_ops"] == 20 * 8 * 64 + 10 * 8 * 4 and sweep[8]["ann_bit_ops"] == 20 * 64 + 10 * 4 * 4
    with pytest.raises(ValueError, match="weight_bits must be a positive integer"):
        rep.bit_budget(weight_bits=0)


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
    assert e["neuron_pj"] == pytest.approx(10 * 1000 * 4.6) and e["memory_pj"] == 0.0
    with pytest.raises(ValueError, match="counts must have 'synaptic_events'"):
        simulation_energy({"spikes": 3})


def test_simulation_energy_memory_terms_from_sizes():
    c = SimCounts(synaptic_events=1000, neuron_updates=500, steps=50, spikes=40, n_neurons=10, n_synapses=100_000)
    e = simulation_energy(c, weight_bits=8, state_bits=16)
    # 100 kB of 8-bit weights -> SRAM 1 MB (100 pJ / 64 b); 20 B of potentials -> SRAM 8 KB (10 pJ / 64 b)
    assert (e["weight_memory"], e["state_memory"]) == ("SRAM 1 MB", "SRAM 8 KB")
    assert e["weights_pj"] == pytest.approx(1000 * 8 * 100 / 64)
    assert e["state_pj"] == pytest.approx((2 * 1000 + 2 * 500) * 16 * 10 / 64)
    assert e["total_pj"] == pytest.approx(1000 * 0.9 + 500 * 4.6 + e["weights_pj"] + e["state_pj"] + 40 * 10 / 64)
    with pytest.raises(ValueError, match="non-negative integer"):
        SimCounts(synaptic_events=-1, neuron_updates=0)


def test_report_json_and_png(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 20), snn.LIF(tau=2.0), nn.Linear(20, 3), snn.LIF(tau=2.0))
    rep = estimate(model, torch.rand(4, 8, 10) * 3, options=EnergyOptions(state_bits=16))
    d = json.loads(rep.to_json())
    assert d["options"]["state_bits"] == 16 and d["table"]["ops"]["fp32"]["add"] == 0.9
    assert set(d["energy"]) == {"convention", "ops", "memory"}
    assert d["energy"]["ops"]["total_pj"] == pytest.approx(rep.energy_pj)
    assert d["per_step"]["spikes"] == rep.per_step("spikes") and sum(d["per_step"]["spikes"]) == rep.total("spikes")
    assert d["layers"][1]["firing_rate"] == pytest.approx(rep.layers[1].spikes / (4 * 8 * 20))
    paths = rep.save(tmp_path)
    assert paths["png"].read_bytes()[:4] == b"\x89PNG" and "memory-aware" in paths["txt"].read_text()
    assert sum(rep.energy("memory").per_step_pj) == pytest.approx(rep.energy("memory").total_pj)


def test_cli_energy_report(tmp_path, capsys):
    from neuro import cli

    # random weights: the network is silent, reported only with --allow-silent, and then with a warning
    rc = cli.main(["energy", "neuro.demo:DigitsSNN", "--kwarg", "hidden=16", "--kwarg", "tau=2.0", "--input-shape", "4,3,64", "--spikes",
                   "--weight-bits", "8", "--out", str(tmp_path), "--allow-silent"])
    captured = capsys.readouterr()
    out = captured.out
    assert rc == 0 and "fc1" in out and "energy per sample" in out and "weights 8 b" in out
    assert "WARNING: silent network" in out and "never fired (lif1)" in captured.err
    assert (tmp_path / "energy.json").is_file() and (tmp_path / "energy.png").is_file()
    assert cli.main(["energy", "neuro.demo", "--input-shape", "4,3,64"]) == 2
    assert "MODULE:FACTORY" in capsys.readouterr().err
