"""neuro.sim.from_nn: a trained neuro.nn network on the event-driven simulator gives the same spikes, step for step.

Tolerance policy: the ``nn`` forward runs in float64; the simulator sums each neuron's input as events, in another
order than the matrix product, so the membranes may differ by rounding (bounded here by 1e-6, observed ~1e-15)
and the spikes must be identical (a potential within rounding of the threshold would break a tie differently;
the random inputs used here do not produce one).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neuro.nn import IF, LIF, ParametricLIF, PerStep
from neuro.sim import StateMonitor
from neuro.sim.deploy import ConversionError, from_nn


def _nn_spikes(model: nn.Sequential, x: torch.Tensor, backend: str | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every neuron layer's spikes and membranes (after reset) ``[T, ...]`` for one sample ``x [T, 1, ...]``."""
    spikes, mems = [], []
    neurons = [m for m in model.modules() if isinstance(m, LIF)]
    for m in neurons:
        m.store_v = True
        m.backend = backend
    hooks = [m.register_forward_hook(lambda mod, a, out: spikes.append(out[:, 0].detach().cpu().numpy())) for m in neurons]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    # (a per-channel ParametricLIF does not keep v_seq)
    mems = [None if m.v_seq is None else m.v_seq[:, 0].detach().cpu().numpy() for m in neurons]
    return spikes, mems


def _input(T: int, shape: tuple, p: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, 1, *shape, generator=g, dtype=torch.float64) < p).to(torch.float64)


def _mlp(reset, neuron="lif", seed=0, **kw):
    torch.manual_seed(seed)

    def cell(n):
        if neuron == "if":
            return IF(v_reset=reset, **kw)
        if neuron == "plif":
            return ParametricLIF(tau=3.0, v_reset=reset, **kw)
        return LIF(tau=2.0, v_reset=reset, **kw)

    model = nn.Sequential(nn.Linear(40, 32), cell(32), nn.Linear(32, 16), cell(16), nn.Linear(16, 10), cell(10)).double()
    with torch.no_grad():
        for lin, gain in zip(model[0::2], (4.0, 6.0, 8.0)):
            lin.weight.mul_(gain)
    return model


def _convnet(reset, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(
        PerStep(nn.Conv2d(2, 4, 3, padding=1)), LIF(tau=2.0, v_reset=reset),
        PerStep(nn.AvgPool2d(2)), PerStep(nn.Conv2d(4, 6, 3, stride=1, bias=False)), ParametricLIF(tau=2.0, per_channel=6, v_reset=reset),
        nn.Flatten(2), nn.Linear(6 * 2 * 2, 5), LIF(tau=2.0, v_reset=reset),
    ).double()
    with torch.no_grad():
        model[0].layer.weight.mul_(8.0)
        model[3].layer.weight.mul_(20.0)
        model[4].w.copy_(torch.linspace(-1.0, 1.0, 6))
        model[6].weight.mul_(10.0)
    return model


def _compare(model, x, backend=None, membranes=True, sim_backend="cpu"):
    shape = tuple(x.shape[2:])
    net = from_nn(model, shape, backend=sim_backend)
    want, want_v = _nn_spikes(model, x.to("cuda") if backend == "cupy" else x, backend)
    if backend == "cupy":
        model.cpu()
    mons = [net.add(StateMonitor(pop, "v")) for pop in net.layers] if membranes else []
    got = net.present(x[:, 0].numpy())
    T = x.shape[0]
    assert len(got) == len(want)
    total = 0
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"layer {k}"
        np.testing.assert_array_equal(g, w, err_msg=f"neuron layer {k}: spikes differ")
        total += w.sum()
    for k, (mon, wv) in enumerate(zip(mons, want_v), start=1):
        if wv is None:
            continue
        v = mon.values[k : k + T]  # layer k's step t is simulator step t + k
        np.testing.assert_allclose(v, wv.reshape(T, -1), rtol=0, atol=1e-6, err_msg=f"layer {k} membranes")
    return net, got, total


@pytest.mark.parametrize("reset", [0.0, None], ids=["hard", "soft"])
def test_mlp_identical_spikes(reset, backend_name):
    model = _mlp(reset)
    if backend_name == "cupy":
        model.cuda()
    x = _input(40, (40,), 0.3, seed=1)
    _, got, total = _compare(model, x, backend_name)
    assert total > 20 and all(g.sum() > 0 for g in got), "the test network should spike in every layer"


@pytest.mark.parametrize("variant", ["if", "plif", "no_decay_input", "strict", "reset_delay", "v_leak"])
def test_mlp_neuron_variants(variant, sim_backend):
    reset = 0.0
    kw = {}
    neuron = "lif"
    if variant in ("if", "plif"):
        neuron = variant
    elif variant == "no_decay_input":
        kw = {"decay_input": False}
    elif variant == "strict":
        kw = {"strict_threshold": True}
    elif variant == "reset_delay":
        kw = {"reset_delay": True}
        reset = None
    elif variant == "v_leak":
        kw = {"v_leak": 0.3}
    model = _mlp(reset, neuron, **kw)
    if variant == "no_decay_input":
        with torch.no_grad():
            for lin in model[0::2]:
                lin.weight.mul_(0.4)
    _, got, total = _compare(model, _input(30, (40,), 0.3, seed=2), membranes=variant != "reset_delay", sim_backend=sim_backend)
    assert total > 10


@pytest.mark.parametrize("reset", [0.0, None], ids=["hard", "soft"])
def test_convnet_identical_spikes(reset, sim_backend):
    model = _convnet(reset)
    x = _input(25, (2, 8, 8), 0.35, seed=3)
    net, got, total = _compare(model, x, sim_backend=sim_backend)
    assert all(g.sum() > 0 for g in got)
    # a convolution is one synapse per kernel tap and output position (zero padding drops the border taps)
    conv = model[0].layer
    taps = int((torch.nn.functional.conv2d(torch.ones(1, 2, 8, 8, dtype=torch.float64), torch.ones_like(conv.weight), padding=1)).sum())
    assert len(net.synapses[0]) == taps


def test_consecutive_presentations_start_from_rest():
    model = _mlp(0.0)
    net = from_nn(model, (40,))
    for seed in (4, 5):
        x = _input(20, (40,), 0.3, seed=seed)
        want, _ = _nn_spikes(model, x)
        got = net.present(x[:, 0].numpy())
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_delayed_linear_maps_to_synaptic_delays():
    delays = pytest.importorskip("neuro.nn.delays")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 20), LIF(tau=2.0), delays.DelayedLinear(20, 12, max_delay=4, bias=False), LIF(tau=2.0, v_reset=None)).double()
    with torch.no_grad():
        model[0].weight.mul_(5.0)
        model[2].weight.mul_(10.0)
    x = _input(30, (30,), 0.3, seed=6)
    net, got, total = _compare(model, x, membranes=False)
    assert got[1].sum() > 0
    np.testing.assert_array_equal(np.sort(np.unique(net.synapses[1].delays)), np.unique(model[2].delays.numpy()).astype(float))


@pytest.mark.parametrize("layer, words", [
    (PerStep(nn.MaxPool2d(2)), "max pooling"),
    (nn.ReLU(), "ReLU"),
])
def test_unconvertible_layers_name_the_layer(layer, words):
    model = nn.Sequential(PerStep(nn.Conv2d(1, 2, 3)), LIF(), layer, nn.Flatten(2), nn.Linear(8, 3), LIF())
    with pytest.raises(ConversionError, match=words) as err:
        from_nn(model, (1, 6, 6))
    assert "'2'" in str(err.value)


def test_trailing_non_spiking_layer_raises():
    model = nn.Sequential(nn.Linear(4, 8), LIF(), nn.Linear(8, 2))
    with pytest.raises(ConversionError, match="after the last neuron layer"):
        from_nn(model, (4,))


def test_synaptic_current_and_attention_raise():
    from neuro.nn.layers import SynapticCurrent

    with pytest.raises(ConversionError, match="synaptic current"):
        from_nn(nn.Sequential(nn.Linear(4, 8), SynapticCurrent(0.5), LIF()), (4,))
    with pytest.raises(ConversionError, match="attention"):
        from_nn(nn.Sequential(nn.MultiheadAttention(4, 1), LIF()), (4,))


def test_non_binary_input_is_rejected():
    net = from_nn(nn.Sequential(nn.Linear(4, 3), LIF()), (4,))
    with pytest.raises(ValueError, match="0 or 1"):
        net.present(np.full((5, 4), 0.5))


def test_batchnorm_scale_dropout_fold_into_synapses():
    from neuro.nn.layers import Scale

    torch.manual_seed(1)
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.1, 0.3)
    model = nn.Sequential(PerStep(nn.Conv2d(2, 4, 3, padding=1)), PerStep(bn), LIF(tau=2.0), PerStep(nn.Dropout(0.3)),
                          nn.Flatten(2), Scale(1.5), nn.Linear(4 * 8 * 8, 6), LIF(tau=2.0, v_reset=None)).double().eval()
    with torch.no_grad():
        model[0].layer.weight.mul_(8.0)
        model[6].weight.mul_(6.0)
    net, got, total = _compare(model, _input(20, (2, 8, 8), 0.35, seed=12))
    assert got[0].sum() > 0 and got[1].sum() > 0
    assert net.sources[0] == ("0", "1") and net.sources[1] == ("3", "4", "5", "6")


def test_readout_learns_in_the_loop_with_reward_modulated_stdp():
    from neuro.ops.stdp import PairSTDP
    from neuro.ops.three_factor import RewardModulatedSTDP

    model = _mlp(0.0)
    rule = RewardModulatedSTDP(stdp=PairSTDP(tau_plus=5.0, tau_minus=5.0, eta_plus=0.1, eta_minus=0.1, w_min=-50.0, w_max=50.0),
                               tau_c=50.0, baseline=0.0, update_interval=1.0)
    net = from_nn(model, (40,), readout_plasticity=rule)
    x = _input(30, (40,), 0.3, seed=1)
    want, _ = _nn_spikes(model, x)
    w0 = net.synapses[-1].weights
    got = net.present(x[:, 0].numpy())  # no dopamine: the weights stay, the spikes are the nn's
    np.testing.assert_array_equal(net.synapses[-1].weights, w0)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert np.abs(net.synapses[-1].eligibility).sum() > 0
    net.release("dopamine", 1.0)
    net.present(x[:, 0].numpy())
    dw = net.synapses[-1].weights - w0
    assert np.abs(dw).max() > 0
    np.testing.assert_array_equal(net.synapses[0].weights, from_nn(model, (40,)).synapses[0].weights)  # only the readout learns
