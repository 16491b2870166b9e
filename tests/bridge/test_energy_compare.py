"""Measured (simulator events) against estimated (neuro.energy.estimate) for a deployed network."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from neuro.energy.sim_compare import compare_sim
from neuro.sim.deploy import from_nn

_spec = importlib.util.spec_from_file_location("bridge_helpers", Path(__file__).with_name("test_from_nn.py"))
_h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_h)


def _spikes(T, B, shape, p, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, *shape, generator=g, dtype=torch.float64) < p).to(torch.float64)


@pytest.mark.parametrize("reset", [0.0, None], ids=["hard", "soft"])
def test_mlp_synaptic_events_equal_effective_acs(reset):
    model = _h._mlp(reset)
    net = from_nn(model, (40,))
    cmp = compare_sim(model, _spikes(30, 3, (40,), 0.3, seed=7), net)
    syn = [r for r in cmp.rows if r["quantity"].startswith("synaptic events ->")]
    assert len(syn) == 3 and all(r["same_quantity"] for r in syn)
    for r in syn:
        assert r["nn"] == r["sim_horizon"] > 0, r
    for r in cmp.rows:
        if r["quantity"].startswith("spikes of"):
            assert r["nn"] == r["sim_horizon"], r
    upd = cmp.row("neuron updates")
    assert upd["nn"] == upd["sim_horizon"] == 30 * 3 * (32 + 16 + 10)
    assert upd["sim_run"] == (30 + 3) * 3 * (32 + 16 + 10)  # the pipeline: T + K steps per sample
    total = cmp.row("synaptic events (total)")
    assert total["sim_run"] >= total["sim_horizon"] == total["nn"]
    assert cmp.energy["sim horizon: synaptic"] == pytest.approx(cmp.energy["nn ops model (synaptic ops)"], rel=1e-12)
    assert "nn estimate" in cmp.format_table()


def test_convnet_first_layer_exact_folded_layers_reported():
    model = _h._convnet(0.0)
    net = from_nn(model, (2, 8, 8))
    cmp = compare_sim(model, _spikes(20, 2, (2, 8, 8), 0.35, seed=8), net)
    syn = [r for r in cmp.rows if r["quantity"].startswith("synaptic events ->")]
    assert syn[0]["same_quantity"] and syn[0]["nn"] == syn[0]["sim_horizon"] > 0
    assert not syn[1]["same_quantity"] and "folded" in syn[1]["note"]  # AvgPool + Conv in one projection
    assert syn[2]["same_quantity"] and syn[2]["nn"] == syn[2]["sim_horizon"]  # Flatten is free: Linear on spikes
    for r in cmp.rows:
        if r["quantity"].startswith("spikes of"):
            assert r["nn"] == r["sim_horizon"], r
