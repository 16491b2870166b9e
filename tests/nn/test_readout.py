"""neuro.nn.readout: the leaky read-out against a hand loop and snntorch's Leaky, losses against snntorch.functional (1e-6), rate penalties by hand."""

from __future__ import annotations

import pytest
import torch

from neuro import nn as snn

sf = pytest.importorskip("snntorch.functional")


def _data(T=12, B=6, C=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    spikes = (torch.rand(T, B, C, generator=g) < 0.4).float()
    mem = torch.randn(T, B, C, generator=g)
    targets = torch.randint(0, C, (B,), generator=g)
    return spikes, mem, targets


@pytest.mark.parametrize("decay_input", [False, True])
@pytest.mark.parametrize("reduce", ["max", "mean", "last", "none"])
def test_leaky_readout_matches_hand_loop(decay_input, reduce):
    x = torch.randn(9, 3, 4, dtype=torch.float64)
    ro = snn.LeakyReadout(tau=4.0, decay_input=decay_input, reduce=reduce).double()
    beta, c = 0.75, (0.25 if decay_input else 1.0)
    u, trace = torch.zeros(3, 4, dtype=torch.float64), []
    for t in range(9):
        u = beta * u + c * x[t]
        trace.append(u)
    trace = torch.stack(trace)
    expected = {"max": trace.max(0).values, "mean": trace.mean(0), "last": trace[-1], "none": trace}[reduce]
    torch.testing.assert_close(ro(x), expected)


def test_leaky_readout_equals_snntorch_leaky_without_reset():
    snntorch = pytest.importorskip("snntorch")
    x = torch.randn(10, 4, 3)
    leaky = snntorch.Leaky(beta=0.8, reset_mechanism="none")
    mem, trace = leaky.init_leaky(), []
    for xt in x:
        _, mem = leaky(xt, mem)
        trace.append(mem)
    ours = snn.LeakyReadout(beta=0.8, reduce="none")(x)
    torch.testing.assert_close(ours, torch.stack(trace), rtol=0, atol=1e-6)


def test_learnable_readout_decay_trains():
    ro = snn.LeakyReadout(tau=5.0, learn_beta=True, reduce="max")
    torch.testing.assert_close(ro.beta(), torch.tensor([0.8]))
    ro(torch.randn(7, 2, 3)).sum().backward()
    assert torch.isfinite(ro.w.grad).all() and ro.w.grad.abs().sum() > 0


def test_losses_equal_snntorch_functional():
    spikes, mem, targets = _data()
    cases = [
        (snn.spike_count_cross_entropy(spikes, targets), sf.ce_count_loss()(spikes, targets)),
        (snn.spike_rate_cross_entropy(spikes, targets), sf.ce_rate_loss()(spikes, targets)),
        (snn.max_membrane_cross_entropy(mem, targets), sf.ce_max_membrane_loss()(mem, targets)),
        (snn.rate_mse_loss(spikes, targets), sf.mse_count_loss()(spikes, targets)),
        (snn.rate_mse_loss(spikes, targets, correct_rate=0.75, incorrect_rate=0.25), sf.mse_count_loss(0.75, 0.25)(spikes, targets)),
        (snn.l1_spike_penalty(spikes, 1e-3), sf.l1_rate_sparsity(Lambda=1e-3)(spikes)),
    ]
    for ours, theirs in cases:
        torch.testing.assert_close(ours, theirs.reshape(ours.shape), rtol=0, atol=1e-6)


def test_loss_gradients_equal_snntorch():
    spikes, mem, targets = _data(seed=1)
    for ours_fn, theirs_fn, x in [(snn.spike_count_cross_entropy, sf.ce_count_loss(), spikes), (snn.max_membrane_cross_entropy, sf.ce_max_membrane_loss(), mem),
                                  (lambda s, y: snn.rate_mse_loss(s, y, 0.75, 0.25), sf.mse_count_loss(0.75, 0.25), spikes)]:
        a = x.clone().requires_grad_(True)
        b = x.clone().requires_grad_(True)
        (ga,) = torch.autograd.grad(ours_fn(a, targets), a)
        (gb,) = torch.autograd.grad(theirs_fn(b, targets).sum(), b)
        torch.testing.assert_close(ga, gb, rtol=0, atol=1e-6)


def test_losses_are_gradcheck_clean_in_float64():
    _, mem, targets = _data(T=4, B=3, C=4, seed=2)
    x = mem.double().requires_grad_(True)
    for fn in (snn.spike_count_cross_entropy, snn.spike_rate_cross_entropy, snn.max_membrane_cross_entropy, lambda s, y: snn.rate_mse_loss(s, y, 0.5, 0.25)):
        assert torch.autograd.gradcheck(lambda v, fn=fn: fn(v, targets), (x,))


def test_rate_penalties_by_hand():
    s = torch.zeros(10, 2, 3)
    s[:, :, 0] = 1.0            # rate 1.0
    s[::2, :, 1] = 1.0          # rate 0.5
    # neuron 2 silent: rate 0
    torch.testing.assert_close(snn.firing_rates(s), torch.tensor([1.0, 0.5, 0.0]))
    torch.testing.assert_close(snn.upper_rate_penalty(s, max_rate=0.4, weight=2.0), torch.tensor(2.0 * (0.6**2 + 0.1**2) / 3))
    torch.testing.assert_close(snn.lower_rate_penalty(s, min_rate=0.1), torch.tensor(0.1**2 / 3))
    # gradients push rates back inside the bounds
    x = s.clone().requires_grad_(True)
    (snn.upper_rate_penalty(x, 0.4) + snn.lower_rate_penalty(x, 0.1)).backward()
    g = x.grad.mean((0, 1))
    assert g[0] > 0 and g[1] > 0 and g[2] < 0


def test_invalid_arguments():
    spikes, _, targets = _data()
    with pytest.raises(ValueError, match="reduce"):
        snn.LeakyReadout(reduce="sum")
    with pytest.raises(ValueError, match="correct_rate"):
        snn.rate_mse_loss(spikes, targets, correct_rate=2.0)
    with pytest.raises(ValueError, match=r"\[T, B, C\]"):
        snn.spike_count_cross_entropy(spikes[0], targets)
