"""A 2-D input to a multi-step neuron is refused (a ``[B, N]`` batch would run as B time steps) unless the layer was built
with ``input_layout="TN"``; ``LIF.snntorch`` is snntorch's ``Leaky`` with snntorch's defaults, spike for spike."""

from __future__ import annotations

import pytest
import torch

from neuro import nn as snn

NEURONS = {
    "LIF": lambda **kw: snn.LIF(tau=2.0, **kw),
    "ParametricLIF": lambda **kw: snn.ParametricLIF(tau=2.0, **kw),
    "IF": lambda **kw: snn.IF(**kw),
    "PDSGLIF": lambda **kw: snn.PDSGLIF(tau=2.0, **kw),
    "ALIF": lambda **kw: snn.ALIF(tau_mem=5.0, **kw),
    "IntegerLIF": lambda **kw: snn.IntegerLIF(levels=4, **kw),
    "UltraLIF": lambda **kw: snn.UltraLIF(tau=2.0, **kw),
    "LeakyReadout": lambda **kw: snn.LeakyReadout(tau=5.0, reduce="none", **kw),
}


@pytest.mark.parametrize("name", sorted(NEURONS))
def test_2d_input_is_refused_with_the_ways_out(name):
    layer = NEURONS[name]()
    x = torch.rand(32, 100) * 3  # one step of a batch of 32: read as [T, N] it would be 32 steps of one sample
    with pytest.raises(ValueError, match=r"2-D input of shape \(32, 100\).*32 time steps of 100 neurons.*\.step\(x\).*input_layout='TN'"):
        layer(x)
    assert layer(x.unsqueeze(0)).shape[-2:] == (32, 100)  # [1, B, N]: one step of the batch


@pytest.mark.parametrize("name", sorted(NEURONS))
def test_input_layout_tn_reads_2d_as_one_sample_sequence(name):
    torch.manual_seed(0)
    x = torch.rand(12, 20, dtype=torch.float64) * 3
    explicit = NEURONS[name](input_layout="TN").double()
    batched = NEURONS[name]().double()
    y = explicit(x)
    assert y.shape[0] == 12
    torch.testing.assert_close(y, batched(x.unsqueeze(1)).squeeze(1), atol=0, rtol=0)


def test_input_layout_is_checked_and_can_be_set_later():
    with pytest.raises(ValueError, match="input_layout must be 'TB'"):
        snn.LIF(input_layout="BT")
    lif = snn.LIF()
    lif.input_layout = "TN"
    assert lif(torch.ones(4, 3) * 5).shape == (4, 3)
    with pytest.raises(ValueError, match="expects \\[T, B, ...\\] input"):
        lif(torch.ones(3))


def test_existing_3d_callers_are_unchanged():
    x = torch.rand(6, 4, 10) * 2
    torch.testing.assert_close(snn.LIF(tau=2.0)(x), snn.LIF(tau=2.0, input_layout="TN")(x), atol=0, rtol=0)


# -- snntorch ---------------------------------------------------------------------------------------------
snntorch = pytest.importorskip("snntorch")


def _leaky_run(leaky, x):
    mem = leaky.init_leaky()
    out = []
    for t in range(x.shape[0]):
        spk, mem = leaky(x[t], mem)
        out.append(spk)
    return torch.stack(out)


def _input():
    g = torch.Generator().manual_seed(7)
    return torch.rand(25, 8, 64, generator=g) * 0.6  # [T, B, N]: drives snntorch's Leaky(beta=0.9) often


def test_lif_defaults_are_not_snntorch_defaults():
    """The trap: the same ``beta`` under each library's defaults gives a silent layer on one side."""
    x = _input()
    ours = snn.LIF(beta=0.9)(x)
    theirs = _leaky_run(snntorch.Leaky(beta=0.9), x)
    assert ours.sum() == 0 and theirs.sum() > 1000


@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero"])
def test_snntorch_preset_gives_the_spikes_membranes_and_gradients_of_leaky(reset_mechanism):
    x = _input()
    x_ours, x_theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    leaky = snntorch.Leaky(beta=0.9, reset_mechanism=reset_mechanism)  # snntorch's defaults: threshold 1, ATan(alpha=2)
    mem = leaky.init_leaky()
    spikes, mems = [], []
    for t in range(x.shape[0]):
        spk, mem = leaky(x_theirs[t], mem)
        spikes.append(spk)
        mems.append(mem)
    s_ref, m_ref = torch.stack(spikes), torch.stack(mems)
    lif = snn.LIF.snntorch(beta=0.9, reset_mechanism=reset_mechanism, store_v=True)
    s = lif(x_ours)
    assert s.sum() > 1000
    torch.testing.assert_close(s, s_ref, atol=0, rtol=0)
    torch.testing.assert_close(lif.v_seq, m_ref, atol=1e-5, rtol=1e-5)
    w = torch.randn_like(x)
    (s * w).sum().backward()
    (s_ref * w).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, atol=1e-5, rtol=1e-5)


def test_snntorch_preset_step_by_step_like_a_snntorch_loop():
    x = _input()[:10]
    lif = snn.LIF.snntorch(beta=0.8, threshold=0.5)
    s_ref = _leaky_run(snntorch.Leaky(beta=0.8, threshold=0.5), x)
    v, out = None, []
    for t in range(x.shape[0]):
        s, v = lif.step(x[t], v)
        out.append(s)
    torch.testing.assert_close(torch.stack(out), s_ref, atol=0, rtol=0)


def test_snntorch_preset_refuses_what_it_fixes():
    with pytest.raises(ValueError, match="LeakyReadout"):
        snn.LIF.snntorch(beta=0.9, reset_mechanism="none")
    with pytest.raises(TypeError, match="fixes 'decay_input'"):
        snn.LIF.snntorch(beta=0.9, decay_input=True)
    with pytest.raises(TypeError, match="builds a LIF"):
        snn.ParametricLIF.snntorch(beta=0.9)


def test_snntorch_synaptic_is_scale_synaptic_current_then_the_preset():
    """``snn.Synaptic(alpha, beta)``: :math:`I_t = \\alpha I_{t-1} + x_t`; our SynapticCurrent adds :math:`(1-\\alpha) x_t`, so the
    input is scaled by :math:`1/(1-\\alpha)` first (docs/snntorch.md)."""
    x = _input()
    syn = snntorch.Synaptic(alpha=0.8, beta=0.9)
    i, mem = syn.init_synaptic()
    out = []
    for t in range(x.shape[0]):
        spk, i, mem = syn(x[t], i, mem)
        out.append(spk)
    ours = torch.nn.Sequential(snn.Scale(1 / (1 - 0.8)), snn.SynapticCurrent(0.8), snn.LIF.snntorch(beta=0.9))(x)
    assert ours.sum() > 1000
    torch.testing.assert_close(ours, torch.stack(out), atol=0, rtol=0)
