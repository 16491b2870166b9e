"""``neuro.nn.LIF`` against snntorch's ``Leaky`` and norse's ``LIFBoxCell``: spikes, membranes and input gradients within 1e-5 (float32).

snntorch ``Leaky(beta, threshold, spike_grad=atan(alpha), reset_mechanism=..., reset_delay=True)``:
``mem_t = beta * mem_{t-1} + x_t - threshold * H(mem_{t-1} - threshold)`` ("subtract"; "zero" zeroes
``mem_{t-1}`` first), spike ``H(mem_t - threshold)`` with ``H(0) = 0``, reset detached. It maps to
``LIF(beta, v_threshold, v_reset=None | 0.0, decay_input=False, detach_reset=True, reset_delay=True,
strict_threshold=True, surrogate="atan", alpha)``; ``mem`` is our ``v_seq`` (membrane before reset).

norse ``LIFBoxCell``: ``v' = v + dt * tau_mem_inv * (v_leak - v + x)``, ``z = H(v' - v_th)`` strict,
``v = (1 - z) v' + z v_reset`` (reset not detached), SuperSpike surrogate ``1 / (1 + |x|)^2``
(norse 1.1 ignores ``alpha`` there). It maps to ``LIF(beta=1 - dt * tau_mem_inv, v_leak=v_leak,
v_reset=v_reset, decay_input=True, strict_threshold=True, surrogate="fast_sigmoid", alpha=1.0)``;
its state ``v`` is our ``v_seq`` (after reset).
"""

from __future__ import annotations

import pytest
import torch

from neuro.nn import LIF

snn = pytest.importorskip("snntorch")
surrogate = pytest.importorskip("snntorch.surrogate")

TOL = dict(atol=1e-5, rtol=1e-5)


def _snntorch_run(leaky, x):
    mem = leaky.init_leaky()
    spikes, mems = [], []
    for t in range(x.shape[0]):
        spk, mem = leaky(x[t], mem)
        spikes.append(spk)
        mems.append(mem)
    return torch.stack(spikes), torch.stack(mems)


def _inputs(seed, shape=(16, 4, 64), scale=0.8):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g) * scale + 0.35
    return x


@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero"])
@pytest.mark.parametrize("beta, threshold, alpha", [(0.9, 1.0, 2.0), (0.5, 0.7, 2.0), (0.95, 1.3, 5.0)])
def test_lif_equals_snntorch_leaky(reset_mechanism, beta, threshold, alpha):
    x = _inputs(int(beta * 100 + alpha))
    x_ours = x.clone().requires_grad_(True)
    x_theirs = x.clone().requires_grad_(True)
    leaky = snn.Leaky(beta=beta, threshold=threshold, spike_grad=surrogate.atan(alpha=alpha), reset_mechanism=reset_mechanism, init_hidden=False)
    s_ref, mem_ref = _snntorch_run(leaky, x_theirs)
    lif = LIF(beta=beta, v_threshold=threshold, v_reset=None if reset_mechanism == "subtract" else 0.0, decay_input=False, detach_reset=True,
              reset_delay=True, strict_threshold=True, surrogate="atan", alpha=alpha, store_v=True)
    s = lif(x_ours)
    assert 0.05 < s.mean().item() < 0.6  # the test exercises resets
    torch.testing.assert_close(s, s_ref, atol=0, rtol=0)
    torch.testing.assert_close(lif.v_seq, mem_ref, **TOL)
    # a loss on spikes and membranes: gradients flow through the surrogate and the leak
    w = torch.randn_like(x)
    ((s * w).sum() + (lif.v_seq ** 2).mean()).backward()
    ((s_ref * w).sum() + (mem_ref ** 2).mean()).backward()
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, **TOL)
    assert x_ours.grad.abs().sum() > 0


def test_step_equals_multi_step_and_snntorch():
    x = _inputs(3, shape=(12, 2, 10))
    lif = LIF(beta=0.8, v_threshold=1.0, v_reset=None, decay_input=False, detach_reset=True, reset_delay=True, strict_threshold=True,
              surrogate="atan", alpha=2.0, store_v=True)
    s_multi = lif(x)
    v = None
    for t in range(x.shape[0]):
        s, v = lif.step(x[t], v)
        torch.testing.assert_close(s, s_multi[t], atol=0, rtol=0)
        torch.testing.assert_close(v, lif.v_seq[t], **TOL)


def test_chained_calls_carry_the_membrane_before_reset():
    """Two calls with ``v0 = v_last`` equal one call (the pending reset is recomputed from ``v0``)."""
    from neuro.ops.lif.autograd import lif_multi_step

    x = _inputs(5, shape=(20, 3, 7), scale=1.5)
    lif = LIF(beta=0.7, v_reset=None, decay_input=False, reset_delay=True, strict_threshold=True)
    s_all, h_all, v_all = lif_multi_step(x, None, 0.7, lif.params)
    s1, _, v1 = lif_multi_step(x[:9], None, 0.7, lif.params)
    s2, _, v2 = lif_multi_step(x[9:], v1, 0.7, lif.params)
    torch.testing.assert_close(torch.cat([s1, s2]), s_all, atol=0, rtol=0)
    torch.testing.assert_close(v2, v_all)
    torch.testing.assert_close(v_all, h_all[-1])


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_autograd_path_equals_fused_op(soft, detach_reset):
    """Without the new options, the autograd reference equals the custom op (forward, input and beta gradients)."""
    from neuro.ops.lif import LIFParams
    from neuro.ops.lif import reference as ref
    from neuro.ops.lif.autograd import lif_multi_step

    p = LIFParams(v_reset=None if soft else 0.0, detach_reset=detach_reset, surrogate="atan", alpha=2.0)
    x = _inputs(7, shape=(10, 40), scale=2.0)
    outs = []
    for autograd_path in (False, True):
        xx = x.clone().requires_grad_(True)
        beta = torch.full((40,), 0.8, requires_grad=True)
        if autograd_path:
            s, h, v = ref.multi_step_autograd(xx, torch.zeros(40), beta, *p.kernel_args())
        else:
            s, h, v = lif_multi_step(xx, None, beta, p, backend="torch")
        ((s * torch.arange(40.0)).sum() + (h ** 2).sum() + v.sum()).backward()
        outs.append((s, h, v, xx.grad, beta.grad))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_fused_backends_refuse_the_reference_only_options():
    from neuro.ops.lif import LIFParams
    from neuro.ops.lif.autograd import lif_multi_step

    p = LIFParams(reset_delay=True)
    assert not p.fused and LIFParams().fused
    with pytest.raises(ValueError, match="reset_delay"):
        lif_multi_step(torch.ones(3, 2), None, 0.5, p, backend="numba")


def test_strict_threshold_at_equality():
    x = torch.tensor([[1.0], [0.0], [1.0]])
    loose = LIF(beta=0.0, decay_input=False)(x.unsqueeze(1))
    strict = LIF(beta=0.0, decay_input=False, strict_threshold=True)(x.unsqueeze(1))
    assert loose.flatten().tolist() == [1.0, 0.0, 1.0]
    assert strict.flatten().tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("v_leak, v_reset", [(0.0, 0.0), (0.2, -0.1)])
def test_lif_equals_norse_lif_box(v_leak, v_reset):
    lif_box = pytest.importorskip("norse.torch.module.lif_box")
    dt, tau_mem_inv = 1e-3, 200.0
    cell = lif_box.LIFBoxCell(lif_box.LIFBoxParameters(tau_mem_inv=torch.as_tensor(tau_mem_inv), v_leak=torch.as_tensor(v_leak),
                                                       v_th=torch.as_tensor(0.5), v_reset=torch.as_tensor(v_reset)), dt=dt)
    x = _inputs(11, scale=2.0) + 0.5
    x_ours, x_theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    state, spikes, vs = None, [], []
    for t in range(x.shape[0]):
        z, state = cell(x_theirs[t], state)
        spikes.append(z)
        vs.append(state.v)
    s_ref, v_ref = torch.stack(spikes), torch.stack(vs)
    lif = LIF(beta=1.0 - dt * tau_mem_inv, v_threshold=0.5, v_reset=v_reset, v_leak=v_leak, decay_input=True, strict_threshold=True,
              surrogate="fast_sigmoid", alpha=1.0, store_v=True)
    # norse starts at v = v_leak (LIFBoxCell's initial state), we start at v_reset unless told
    s = lif(x_ours, torch.full(x.shape[1:], v_leak))
    assert 0.05 < s.mean().item() < 0.6
    torch.testing.assert_close(s, s_ref, atol=0, rtol=0)
    torch.testing.assert_close(lif.v_seq, v_ref, **TOL)
    w = torch.randn_like(x)
    ((s * w).sum() + lif.v_seq.sum()).backward()
    ((s_ref * w).sum() + v_ref.sum()).backward()
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, **TOL)


def test_beta_gradient_equals_snntorch_learn_beta():
    """The decay gradient too: our op with a learnable ``beta`` tensor against ``Leaky(learn_beta=True)``."""
    from neuro.ops.lif.autograd import lif_multi_step

    x = _inputs(13, shape=(14, 3, 20))
    leaky = snn.Leaky(beta=0.8, threshold=0.9, spike_grad=surrogate.atan(alpha=2.0), learn_beta=True)
    s_ref, mem_ref = _snntorch_run(leaky, x)
    lif = LIF(beta=0.8, v_threshold=0.9, v_reset=None, decay_input=False, detach_reset=True, reset_delay=True, strict_threshold=True, surrogate="atan",
              alpha=2.0)
    beta = torch.tensor([0.8], requires_grad=True)
    s, h, _ = lif_multi_step(x, None, beta, lif.params)
    torch.testing.assert_close(s, s_ref, atol=0, rtol=0)
    w = torch.randn_like(x)
    ((s * w).sum() + h.sum()).backward()
    ((s_ref * w).sum() + mem_ref.sum()).backward()
    torch.testing.assert_close(beta.grad.reshape(()), leaky.beta.grad.reshape(()), **TOL)


def test_reference_only_options_never_reach_a_kernel(monkeypatch):
    """Sentinel: with ``reset_delay`` / ``strict_threshold`` no backend op is looked up (the torch reference runs)."""
    from neuro import backend

    def fail(*args, **kwargs):
        raise AssertionError("a fused kernel was asked for")

    monkeypatch.setattr(backend, "op", fail)
    x = _inputs(17, shape=(5, 2, 3))
    for kw in ({"reset_delay": True}, {"strict_threshold": True}):
        LIF(**kw)(x)
    with pytest.raises(AssertionError, match="fused kernel"):
        LIF()(x)


def test_reference_path_has_a_second_derivative():
    """The autograd reference is built from torch ops: double backward works (gradient penalties, meta-learning)."""
    x = _inputs(19, shape=(6, 2, 5)).requires_grad_(True)
    lif = LIF(beta=0.8, v_reset=None, reset_delay=True, strict_threshold=True, surrogate="atan", alpha=2.0, store_v=True)
    lif(x)
    (g,) = torch.autograd.grad((lif.v_seq ** 2).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.pow(2).sum(), x)
    assert torch.isfinite(gg).all() and gg.abs().sum() > 0
