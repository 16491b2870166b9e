"""PDSG surrogate: its backward is the exact derivative of a smooth primitive (gradcheck, float64), double backward,
and PDSGLIF against an independent re-implementation of the official PDSG_LIFNode."""

from __future__ import annotations

import math

import pytest
import torch

from neuro import nn as snn
from neuro.ops.surrogate import membrane_std, pdsg_grad, pdsg_heaviside, pdsg_primitive


class _PrimitiveWithPDSGBackward(torch.autograd.Function):
    """Forward: the smooth primitive; backward: PDSG's rule. gradcheck then tests the rule against finite differences."""

    @staticmethod
    def forward(ctx, x, sigma):
        ctx.save_for_backward(x, sigma)
        return pdsg_primitive(x, sigma)

    @staticmethod
    def backward(ctx, grad):
        x, sigma = ctx.saved_tensors
        return grad * pdsg_grad(x, sigma), None


@pytest.mark.parametrize("sigma", [0.1, 0.7, 2.5])
def test_pdsg_backward_is_the_derivative_of_its_primitive(sigma):
    x = torch.linspace(-3, 3, 25, dtype=torch.float64).requires_grad_(True)
    s = torch.tensor(sigma, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: _PrimitiveWithPDSGBackward.apply(v, s), (x,))
    # and pdsg_heaviside's backward is that rule: a Gaussian density of mean sigma/2, std sigma, integrating to 1
    (g,) = torch.autograd.grad(pdsg_heaviside(x, s).sum(), x)
    torch.testing.assert_close(g, torch.exp(-((x.detach() - sigma / 2) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma))
    grid = torch.linspace(-40, 40, 200001, dtype=torch.float64)
    assert torch.trapezoid(pdsg_grad(grid, s), grid).item() == pytest.approx(1.0, abs=1e-6)


def test_pdsg_double_backward_gradcheck():
    x = torch.randn(12, dtype=torch.float64).requires_grad_(True)
    sigma = torch.full((12,), 0.4, dtype=torch.float64)

    def first_derivative(v):
        (g,) = torch.autograd.grad(pdsg_heaviside(v, sigma).sum(), v, create_graph=True)
        return g

    assert torch.autograd.gradcheck(first_derivative, (x,))
    y = pdsg_heaviside(x, sigma, width_scale=2.0)
    torch.testing.assert_close(y, (x >= 0).double())


def test_membrane_std_per_channel_and_fallbacks():
    torch.manual_seed(0)
    hist = torch.randn(3, 4, 5, 2, 2, dtype=torch.float64)       # [t, B, C, H, W]
    std = membrane_std(hist, channel_dim=1)
    assert std.shape == (1, 5, 1, 1)
    torch.testing.assert_close(std.flatten(), hist.transpose(0, 2).reshape(5, -1).std(dim=1))
    torch.testing.assert_close(membrane_std(hist, None), hist.std().reshape(1, 1, 1, 1))
    assert membrane_std(torch.zeros(2, 3, 4)).eq(1).all()           # zero spread -> width 1
    assert membrane_std(torch.randn(1, 1, 4)).eq(1).all()           # one sample -> width 1


def _official_pdsg_lif(x, tau, v_th, v_reset, channel_keep_dims):
    """Re-implementation of ryime/PDSG-SDA utils/attack.py PDSG_LIFNode (decay_input=True, detach_reset=False)."""

    class F(torch.autograd.Function):
        @staticmethod
        def forward(ctx, u, sigma):
            ctx.save_for_backward(u, sigma)
            return (u >= 0).to(u)

        @staticmethod
        def backward(ctx, g):
            u, sigma = ctx.saved_tensors
            sigma = sigma.expand_as(u)
            return g * torch.exp(-(((u - 0.5 * sigma) / (math.sqrt(2) * sigma)) ** 2)) / (math.sqrt(2 * math.pi) * sigma), None

    mem, hist, out = None, [], []
    for t in range(x.shape[0]):
        mem = (x[t] + v_reset) / tau if t == 0 else mem + (x[t] - (mem - v_reset)) / tau
        hist.append(mem.clone().detach())
        with torch.no_grad():
            sigma = torch.stack(hist).std(dim=channel_keep_dims, keepdim=True).squeeze(0)
            sigma = torch.where(sigma == 0, torch.ones_like(sigma), sigma)
        spike = F.apply(mem - v_th, sigma)
        mem = mem * (1 - spike) + v_reset * spike
        out.append(spike)
    return torch.stack(out)


@pytest.mark.parametrize("shape,dims", [((6, 3, 4, 5, 5), (0, 1, 3, 4)), ((6, 8, 10), (0, 1))])
def test_pdsg_lif_equals_the_official_node(shape, dims):
    torch.manual_seed(1)
    x = (torch.randn(*shape, dtype=torch.float64) * 1.5 + 1.0).requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    ours = snn.PDSGLIF(tau=2.0)(x)
    theirs = _official_pdsg_lif(x2, 2.0, 1.0, 0.0, dims)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(ours, snn.LIF(tau=2.0, backend="torch")(x.detach()).double())
    w = torch.randn(shape[1:], dtype=torch.float64)
    (ours * w).sum().backward()
    (theirs * w).sum().backward()
    assert 0 < ours.mean() < 1
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-10, atol=1e-12)
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_pdsg_lif_width_scale_changes_gradients_only():
    torch.manual_seed(2)
    x = (torch.randn(5, 4, 6) + 1.0).requires_grad_(True)
    s1 = snn.PDSGLIF(width_scale=1.0)(x)
    (g1,) = torch.autograd.grad(s1.sum(), x)
    s2 = snn.PDSGLIF(width_scale=3.0)(x)
    (g2,) = torch.autograd.grad(s2.sum(), x)
    torch.testing.assert_close(s1, s2)
    assert not torch.allclose(g1, g2)
    with pytest.raises(TypeError, match="surrogate"):
        snn.PDSGLIF(surrogate="atan")
    with pytest.raises(NotImplementedError):
        snn.PDSGLIF().step(x[0])
