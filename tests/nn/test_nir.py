"""NIR interchange: ours -> NIR -> ours, ours -> snntorch / norse, snntorch -> ours (same spikes on the same input)."""

from __future__ import annotations

import inspect
import logging

import numpy as np
import pytest
import torch
from torch import nn

nir = pytest.importorskip("nir")

from neuro.nn import IF, LIF, ParametricLIF  # noqa: E402
from neuro.nn.layers import PerStep, Scale, SynapticCurrent  # noqa: E402
from neuro.nn.nir import GraphModule, export_nir, import_nir  # noqa: E402

DT = 1e-4  # the step snntorch 1.0's NIR importer and exporter assume


def _spikes_in(shape, seed, p=0.3):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < p).float()


def _boost(model, gain):
    """Larger weights than the default init, so that every layer fires."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.mul_(gain)
    return model


def _mlp(seed=0, decay_input=True):
    torch.manual_seed(seed)
    neuron = lambda tau: LIF(tau=tau, v_threshold=0.5, v_reset=0.0, decay_input=decay_input)  # noqa: E731
    return _boost(nn.Sequential(nn.Linear(20, 32), neuron(2.0), nn.Linear(32, 10), neuron(4.0)), 4.0 if decay_input else 2.0)


def _convnet(seed=0):
    torch.manual_seed(seed)
    return _boost(nn.Sequential(PerStep(nn.Conv2d(2, 4, 3, padding=1)), LIF(tau=2.0, v_threshold=0.3), PerStep(nn.Conv2d(4, 4, 3, stride=2, bias=False)),
                                LIF(tau=3.0, v_threshold=0.3, v_reset=-0.1), nn.Flatten(2), nn.Linear(4 * 3 * 3, 6), IF(v_threshold=0.5)), 3.0)


def _run_stepwise(module, x):
    """Run an importer's per-step module (``out, state = m(x_t, state)``) over ``[T, B, ...]``."""
    state, out = None, []
    for t in range(x.shape[0]):
        y = module(x[t], state)
        if isinstance(y, tuple):
            y, state = y
        out.append(y)
    return torch.stack(out)


# ---------------------------------------------------------------- ours -> NIR -> ours


@pytest.mark.parametrize("build, shape", [(_mlp, (20,)), (_convnet, (2, 7, 7))])
def test_round_trip_gives_identical_spikes(build, shape, tmp_path):
    model = build()
    x = _spikes_in((12, 3, *shape), seed=1)
    graph = export_nir(model, x, dt=DT)
    path = tmp_path / "model.nir"
    nir.write(path, graph)
    back = import_nir(nir.read(path), dt=DT)
    y, y_back = model(x), back(x)
    assert y.sum() > 0
    torch.testing.assert_close(y_back, y, atol=0, rtol=0)
    again = import_nir(export_nir(back, x, dt=DT), dt=DT)  # our imported graph exports too
    torch.testing.assert_close(again(x), y, atol=0, rtol=0)


def test_round_trip_keeps_decay_training_fields_and_gradients():
    lif = LIF(tau=3.0, v_reset=0.2, v_leak=0.1, decay_input=False, detach_reset=True, surrogate="atan", alpha=2.5)
    model = nn.Sequential(nn.Linear(5, 7), lif)
    back = import_nir(export_nir(model, (5,), dt=DT), dt=DT)
    lif_back = [m for m in back.modules() if isinstance(m, LIF)][0]
    assert lif_back.params == lif.params
    assert lif_back.beta().item() == lif.beta().item()
    x = torch.randn(10, 4, 5) + 0.5
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    model(xa).sum().backward()
    back(xb).sum().backward()
    torch.testing.assert_close(xb.grad, xa.grad)


def test_per_neuron_decay_and_parametric_lif_round_trip():
    torch.manual_seed(2)
    plif = ParametricLIF(tau=2.0, per_channel=4, v_threshold=0.4)
    with torch.no_grad():
        plif.w.copy_(torch.tensor([-1.0, 0.0, 1.0, 2.0]))
    model = nn.Sequential(PerStep(nn.Conv2d(1, 4, 3)), plif)
    x = _spikes_in((8, 2, 1, 5, 5), seed=3, p=0.6)
    graph = export_nir(model, x, dt=DT)
    lif_node = graph.nodes["1"]
    assert lif_node.tau.shape == (4, 3, 3) and np.unique(lif_node.tau).size == 4
    torch.testing.assert_close(import_nir(graph, dt=DT)(x), model(x), atol=0, rtol=0)


def test_nir_equations_match_forward_euler():
    """A single NIR LIF node (tau, r, v_leak, v_reset in NIR's units) imported at dt equals the hand-written Euler step."""
    tau, r, v_leak, v_th, v_reset, dt = 5e-3, 3.0, 0.2, 1.0, -0.3, 1e-3
    n = 6
    node = nir.LIF(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.full(n, v_leak), v_threshold=np.full(n, v_th), v_reset=np.full(n, v_reset))
    model = import_nir(nir.NIRGraph.from_list(node), dt=dt)
    x = torch.rand(40, 2, n) * 2.0
    v = torch.full((2, n), v_reset)  # our initial state: v_reset
    expected = []
    for t in range(x.shape[0]):
        v = v + dt / tau * (v_leak - v + r * x[t].double())
        z = (v > v_th).double()
        v = torch.where(z > 0, torch.full_like(v, v_reset), v)
        expected.append(z)
    torch.testing.assert_close(model(x), torch.stack(expected).float(), atol=0, rtol=0)
    assert isinstance(model.node("lif"), nn.Sequential)  # r * dt / tau is neither 1 - beta nor 1: a Scale in front


def test_cuba_lif_import_matches_two_stage_euler():
    n, dt = 5, 1e-3
    node = nir.CubaLIF(tau_syn=np.full(n, 4e-3), tau_mem=np.full(n, 8e-3), r=np.full(n, 2.0), v_leak=np.zeros(n), v_threshold=np.full(n, 0.2),
                       w_in=np.full(n, 1.5))
    model = import_nir(nir.NIRGraph.from_list(node), dt=dt)
    x = torch.rand(30, 3, n)
    i = torch.zeros(3, n, dtype=torch.float64)
    v = torch.zeros(3, n, dtype=torch.float64)
    expected = []
    for t in range(x.shape[0]):
        i = i + dt / 4e-3 * (-i + 1.5 * x[t])
        v = v + dt / 8e-3 * (-v + 2.0 * i)
        z = (v > 0.2).double()
        v = v * (1 - z)
        expected.append(z)
    expected = torch.stack(expected).float()
    assert expected.sum() > 0
    torch.testing.assert_close(model(x), expected, atol=0, rtol=0)


def test_every_importable_node_type_is_listed():
    """Introspection over nir's node classes: the ones we import are exactly the documented set, others raise TypeError."""
    ours = {"Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "Flatten", "LIF", "IF", "CubaLIF"}
    classes = {n for n, c in inspect.getmembers(nir, inspect.isclass) if issubclass(c, nir.NIRNode) and c is not nir.NIRNode}
    assert ours <= classes
    with pytest.raises(TypeError, match="no neuro.nn equivalent"):
        import_nir(nir.NIRGraph.from_list(nir.LI(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3))))


def test_export_refuses_what_nir_cannot_say():
    with pytest.raises(ValueError, match="soft"):
        export_nir(nn.Sequential(nn.Linear(3, 3), LIF(v_reset=None)), (3,))
    with pytest.raises(TypeError, match="no NIR export"):
        export_nir(nn.Sequential(nn.Linear(3, 3), nn.ReLU()), (3,))
    with pytest.raises(ValueError, match="ignores its input"):
        export_nir(LIF(beta=1.0), (3,))
    with pytest.raises(ValueError, match="Linear expects"):
        export_nir(nn.Linear(4, 2), (3,))


def test_import_refuses_per_neuron_thresholds_and_cycles():
    node = nir.LIF(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.array([1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="v_threshold differs"):
        import_nir(nir.NIRGraph.from_list(node))
    modules = {"a": nn.Identity(), "b": nn.Identity(), "c": nn.Identity(), "d": nn.Identity()}
    with pytest.raises(ValueError, match="cycle"):
        GraphModule(modules, [("a", "b"), ("b", "c"), ("c", "b"), ("c", "d")])


def test_graph_sums_the_inputs_of_a_node():
    g = GraphModule({"in": nn.Identity(), "x2": Scale(2.0), "x3": Scale(3.0), "out": nn.Identity()},
                    [("in", "x2"), ("in", "x3"), ("x2", "out"), ("x3", "out")])
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(g(x), 5 * x)
    torch.testing.assert_close(import_nir(export_nir(g, (4,)))(x), 5 * x)


def test_synaptic_current_is_an_exponential_filter():
    x = torch.zeros(20, 1, 1)
    x[0] = 1.0
    y = SynapticCurrent(0.8)(x)
    torch.testing.assert_close(y.flatten(), 0.2 * 0.8 ** torch.arange(20.0))


# ---------------------------------------------------------------- ours -> snntorch


snn = pytest.importorskip("snntorch")


def _snntorch_import(graph):
    from snntorch.import_nir import import_from_nir

    return import_from_nir(graph)


@pytest.mark.parametrize("decay_input", [False, True])
def test_snntorch_import_of_our_export_gives_our_spikes(decay_input, capsys):
    """snntorch 1.0 imports NIR LIF as ``Leaky(beta=1 - 1e-4/tau, threshold=v_thr / (r dt / tau), reset_mechanism="zero",
    reset_delay=False)``: the same law as ours with a hard reset to 0 (the threshold scaled instead of the input when
    ``decay_input``), at dt = 1e-4. ``v_reset`` and ``v_leak`` other than 0 are not representable there (v_leak asserts 0,
    v_reset is dropped), so the model uses 0 for both."""
    model = _mlp(decay_input=decay_input)
    x = _spikes_in((15, 4, 20), seed=4)
    theirs = _run_stepwise(_snntorch_import(export_nir(model, x, dt=DT)), x)
    capsys.readouterr()  # snntorch prints warnings about the threshold scaling
    y = model(x)
    assert y.sum() > 0
    torch.testing.assert_close(theirs.to(y.dtype), y, atol=0, rtol=0)


def test_snntorch_import_of_a_conv_net():
    torch.manual_seed(5)
    model = _boost(nn.Sequential(PerStep(nn.Conv2d(2, 3, 3, padding=1)), LIF(tau=2.0, v_threshold=0.3, decay_input=False)), 2.0)
    x = _spikes_in((10, 2, 2, 6, 6), seed=6)
    theirs = _run_stepwise(_snntorch_import(export_nir(model, x, dt=DT)), x)
    y = model(x)
    assert y.sum() > 0
    torch.testing.assert_close(theirs.to(y.dtype), y, atol=0, rtol=0)


def test_snntorch_cannot_import_an_if():
    """snntorch 1.0 ``import_from_nir`` cannot represent NIR's IF: it asserts ``r == 1`` (NIR's Euler step makes our IF
    ``r = 1/dt``, so any dt but 1 fails) and, at dt = 1, builds ``Leaky(beta=0.9)``, a leak an IF does not have, with a
    subtractive reset. No IF layer can be matched; this test notices when that changes."""
    model = nn.Sequential(nn.Linear(20, 8), IF(v_threshold=0.5))
    with pytest.raises(AssertionError, match="r != 1"):
        _snntorch_import(export_nir(model, (20,), dt=DT))
    leaky = [m for m in _snntorch_import(export_nir(model, (20,), dt=1.0)).modules() if isinstance(m, snn.Leaky)][0]
    assert float(leaky.beta) == pytest.approx(0.9) and leaky.reset_mechanism == "subtract"


# ---------------------------------------------------------------- ours -> norse


def _norse_import(graph, dt):
    norse = pytest.importorskip("norse.torch")
    logging.disable(logging.WARNING)  # norse warns that r != 1, which it ignores (matters only for decay_input=False)
    try:
        return norse.from_nir(graph, dt=dt)
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize("dt", [1e-4, 1e-3])
def test_norse_import_of_our_export_gives_our_spikes(dt):
    """norse 1.1 imports NIR LIF as ``LIFBoxCell(tau_mem_inv=1/tau, v_th, v_leak)`` stepping ``v += dt/tau (v_leak - v + I)``:
    our ``decay_input=True`` law (r = 1). It ignores ``r`` (so ``decay_input=False`` cannot be matched) and ``v_reset``
    (always 0), and starts at ``v = v_leak``; the model uses ``v_reset = v_leak = 0``. NIR IF becomes ``IAFCell``,
    ``v += I``, which is our IF whatever ``r``. Flatten is left out: norse passes NIR's per-sample ``start_dim`` to
    ``torch.nn.Flatten`` on batched data."""
    torch.manual_seed(8)
    model = _boost(nn.Sequential(PerStep(nn.Conv2d(2, 3, 3)), LIF(tau=2.0, v_threshold=0.2), PerStep(nn.Conv2d(3, 2, 3)), IF(v_threshold=0.3)), 3.0)
    x = _spikes_in((12, 3, 2, 7, 7), seed=9)
    theirs = _run_stepwise(_norse_import(export_nir(model, x, dt=dt), dt), x)
    y = model(x)
    assert y.sum() > 0
    torch.testing.assert_close(theirs, y, atol=0, rtol=0)


def test_norse_import_of_an_mlp():
    model = _mlp(decay_input=True)
    x = _spikes_in((15, 4, 20), seed=10)
    theirs = _run_stepwise(_norse_import(export_nir(model, x, dt=DT), DT), x)
    y = model(x)
    assert y.sum() > 0
    torch.testing.assert_close(theirs, y, atol=0, rtol=0)


# ---------------------------------------------------------------- snntorch -> ours


@pytest.mark.parametrize("reset_mechanism", ["zero", "subtract"])
def test_snntorch_export_imports_to_the_same_spikes(reset_mechanism):
    """snntorch 1.0 ``export_to_nir`` writes ``Leaky`` as NIR LIF with tau = 1e-4/(1 - beta), r = tau/dt, v_reset = 0
    (it needs per-neuron ``beta`` and ``threshold`` tensors for NIR's shape checks). NIR has no subtractive reset, so a
    ``"subtract"`` Leaky is written as a reset to 0: what we import then equals the ``"zero"`` version of the same net,
    which we check against snntorch itself."""
    from snntorch.export_nir import export_to_nir

    def net(mechanism):
        torch.manual_seed(11)
        return _boost(nn.Sequential(nn.Linear(12, 16), snn.Leaky(beta=torch.full((16,), 0.85), threshold=torch.full((16,), 0.6), init_hidden=True,
                                                          reset_mechanism=mechanism),
                             nn.Linear(16, 5), snn.Leaky(beta=torch.full((5,), 0.7), threshold=torch.ones(5), init_hidden=True,
                                                         reset_mechanism=mechanism)), 3.0)

    graph = export_to_nir(net(reset_mechanism), torch.randn(12))
    ours = import_nir(graph, dt=DT)
    x = _spikes_in((20, 4, 12), seed=12, p=0.4)
    reference = net("zero")
    theirs = torch.stack([reference(x[t]) for t in range(x.shape[0])])
    y = ours(x)
    assert y.sum() > 0
    torch.testing.assert_close(y, theirs, atol=0, rtol=0)
