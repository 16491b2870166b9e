"""The training-layer CUDA kernels and their CuPy launchers, run on the host (``cuda_emulation.py``): every call the
Numba backend gets in a forward + backward is replayed through the CUDA launcher (same arguments) and must give
the same outputs. Checks the ``.cu`` arithmetic, the launchers' argument order and types and their post-processing
on machines without a GPU; the ``gpu``-marked tests run the same kernels on a device."""

from __future__ import annotations

import importlib

import pytest
import torch

from neuro import backend as _backend
from neuro import nn as snn
from neuro.ops.alif import ALIFParams
from neuro.ops.alif.autograd import alif_multi_step
from neuro.ops.integer_lif import IntegerLIFParams
from neuro.ops.integer_lif.autograd import integer_lif_multi_step
from neuro.ops.lif import LIFParams
from neuro.ops.lif.autograd import lif_multi_step

from .cuda_emulation import compiler, emulate

pytestmark = pytest.mark.skipif(compiler() is None, reason="the host emulation needs a C++ compiler")

# the CUDA kernels compute in the tensors' precision, surrogate gradients included (kernels/surrogate.cuh): float64
# agrees with the Numba kernels to float64 rounding (their exp differs in the last bits), float32 to float32's
TOL = {torch.float32: dict(rtol=2e-5, atol=2e-6), torch.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture(autouse=True)
def _fresh_op_lookup():
    """``neuro.backend`` caches the launcher function it looks up; the wrappers below must be seen, and forgotten after."""
    _backend._load.cache_clear()
    yield
    _backend._load.cache_clear()


def _clone(v):
    if isinstance(v, torch.Tensor):
        return v.detach().clone()
    if isinstance(v, (tuple, list)):
        return type(v)(_clone(x) for x in v)
    return v


def _record(monkeypatch, law):
    """Wrap the Numba launchers of ``law``: each call's arguments and outputs (copied: outputs live in reused buffers)."""
    cpu = importlib.import_module(f"neuro.ops.{law}.cpu")
    calls = []
    for fn in ("multi_step_forward", "multi_step_backward"):
        real = getattr(cpu, fn)

        def wrapped(*args, _real=real, _fn=fn, **kwargs):
            out = _real(*args, **kwargs)
            calls.append((_fn, _clone(args), dict(kwargs), _clone(out)))
            return out

        monkeypatch.setattr(cpu, fn, wrapped)
    return calls


def _replay(monkeypatch, law, calls, dtype):
    cuda = importlib.import_module(f"neuro.ops.{law}.cuda")
    kernels = emulate(monkeypatch, cuda)
    assert {c[0] for c in calls} == {"multi_step_forward", "multi_step_backward"}
    for fn, args, kwargs, want in calls:
        got = getattr(cuda, fn)(*args, **kwargs)
        assert len(got) == len(want)
        for k, (g, w) in enumerate(zip(got, want)):
            if w is None or (isinstance(w, torch.Tensor) and w.numel() == 0):
                continue
            where = f"{law} {fn} output {k}"
            # spikes / spike counts exactly (UltraLIF's soft spikes are not integers: to tolerance)
            exact = fn == "multi_step_forward" and k == 0 and bool(torch.equal(w, w.round()))
            tol = dict(rtol=0, atol=0) if exact else TOL[dtype]
            torch.testing.assert_close(g.to(w.dtype), w, **tol, msg=lambda m, where=where: f"{where}: {m}")
    assert kernels and all(k.calls > 0 for k in kernels)  # the emulated kernels really ran


def _grads_of(out, inputs, seed=7):
    g = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in out)
    return torch.autograd.grad(loss, inputs)


# option sets (and losses) of the Numba tests in test_lif_kernels.py / test_alif_kernels.py, so the Numba kernels
# these replay are the ones those tests compile (each switch combination costs seconds of compilation)
@pytest.mark.parametrize("dtype, surrogate, v_reset, detach_reset, decay_input, per_neuron", [
    (torch.float32, "sigmoid", 0.0, False, True, False),
    (torch.float32, "triangle", 0.0, False, True, False),
    (torch.float64, "atan", -0.1, True, False, False),
    (torch.float64, "atan", 0.0, False, True, True),
])
def test_lif_cuda_launcher_equals_numba(monkeypatch, dtype, surrogate, v_reset, detach_reset, decay_input, per_neuron):
    torch.manual_seed(0)
    T, n = 9, 300
    x = (torch.randn(T, n, dtype=dtype) * 1.1 + 0.6).requires_grad_(True)
    v0 = (torch.rand(n, dtype=dtype) * 0.5).requires_grad_(True)
    calls = _record(monkeypatch, "lif")
    if per_neuron:  # learnable per-neuron beta, a loss of the spikes only (h's gradient: a broadcast zero)
        beta = (torch.rand(n, dtype=dtype) * 0.4 + 0.5).requires_grad_(True)
        s, _, _ = lif_multi_step(x, None, beta, LIFParams(surrogate=surrogate, alpha=2.0), backend="numba")
        torch.autograd.grad((s * torch.arange(float(n), dtype=dtype)).sum(), (x, beta))
    else:
        p = LIFParams(v_th=1.0, v_reset=v_reset, v_leak=0.05, decay_input=decay_input, detach_reset=detach_reset, surrogate=surrogate, alpha=3.0)
        s, h, v = lif_multi_step(x, v0, 0.8, p, backend="numba")
        _grads_of((s, h, v), (x, v0))
    assert s.sum() > 0
    _replay(monkeypatch, "lif", calls, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("v_reset, decay_input, detach_reset, detach_adaptation, surrogate, gamma, per_neuron", [
    (-0.1, True, False, False, "sigmoid", 0.3, True),
    (None, True, True, False, "atan", 0.5, False),
])
def test_alif_cuda_launcher_equals_numba(monkeypatch, dtype, v_reset, decay_input, detach_reset, detach_adaptation, surrogate, gamma, per_neuron):
    g = torch.Generator().manual_seed(1)
    T, n = 9, 300
    x = torch.randn(T, n, generator=g, dtype=dtype) * 0.9 + 0.5
    v0, a0 = torch.rand(n, generator=g, dtype=dtype) * 0.5, torch.rand(n, generator=g, dtype=dtype) * 0.3
    if per_neuron:
        beta, rho, beta_a = (torch.rand(n, generator=g, dtype=dtype) * 0.4 + 0.5, torch.rand(n, generator=g, dtype=dtype) * 0.2 + 0.75,
                             torch.rand(n, generator=g, dtype=dtype) + 0.2)
    else:
        beta, rho, beta_a = (torch.tensor([v], dtype=dtype) for v in (0.8, 0.9, 0.7))
    inputs = [t.requires_grad_(True) for t in (x, v0, a0, beta, rho, beta_a)]
    p = ALIFParams(v_th=1.0, v_reset=v_reset, adapt_increment=gamma, decay_input=decay_input, detach_reset=detach_reset,
                   detach_adaptation=detach_adaptation, surrogate=surrogate, alpha=1.5)
    calls = _record(monkeypatch, "alif")
    out = alif_multi_step(*inputs, p, backend="numba")
    _grads_of(out, inputs)
    _replay(monkeypatch, "alif", calls, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("options", [dict(beta=0.5, v_th=0.25, levels=4, norm=4.0), dict(beta=0.75, v_th=0.3, levels=2, decay_input=True, detach_reset=True)])
def test_integer_lif_cuda_launcher_equals_numba(monkeypatch, dtype, options):
    torch.manual_seed(2)
    T, n = 9, 300
    x = (torch.randn(T, n, dtype=dtype) * 1.2 + 0.6).requires_grad_(True)
    v0 = (torch.rand(n, dtype=dtype) * 0.5).requires_grad_(True)
    p = IntegerLIFParams(**options)
    calls = _record(monkeypatch, "integer_lif")
    out = integer_lif_multi_step(x, v0, p, backend="numba")
    _grads_of(out, (x, v0))
    assert out[0].sum() > 0
    _replay(monkeypatch, "integer_lif", calls, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("v_reset", [0.0, None])
def test_ultralif_cuda_launcher_equals_numba(monkeypatch, dtype, v_reset):
    torch.manual_seed(3)
    x = (torch.randn(9, 3, 100, dtype=dtype) * 0.8 + 0.6).requires_grad_(True)
    neuron = snn.UltraLIF(tau=2.0, v_reset=v_reset, backend="numba").to(dtype)
    calls = _record(monkeypatch, "ultralif")
    s = neuron(x)
    torch.autograd.grad((s * torch.randn_like(s)).sum(), [x, *neuron.parameters()])
    _replay(monkeypatch, "ultralif", calls, dtype)
