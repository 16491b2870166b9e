"""Each LIF kernel backend equals the torch reference, for every surrogate and option; the kernel really ran."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numba import njit

from neuro.ops import fastmath
from neuro.ops.lif import LIFParams, cpu
from neuro.ops.lif import reference as ref
from neuro.ops.lif.autograd import lif_multi_step
from neuro.ops.surrogate import SURROGATE_IDS

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-12)}


@njit
def _exp_all(x, out):
    for i in range(x.shape[0]):
        out[i] = fastmath.fast_exp(x[i])


def test_fast_exp_is_exact_to_a_float32_ulp():
    x = np.linspace(-87.0, 88.0, 1_000_001).astype(np.float32)
    out = np.empty_like(x)
    _exp_all(x, out)
    exact = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out - exact) / exact) < 1.2e-7  # float32 eps is 1.19e-7
    x64 = np.linspace(-700.0, 700.0, 1001)
    out64 = np.empty_like(x64)
    _exp_all(x64, out64)
    np.testing.assert_array_equal(out64, [math.exp(v) for v in x64])  # float64 goes to math.exp unchanged


def _count_calls(monkeypatch):
    calls = {"forward": 0, "backward": 0}
    for name, factory in (("forward", cpu._forward_kernel), ("backward", cpu._backward_kernel)):
        def counting(*key, _factory=factory, _name=name):
            kernel = _factory(*key)

            def run(*args):
                calls[_name] += 1
                return kernel(*args)

            return run

        monkeypatch.setattr(cpu, f"_{name}_kernel", counting)
    return calls


# every surrogate in float32 (hard reset); the other reset / detach / decay_input settings in float64 (each
# combination is a kernel of its own to compile, ~3 s each: the full product would take minutes)
CASES = [(torch.float32, name, 0.0, False, True) for name in sorted(SURROGATE_IDS)] + [
    (torch.float64, "sigmoid", None, False, True),
    (torch.float64, "atan", -0.1, True, False),
    (torch.float64, "sigmoid", None, True, False),
]


@pytest.mark.parametrize("dtype, surrogate, v_reset, detach_reset, decay_input", CASES)
def test_numba_kernel_equals_reference(monkeypatch, dtype, surrogate, v_reset, detach_reset, decay_input):
    torch.manual_seed(1)
    T, n = 11, 1100  # more than two blocks of neurons, the last one partial
    x = (torch.randn(T, n, dtype=dtype) * 1.2 + 0.6).requires_grad_(True)
    v0 = (torch.rand(n, dtype=dtype) * 0.5).requires_grad_(True)
    p = LIFParams(v_th=1.0, v_reset=v_reset, v_leak=0.05, decay_input=decay_input, detach_reset=detach_reset, surrogate=surrogate, alpha=3.0)
    gs, gh, gv = torch.randn(T, n, dtype=dtype), torch.randn(T, n, dtype=dtype), torch.randn(n, dtype=dtype)
    out = {}
    calls = _count_calls(monkeypatch)
    for backend in ("torch", "numba"):
        s, h, v = lif_multi_step(x, v0, 0.8, p, backend=backend)
        grads = torch.autograd.grad((s * gs).sum() + (h * gh).sum() + (v * gv).sum(), (x, v0))
        out[backend] = (s, h, v, *grads)
    assert calls == {"forward": 1, "backward": 1}
    assert out["torch"][0].sum() > 0
    torch.testing.assert_close(out["numba"][0], out["torch"][0], rtol=0, atol=0)
    for a, b in zip(out["numba"][1:], out["torch"][1:]):
        torch.testing.assert_close(a, b, **TOL[dtype])


@pytest.mark.parametrize("per_neuron", [False, True])
def test_numba_kernel_with_learnable_beta(per_neuron):
    torch.manual_seed(2)
    x = (torch.randn(9, 3, 40, dtype=torch.float64) + 0.7).requires_grad_(True)
    beta0 = torch.rand(3, 40, dtype=torch.float64) * 0.5 + 0.4 if per_neuron else torch.tensor([0.7], dtype=torch.float64)
    p = LIFParams(surrogate="atan", alpha=2.0)
    res = {}
    for backend in ("torch", "numba"):
        beta = beta0.clone().requires_grad_(True)
        s, _, _ = lif_multi_step(x, None, beta, p, backend=backend)
        res[backend] = torch.autograd.grad((s * torch.arange(40.0, dtype=torch.float64)).sum(), (x, beta))
    for a, b in zip(res["numba"], res["torch"]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_broadcast_gradients_are_read_as_scalars(monkeypatch):
    """``s.sum().backward()`` hands over a stride-0 gradient; the kernel reads its one value and gets the same result."""
    seen = []
    real = cpu._backward_kernel

    def spy(kind, soft, detach, gs_scalar, gh_scalar, *rest):
        seen.append((gs_scalar, gh_scalar))
        return real(kind, soft, detach, gs_scalar, gh_scalar, *rest)

    monkeypatch.setattr(cpu, "_backward_kernel", spy)
    torch.manual_seed(3)
    x = (torch.randn(20, 700) + 0.8).requires_grad_(True)
    s, _, _ = lif_multi_step(x, None, 0.6, LIFParams(), backend="numba", need_h=False)
    (g_scalar,) = torch.autograd.grad(s.sum(), x)
    s, _, _ = lif_multi_step(x, None, 0.6, LIFParams(), backend="numba", need_h=False)
    (g_full,) = torch.autograd.grad(s, x, grad_outputs=torch.ones_like(s))
    assert seen == [(True, True), (False, True)]  # h was not an output: its gradient is a broadcast zero
    torch.testing.assert_close(g_scalar, g_full, rtol=0, atol=0)


def test_need_h_false_returns_none_and_the_same_spikes():
    x = torch.randn(6, 2, 30) + 0.8
    s1, h1, v1 = lif_multi_step(x, None, 0.5, LIFParams(), backend="numba")
    s2, h2, v2 = lif_multi_step(x, None, 0.5, LIFParams(), backend="numba", need_h=False)
    assert h2 is None and h1.shape == x.shape
    assert torch.equal(s1, s2) and torch.equal(v1, v2)


def test_backward_keeps_only_the_input():
    """Saved for backward: the input (4 bytes per neuron-step in float32) and v0; no charge sequence."""
    saved = []

    def pack(t):
        saved.append(t)
        return t

    x = (torch.randn(8, 4, 50) + 0.5).requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        s, _, _ = lif_multi_step(x, None, 0.5, LIFParams(), backend="numba", need_h=False)
    big = {t.data_ptr(): t for t in saved if t.numel() >= x.numel()}
    assert len(big) == 1 and next(iter(big.values())).data_ptr() == x.data_ptr()


def test_reference_backward_recomputes_the_charges():
    torch.manual_seed(4)
    x, v0 = torch.randn(7, 30, dtype=torch.float64) + 0.6, torch.zeros(30, dtype=torch.float64)
    beta = torch.tensor([0.5], dtype=torch.float64)
    args = (1.0, 0.0, 0.0, False, True, False, 0, 4.0)
    s, h, _ = ref.multi_step_forward(x, v0, beta, *args)
    gs = torch.randn_like(s)
    gh, _ = ref.multi_step_backward(gs, torch.zeros_like(s), torch.zeros(30, dtype=torch.float64), x, v0, beta, *args)
    gx, _ = ref.multi_step_backward(gs, torch.zeros_like(s), torch.zeros(30, dtype=torch.float64), x, v0, beta, *args, input_grad=True)
    torch.testing.assert_close(gx, gh * 0.5, rtol=0, atol=0)
    # finite difference of sum(gs * h_dependent spikes) is not smooth; check one step of the recursion instead
    from neuro.ops.surrogate import surrogate_grad

    torch.testing.assert_close(gh[-1], gs[-1] * surrogate_grad(h[-1] - 1.0, 0, 4.0))


def test_block_size_keeps_tiles_in_cache_and_threads_busy():
    from neuro.ops._host import TILE_BYTES, block_size

    for T, N, threads in [(32, 131072, 2), (100, 22400, 2), (500, 16 * 4096, 2), (11, 1100, 1), (7, 100, 4), (2, 10**6, 16)]:
        b = block_size(T, N, 4, threads=threads)
        n_blocks = -(-N // b)
        assert b % 16 == 0 and 256 <= b <= 8192
        assert b == 256 or b * T * 4 <= TILE_BYTES  # the backward's [T, block] tile fits the cache budget
        assert n_blocks >= min(2 * threads, -(-N // 256))  # every thread gets work where N allows
    assert block_size(32, 131072, 4, threads=2) == 8192  # wide blocks: long contiguous rows per time step
    assert block_size(100, 22400, 4, tiles=2, threads=2) * 100 * 4 * 2 <= TILE_BYTES  # two tiles share the budget


def test_shared_beta_kernel_equals_per_neuron_kernel():
    """One beta for all neurons runs the kernels' scalar-coefficient variant: bit-identical to the same value per neuron."""
    torch.manual_seed(5)
    x = (torch.randn(13, 3000) * 1.1 + 0.6).requires_grad_(True)
    p = LIFParams(v_th=1.0, v_reset=0.0, v_leak=0.1, surrogate="sigmoid", alpha=4.0)
    res = []
    for beta in (torch.tensor([0.75]), torch.full((3000,), 0.75)):
        s, h, v = lif_multi_step(x, None, beta, p, backend="numba")
        res.append((s, h, v, *torch.autograd.grad((s * h).sum() + v.sum(), x)))
    for a, b in zip(*res):
        assert torch.equal(a, b)


def test_small_passes_run_on_the_calling_thread_with_the_same_bits(monkeypatch):
    """Below ``SERIAL_BELOW`` elements the multi-step kernels run on one Numba thread (no pool wake-up); the setting is
    restored afterwards, and the serial and parallel runs of one input agree bit for bit."""
    import numba

    from neuro.ops import _host

    seen = []
    real = _host.block_size

    def spy(*args, **kwargs):
        seen.append(numba.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(cpu, "block_size", spy)
    torch.manual_seed(3)
    x = (torch.randn(12, 5000) * 1.1 + 0.6).requires_grad_(True)  # 60 000 elements: below the default bound
    p = LIFParams(v_th=1.0, v_reset=0.0, surrogate="sigmoid", alpha=4.0)
    before, default = numba.get_num_threads(), _host.SERIAL_BELOW
    res = {}
    for bound in (default, 1):  # serial, then parallel over the same input
        monkeypatch.setattr(_host, "SERIAL_BELOW", bound)
        seen.clear()
        s, h, v = lif_multi_step(x, None, torch.tensor([0.8]), p, backend="numba")
        res[bound] = (s, h, v, *torch.autograd.grad((s * h).sum() + v.sum(), x))
        assert seen == [1, 1] if bound > 1 else seen == [before, before]  # forward and backward
        assert numba.get_num_threads() == before
    for a, b in zip(res[default], res[1]):
        assert torch.equal(a, b)
