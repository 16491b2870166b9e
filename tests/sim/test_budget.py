"""neuro.sim.budget: a deployed network checked against a processor's per-core limits (layer-wise packing), each broken
limit named with the layer and the numbers, and weight quantisation with its error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuro import sim
from neuro.nn import LIF


@pytest.fixture(scope="module")
def net():
    """8 inputs -> 6 LIF ("1") -> 3 LIF ("3"), dense: every hidden neuron has 8 synapses, every output neuron 6."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 6), LIF(tau=2.0), torch.nn.Linear(6, 3), LIF(tau=2.0))
    with torch.no_grad():
        for m in (model[0], model[2]):
            m.weight.add_(torch.sign(m.weight) * 0.05)  # no weight exactly 0: every synapse exists
    return sim.from_nn(model, (8,))


def big(**kw) -> sim.Processor:
    return sim.Processor(**{"name": "big", "cores": 16, "neurons_per_core": 1024, **kw})


def test_a_network_that_fits(net):
    report = sim.check_budget(net, big(synapses_per_core=1000, fan_in_per_core=100, memory_per_core=4096, weight_bits=8))
    assert report.fits and report.violations == [], str(report)
    assert {k: len(v) for k, v in report.mapping.cores.items()} == {"1": 1, "3": 1}
    assert report.mapping.usage["1"] == [(6, 48, 8, 48 * (8 + 10) // 8)]  # 8 bits of weight + 10 of target index
    assert report.mapping.usage["3"] == [(3, 18, 6, int(np.ceil(18 * 18 / 8)))]
    assert "fits big: 2 of 16 cores" in str(report)


def test_too_many_cores_names_the_packing(net):
    report = sim.check_budget(net, sim.Processor("tiny", cores=2, neurons_per_core=4))
    assert [len(c) for c in report.mapping.cores["1"]] == [4, 2]
    (v,) = report.violations
    assert (v.where, v.limit, v.required, v.allowed) == ("network", "cores", 3, 2)
    assert "1: 2, 3: 1" in str(v)


def test_synapses_per_core_splits_a_layer_and_a_neuron_over_the_limit_is_reported(net):
    report = sim.check_budget(net, big(synapses_per_core=16))  # two hidden neurons (8 synapses each) per core
    assert report.fits and [len(c) for c in report.mapping.cores["1"]] == [2, 2, 2]
    report = sim.check_budget(net, big(synapses_per_core=7))
    bad = [v for v in report.violations if v.limit == "synapses per core"]
    assert {(v.where, v.required, v.allowed) for v in bad} == {("1", 8, 7)} and len(bad) == 6  # each hidden neuron
    assert "1: synapses per core needs 8, the processor allows 7" in str(bad[0])


def test_fan_in_per_core(net):
    report = sim.check_budget(net, big(fan_in_per_core=7))
    assert {(v.where, v.limit, v.required, v.allowed) for v in report.violations} == {("1", "fan-in per core", 8, 7)}
    assert all(len(c) == 1 for c in report.mapping.cores["1"])  # each neuron alone breaks it: one per core
    assert sim.check_budget(net, big(fan_in_per_core=8)).fits  # the 6 neurons share the same 8 inputs


def test_memory_per_core(net):
    report = sim.check_budget(net, big(memory_per_core=17, weight_bits=8))  # 8 synapses x 18 bits = 18 bytes
    assert {(v.where, v.limit, v.required, v.allowed) for v in report.violations} == {("1", "synaptic memory per core (bytes)", 18, 17)}


def test_weight_precision_and_events_per_step(net):
    report = sim.check_budget(net, big(weight_bits=2, events_per_step=10.0), events_per_step=12.5)
    limits = {(v.where, v.limit) for v in report.violations}
    assert ("network", "synaptic events per step") in limits
    assert ("1", "weight precision (2 bits): relative RMS error") in limits
    w = next(v for v in report.violations if v.where == "1" and "weight" in v.limit)
    assert w.required == pytest.approx(report.weight_errors["input->1"]) and w.required > 0.05 and w.allowed == 0.05
    assert sim.check_budget(net, big(weight_bits=8)).fits  # 8 bits: under 5 % RMS error


def test_quantize_weights_rounds_in_place_and_reports_the_error(net):
    before = [p.weights for p in net.synapses]
    errors = sim.quantize_weights(net, 4)
    for p, w in zip(net.synapses, before):
        e = errors[p.name]
        q = p.weights
        assert e["scale"] == pytest.approx(np.abs(w).max() / 7)
        assert np.allclose(q / e["scale"], np.rint(q / e["scale"])) and np.abs(q / e["scale"]).max() <= 7
        assert e["max_abs_error"] == pytest.approx(np.abs(q - w).max()) and e["max_abs_error"] <= e["scale"] / 2 + 1e-12
    for p, w in zip(net.synapses, before):
        p.weights = w


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="Processor.neurons_per_core must be a positive integer or None, got 0"):
        sim.Processor("x", cores=1, neurons_per_core=0)
    with pytest.raises(ValueError, match="bits must be an integer >= 2"):
        sim.quantize(np.ones(3), 1)
    with pytest.raises(TypeError, match="proc must be a neuro.sim.Processor"):
        sim.check_budget(None, {"cores": 1})


def test_profiles_state_their_sources():
    for proc in sim.PROFILES.values():
        assert proc.source and proc.weight_bits is not None
