"""neuro.ops.lif.autograd.lif_multi_step: the unfused path (reset_delay / strict_threshold, autograd through the torch
reference) computes in the fused kernels' arithmetic type: float64 for float64 tensors, float32 for float32 and for
bfloat16 tensors (beta not rounded to bfloat16), results in the input's dtype. With a hard reset ``reset_delay`` gives
the immediate reset's spikes and charges, and away from the threshold ``strict_threshold`` changes nothing, so both
unfused variants must equal the fused Numba path: same dtypes, same forward, same gradients to the input and beta."""

from __future__ import annotations

import pytest
import torch

from neuro.backend import compute_dtype
from neuro.ops.lif import LIFParams
from neuro.ops.lif.autograd import lif_multi_step

DTYPES = [torch.float64, torch.float32, torch.bfloat16]
T, N = 25, 64
# not a bfloat16 number: no charge of a bfloat16 input lands on it, where > and >= would differ
V_TH = 1.0 + 2.0**-10


def _run(dtype, upcast=False, **unfused):
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(T, N, generator=g) * 0.6 + 0.45).to(dtype)
    x = (x.float() if upcast else x).requires_grad_(True)
    # a decay bfloat16 cannot hold (0.99 would be 0.98828125), learned per neuron in the arithmetic type
    beta = torch.linspace(0.9, 0.99, N, dtype=compute_dtype(dtype)).requires_grad_(True)
    p = LIFParams(v_th=V_TH, v_reset=0.0, decay_input=False, surrogate="atan", alpha=2.0, **unfused)
    s, h, v = lif_multi_step(x, None, beta, p, backend="torch" if unfused else "numba")
    w = torch.randn(T, N, generator=g).to(dtype)
    gx, gb = torch.autograd.grad((s * w).sum() + (h * w.flip(0)).sum(), (x, beta))
    return s, h, v, gx, gb


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32", "bf16"])
@pytest.mark.parametrize("unfused", [dict(reset_delay=True), dict(strict_threshold=True)], ids=["reset_delay", "strict"])
def test_unfused_path_computes_like_the_fused_path(dtype, unfused):
    s_f, h_f, v_f, gx_f, gb_f = _run(dtype)
    s_u, h_u, v_u, gx_u, gb_u = _run(dtype, **unfused)
    assert s_f.sum() > 0 and (1 - s_f).sum() > 0
    assert s_u.dtype == h_u.dtype == v_u.dtype == gx_u.dtype == dtype
    assert gb_u.dtype == gb_f.dtype == compute_dtype(dtype)
    assert torch.equal(s_u, s_f)
    torch.testing.assert_close(h_u, h_f, rtol=0, atol=0)
    # reset_delay reports the last membrane before its reset: the last charge
    torch.testing.assert_close(v_u, h_f[-1] if unfused.get("reset_delay") else v_f, rtol=0, atol=0)
    # gradients: the same sums in another order; within a few units of the last place of the arithmetic type
    # (bfloat16's input gradient is rounded to bfloat16 in both paths: one unit of 2**-8)
    eps = torch.finfo(compute_dtype(dtype)).eps
    tol_x = 2.0**-8 if dtype == torch.bfloat16 else 64 * eps
    torch.testing.assert_close(gx_u, gx_f, rtol=tol_x, atol=tol_x)
    if dtype != torch.bfloat16:
        torch.testing.assert_close(gb_u, gb_f, rtol=64 * eps * T, atol=64 * eps * T)
    else:
        # the unfused beta gradient is the float32 run's on the upcast input; the fused backward rounds its charge
        # gradients to bfloat16 before summing them over time, so it is that float32 gradient to bfloat16 precision
        gb_32 = _run(dtype, upcast=True, **unfused)[4]
        torch.testing.assert_close(gb_u, gb_32, rtol=64 * eps * T, atol=64 * eps * T)
        torch.testing.assert_close(gb_f, gb_32, rtol=2.0**-8, atol=2.0**-8 * float(gb_32.abs().max()))


def test_unfused_bfloat16_equals_the_float32_run_rounded():
    """The unfused path on bfloat16 inputs is the float32 run on the same (upcast) inputs, rounded: the old path
    computed in bfloat16 with beta rounded to bfloat16, and its charges were off by up to 0.02."""
    g = torch.Generator().manual_seed(4)
    x = (torch.randn(T, N, generator=g) * 0.6 + 0.45).to(torch.bfloat16)
    p = LIFParams(v_th=1.0, v_reset=0.0, decay_input=False, reset_delay=True)
    s, h, v = lif_multi_step(x, None, 0.99, p)
    s32, h32, v32 = lif_multi_step(x.float(), None, 0.99, p)
    assert s32.sum() > 0
    assert torch.equal(s, s32.to(torch.bfloat16))
    assert torch.equal(h, h32.to(torch.bfloat16)) and torch.equal(v, v32.to(torch.bfloat16))
