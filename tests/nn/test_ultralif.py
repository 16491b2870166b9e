"""neuro.nn.UltraLIF: the law against a hand loop, gradcheck (it is smooth), and the hard LIF as the temperature goes to 0."""

from __future__ import annotations

import math

import pytest
import torch

from neuro import nn as snn
from neuro.nn.ultralif import lse_max, soft_spike


def test_lse_max_tends_to_max_and_its_derivative_is_the_soft_spike():
    a = torch.linspace(-2, 2, 41, dtype=torch.float64)
    for eps in (1.0, 0.1, 0.01):
        err = (lse_max(a, 0.0, eps) - a.clamp(min=0)).abs().max()
        assert err <= eps * math.log(2) + 1e-12   # the LSE bound: 0 <= LSE - max <= eps log 2
    x = a.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(lse_max(x, 0.0, 0.3).sum(), x)
    torch.testing.assert_close(g, soft_spike(a, 0.3))


@pytest.mark.parametrize("v_reset", [None, 0.0])
def test_ultralif_matches_hand_loop(v_reset):
    torch.manual_seed(0)
    x = torch.randn(8, 2, 3, dtype=torch.float64) + 0.6
    neuron = snn.UltraLIF(tau=3.0, eps=0.2, v_reset=v_reset, learn_eps=False, store_v=True)
    s = neuron(x)
    beta = 1 - 1 / 3.0
    v = torch.zeros(2, 3, dtype=torch.float64)
    for t in range(8):
        h = beta * v + x[t]
        st = 1.0 / (1.0 + torch.exp(-(h - 1.0) / 0.2))
        v = h - st if v_reset is None else h * (1 - st)
        torch.testing.assert_close(s[t], st)
        torch.testing.assert_close(neuron.v_seq[t], v)


def test_ultralif_gradcheck_float64():
    torch.manual_seed(1)
    neuron = snn.UltraLIF(tau=2.0, eps=0.3, v_reset=0.0).double()
    x = (torch.randn(5, 2, 3, dtype=torch.float64) + 0.8).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda inp, le: _run_with(neuron, inp, le), (x, neuron.log_eps.detach().clone().requires_grad_(True)))


def _run_with(neuron, x, log_eps):
    saved = neuron.log_eps
    del neuron.log_eps
    neuron.log_eps = log_eps  # a plain tensor so that gradcheck can perturb it
    try:
        return neuron(x)
    finally:
        del neuron.log_eps
        neuron.log_eps = saved


def test_multi_step_equals_single_step():
    x = torch.randn(6, 3, 4) + 0.5
    neuron = snn.UltraLIF(eps=0.05)
    v, outs = None, []
    for t in range(6):
        s, v = neuron.step(x[t], v)
        outs.append(s)
    torch.testing.assert_close(neuron(x), torch.stack(outs))


@pytest.mark.parametrize("v_reset", [None, 0.0])
def test_tends_to_the_hard_lif_as_eps_goes_to_zero(v_reset):
    torch.manual_seed(2)
    x = torch.rand(20, 4, 16, dtype=torch.float64) * 1.2
    lif = snn.LIF(beta=0.5, v_reset=v_reset, decay_input=False, backend="torch", store_v=True)
    s_hard = lif(x)
    assert 0 < s_hard.sum() < s_hard.numel()
    mean_err, max_err = [], []
    for eps in (0.3, 0.1, 0.03, 1e-2, 1e-3, 1e-4, 1e-5):
        ultra = snn.UltraLIF(beta=0.5, v_reset=v_reset, eps=eps, learn_eps=False, store_v=True)
        d = (ultra(x) - s_hard).abs()
        mean_err.append(d.mean().item())
        max_err.append(d.max().item())
    # pointwise convergence: the mean error falls with eps; the worst neuron converges once eps is
    # below its closest approach to the threshold
    assert all(b < a for a, b in zip(mean_err, mean_err[1:], strict=False))
    assert mean_err[-1] < 1e-9 and max_err[-1] < 1e-6
    torch.testing.assert_close(ultra.v_seq, lif.v_seq.double(), rtol=1e-6, atol=1e-6)


def test_learned_eps_gets_a_gradient_and_is_positive():
    neuron = snn.UltraLIF(eps=0.5)
    neuron(torch.randn(4, 2, 3) + 1.0).sum().backward()
    assert torch.isfinite(neuron.log_eps.grad).all() and neuron.log_eps.grad.abs().sum() > 0
    torch.testing.assert_close(neuron.eps(), torch.tensor([0.5]))
    with pytest.raises(ValueError, match="eps"):
        snn.UltraLIF(eps=0.0)
