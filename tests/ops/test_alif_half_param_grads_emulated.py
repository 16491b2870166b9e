"""ALIF CUDA backward on float16 / bfloat16 tensors, run on the host (``cuda_emulation.py``): the per-neuron parameter
gradients (beta, rho, beta_a: sums over all T steps) leave the kernel in its float32 arithmetic type, as the Numba
kernels return them, not rounded to the storage type (a float16 sum overflowed to inf past 65504, a bfloat16 one kept
8 bits). The float32 Numba kernels on the upcast inputs are the truth: both compute in float32, so the sums agree to
float32 rounding; the input and state gradients stay in the storage type, rounded once."""

from __future__ import annotations

import pytest
import torch

from neuro import backend as _backend
from neuro.ops.alif import ALIFParams
from neuro.ops.alif import cpu as alif_cpu
from neuro.ops.alif import cuda as alif_cuda

from .cuda_emulation import compiler, emulate, has_half_types

pytestmark = [pytest.mark.skipif(compiler() is None, reason="the host emulation needs a C++ compiler"),
              pytest.mark.skipif(not has_half_types(), reason="the host compiler has no _Float16 for the emulated half types")]


@pytest.fixture(autouse=True)
def _fresh_op_lookup():
    _backend._load.cache_clear()
    yield
    _backend._load.cache_clear()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_alif_half_parameter_gradients_are_float32_sums(monkeypatch, dtype):
    g = torch.Generator().manual_seed(11)
    T, n = 200, 64
    x = (torch.randn(T, n, generator=g) * 0.6 + 0.45).to(dtype)
    v0, a0 = (torch.rand(n, generator=g) * 0.5).to(dtype), (torch.rand(n, generator=g) * 0.3).to(dtype)
    beta, rho, beta_a = torch.rand(n, generator=g) * 0.2 + 0.75, torch.rand(n, generator=g) * 0.1 + 0.89, torch.rand(n, generator=g) + 0.2
    # a loss weighting every spike by up to 3000: each step's gradient fits float16, their sum over 200 steps does not
    grads = ((torch.rand(T, n, generator=g) * 3000.0).to(dtype), torch.randn(n, generator=g).to(dtype), torch.randn(n, generator=g).to(dtype))
    scalars = ALIFParams(v_th=1.0, v_reset=0.0, adapt_increment=0.3, surrogate="sigmoid", alpha=1.5).kernel_args()
    want = alif_cpu.multi_step_backward(*(t.float() for t in grads), x.float(), v0.float(), a0.float(), beta, rho, beta_a, *scalars)
    want = [t.clone() for t in want]
    kernels = emulate(monkeypatch, alif_cuda)
    got = alif_cuda.multi_step_backward(*grads, x, v0, a0, beta, rho, beta_a, *scalars)
    assert kernels and all(k.calls == 1 for k in kernels)  # the forward (recompute) and backward kernels ran
    gx, gv0, ga0, g_beta, g_rho, g_beta_a = got
    assert gx.dtype == gv0.dtype == ga0.dtype == dtype
    assert float(want[3].abs().max()) > 65504  # the case is what it says: float16 cannot hold these sums
    for got_p, want_p in zip((g_beta, g_rho, g_beta_a), want[3:]):
        assert got_p.dtype == torch.float32
        torch.testing.assert_close(got_p, want_p, rtol=1e-5, atol=1e-5 * float(want_p.abs().max()))
    # the storage-type gradients: the float32 truth rounded once (one unit in the last place of dtype)
    ulp = 2.0**-10 if dtype == torch.float16 else 2.0**-7
    for got_t, want_t in zip((gx, gv0, ga0), want[:3]):
        torch.testing.assert_close(got_t.float(), want_t, rtol=ulp, atol=ulp * 1e-3 * float(want_t.abs().max()))
