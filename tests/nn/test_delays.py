"""Synaptic delays: fixed integer delays against the definition, learnable (DCLS) delays against finite
differences, the fixed layer and, when installed, the DCLS package."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuro.nn.delays import DelayedLinear, LearnableDelayLinear, dcls_sigma, delayed_linear_reference


def hand_loop(x, w, d, b=None):
    t_len, batch, n_in = x.shape
    n_out = w.shape[0]
    y = torch.zeros(t_len, batch, n_out, dtype=x.dtype)
    for t in range(t_len):
        for j in range(n_out):
            for i in range(n_in):
                s = t - int(d[j, i])
                if s >= 0:
                    y[t, :, j] += w[j, i] * x[s, :, i]
    return y if b is None else y + b


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("max_delay", [0, 1, 5])
def test_fixed_delays_equal_hand_loop(max_delay, bias):
    g = torch.Generator().manual_seed(max_delay)
    layer = DelayedLinear(4, 3, max_delay, bias=bias, generator=g).double()
    x = torch.rand(9, 2, 4, dtype=torch.float64, generator=g)
    want = hand_loop(x, layer.weight.detach(), layer.delays, None if layer.bias is None else layer.bias.detach())
    torch.testing.assert_close(layer(x), want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(delayed_linear_reference(x, layer.weight, layer.delays, layer.bias), want, rtol=1e-12, atol=1e-12)


def test_delays_longer_than_input():
    layer = DelayedLinear(3, 2, 10, delays=torch.tensor([[0, 4, 10], [9, 9, 2]])).double()
    x = torch.rand(5, 1, 3, dtype=torch.float64)
    torch.testing.assert_close(layer(x), hand_loop(x, layer.weight.detach(), layer.delays))


def test_random_delays_cover_range_and_are_reproducible():
    a = DelayedLinear(50, 40, 7, generator=torch.Generator().manual_seed(1))
    b = DelayedLinear(50, 40, 7, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.delays, b.delays)
    assert int(a.delays.min()) == 0 and int(a.delays.max()) == 7
    assert "delays" in a.state_dict() and not a.delays.requires_grad


@pytest.mark.parametrize("layer_cls", [DelayedLinear, LearnableDelayLinear])
def test_delay_zero_is_linear_per_step(layer_cls):
    lin = nn.Linear(6, 4)
    layer = layer_cls(6, 4, max_delay=3, delays=torch.zeros(4, 6, dtype=torch.long), bias=True)
    layer.eval()
    if layer_cls is LearnableDelayLinear:
        layer.sigma = 1e-3
    with torch.no_grad():
        layer.weight.copy_(lin.weight)
        layer.bias.copy_(lin.bias)
    x = torch.rand(7, 3, 6)
    want = torch.stack([lin(xt) for xt in x])
    torch.testing.assert_close(layer(x), want, rtol=1e-5, atol=1e-6)


def test_gaussian_kernel_is_normalised_and_centred():
    layer = LearnableDelayLinear(3, 2, max_delay=10, sigma=1.5, delays=torch.tensor([[2.0, 5.0, 7.5], [0.0, 10.0, 3.25]])).double()
    with torch.no_grad():
        layer.weight.fill_(1.0)
    k = layer.kernel()
    torch.testing.assert_close(k.sum(-1), torch.ones(2, 3, dtype=torch.float64))
    taps = torch.arange(11, dtype=torch.float64)
    g = torch.exp(-0.5 * ((taps - 3.25) / 1.5) ** 2)
    torch.testing.assert_close(k[1, 2], g / g.sum())
    assert int(k[0, 0].argmax()) == 2 and int(k[0, 1].argmax()) == 5


@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_learnable_gradients_match_finite_differences(scale):
    g = torch.Generator().manual_seed(0)
    layer = LearnableDelayLinear(3, 2, max_delay=4, sigma=0.9, bias=True, delay_lr_scale=scale, generator=g).double().eval()
    with torch.no_grad():  # keep every delay inside (0, D) so the clamp does not touch it
        layer.delay_raw.copy_((0.5 + 3.0 * torch.rand(2, 3, generator=g, dtype=torch.float64)) / scale)
    x = torch.rand(6, 2, 3, dtype=torch.float64, generator=g, requires_grad=True)

    def f(x, w, p, b):
        return torch.func.functional_call(layer, {"weight": w, "delay_raw": p, "bias": b}, (x,))

    assert torch.autograd.gradcheck(f, (x, layer.weight.detach().clone().requires_grad_(), layer.delay_raw.detach().clone().requires_grad_(),
                                        layer.bias.detach().clone().requires_grad_()))
    layer(x).pow(2).sum().backward()
    for p in (layer.weight, layer.delay_raw, layer.bias):
        assert p.grad is not None and bool(torch.isfinite(p.grad).all()) and float(p.grad.abs().sum()) > 0


def test_small_sigma_with_integer_positions_equals_fixed_layer():
    g = torch.Generator().manual_seed(3)
    fixed = DelayedLinear(8, 5, 6, generator=g, bias=True)
    learn = LearnableDelayLinear(8, 5, 6, sigma=0.05, delays=fixed.delays.float(), bias=True)
    with torch.no_grad():
        learn.weight.copy_(fixed.weight)
        learn.bias.copy_(fixed.bias)
    x = torch.rand(12, 3, 8, generator=g)
    torch.testing.assert_close(learn(x), fixed(x), rtol=1e-5, atol=1e-6)
    learn.sigma = 1e-4  # tiny widths stay finite (the Gaussian is a softmax over the taps)
    assert bool(torch.isfinite(learn(x)).all())


def test_round_delays_and_to_fixed_equal_fixed_layer():
    g = torch.Generator().manual_seed(4)
    learn = LearnableDelayLinear(8, 5, 6, sigma=2.0, generator=g)
    x = torch.rand(12, 3, 8, generator=g)
    tau = learn.delays.detach().clone()
    learn.round_delays()
    assert learn.sigma == 0.0
    assert torch.equal(learn.delays.detach(), tau.round())
    fixed = learn.to_fixed()
    assert torch.equal(fixed.delays, tau.round().long())
    torch.testing.assert_close(learn(x), fixed(x), rtol=0, atol=0)
    torch.testing.assert_close(fixed(x), hand_loop(x, fixed.weight.detach(), fixed.delays), rtol=1e-5, atol=1e-6)
    state = learn.state_dict()
    again = LearnableDelayLinear(8, 5, 6)
    again.load_state_dict(state)
    assert again.sigma == 0.0


def test_round_in_eval_uses_integer_delays_without_changing_parameters():
    g = torch.Generator().manual_seed(5)
    layer = LearnableDelayLinear(6, 4, 5, sigma=1.3, round_in_eval=True, generator=g)
    x = torch.rand(10, 2, 6, generator=g)
    tau = layer.delays.detach().clone()
    y_train = layer.train()(x)
    y_eval = layer.eval()(x)
    torch.testing.assert_close(y_eval, layer.to_fixed()(x), rtol=0, atol=0)
    assert not torch.allclose(y_train, y_eval)
    assert layer.sigma == pytest.approx(1.3) and torch.equal(layer.delays.detach(), tau)
    torch.testing.assert_close(layer.train()(x), y_train)


def test_training_clamps_delays_into_range():
    layer = LearnableDelayLinear(2, 2, 5, delays=torch.full((2, 2), 2.0))
    with torch.no_grad():
        layer.delay_raw.copy_(torch.tensor([[-3.0, 1.0], [4.0, 9.0]]))
    layer.train()(torch.rand(3, 1, 2))
    assert torch.equal(layer.delays.detach(), torch.tensor([[0.0, 1.0], [4.0, 5.0]]))


def test_dcls_sigma_schedule():
    assert dcls_sigma(0, 37) == pytest.approx(12.27)
    assert dcls_sigma(37, 37) == pytest.approx(0.5)
    assert dcls_sigma(100, 37) == pytest.approx(0.5)
    assert dcls_sigma(5, 0) == pytest.approx(0.5)
    s = [dcls_sigma(e, 10) for e in range(11)]
    assert all(a > b for a, b in zip(s, s[1:]))
    with pytest.raises(ValueError, match="epoch"):
        dcls_sigma(-1, 10)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(delays=torch.tensor([[0, -1, 2], [1, 1, 1]])), "delays must be >= 0"),
    (dict(delays=torch.tensor([[0, 5, 2], [1, 1, 1]])), "delays must be <= max_delay=4"),
    (dict(delays=torch.zeros(3, 2, dtype=torch.long)), r"delays must have shape \[out_features, in_features\] = \[2, 3\]"),
    (dict(delays=torch.tensor([[0.5, 1.0, 2.0], [1.0, 1.0, 1.0]])), "delays must be whole numbers"),
])
def test_fixed_bad_delays(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DelayedLinear(3, 2, 4, **kwargs)


@pytest.mark.parametrize("layer_cls", [DelayedLinear, LearnableDelayLinear])
def test_bad_arguments_name_themselves(layer_cls):
    with pytest.raises(ValueError, match="max_delay"):
        layer_cls(3, 2, -1)
    with pytest.raises(ValueError, match="max_delay"):
        layer_cls(3, 2, 2.5)
    with pytest.raises(ValueError, match="in_features"):
        layer_cls(0, 2, 3)
    layer = layer_cls(3, 2, 4)
    for bad in (torch.rand(5, 3), torch.rand(5, 2, 4), torch.rand(5, 2, 3, 1)):
        with pytest.raises(ValueError, match=r"x must have shape \[T, B, in_features=3\]"):
            layer(bad)


def test_learnable_bad_arguments():
    with pytest.raises(ValueError, match="delays must be <= max_delay=4"):
        LearnableDelayLinear(3, 2, 4, delays=torch.full((2, 3), 4.5))
    with pytest.raises(ValueError, match="delays must be >= 0"):
        LearnableDelayLinear(3, 2, 4, delays=torch.full((2, 3), -0.5))
    with pytest.raises(ValueError, match="sigma"):
        LearnableDelayLinear(3, 2, 4, sigma=-1.0)
    layer = LearnableDelayLinear(3, 2, 4)
    with pytest.raises(ValueError, match="sigma"):
        layer.sigma = float("nan")
    with pytest.raises(ValueError, match="delay_lr_scale"):
        LearnableDelayLinear(3, 2, 4, delay_lr_scale=0.0)


def _dcls_twin(layer: LearnableDelayLinear):
    """The DCLS package's Dcls1d (gauss) holding the same weights, positions and width."""
    modules = pytest.importorskip("DCLS.construct.modules")
    d = layer.max_delay
    taps = d + 1
    twin = modules.Dcls1d(layer.in_features, layer.out_features, kernel_count=1, dilated_kernel_size=taps, bias=layer.bias is not None, version="gauss")
    twin = twin.to(layer.weight.dtype)
    with torch.no_grad():
        twin.weight.copy_(layer.weight.unsqueeze(-1))
        twin.P.copy_((d - taps // 2 - layer.delays).reshape(1, layer.out_features, layer.in_features, 1))
        twin.SIG.fill_(layer.sigma - 0.27)
        if layer.bias is not None:
            twin.bias.copy_(layer.bias)
    return twin


def _run_twin(twin, x, d):
    return twin(F.pad(x.permute(1, 2, 0), (d, 0))).permute(2, 0, 1)


@pytest.mark.parametrize(("max_delay", "sigma"), [(24, 12.27), (24, 0.5), (9, 2.0)])
def test_equals_dcls_package(max_delay, sigma):
    g = torch.Generator().manual_seed(max_delay)
    layer = LearnableDelayLinear(10, 7, max_delay, sigma=sigma, bias=True, generator=g).eval()
    twin = _dcls_twin(layer)
    x = torch.rand(30, 4, 10, generator=g)
    y, y_ref = layer(x), _run_twin(twin, x, max_delay)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-5)
    y.square().sum().backward()
    y_ref.square().sum().backward()
    torch.testing.assert_close(layer.weight.grad, twin.weight.grad.squeeze(-1), rtol=1e-4, atol=1e-5)
    # dP = -dtau
    torch.testing.assert_close(layer.delay_raw.grad, -twin.P.grad.reshape(7, 10), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 3])
def test_delays_are_learned_from_a_teacher(seed):
    """Gradient descent on the positions alone, sigma annealed 2 -> 0.3, recovers a fixed-delay teacher's delays."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and immune to a crowded machine
    try:
        g = torch.Generator().manual_seed(seed)
        teacher = DelayedLinear(4, 3, 8, generator=g)
        with torch.no_grad():
            teacher.weight.copy_(torch.rand(3, 4, generator=g) + 0.5)
        start = (teacher.delays + 4 * torch.rand(3, 4, generator=g) - 2).clamp(0, 8)
        student = LearnableDelayLinear(4, 3, 8, sigma=2.0, delays=start)
        with torch.no_grad():
            student.weight.copy_(teacher.weight)
        student.weight.requires_grad_(False)
        opt = torch.optim.Adam([student.delay_raw], lr=0.1)
        x = (torch.rand(40, 8, 4, generator=g) < 0.2).float()
        with torch.no_grad():
            y = teacher(x)
        assert not torch.equal(student.integer_delays(), teacher.delays)
        for i in range(60):
            student.sigma = 2.0 * (0.3 / 2.0) ** (min(i, 40) / 40)
            loss = (student(x) - y).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert torch.equal(student.integer_delays(), teacher.delays)
    finally:
        torch.set_num_threads(threads)
