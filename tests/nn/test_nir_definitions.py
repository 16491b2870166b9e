"""NIR export of layers built from a definition (neuro.nn.Neuron), of average pooling and of grouped convolutions:
ours -> NIR (-> file) -> ours gives the same spikes; a law NIR has no node for is refused naming the layer and the law."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from neuro.dynamics import NeuronModel  # noqa: E402
from neuro.dynamics.discrete import DiscreteNeuron  # noqa: E402
from neuro.nn import LIF, Neuron, PerStep  # noqa: E402
from neuro.nn.nir import export_nir, import_nir  # noqa: E402

DT = 1e-4
# the LIF step under other names, a resting potential and an input gain: h = 0.75 m + 0.5 i + 0.05
LEAKY = DiscreteNeuron(update="m = k * m + g * i + (1 - k) * rest", threshold="m > th", reset="m = bottom", input="i",
                       parameters={"k": 0.75, "g": 0.5, "rest": 0.2, "th": 0.6, "bottom": 0.0}, states=["m"], name="leaky")
INTEGRATOR = DiscreteNeuron(update="v = v + 2 * x", threshold="v > 1", reset="v = 0", name="integrator")


def _x(shape, seed, p=0.4):
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < p).float()


def _same(model, x, graph=None):
    graph = graph if graph is not None else export_nir(model, x, dt=DT)
    back = import_nir(graph, dt=DT).to(x.dtype)
    with torch.no_grad():
        want, got = model(x), back(x)
    assert want.sum() > 0
    torch.testing.assert_close(got, want, atol=0, rtol=0)
    return graph


def test_lif_law_written_as_a_definition_exports_as_nir_lif():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), Neuron(LEAKY, backend="torch"), nn.Linear(16, 4), Neuron(INTEGRATOR, backend="torch")).double()
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[2].weight.mul_(3.0)
    x = _x((20, 3, 12), seed=1).double()
    graph = export_nir(model, x, dt=DT)
    lif, integ = graph.nodes["1"], graph.nodes["3"]
    assert isinstance(lif, nir.LIF) and isinstance(integ, nir.IF)
    np.testing.assert_allclose(lif.tau, DT / 0.25)
    np.testing.assert_allclose(lif.r, 0.5 / 0.25)      # c tau / dt
    np.testing.assert_allclose(lif.v_leak, 0.2)        # d / (1 - beta)
    np.testing.assert_allclose(integ.r, 2.0 / DT)
    assert lif.metadata["neuro.strict_threshold"] is True
    back = import_nir(graph, dt=DT).double()
    with torch.no_grad():
        torch.testing.assert_close(back(x), model(x), atol=0, rtol=0)


def test_continuous_lif_definition_exports_with_its_propagator():
    m = NeuronModel("dv/dt = -v / tau : 1\ntau : second (constant)", threshold="v > 0.5", reset="v = 0", inputs={"v": "v"},
                    defaults={"tau": 3.0}, name="cont_lif")
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(10, 8), Neuron(m, dt=1.0, input="v", backend="torch")).double()
    with torch.no_grad():
        model[0].weight.mul_(2.0)
    node = _same(model, _x((15, 2, 10), seed=2).double()).nodes["1"]
    np.testing.assert_allclose(node.tau, DT / (1.0 - np.exp(-1.0 / 3.0)))


@pytest.mark.parametrize("definition, words", [
    (DiscreteNeuron(update="b = 1 + a; v = 0.9 * v + x; a = 0.95 * a", threshold="v >= b", reset="v = 0; a += 0.5",
                    states=["v", "a"], name="adaptive"), ["layer", "adaptive", "2 state variables", "LIF and IF"]),
    (DiscreteNeuron(update="v = 0.9 * v + x", threshold="v > 1", reset="v -= 1", name="soft"), ["soft", "subtracts the threshold"]),
    (DiscreteNeuron(update="v = 0.9 * v + x * x", threshold="v > 1", reset="v = 0", name="square"), ["square", "not linear"]),
])
def test_laws_without_a_nir_node_are_refused_naming_layer_and_law(definition, words):
    model = nn.Sequential(nn.Linear(4, 3), Neuron(definition, backend="torch"))
    with pytest.raises(ValueError) as err:
        export_nir(model, (4,), dt=DT)
    msg = str(err.value)
    assert msg.startswith("1: Neuron of")
    for w in words[1:]:
        assert w in msg, (w, msg)


def test_avgpool_and_grouped_conv_round_trip_through_a_file(tmp_path):
    torch.manual_seed(2)
    model = nn.Sequential(PerStep(nn.Conv2d(4, 6, 3, padding=1, groups=2)), LIF(tau=2.0, v_threshold=0.3), PerStep(nn.AvgPool2d(2)),
                          PerStep(nn.Conv2d(6, 6, 3, groups=3, bias=False)), LIF(tau=2.0, v_threshold=0.2), nn.Flatten(2),
                          nn.Linear(6, 3), LIF(tau=2.0, v_threshold=0.2))
    with torch.no_grad():
        for layer in (model[0].layer, model[3].layer, model[6]):
            layer.weight.mul_(3.0)
    x = _x((10, 2, 4, 6, 6), seed=3)
    graph = _same(model, x)
    assert isinstance(graph.nodes["2"], nir.AvgPool2d)
    assert graph.nodes["0"].metadata["neuro.groups"] == 2 and graph.nodes["3"].metadata["neuro.groups"] == 3
    np.testing.assert_array_equal(graph.nodes["0"].input_type["input"], [4, 6, 6])
    np.testing.assert_array_equal(graph.nodes["3"].output_type["output"], [6, 1, 1])
    path = tmp_path / "net.nir"
    nir.write(path, graph)
    again = import_nir(nir.read(path), dt=DT)
    convs = [m.layer for m in again.modules() if isinstance(m, PerStep) and isinstance(m.layer, nn.Conv2d)]
    assert [c.groups for c in convs] == [2, 3]  # the grouped layers come back grouped, with their own weights
    torch.testing.assert_close(convs[0].weight, model[0].layer.weight, atol=0, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), atol=0, rtol=0)
    # a reader that ignores our metadata runs the dense convolution: the same outputs
    dense = nn.Conv2d(4, 6, 3, padding=1)
    with torch.no_grad():
        dense.weight.copy_(torch.as_tensor(graph.nodes["0"].weight))
        dense.bias.copy_(model[0].layer.bias)
        torch.testing.assert_close(dense(x[0]), model[0].layer(x[0]), atol=1e-6, rtol=1e-6)


def test_avgpool_variants_nir_cannot_say_are_refused():
    model = nn.Sequential(PerStep(nn.AvgPool2d(2, ceil_mode=True)), LIF())
    with pytest.raises(ValueError, match="0: NIR's AvgPool2d is torch's default average"):
        export_nir(model, (1, 5, 5), dt=DT)
