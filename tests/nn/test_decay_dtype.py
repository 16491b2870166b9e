"""Decay constants stay in the kernels' arithmetic type: float32 for float16/bfloat16 inputs, float64 for float64 ones.

0.99 rounded to bfloat16 is 0.98828125: a layer that cast its decay to the input's dtype would decay 2 % faster per
100 steps than its float32 twin. A half-precision run must equal the float32 run up to the rounding of its *results*.
"""

from __future__ import annotations

import pytest
import torch

from neuro.nn import IF, LIF, PDSGLIF, LeakyReadout, ParametricLIF, UltraLIF

HALF = (torch.bfloat16, torch.float16)


def _decaying(dtype):
    """Zero input from v0 = 1 (no spike): the potential is beta**t."""
    return torch.zeros(40, 2, 3, dtype=dtype), torch.ones(2, 3, dtype=dtype)


@pytest.mark.parametrize("dtype", HALF)
def test_lif_half_input_decays_with_the_float32_beta(dtype):
    lif = LIF(beta=0.99, v_threshold=10.0, store_v=True)
    x, v0 = _decaying(torch.float32)
    lif(x, v0)
    want = lif.v_seq.to(dtype)
    s = lif(x.to(dtype), v0.to(dtype))
    assert s.dtype == dtype and lif.v_seq.dtype == dtype
    torch.testing.assert_close(lif.v_seq, want, atol=0, rtol=0)
    # the defect this guards against: with beta rounded to the input's dtype the potential after 40 steps is
    # 0.98828125**40 = 0.625 (bfloat16) or 0.990234375**40 = 0.675 (float16) instead of 0.99**40 = 0.669, several
    # roundings of the result away
    rounded_beta = torch.tensor(0.99, dtype=dtype).double().item()
    assert abs(lif.v_seq[-1, 0, 0].double().item() - rounded_beta ** 40) > 4 * torch.finfo(dtype).eps * 0.99 ** 40
    assert abs(lif.v_seq[-1, 0, 0].double().item() - 0.99 ** 40) <= 0.99 ** 40 * torch.finfo(dtype).eps


@pytest.mark.parametrize("dtype", HALF)
def test_lif_half_spikes_and_gradients_follow_float32(dtype):
    torch.manual_seed(0)
    x = (torch.rand(30, 4, 16) * 0.3).to(dtype).float()  # values exact in both types
    lif = LIF(beta=0.99, decay_input=False, v_threshold=1.0)
    xf, xh = x.clone().requires_grad_(True), x.to(dtype).requires_grad_(True)
    sf, sh = lif(xf), lif(xh)
    assert sh.dtype == dtype
    torch.testing.assert_close(sh, sf.to(dtype), atol=0, rtol=0)
    sf.sum().backward()
    sh.sum().backward()
    torch.testing.assert_close(xh.grad.float(), xf.grad, atol=0, rtol=torch.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", HALF)
def test_lif_step_and_parametric_lif_keep_float32_decay(dtype):
    lif = LIF(beta=0.99, v_threshold=10.0)
    v = torch.ones(2, 3, dtype=dtype)
    x = torch.zeros(2, 3, dtype=dtype)
    s, v1 = lif.step(x, v)
    assert s.dtype == dtype
    assert v1.dtype == torch.float32 and torch.all(v1 == torch.tensor(0.99, dtype=torch.float32))

    plif = ParametricLIF(tau=100.0, per_channel=3, v_threshold=10.0)
    x, v0 = _decaying(torch.float32)
    ref = plif(x, v0)
    out = plif(x.to(dtype), v0.to(dtype))
    torch.testing.assert_close(out, ref.to(dtype), atol=0, rtol=0)
    assert plif.decay(x.to(dtype)).dtype == torch.float32


@pytest.mark.parametrize("dtype", HALF)
def test_readout_pdsg_and_ultralif_half_inputs_equal_float32_rounded(dtype):
    torch.manual_seed(1)
    x = (torch.rand(25, 2, 8) * 0.4).to(dtype).float()
    ro = LeakyReadout(beta=0.99, reduce="none")
    out = ro(x.to(dtype))
    assert out.dtype == dtype
    torch.testing.assert_close(out, ro(x).to(dtype), atol=0, rtol=0)

    pd = PDSGLIF(beta=0.99, tau=None, decay_input=False, store_v=True)
    sh = pd(x.to(dtype))
    vh = pd.v_seq
    sf = pd(x)
    torch.testing.assert_close(sh, sf.to(dtype), atol=0, rtol=0)
    torch.testing.assert_close(vh, pd.v_seq.to(dtype), atol=0, rtol=0)

    ul = UltraLIF(tau=None, beta=0.9, eps=0.3, learn_eps=False)  # 0.3 in bfloat16 is 0.30078125
    torch.testing.assert_close(ul(x.to(dtype)), ul(x).to(dtype), atol=0, rtol=0)
    ul.store_v = True  # the torch loop over step()
    torch.testing.assert_close(ul(x.to(dtype)), ul(x).to(dtype), atol=0, rtol=0)


def test_float64_stays_float64():
    """LIF(tau=3.7) on float64 input uses beta = 1 - 1/3.7 in float64 (a float32 beta is off by 1.7e-8)."""
    tau = 3.7
    beta = 1.0 - 1.0 / tau
    x = torch.full((20, 1, 2), 0.9, dtype=torch.float64)
    lif = LIF(tau=tau, v_threshold=100.0, store_v=True)
    lif(x)
    v, want = 0.0, []
    for _ in range(20):
        v = beta * v + (1.0 - beta) * 0.9
        want.append(v)
    assert lif.v_seq.dtype == torch.float64
    got = lif.v_seq[:, 0, 0]
    assert torch.max(torch.abs(got - torch.tensor(want, dtype=torch.float64))).item() < 1e-15
    assert lif.beta().dtype == torch.float64 and lif.beta().item() == beta
    assert lif.decay(x).dtype == torch.float64 and lif.decay(x).item() == beta
    # a module cast does not round the fixed decay
    lif.half()
    assert lif.decay(x).item() == beta
    assert LeakyReadout(tau=3.7).beta().item() == beta
    assert IF().decay(x.half()).dtype == torch.float32
