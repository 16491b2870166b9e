"""neuro.sim.from_nn on layers built from a definition (neuro.nn.Neuron): trained a few steps, deployed, the same
spikes step for step as the nn forward (float64; see tests/bridge/test_from_nn.py for the tolerance policy), and a
clear ConversionError naming the layer where the simulator cannot run the law."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neuro.dynamics import NeuronModel
from neuro.dynamics.discrete import DiscreteNeuron
from neuro.nn import LIF, Neuron
from neuro.sim import DiscreteLIF
from neuro.sim.deploy import ConversionError, from_nn

LIF_DEF = DiscreteNeuron(update="v = beta * v + (1 - beta) * x", threshold="v >= v_th", reset="v = v_reset",
                         parameters={"beta": 0.7, "v_th": 1.0, "v_reset": 0.0}, name="lif_def")
SOFT_DEF = DiscreteNeuron(update="u = decay * u + x", threshold="u > theta", reset="u -= theta",
                          parameters={"decay": 0.8, "theta": 0.5}, states=["u"], name="soft_def")
# a two-variable neuron the project does not ship: LIF with an adaptive threshold, continuous, exact integration
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
LEAKY = NeuronModel("""
    dv/dt = (v_l - v) / tau : 1
    tau : second (constant)
    v_l : 1 (constant)
""", threshold="v > 1", reset="v = 0", inputs={"v": "v"}, defaults={"tau": 4.0, "v_l": 0.0}, name="leaky")


def _input(T, n, p, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, 1, n, generator=g, dtype=torch.float64) < p).to(torch.float64)


def _train(model, steps=5, seed=0):
    """A few Adam steps in float64 on random spikes towards random targets (so the weights and learned parameters are
    trained ones; one dtype: the generated kernels compile once)."""
    torch.manual_seed(seed)
    model.double()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    x = (torch.rand(20, 8, model[0].in_features) < 0.3).double()
    y = torch.randint(0, 10, (8,))
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x).mean(0) * 10.0, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def _spikes_nn(model, x):
    out = []
    layers = [m for m in model.modules() if isinstance(m, Neuron | LIF)]
    hooks = [m.register_forward_hook(lambda mod, a, o: out.append(o[:, 0].detach().numpy())) for m in layers]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return out


def _same_spikes(model, x, dt=1.0):
    net = from_nn(model, (x.shape[2],), dt=dt)
    want = _spikes_nn(model, x)
    got = net.present(x[:, 0].numpy())
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g, w, err_msg=f"neuron layer {k}: spikes differ")
        assert w.sum() > 0, f"layer {k} should spike in this test"
    # a second sample from rest gives the nn forward's spikes again (state reset between samples)
    x2 = _input(x.shape[0], x.shape[2], 0.3, seed=9)
    for k, (g, w) in enumerate(zip(net.present(x2[:, 0].numpy()), _spikes_nn(model, x2))):
        np.testing.assert_array_equal(g, w, err_msg=f"second sample, neuron layer {k}")
    return net


def test_lif_written_as_a_definition_deploys_as_discrete_lif_with_the_same_spikes():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(40, 32), Neuron(LIF_DEF, learnable={"beta": "neuron"}, shape=(32,)),
                          nn.Linear(32, 16), Neuron(LIF_DEF, learnable={"beta": "neuron"}, shape=(16,)), nn.Linear(16, 10),
                          LIF(tau=2.0))
    with torch.no_grad():
        model[0].weight.mul_(6.0)
        model[2].weight.mul_(4.0)
        model[4].weight.mul_(6.0)
    _train(model)
    assert model[1].learned["beta"].dtype == torch.float64 and model[1].learned["beta"].std() > 0  # trained per neuron
    net = _same_spikes(model, _input(40, 40, 0.3, seed=1))
    assert all(isinstance(p, DiscreteLIF) for p in net.layers)
    np.testing.assert_array_equal(net.layers[0].beta, model[1].learned["beta"].detach().numpy())


def test_two_variable_user_neuron_trained_and_deployed_gives_the_same_spikes():
    """A continuous adaptive-threshold neuron (per-neuron learned tau, biases) runs as its model in the simulator."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(30, 24), Neuron(ADAPTIVE, dt=1.0, input="v", learnable={"tau": "neuron"}, shape=(24,)),
                          nn.Linear(24, 10), Neuron(ADAPTIVE, dt=1.0, input="v", learnable={"tau": "neuron"}, shape=(10,)))
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[2].weight.mul_(3.0)
    _train(model, seed=1)
    assert model[0].bias.abs().min() > 0  # biases arrive as one jump per step
    net = _same_spikes(model, _input(50, 30, 0.3, seed=2))
    assert [type(p).__name__ for p in net.layers] == ["ModelPopulation", "ModelPopulation"]
    np.testing.assert_array_equal(net.layers[0].tau, model[1].learned["tau"].detach().numpy())


def test_continuous_lif_definition_becomes_discrete_lif_with_its_input_scale_in_the_weights():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(20, 12), Neuron(LEAKY, dt=1.0, input="v", v_l=0.1), nn.Linear(12, 6), Neuron(LEAKY, dt=1.0, input="v"))
    with torch.no_grad():
        model[0].weight.mul_(4.0)
        model[2].weight.mul_(4.0)
    model.double()
    net = _same_spikes(model, _input(40, 20, 0.4, seed=3))
    assert all(isinstance(p, DiscreteLIF) for p in net.layers)
    np.testing.assert_allclose(net.layers[0].beta, np.exp(-1.0 / 4.0), rtol=1e-15)


def test_soft_reset_definition_with_its_own_names_and_initial_value():
    """u -= theta as the reset, a starting value off zero (a decay of 1: no leak, so the state is at rest)."""
    d = DiscreteNeuron(update="u = u + x", threshold="u > theta", reset="u -= theta", parameters={"theta": 0.5},
                       states={"u": 0.25}, name="if_soft")
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(16, 8), Neuron(d, backend="torch")).double()
    net = _same_spikes(model, _input(30, 16, 0.3, seed=4))
    form = model[1].lif_form((8,))
    assert form.v_reset is None and form.strict and form.v0 == 0.25 and form.v_th == 0.5
    assert net.layers[0].soft_reset


def _net(layer, n_in=10, n=5):
    return nn.Sequential(nn.Linear(n_in, n), layer).double()


@pytest.mark.parametrize("case, words", [
    ("discrete_two_variables", ["layer '1'", "update-form", "not the LIF step", "2 state variables", "NeuronModel"]),
    ("input_parameter", ["layer '1'", "sets the parameter 'I'", "input='v'"]),
    ("dt", ["layer '1'", "trained at dt = 0.5 ms", "dt=0.5"]),
    ("not_at_rest", ["layer '1'", "not at rest"]),
])
def test_laws_the_simulator_cannot_run_are_refused_naming_the_layer(case, words):
    if case == "discrete_two_variables":
        d = DiscreteNeuron(update="b = 1 + a; v = 0.9 * v + x; a = 0.95 * a", threshold="v >= b", reset="v = 0; a += 0.5",
                           states=["v", "a"], name="adaptive_discrete")
        layer = Neuron(d)
    elif case == "input_parameter":
        layer = Neuron(ADAPTIVE, dt=1.0, input="I")
    elif case == "dt":
        layer = Neuron(ADAPTIVE, dt=0.5, input="v")
    else:
        layer = Neuron(ADAPTIVE, dt=1.0, input="v", a=0.2, backend="torch")  # the adaptation decays without input
    with pytest.raises(ConversionError) as err:
        from_nn(_net(layer), (10,))
    for w in words:
        assert w in str(err.value), (w, str(err.value))
