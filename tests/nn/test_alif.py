"""neuro.nn.ALIF: the adaptive-threshold law against a hand-unrolled loop, multi-step = single-step, beta_a=0 is the LIF, learnable parts train."""

from __future__ import annotations

import math

import pytest
import torch

from neuro import nn as snn


def _alif_loop(x, beta, rho, beta_a, b0, gamma, v_reset=None):
    """Scalar loop over every neuron: Bellec et al. 2020 eq. 23-24, hard Heaviside."""
    T = x.shape[0]
    flat = x.reshape(T, -1)
    s_out = torch.zeros_like(flat)
    v_out = torch.zeros_like(flat)
    a_out = torch.zeros_like(flat)
    for n in range(flat.shape[1]):
        v = 0.0 if v_reset is None else v_reset
        a = 0.0
        for t in range(T):
            h = beta * v + float(flat[t, n])
            b = b0 + beta_a * a
            s = 1.0 if h >= b else 0.0
            v = h - b0 * s if v_reset is None else (v_reset if s else h)
            a = rho * a + gamma * s
            s_out[t, n], v_out[t, n], a_out[t, n] = s, v, a
    return s_out.reshape(x.shape), v_out.reshape(x.shape), a_out.reshape(x.shape)


@pytest.mark.parametrize("kw", [dict(), dict(v_reset=0.0), dict(adapt_increment=1 - math.exp(-1 / 50.0), tau_adapt=50.0, beta_a=3.0)])
def test_alif_matches_hand_unrolled_loop(kw):
    torch.manual_seed(0)
    x = torch.rand(30, 2, 5, dtype=torch.float64) * 0.9
    alif = snn.ALIF(tau_mem=10.0, store_state=True, **kw).double()
    s = alif(x)
    p = dict(tau_adapt=200.0, beta_a=1.8, adapt_increment=1.0, v_reset=None) | kw
    ref_s, ref_v, ref_a = _alif_loop(x, math.exp(-1 / 10.0), math.exp(-1 / p["tau_adapt"]), p["beta_a"], 1.0, p["adapt_increment"], p["v_reset"])
    assert 0 < s.sum() < s.numel()
    torch.testing.assert_close(s, ref_s)
    torch.testing.assert_close(alif.v_seq, ref_v, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(alif.a_seq, ref_a, rtol=1e-12, atol=1e-12)


def test_adaptation_lowers_the_rate_under_constant_drive():
    x = torch.full((200, 1, 1), 0.3)
    rate_lif = snn.ALIF(beta_a=0.0)(x).mean()
    rate_alif = snn.ALIF(beta_a=1.8)(x).mean()
    assert rate_alif < 0.6 * rate_lif


def test_multi_step_equals_single_step_with_gradients():
    torch.manual_seed(1)
    x = (torch.rand(15, 3, 6, dtype=torch.float64) * 0.8).requires_grad_(True)
    alif = snn.ALIF(tau_mem=5.0, tau_adapt=20.0, beta_a=0.5).double()
    w = torch.randn(6, dtype=torch.float64)
    (g_multi,) = torch.autograd.grad((alif(x) * w).sum(), x)
    state, outs = None, []
    for t in range(x.shape[0]):
        s, state = alif.step(x[t], state)
        outs.append(s)
    assert isinstance(state, snn.ALIFState)
    (g_single,) = torch.autograd.grad((torch.stack(outs) * w).sum(), x)
    torch.testing.assert_close(g_multi, g_single, rtol=1e-12, atol=1e-12)
    assert torch.isfinite(g_multi).all() and g_multi.abs().sum() > 0


def test_no_adaptation_is_the_soft_reset_lif():
    torch.manual_seed(2)
    x = (torch.rand(20, 4, 7, dtype=torch.float64) * 0.7).requires_grad_(True)
    alif = snn.ALIF(tau_mem=4.0, beta_a=0.0, surrogate="atan", alpha=2.0)
    lif = snn.LIF(beta=math.exp(-1 / 4.0), v_reset=None, decay_input=False, surrogate="atan", alpha=2.0, backend="torch")
    s_a, s_l = alif(x), lif(x)
    torch.testing.assert_close(s_a, s_l)
    (g_a,) = torch.autograd.grad(s_a.sum(), x)
    (g_l,) = torch.autograd.grad(s_l.sum(), x)
    torch.testing.assert_close(g_a, g_l, rtol=1e-6, atol=1e-9)  # LIF keeps beta in float32


def test_learnable_per_neuron_parameters_get_finite_gradients():
    torch.manual_seed(3)
    alif = snn.ALIF(n_neurons=6, learn_tau_mem=True, learn_tau_adapt=True, learn_beta_a=True, beta_a=1.0)
    assert {n for n, _ in alif.named_parameters()} == {"w_mem", "w_adapt", "w_beta_a"}
    torch.testing.assert_close(alif.beta_a(), torch.full((6,), 1.0))
    torch.testing.assert_close(alif.rho(), torch.full((6,), math.exp(-1 / 200.0)))
    x = torch.rand(40, 5, 6)
    alif(x).sum().backward()
    for p in alif.parameters():
        assert p.grad.shape == (6,) and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"expects inputs \[..., 6\]"):
        alif(torch.rand(4, 2, 5))


def test_rho_gradient_matches_finite_difference_on_the_adaptation_trace():
    # with spikes fixed (detached adaptation input), a_t is smooth in rho: the gradient is exact
    x = torch.rand(25, 3, 4, dtype=torch.float64) + 0.2
    alif = snn.ALIF(learn_tau_adapt=True, tau_adapt=10.0, detach_adaptation=True, store_state=True).double()

    def loss():
        alif(x)
        return alif.a_seq.pow(2).sum()

    loss().backward()
    analytic = alif.w_adapt.grad.item()
    w0, eps = alif.w_adapt.item(), 1e-6
    with torch.no_grad():
        alif.w_adapt.fill_(w0 + eps)
        up = loss().item()
        alif.w_adapt.fill_(w0 - eps)
        down = loss().item()
    assert analytic == pytest.approx((up - down) / (2 * eps), rel=1e-5)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="tau_mem"):
        snn.ALIF(tau_mem=0.0)
    with pytest.raises(ValueError, match="beta_a"):
        snn.ALIF(beta_a=-1.0)
    with pytest.raises(ValueError, match="unknown surrogate"):
        snn.ALIF(surrogate="nope")
