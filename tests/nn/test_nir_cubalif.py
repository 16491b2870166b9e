"""NIR export of current-based LIF neurons as ``nir.CubaLIF``: a ``[Scale], SynapticCurrent, [Scale], LIF`` sequence (what
import_nir makes of a CubaLIF) and a neuro.nn.Neuron whose two-variable law is that step (discrete, or a continuous model
with a synaptic current); parameters checked against the formulas, ours -> NIR (-> file) -> ours gives the same spikes,
and laws CubaLIF cannot say are refused naming the layer and the reason."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from neuro.dynamics import NeuronModel  # noqa: E402
from neuro.dynamics.discrete import DiscreteNeuron  # noqa: E402
from neuro.nn import IF, LIF, Neuron  # noqa: E402
from neuro.nn.layers import Scale, SynapticCurrent  # noqa: E402
from neuro.nn.nir import export_nir, import_nir  # noqa: E402

DT = 1e-3
# the current-based LIF step under other names: c = 0.6 c + 0.8 x ; m = 0.75 m + 0.5 c_new + 0.05 ; fires on m > 0.4
CUBA = DiscreteNeuron(update="c = a * c + g * x; m = k * m + r * c + d", threshold="m > th", reset="m = 0",
                      parameters={"a": 0.6, "g": 0.8, "k": 0.75, "r": 0.5, "d": 0.05, "th": 0.4}, states=["c", "m"], name="cuba")


def _x(shape, seed, p=0.4):
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < p).double()


def _round_trip(model, x, tmp_path=None):
    graph = export_nir(model, x, dt=DT)
    if tmp_path is not None:
        nir.write(tmp_path / "net.nir", graph)
        graph = nir.read(tmp_path / "net.nir")
    back = import_nir(graph, dt=DT).double()
    with torch.no_grad():
        want, got = model(x), back(x)
    assert want.sum() > 0 and (1 - want).sum() > 0
    torch.testing.assert_close(got, want, atol=0, rtol=0)
    return graph


def test_synaptic_current_and_lif_export_as_one_cubalif(tmp_path):
    torch.manual_seed(0)
    alpha2 = torch.linspace(0.2, 0.9, 4)  # per-neuron synaptic decay
    model = nn.Sequential(nn.Linear(12, 16), Scale(torch.full((16,), 1.5)), SynapticCurrent(0.6), LIF(tau=4.0, v_threshold=0.3, v_reset=0.0),
                          nn.Linear(16, 4), SynapticCurrent(alpha2), Scale(2.0),
                          LIF(tau=2.0, v_threshold=0.2, v_reset=-0.1, v_leak=0.05, decay_input=False)).double()
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[4].weight.mul_(3.0)
    graph = _round_trip(model, _x((25, 3, 12), seed=1), tmp_path)
    assert sorted(graph.nodes) == ["0", "3", "4", "7", "input", "output"]
    first, second = graph.nodes["3"], graph.nodes["7"]
    assert isinstance(first, nir.CubaLIF) and isinstance(second, nir.CubaLIF)
    np.testing.assert_allclose(first.tau_syn, DT / 0.4, rtol=1e-7)       # alpha = 0.6 kept in float32
    np.testing.assert_allclose(first.tau_mem, 4.0 * DT)                  # beta = 1 - 1/tau
    np.testing.assert_allclose(first.r, 1.0)                              # decay_input: c = 1 - beta
    np.testing.assert_allclose(first.w_in, 1.5)
    np.testing.assert_allclose(first.v_threshold, 0.3)
    np.testing.assert_allclose(second.tau_syn, DT / (1.0 - alpha2.double().numpy()), rtol=1e-6)
    np.testing.assert_allclose(second.r, 2.0 * (2.0 * DT) / DT)           # gain 2 times tau / dt (c = 1)
    np.testing.assert_allclose(second.v_leak, 0.05)
    np.testing.assert_allclose(second.v_reset, -0.1)
    np.testing.assert_allclose(second.w_in, 1.0)


def test_cubalif_from_elsewhere_imports_and_exports_back():
    n = 6
    node = nir.CubaLIF(tau_syn=np.full(n, 5 * DT), tau_mem=np.linspace(3, 8, n) * DT, r=np.full(n, 2.0), v_leak=np.zeros(n),
                       v_threshold=np.full(n, 0.5), v_reset=np.zeros(n), w_in=np.full(n, 1.2))
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}),
                                "fc": nir.Linear(weight=np.random.default_rng(0).normal(1.0, 0.5, (n, 4))), "cuba": node,
                                "output": nir.Output(output_type={"output": np.array([n])})},
                         edges=[("input", "fc"), ("fc", "cuba"), ("cuba", "output")])
    model = import_nir(graph, dt=DT).double()
    again = export_nir(model, (4,), dt=DT)
    back = [v for v in again.nodes.values() if isinstance(v, nir.CubaLIF)]
    assert len(back) == 1
    for field in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"):
        np.testing.assert_allclose(getattr(back[0], field), getattr(node, field), rtol=1e-6, err_msg=field)
    x = _x((30, 2, 4), seed=2)
    with torch.no_grad():
        want = model(x)
        got = import_nir(again, dt=DT).double()(x)
    assert want.sum() > 0
    torch.testing.assert_close(got, want, atol=0, rtol=0)


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_cuba_law_written_as_a_definition_exports_as_cubalif(backend):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(10, 8), Neuron(CUBA, backend=backend)).double()
    with torch.no_grad():
        model[0].weight.mul_(2.0)
    node = _round_trip(model, _x((30, 2, 10), seed=4)).nodes["1"]
    assert isinstance(node, nir.CubaLIF)
    np.testing.assert_allclose(node.tau_syn, DT / 0.4)
    np.testing.assert_allclose(node.w_in, 0.8 / 0.4)          # g / (1 - a)
    np.testing.assert_allclose(node.tau_mem, DT / 0.25)
    np.testing.assert_allclose(node.r, 0.5 / 0.25)            # r / (1 - k)
    np.testing.assert_allclose(node.v_leak, 0.05 / 0.25)      # d / (1 - k)
    np.testing.assert_allclose(node.v_threshold, 0.4)
    assert node.metadata["neuro.strict_threshold"] is True


def test_continuous_lif_with_synaptic_current_exports_with_its_propagators():
    model_def = NeuronModel("""
        dv/dt = (v_rest - v + R * I_e) / tau : 1
        dI_e/dt = -I_e / tau_e : 1
        v_rest : 1
        R : 1
        tau : second
        tau_e : second
        v_th : 1
    """, threshold="v > v_th", reset="v = v_rest", inputs={"exc": "I_e"}, name="lif_syn",
        defaults=dict(v_rest=0.0, R=1.0, tau=10.0, tau_e=3.0, v_th=0.3))
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(10, 8), Neuron(model_def, dt=1.0, backend="torch")).double()
    with torch.no_grad():
        model[0].weight.mul_(2.0)
    node = _round_trip(model, _x((40, 2, 10), seed=6)).nodes["1"]
    np.testing.assert_allclose(node.tau_syn, DT / (1.0 - np.exp(-1.0 / 3.0)))
    np.testing.assert_allclose(node.tau_mem, DT / (1.0 - np.exp(-1.0 / 10.0)))


@pytest.mark.parametrize("definition, words", [
    (DiscreteNeuron(update="m = k * m + c; c = a * c + x", threshold="m > 1", reset="m = 0",
                    parameters={"k": 0.9, "a": 0.5}, states=["c", "m"], name="old_current"), ["old_current", "after its update"]),
    (DiscreteNeuron(update="c = a * c + x; m = k * m + c", threshold="m > 1", reset="m = 0; c = 0",
                    parameters={"k": 0.9, "a": 0.5}, states=["c", "m"], name="reset_current"), ["reset_current", "writes the current"]),
    (DiscreteNeuron(update="c = a * c + x + 0.1; m = k * m + c", threshold="m > 1", reset="m = 0",
                    parameters={"k": 0.9, "a": 0.5}, states=["c", "m"], name="driven"), ["driven", "no constant drive"]),
    (DiscreteNeuron(update="c = a * c + x; m = k * m + c", threshold="m > 1", reset="m -= 1",
                    parameters={"k": 0.9, "a": 0.5}, states=["c", "m"], name="soft"), ["soft", "resets to v_reset"]),
    (DiscreteNeuron(update="c = a * c + x; m = k * m + c * c", threshold="m > 1", reset="m = 0",
                    parameters={"k": 0.9, "a": 0.5}, states=["c", "m"], name="square"), ["square", "not linear"]),
])
def test_two_variable_laws_cubalif_cannot_say_are_refused(definition, words):
    with pytest.raises(ValueError) as err:
        export_nir(nn.Sequential(nn.Linear(4, 3), Neuron(definition, backend="torch")), (4,), dt=DT)
    msg = str(err.value)
    assert msg.startswith("1: Neuron of")
    for w in words:
        assert w in msg, (w, msg)


def test_synaptic_current_needs_a_leaky_neuron_after_it():
    with pytest.raises(TypeError, match="1: SynapticCurrent exports only as the current of NIR's CubaLIF.*followed by Linear"):
        export_nir(nn.Sequential(nn.Linear(4, 3), SynapticCurrent(0.5), nn.Linear(3, 3), LIF()), (4,), dt=DT)
    with pytest.raises(ValueError, match="2: a synaptic current into a neuron without leak"):
        export_nir(nn.Sequential(nn.Linear(4, 3), SynapticCurrent(0.5), IF()), (4,), dt=DT)
