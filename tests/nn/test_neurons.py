"""neuro.nn neurons: fused multi-step equals the single-step form, PLIF learns tau, IF integrates, encoders code."""

from __future__ import annotations

import pytest
import torch

from neuro import nn as snn


@pytest.mark.parametrize("backend", ["torch", "numba"])
@pytest.mark.parametrize("kw", [dict(), dict(v_reset=None), dict(detach_reset=True, surrogate="atan", alpha=2.0), dict(decay_input=False, tau=4.0)])
def test_multi_step_equals_single_step(backend, kw):
    torch.manual_seed(0)
    x = (torch.randn(12, 3, 20, dtype=torch.float64) + 0.7).requires_grad_(True)
    lif = snn.LIF(backend=backend, **kw)
    s_multi = lif(x)
    (g_multi,) = torch.autograd.grad((s_multi * torch.arange(20.0)).sum(), x)
    v, outs = None, []
    for t in range(x.shape[0]):
        s, v = lif.step(x[t], v)
        outs.append(s)
    s_single = torch.stack(outs)
    (g_single,) = torch.autograd.grad((s_single * torch.arange(20.0)).sum(), x)
    assert s_multi.sum() > 0
    torch.testing.assert_close(s_multi, s_single)
    torch.testing.assert_close(g_multi, g_single, rtol=1e-10, atol=1e-12)


def test_plif_tau_gradient_matches_finite_difference():
    torch.manual_seed(1)
    x = torch.randn(10, 4, 8, dtype=torch.float64) + 0.5
    # with a detached reset and a loss on the potentials only, the surrogate never enters: the gradient is the true one
    plif = snn.ParametricLIF(tau=3.0, detach_reset=True).double()

    def loss(w):
        plif.w.data.fill_(w)
        plif.store_v = True
        plif(x)
        return (plif.v_seq ** 2).sum()  # smooth in tau between spikes

    w0 = plif.w.item()
    plif.w.grad = None
    plif.store_v = True
    plif(x)
    (plif.v_seq ** 2).sum().backward()
    analytic = plif.w.grad.item()
    eps = 1e-6
    numeric = (loss(w0 + eps).item() - loss(w0 - eps).item()) / (2 * eps)
    assert analytic == pytest.approx(numeric, rel=1e-4)


def test_plif_per_channel_learns_one_tau_per_channel():
    plif = snn.ParametricLIF(tau=2.0, per_channel=3)
    x = torch.rand(6, 2, 3, 4, 4) * 2
    plif(x).sum().backward()
    assert plif.w.grad.shape == (3,) and torch.all(plif.w.grad != 0)
    with pytest.raises(ValueError, match=r"expects \[T, B, 3, ...\]"):
        plif(torch.rand(6, 2, 5))


def test_if_neuron_counts_input():
    s = snn.IF(v_threshold=1.0)(torch.full((10, 1, 1), 0.25))
    assert s[:, 0, 0].tolist() == [0, 0, 0, 1, 0, 0, 0, 1, 0, 0]


def test_bad_neuron_arguments():
    with pytest.raises(ValueError, match="tau must be a finite number >= 1"):
        snn.LIF(tau=0.5)
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\]"):
        snn.LIF(beta=1.5)
    with pytest.raises(ValueError, match="unknown surrogate 'relu'"):
        snn.LIF(surrogate="relu")
    with pytest.raises(ValueError, match=r"expects \[T, B, ...\] input"):
        snn.LIF()(torch.rand(5))


def test_spiking_modules_are_marked():
    assert all(m.is_spiking for m in (snn.LIF(), snn.ParametricLIF(), snn.IF()))


def test_encoders():
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([0.0, 0.25, 1.0])
    rates = snn.poisson_encode(x.expand(2000, 3), 10, generator=g).mean(dim=(0, 1))
    torch.testing.assert_close(rates, x, atol=0.01, rtol=0)
    lat = snn.latency_encode(torch.tensor([1.0, 0.5, 0.0]), 5)
    assert lat.sum(0).tolist() == [1.0, 1.0, 0.0] and lat[0, 0] == 1 and lat[2, 1] == 1
    sig = torch.tensor([0.0, 0.3, 0.6, 0.5, 0.1, 0.1])
    d = snn.delta_encode(sig, 0.25)
    assert d[:, 0].tolist() == [0, 1, 1, 0, 0, 0] and d[:, 1].tolist() == [0, 0, 0, 0, 1, 0]
    assert snn.repeat_encode(x, 4).shape == (4, 3)
    with pytest.raises(ValueError, match=r"intensities in \[0, 1\]"):
        snn.poisson_encode(torch.tensor([2.0]), 3)


def test_spike_function_surrogates_are_gradient_checked():
    for name in ("sigmoid", "atan", "fast_sigmoid", "erf"):
        x = torch.linspace(-1, 1, 7, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(snn.spike(x, name, 2.0).sum(), x)
        # the surrogate derivative is the derivative of a smooth step: check it against finite differences of that step
        smooth = {"sigmoid": lambda u: torch.sigmoid(2.0 * u), "atan": lambda u: torch.atan(torch.pi / 2 * 2.0 * u) / torch.pi + 0.5,
                  "fast_sigmoid": lambda u: 0.5 * (2.0 * u / (1 + 2.0 * u.abs())) + 0.5, "erf": lambda u: 0.5 * (1 + torch.erf(2.0 * u))}[name]
        eps = 1e-6
        fd = (smooth(x.detach() + eps) - smooth(x.detach() - eps)) / (2 * eps)
        torch.testing.assert_close(g, fd, rtol=1e-5, atol=1e-8)
