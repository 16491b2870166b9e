"""Precision of the training-layer CUDA kernels, run on the host (``cuda_emulation.py``).

- float64 tensors get float64 thresholds and surrogate gradients (a charge landing exactly on ``v_th`` fires, as
  in the Numba kernels; the gradients agree with the Numba kernels' float64 to rounding, not to float32 precision);
- float16 / bfloat16 tensors: the backward pass uses the spikes the forward pass made (it does not recompute them
  from charges rounded to the storage type), and the decay, adaptation and temperature parameters reach the kernels
  in float32, not rounded to the storage type (0.99 stays 0.99, not bfloat16's 0.98828125).
"""

from __future__ import annotations

import pytest
import torch

from neuro import backend as _backend
from neuro.ops.alif import ALIFParams
from neuro.ops.alif import cpu as alif_cpu
from neuro.ops.alif import cuda as alif_cuda
from neuro.ops.lif import LIFParams
from neuro.ops.lif import cpu as lif_cpu
from neuro.ops.lif import cuda as lif_cuda
from neuro.ops.lif import reference as lif_ref
from neuro.ops.lif.autograd import lif_multi_step
from neuro.ops.ultralif import cuda as ultralif_cuda

from .cuda_emulation import compiler, emulate, has_half_types

pytestmark = pytest.mark.skipif(compiler() is None, reason="the host emulation needs a C++ compiler")
needs_half = pytest.mark.skipif(not has_half_types(), reason="the host compiler has no _Float16 for the emulated half types")

F64 = torch.float64
HALF = [pytest.param(torch.float16, 2.0**-11, id="f16"), pytest.param(torch.bfloat16, 2.0**-8, id="bf16")]


@pytest.fixture(autouse=True)
def _fresh_op_lookup():
    _backend._load.cache_clear()
    yield
    _backend._load.cache_clear()


# ---------------------------------------------------------------- float64


def test_lif_float64_charge_exactly_on_threshold_fires(monkeypatch):
    """h = 0.3 = v_th in float64: every neuron-step fires (a float32 v_th, 0.30000001, made none fire)."""
    x = torch.full((4, 8), 0.3, dtype=F64)
    args = (torch.zeros(8, dtype=F64), torch.tensor([0.0], dtype=F64), 0.3, 0.0, 0.0, False, False, False, 0, 2.0)
    s_numba, h_numba, v_numba = lif_cpu.multi_step_forward(x, *args)
    kernels = emulate(monkeypatch, lif_cuda)
    s, h, v = lif_cuda.multi_step_forward(x, *args)
    assert kernels and kernels[0].calls == 1
    assert int(s_numba.sum()) == 32
    assert torch.equal(s, s_numba) and torch.equal(h, h_numba) and torch.equal(v, v_numba)


@pytest.mark.parametrize("surrogate", [0, 1], ids=["sigmoid", "atan"])
def test_lif_float64_surrogate_is_float64(monkeypatch, surrogate):
    """The backward kernel's surrogate in float64: the gradients equal the Numba kernels' to float64 rounding."""
    g = torch.Generator().manual_seed(5)
    T, n = 12, 200
    x = torch.randn(T, n, generator=g, dtype=F64) * 0.8 + 0.6
    v0 = torch.rand(n, generator=g, dtype=F64) * 0.5
    beta = torch.tensor([0.83], dtype=F64)
    grads = (torch.randn(T, n, generator=g, dtype=F64), torch.randn(T, n, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64))
    scalars = (1.0, -0.1, 0.05, False, True, False, surrogate, 3.0)
    want = [t.clone() for t in lif_cpu.multi_step_backward(*grads, x, v0, beta, *scalars)]
    emulate(monkeypatch, lif_cuda)
    got = lif_cuda.multi_step_backward(*grads, x, v0, beta, *scalars)
    for gt, wt in zip(got, want):
        torch.testing.assert_close(gt, wt, rtol=1e-12, atol=1e-12)


def test_alif_float64_surrogate_is_float64(monkeypatch):
    g = torch.Generator().manual_seed(6)
    T, n = 12, 200
    x = torch.randn(T, n, generator=g, dtype=F64) * 0.9 + 0.5
    v0, a0 = torch.rand(n, generator=g, dtype=F64) * 0.5, torch.rand(n, generator=g, dtype=F64) * 0.3
    beta, rho, beta_a = (torch.tensor([v], dtype=F64) for v in (0.8, 0.9, 0.7))
    grads = (torch.randn(T, n, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64), torch.randn(n, generator=g, dtype=F64))
    scalars = ALIFParams(v_th=1.0, v_reset=-0.1, adapt_increment=0.3, surrogate="sigmoid", alpha=1.5).kernel_args()
    want = [t.clone() for t in alif_cpu.multi_step_backward(*grads, x, v0, a0, beta, rho, beta_a, *scalars)]
    emulate(monkeypatch, alif_cuda)
    got = alif_cuda.multi_step_backward(*grads, x, v0, a0, beta, rho, beta_a, *scalars)
    for gt, wt in zip(got, want):
        torch.testing.assert_close(gt, wt, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- float16 / bfloat16


@needs_half
@pytest.mark.parametrize("dtype, ulp", HALF)
def test_lif_half_backward_uses_the_forward_spikes(monkeypatch, dtype, ulp):
    """Neuron 0: h_0 = 1 - ulp (exact in ``dtype``), h_1 = 0.5 h_0 + 0.5 = 1 - ulp/2 < v_th = 1: no spike in the
    forward pass. Rounded to ``dtype`` (a tie, to even) h_1 is 1.0: a backward pass that recomputed the spike from
    the rounded charge saw one there and cut the reset path (detach_reset: dv/dh = 1 - s). The other neurons are
    random; the kernels compute in float32, so the float32 reference on the same inputs is the truth."""
    g = torch.Generator().manual_seed(7)
    T, n = 3, 64
    x = (torch.rand(T, n, generator=g) * 0.7 + 0.4).to(dtype)
    x[:, 0] = torch.tensor([1.0 - ulp, 0.5, 0.25]).to(dtype)
    v0 = torch.zeros(n, dtype=dtype)
    beta = torch.tensor([0.5])
    scalars = (1.0, 0.0, 0.0, False, False, True, 0, 4.0)  # v_th, v_reset, v_leak, soft, decay_input, detach_reset, sigmoid, alpha
    grads = (torch.ones(T, n, dtype=dtype), torch.zeros(T, n, dtype=dtype), torch.ones(n, dtype=dtype))

    s_ref, h_ref, _ = lif_ref.multi_step_forward(x.float(), v0.float(), beta, *scalars)
    gh_ref, gv_ref = lif_ref.multi_step_backward(*(t.float() for t in grads), x.float(), v0.float(), beta, *scalars)
    assert h_ref[1, 0] == 1.0 - ulp / 2 and s_ref[1, 0] == 0 and h_ref[1, 0].to(dtype) == 1.0  # the case is what it says

    kernels = emulate(monkeypatch, lif_cuda)
    s, h, _ = lif_cuda.multi_step_forward(x, v0, beta, *scalars)
    gh, gv = lif_cuda.multi_step_backward(*grads, x, v0, beta, *scalars)
    assert kernels and all(k.calls > 0 for k in kernels)
    assert torch.equal(s.float(), s_ref)
    assert torch.equal(h, h_ref.to(dtype))
    tol = dict(rtol=1e-2, atol=1e-3) if dtype == torch.float16 else dict(rtol=2e-2, atol=1e-2)
    torch.testing.assert_close(gh.float(), gh_ref, **tol)
    torch.testing.assert_close(gv.float(), gv_ref, **tol)


@needs_half
@pytest.mark.parametrize("dtype, ulp", HALF)
def test_lif_half_decay_stays_float32(monkeypatch, dtype, ulp):
    """beta = 0.99 (float32) on float16 / bfloat16 tensors: the charges are the float32 reference's, rounded once."""
    g = torch.Generator().manual_seed(8)
    T, n = 8, 256
    x = (torch.randn(T, n, generator=g) * 0.3 + 0.2).to(dtype)
    v0 = (torch.rand(n, generator=g) * 0.9).to(dtype)
    beta = torch.tensor([0.99])
    scalars = LIFParams(v_th=1.0, v_reset=0.0, decay_input=False).kernel_args()
    s_ref, h_ref, v_ref = lif_ref.multi_step_forward(x.float(), v0.float(), beta, *scalars)
    emulate(monkeypatch, lif_cuda)
    s, h, v = lif_cuda.multi_step_forward(x, v0, beta, *scalars)
    assert s_ref.sum() > 0
    assert torch.equal(s.float(), s_ref) and torch.equal(h, h_ref.to(dtype)) and torch.equal(v, v_ref.to(dtype))


def _launched_args(monkeypatch, module):
    """Emulate ``module``'s kernels and record the arguments of every launch."""
    emulate(monkeypatch, module)
    seen = []
    inner = module._launch

    def spy(kernel, n, device, args):
        seen.append(args)
        inner(kernel, n, device, args)

    monkeypatch.setattr(module, "_launch", spy)
    return seen


@needs_half
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_half_kernels_get_float32_parameters(monkeypatch, dtype):
    """What the launchers hand to the kernels: beta (LIF), beta / c / rho / beta_a (ALIF), eps (UltraLIF) in float32,
    with the caller's values, whatever the storage type."""
    T, n = 4, 16
    x = (torch.rand(T, n) + 0.3).to(dtype)
    v0 = torch.zeros(n, dtype=dtype)

    seen = _launched_args(monkeypatch, lif_cuda)
    lif_cuda.multi_step_forward(x, v0, torch.tensor([0.99]), *LIFParams(decay_input=True).kernel_args())
    beta = seen[0][2]
    assert beta.dtype == torch.float32 and beta.item() == torch.tensor(0.99).item()

    seen = _launched_args(monkeypatch, alif_cuda)
    rho = torch.full((n,), 0.99)
    alif_cuda.multi_step_forward(x, v0, v0, torch.tensor([0.95]), rho, torch.tensor([1.8]), *ALIFParams().kernel_args())
    b, c, r, ba = seen[0][3:7]
    assert all(p.dtype == torch.float32 for p in (b, c, r, ba))
    assert torch.equal(r, rho) and torch.equal(b, torch.full((n,), 0.95)) and torch.equal(ba, torch.full((n,), 1.8))

    seen = _launched_args(monkeypatch, ultralif_cuda)
    ultralif_cuda.multi_step_forward(x, v0, torch.tensor([0.99]), 0.5, 1.0, 1.0, 0.0, False)
    eps = seen[0][2]
    assert eps.dtype == torch.float32 and torch.equal(eps, torch.full((n,), 0.99))


@needs_half
def test_alif_bfloat16_spikes_are_the_float32_kernels_spikes(monkeypatch):
    """ALIF on bfloat16 tensors computes in float32 with float32 parameters: its spikes are the float32 Numba kernel's
    on the same (upcast) inputs. Parameters rounded to bfloat16 (rho 0.995 -> 0.99609375) changed them."""
    g = torch.Generator().manual_seed(9)
    T, n = 30, 300
    x = (torch.randn(T, n, generator=g) * 0.6 + 0.45).to(torch.bfloat16)
    v0 = torch.zeros(n, dtype=torch.bfloat16)
    beta, rho, beta_a = torch.tensor([0.97]), torch.tensor([0.995]), torch.tensor([1.3])
    scalars = ALIFParams(v_th=1.0, adapt_increment=0.4).kernel_args()
    s_ref, _, _ = alif_cpu.multi_step_forward(x.float(), v0.float(), v0.float(), beta, rho, beta_a, *scalars)
    emulate(monkeypatch, alif_cuda)
    s, _, _ = alif_cuda.multi_step_forward(x, v0, v0, beta, rho, beta_a, *scalars)
    assert s_ref.sum() > 0
    assert torch.equal(s.float(), s_ref)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_lif_multi_step_keeps_a_float_decay_in_float32(monkeypatch, dtype):
    """``lif_multi_step(x_half, v0, 0.99, ...)``: the op receives beta = 0.99 in float32 (not rounded to ``dtype``)."""
    seen = {}
    real = lif_ref.multi_step_forward

    def spy(x_seq, v0, beta, *args, **kwargs):
        seen["beta"] = beta
        return real(x_seq, v0, beta, *args, **kwargs)

    monkeypatch.setattr(lif_ref, "multi_step_forward", spy)
    x = (torch.rand(3, 5) + 0.5).to(dtype)
    s, h, v = lif_multi_step(x, None, 0.99, LIFParams(), backend="torch")
    assert seen["beta"].dtype == torch.float32 and seen["beta"].item() == torch.tensor(0.99).item()
    assert s.dtype == h.dtype == v.dtype == dtype
