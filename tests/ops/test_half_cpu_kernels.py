"""float16 / bfloat16 tensors on the CPU kernels of LIF and ALIF: computed in float32 (decays included), returned in the
tensors' dtypes.

NumPy has no bfloat16 and Numba no float16 arithmetic, so the Numba launchers compute half tensors in float32. The
test inputs are exact in both types, so a half run must equal the float32 run on the same values with only its
*results* rounded; a decay rounded to the half type (0.99 -> 0.98828125 in bfloat16) would move the potentials by many
roundings.
"""

from __future__ import annotations

import pytest
import torch

from neuro.ops.alif import ALIFParams
from neuro.ops.alif import cpu as alif_cpu
from neuro.ops.alif.autograd import alif_multi_step
from neuro.ops.lif import LIFParams
from neuro.ops.lif import cpu as lif_cpu
from neuro.ops.lif.autograd import lif_multi_step

HALF = (torch.bfloat16, torch.float16)


def _count_calls(monkeypatch, module):
    """Counts the calls into ``module``'s compiled forward and backward kernels (proof that the Numba path ran)."""
    calls = {"forward": 0, "backward": 0}
    for name in ("forward", "backward"):
        factory = getattr(module, f"_{name}_kernel")

        def counting(*key, _factory=factory, _name=name):
            kernel = _factory(*key)

            def run(*args):
                calls[_name] += 1
                return kernel(*args)

            return run

        monkeypatch.setattr(module, f"_{name}_kernel", counting)
    return calls


def _exact(shape, dtype, scale, seed):
    """Random values exactly representable in ``dtype`` (and in float32)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) * scale).to(dtype).float()


@pytest.mark.parametrize("dtype", HALF)
def test_lif_numba_op_takes_half_tensors(monkeypatch, dtype):
    calls = _count_calls(monkeypatch, lif_cpu)
    p = LIFParams(v_th=1.0, v_reset=0.0, decay_input=False)
    x32 = _exact((30, 4, 40), dtype, 0.3, 0)
    v032 = _exact((4, 40), dtype, 0.8, 1)
    gs32 = _exact((30, 4, 40), dtype, 1.0, 2)
    outs = {}
    for key, dt in (("f32", torch.float32), ("half", dtype)):
        x = x32.to(dt).clone().requires_grad_(True)
        s, h, v = lif_multi_step(x, v032.to(dt), 0.99, p, backend="numba")
        (s * gs32.to(dt)).sum().backward()
        outs[key] = (s, h, v, x.grad)
    assert calls == {"forward": 2, "backward": 2}
    s, h, v, gx = outs["half"]
    assert all(t.dtype == dtype for t in (s, h, v, gx))
    assert s.sum() > 0  # some neurons fired
    for got, want in zip(outs["half"], outs["f32"]):
        torch.testing.assert_close(got, want.to(dtype), atol=0, rtol=0)


@pytest.mark.parametrize("dtype", HALF)
def test_lif_numba_half_decay_is_not_rounded(dtype):
    """v0 = 1, no input: h_t = 0.99**(t+1) from the float32 beta, rounded once per step result, not 0.98828125**t."""
    p = LIFParams(v_th=10.0, v_reset=0.0)
    _, h, v = lif_multi_step(torch.zeros(40, 3, dtype=dtype), torch.ones(3, dtype=dtype), 0.99, p, backend="numba")
    _, h32, _ = lif_multi_step(torch.zeros(40, 3), torch.ones(3), 0.99, p, backend="numba")
    torch.testing.assert_close(h, h32.to(dtype), atol=0, rtol=0)
    eps = torch.finfo(dtype).eps
    assert abs(v[0].double().item() - 0.99 ** 40) <= 0.99 ** 40 * eps
    rounded = torch.tensor(0.99, dtype=dtype).double().item() ** 40
    assert abs(v[0].double().item() - rounded) > 4 * eps * 0.99 ** 40


def test_lif_numba_half_direct_call_returns_input_dtypes():
    """The launcher itself (not only the custom op) returns the tensors' dtypes."""
    x = torch.full((5, 8), 0.5, dtype=torch.bfloat16)
    v0 = torch.zeros(8, dtype=torch.bfloat16)
    beta = torch.tensor([0.9])
    args = LIFParams(v_th=1.0, v_reset=0.0).kernel_args()
    s, h, v = lif_cpu.multi_step_forward(x, v0, beta, *args)
    assert (s.dtype, h.dtype, v.dtype) == (torch.bfloat16,) * 3
    s32, h32, v32 = lif_cpu.multi_step_forward(x.float(), v0.float(), beta, *args)
    torch.testing.assert_close(h, h32.to(torch.bfloat16), atol=0, rtol=0)
    gx, gv0 = lif_cpu.multi_step_backward(torch.ones_like(x), torch.zeros_like(x), torch.zeros_like(v0), x, v0, beta, *args)
    assert gx.dtype == gv0.dtype == torch.bfloat16
    gx32, gv032 = lif_cpu.multi_step_backward(torch.ones(5, 8), torch.zeros(5, 8), torch.zeros(8), x.float(), v0.float(), beta, *args)
    torch.testing.assert_close(gx, gx32.to(torch.bfloat16), atol=0, rtol=0)
    torch.testing.assert_close(gv0, gv032.to(torch.bfloat16), atol=0, rtol=0)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("dtype", HALF)
def test_alif_op_half_equals_float32_rounded(monkeypatch, backend, dtype):
    calls = _count_calls(monkeypatch, alif_cpu)
    p = ALIFParams(v_th=1.0, v_reset=None, adapt_increment=1.0)
    n = 300
    x32 = _exact((25, n), dtype, 0.6, 3)
    v032, a032 = _exact((n,), dtype, 0.5, 4), _exact((n,), dtype, 0.3, 5)
    gs32, gv32, ga32 = _exact((25, n), dtype, 1.0, 6), _exact((n,), dtype, 1.0, 7), _exact((n,), dtype, 1.0, 8)
    outs = {}
    for key, dt in (("f32", torch.float32), ("half", dtype)):
        x, v0, a0 = (t.to(dt).clone().requires_grad_(True) for t in (x32, v032, a032))
        beta, rho, beta_a = (torch.tensor([val], requires_grad=True) for val in (0.99, 0.995, 0.3))
        s, v, a = alif_multi_step(x, v0, a0, beta, rho, beta_a, p, backend=backend)
        ((s * gs32.to(dt)).sum() + (v * gv32.to(dt)).sum() + (a * ga32.to(dt)).sum()).backward()
        outs[key] = [s, v, a, x.grad, v0.grad, a0.grad, beta.grad, rho.grad, beta_a.grad]
    if backend == "numba":
        assert calls == {"forward": 2, "backward": 2}
    half, f32 = outs["half"], outs["f32"]
    assert half[0].sum() > 0 and half[2].abs().sum() > 0  # spikes and adaptation
    assert all(t.dtype == dtype for t in half[:6])
    for got, want in zip(half[:6], f32[:6]):
        torch.testing.assert_close(got, want.to(dtype), atol=0, rtol=0)
    # the parameters' gradients stay in their float32, summed in float32: the float32 run's, not rounded to the half type
    assert all(t.dtype == torch.float32 for t in half[6:])
    for got, want in zip(half[6:], f32[6:]):
        torch.testing.assert_close(got, want, atol=0, rtol=0)


@pytest.mark.parametrize("dtype", HALF)
def test_alif_op_half_decays_with_float32_coefficients(dtype):
    """No input, v0 = a0 = 1: v_t = 0.99**t and a_t = 0.995**t with the float32 decays (bfloat16 0.99 is 0.98828125)."""
    p = ALIFParams(v_th=10.0, v_reset=None)
    one = torch.ones(4, dtype=dtype)
    _, v, a = alif_multi_step(torch.zeros(40, 4, dtype=dtype), one, one, 0.99, 0.995, 1.0, p, backend="numba")
    eps = torch.finfo(dtype).eps
    for got, decay in ((v[0], 0.99), (a[0], 0.995)):
        want = torch.tensor(decay, dtype=torch.float32).double().item() ** 40
        assert abs(got.double().item() - want) <= want * eps
        rounded = torch.tensor(decay, dtype=dtype).double().item() ** 40
        assert abs(got.double().item() - rounded) > 4 * eps * want
