"""neuro.nn.IntegerLIF / IELIF: the integer law against a hand loop, IE-LIF = QSD's MultiLevelSpike at T=1, integer spikes = D binary sub-steps downstream."""

from __future__ import annotations

import math

import pytest
import torch

from neuro import nn as snn
from neuro.nn.models import MultiLevelSpike


def _ilif_loop(x, levels, beta, theta):
    T = x.shape[0]
    flat = x.reshape(T, -1)
    k_out, v_out = torch.zeros_like(flat), torch.zeros_like(flat)
    for n in range(flat.shape[1]):
        v = 0.0
        for t in range(T):
            h = beta * v + float(flat[t, n])
            k = math.floor(min(max(h / theta, 0.0), levels) + 0.5)
            v = h - theta * k
            k_out[t, n], v_out[t, n] = k, v
    return k_out.reshape(x.shape), v_out.reshape(x.shape)


@pytest.mark.parametrize("levels,tau,theta", [(4, 2.0, 1.0), (2, 4.0, 0.5), (7, 1.0, 1.0)])
def test_integer_lif_matches_hand_loop(levels, tau, theta):
    torch.manual_seed(0)
    x = torch.randn(10, 3, 5, dtype=torch.float64) * 2.0 + 1.0
    neuron = snn.IntegerLIF(levels=levels, tau=tau, v_threshold=theta, store_v=True)
    k = neuron(x)
    ref_k, ref_v = _ilif_loop(x, levels, 1.0 - 1.0 / tau, theta)
    torch.testing.assert_close(k, ref_k)
    torch.testing.assert_close(neuron.v_seq, ref_v, rtol=1e-12, atol=1e-12)
    assert set(k.unique().tolist()) <= set(range(levels + 1)) and k.max() > 1


def test_multi_step_equals_single_step_and_gradients_are_straight_through():
    torch.manual_seed(1)
    x = (torch.randn(6, 4, 8, dtype=torch.float64) + 1.0).requires_grad_(True)
    neuron = snn.IntegerLIF(levels=4, tau=2.0, v_threshold=0.5)
    w = torch.randn(8, dtype=torch.float64)
    (g_multi,) = torch.autograd.grad((neuron(x) * w).sum(), x)
    v, outs = None, []
    for t in range(6):
        y, v = neuron.step(x[t], v)
        outs.append(y)
    (g_single,) = torch.autograd.grad((torch.stack(outs) * w).sum(), x)
    torch.testing.assert_close(g_multi, g_single)
    assert torch.isfinite(g_multi).all() and g_multi.abs().sum() > 0
    # one step: d k / d x = 1/theta inside (0, D*theta), 0 outside
    x1 = torch.tensor([[-0.3, 0.2, 1.1, 2.4]], dtype=torch.float64).unsqueeze(0).requires_grad_(True)
    snn.IntegerLIF(levels=4, v_threshold=0.5)(x1).sum().backward()
    torch.testing.assert_close(x1.grad.flatten(), torch.tensor([0.0, 2.0, 2.0, 0.0], dtype=torch.float64))


@pytest.mark.parametrize("norm", [None, 2.0])
def test_ielif_one_step_is_qsd_multilevel_spike(norm):
    torch.manual_seed(2)
    x = (torch.randn(1, 4, 16) * 0.8 + 0.4).requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    ours = snn.IELIF(levels=4, norm=norm)(x)
    theirs = MultiLevelSpike(4, norm=norm)(x2)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    w = torch.randn(16)
    (ours * w).sum().backward()
    (theirs * w).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=0, atol=0)


def test_ielif_output_levels():
    y = snn.IELIF(levels=4, norm=2.0)(torch.linspace(-1, 2, 50).view(50, 1, 1))
    assert set((y * 2).unique().tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0} and y.max() == 2.0


def test_expanded_binary_spikes_give_the_same_linear_output():
    torch.manual_seed(3)
    levels = 4
    neuron = snn.IntegerLIF(levels=levels, tau=2.0)
    counts = neuron(torch.rand(5, 3, 12) * 6)
    binary = snn.expand_time(counts, levels)
    assert binary.shape == (5 * levels, 3, 12) and set(binary.unique().tolist()) <= {0.0, 1.0}
    linear = torch.nn.Linear(12, 7, bias=False)
    y_int = linear(counts)                                           # integer training
    y_bin = linear(binary).unflatten(0, (5, levels)).sum(1)          # spike-driven inference, summed per step
    torch.testing.assert_close(y_bin, y_int, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(binary.unflatten(0, (5, levels)).sum(1), counts)
    # IE-LIF outputs: rescale by norm first
    y = snn.IELIF(levels=levels)(torch.rand(2, 3, 12))
    torch.testing.assert_close(snn.expand_time(y * levels, levels).unflatten(0, (2, levels)).sum(1) / levels, y)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="levels"):
        snn.IntegerLIF(levels=0)
    with pytest.raises(ValueError, match="v_threshold"):
        snn.IntegerLIF(v_threshold=0.0)
    with pytest.raises(ValueError, match="integer-valued"):
        snn.expand_time(torch.tensor([[0.5]]), 4)
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        snn.expand_time(torch.tensor([[5.0]]), 4)


@pytest.mark.parametrize("detach_reset,expected", [(True, 0.5 / 0.5), (False, 0.0)])
def test_gradient_along_the_membrane(detach_reset, expected):
    # d y_1 / d x_0 = beta * (dv_0/dh_0) / theta with dv_0/dh_0 = 1 (detached reset) or 1 - theta/theta = 0
    x = torch.tensor([[[0.6]], [[0.7]]], dtype=torch.float64, requires_grad=True)
    y = snn.IntegerLIF(levels=4, tau=2.0, v_threshold=0.5, detach_reset=detach_reset)(x)
    (g,) = torch.autograd.grad(y[1].sum(), x)
    assert g[0].item() == pytest.approx(expected)
