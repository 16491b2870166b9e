"""neuro.nn.ALIF keeps beta, rho and beta_a in the kernels' arithmetic type: float32 for float16/bfloat16 inputs,
float64 for float64 ones (as tests/nn/test_decay_dtype.py checks for LIF and the other layers)."""

from __future__ import annotations

import math

import pytest
import torch

from neuro.nn import ALIF
from neuro.nn.alif import ALIFState

HALF = (torch.bfloat16, torch.float16)


@pytest.mark.parametrize("dtype", HALF)
def test_alif_half_input_decays_with_float32_coefficients(dtype):
    """tau_mem = -1/ln(0.99): zero input from v0 = 1; the stored potentials are 0.99**t, rounded once."""
    alif = ALIF(tau_mem=-1.0 / math.log(0.99), tau_adapt=-1.0 / math.log(0.995), v_threshold=10.0, store_state=True)
    x = torch.zeros(40, 2, 3)
    state = ALIFState(torch.ones(2, 3), torch.ones(2, 3))
    alif(x, state)
    want_v, want_a = alif.v_seq.to(dtype), alif.a_seq.to(dtype)
    s = alif(x.to(dtype), ALIFState(state.v.to(dtype), state.a.to(dtype)))
    assert s.dtype == alif.v_seq.dtype == alif.a_seq.dtype == dtype
    torch.testing.assert_close(alif.v_seq, want_v, atol=0, rtol=0)
    torch.testing.assert_close(alif.a_seq, want_a, atol=0, rtol=0)
    eps = torch.finfo(dtype).eps
    assert abs(alif.v_seq[-1, 0, 0].double().item() - 0.99 ** 40) <= 0.99 ** 40 * eps
    rounded = torch.tensor(0.99, dtype=dtype).double().item() ** 40  # the defect: beta cast to the input's dtype
    assert abs(alif.v_seq[-1, 0, 0].double().item() - rounded) > 4 * eps * 0.99 ** 40
    assert all(c.dtype == torch.float32 for c in alif.coefficients(x.to(dtype)))


@pytest.mark.parametrize("learn", [False, True])
@pytest.mark.parametrize("dtype", HALF)
def test_alif_half_fused_spikes_and_gradients_follow_float32(dtype, learn):
    torch.manual_seed(0)
    x = (torch.rand(30, 4, 16) * 0.6).to(dtype).float()  # values exact in both types
    alif = ALIF(tau_mem=100.0, tau_adapt=200.0, beta_a=0.5, learn_tau_mem=learn, learn_tau_adapt=learn, learn_beta_a=learn)
    xf, xh = x.clone().requires_grad_(True), x.to(dtype).requires_grad_(True)
    sf = alif(xf)
    sf.sum().backward()
    grads_f = [p.grad.clone() for p in alif.parameters()]
    alif.zero_grad()
    sh = alif(xh)
    sh.sum().backward()
    assert sh.dtype == dtype and sf.sum() > 0
    torch.testing.assert_close(sh, sf.to(dtype), atol=0, rtol=0)
    torch.testing.assert_close(xh.grad, xf.grad.to(dtype), atol=0, rtol=0)
    for p, gf in zip(alif.parameters(), grads_f):
        torch.testing.assert_close(p.grad, gf, atol=0, rtol=0)
    assert len(grads_f) == (3 if learn else 0)


@pytest.mark.parametrize("dtype", HALF)
def test_alif_half_step_loop_equals_fused(dtype):
    torch.manual_seed(2)
    x = (torch.rand(20, 3, 8) * 0.7).to(dtype)
    fused = ALIF(tau_mem=50.0, tau_adapt=100.0, beta_a=0.4)(x)
    loop = ALIF(tau_mem=50.0, tau_adapt=100.0, beta_a=0.4, store_state=True)(x)
    assert fused.dtype == loop.dtype == dtype and fused.sum() > 0
    torch.testing.assert_close(loop, fused, atol=0, rtol=0)


def test_alif_float64_stays_float64():
    """tau_mem = 3.7: beta = exp(-1/3.7) in float64, the potentials equal an exact loop."""
    beta = math.exp(-1.0 / 3.7)
    x = torch.full((20, 1, 2), 0.3, dtype=torch.float64)
    alif = ALIF(tau_mem=3.7, beta_a=0.0, v_threshold=100.0, store_state=True)
    alif(x)
    v, want = 0.0, []
    for _ in range(20):
        v = beta * v + 0.3
        want.append(v)
    assert alif.v_seq.dtype == torch.float64
    assert torch.max(torch.abs(alif.v_seq[:, 0, 0] - torch.tensor(want, dtype=torch.float64))).item() < 1e-14
    assert all(c.dtype == torch.float64 for c in alif.coefficients(x))
    assert alif.coefficients(x)[0].item() == beta
