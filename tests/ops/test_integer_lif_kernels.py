"""Each integer LIF kernel backend equals the torch reference (counts, state, gradients of the input and the initial
state) over the module's options; the kernel really ran; the op is a proper torch custom op; IntegerLIF / IELIF give
the same values and gradients through it as through their torch loop."""

from __future__ import annotations

import pytest
import torch

from neuro import nn as snn
from neuro.ops.integer_lif import IntegerLIFParams, cpu
from neuro.ops.integer_lif import reference as ref
from neuro.ops.integer_lif.autograd import _integer_lif_backward_op, _integer_lif_op, integer_lif_multi_step

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}


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


def _inputs(dtype, T=11, n=1100, seed=1):
    """Input and initial state (requiring grad); n > two blocks of neurons, the last one partial."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, n, generator=g, dtype=dtype) * 1.2 + 0.6
    v0 = torch.rand(n, generator=g, dtype=dtype) * 0.5
    return [t.requires_grad_(True) for t in (x, v0)]


def _run(backend, inputs, p, grads):
    x, v0 = inputs
    if backend == "autograd":
        y, v_seq = ref.multi_step_autograd(x, v0, *p.kernel_args())
        v = v_seq[-1]
    else:
        y, v = integer_lif_multi_step(x, v0, p, backend=backend)
    gy, gv = grads
    loss = (y * gy).sum() + (v * gv).sum()
    return (y, v, *torch.autograd.grad(loss, inputs))


# (beta, decay_input, v_th, levels, norm, detach_reset): the IE-LIF form (theta = 1/D, n = D), I-LIF with a decayed input
# and a detached reset, a stateless neuron (beta = 0) with a fractional norm. Every option set shares the same two
# compiled kernels (the switches are runtime arguments), so adding one costs no compile time.
OPTIONS = [
    (0.5, False, 0.25, 4, 4.0, False),
    (0.75, True, 0.3, 2, 1.0, True),
    (0.0, False, 0.5, 7, 3.5, False),
    (0.9, False, 0.7, 3, 1.0, True),
]
NAMES = ("y", "v_last", "grad_x", "grad_v0")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("beta, decay_input, v_th, levels, norm, detach_reset", OPTIONS)
def test_numba_kernel_equals_reference(monkeypatch, dtype, beta, decay_input, v_th, levels, norm, detach_reset):
    p = IntegerLIFParams(beta=beta, v_th=v_th, levels=levels, norm=norm, decay_input=decay_input, detach_reset=detach_reset)
    inputs = _inputs(dtype)
    g = torch.Generator().manual_seed(5)
    T, n = inputs[0].shape
    grads = (torch.randn(T, n, generator=g, dtype=dtype), torch.randn(n, generator=g, dtype=dtype))
    calls = _count_calls(monkeypatch)
    out = {b: _run(b, inputs, p, grads) for b in ("autograd", "torch", "numba")}
    assert calls == {"forward": 1, "backward": 1}
    y_ref = out["autograd"][0]
    counts = y_ref * norm
    assert counts.min() == 0 and counts.max() == levels and ((counts > 0) & (counts < levels)).any()
    for backend in ("torch", "numba"):
        torch.testing.assert_close(out[backend][0], y_ref, rtol=0, atol=0)
        for name, a, b in zip(NAMES[1:], out[backend][1:], out["autograd"][1:]):
            assert b.abs().sum() > 0 or (name == "grad_v0" and beta == 0), name
            torch.testing.assert_close(a, b, **TOL[dtype], msg=lambda m, name=name, backend=backend: f"{backend} {name}: {m}")


def test_reference_equals_the_step_loop_bit_for_bit():
    """``multi_step_autograd`` is IntegerLIF.step's arithmetic: the same counts and potentials, to the bit."""
    for dtype in (torch.float64, torch.float32):
        torch.manual_seed(2)
        for neuron in (snn.IntegerLIF(levels=4, tau=2.0, v_threshold=0.5, store_v=True),
                       snn.IELIF(levels=4, norm=2.0, tau=3.0, decay_input=True, store_v=True)):
            x = torch.randn(20, 3, 7, dtype=dtype) * 1.5 + 0.5
            y = neuron(x)
            flat = x.reshape(20, -1)
            y2, v2 = ref.multi_step_autograd(flat, torch.zeros_like(flat[0]), *neuron.params.kernel_args())
            for a, b in ((y2, y), (v2, neuron.v_seq)):
                torch.testing.assert_close(a.reshape(b.shape), b, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("make", [lambda **kw: snn.IntegerLIF(levels=3, tau=2.0, v_threshold=0.6, **kw),
                                  lambda **kw: snn.IELIF(levels=4, tau=4.0, detach_reset=True, **kw)], ids=["ilif", "ielif"])
def test_module_fused_equals_torch_loop(dtype, make):
    """The fused forward (no recorded potentials) equals the torch loop over ``step``: outputs to the bit, gradients of
    the input and of a given initial potential."""
    torch.manual_seed(3)
    x = (torch.randn(30, 4, 6, dtype=dtype) + 0.5).requires_grad_(True)
    v0 = (torch.rand(4, 6, dtype=dtype) * 0.3).requires_grad_(True)
    w = torch.randn(6, dtype=dtype)
    out = {}
    for store_v in (True, False):
        neuron = make(store_v=store_v)
        outs = []
        for v in (None, v0):
            y = neuron(x, v)
            outs.append((y, *torch.autograd.grad((y * w).sum(), (x, v0) if v is not None else (x,))))
        out[store_v] = outs
    for fused, loop in zip(out[False], out[True]):
        torch.testing.assert_close(fused[0], loop[0], rtol=0, atol=0)
        for a, b in zip(fused[1:], loop[1:]):
            assert b.abs().sum() > 0
            torch.testing.assert_close(a, b, **TOL[dtype])


def test_broadcast_output_gradient_is_read_as_a_scalar(monkeypatch):
    seen = []
    real = cpu._backward_kernel()

    def spy(gy, gs_scalar, *args):
        seen.append((gs_scalar, gy.shape == (1, 1)))
        return real(gy, gs_scalar, *args)

    monkeypatch.setattr(cpu, "_backward_kernel", lambda: spy)
    torch.manual_seed(4)
    x = (torch.rand(20, 8, 70) * 1.5).requires_grad_(True)
    neuron = snn.IELIF(levels=4)
    (g_scalar,) = torch.autograd.grad(neuron(x).sum(), x)
    y = neuron(x)
    (g_full,) = torch.autograd.grad(y, x, grad_outputs=torch.ones_like(y))
    assert seen == [(True, True), (False, False)]
    torch.testing.assert_close(g_scalar, g_full, rtol=0, atol=0)


def test_switches_are_runtime_arguments_of_one_compiled_kernel():
    """No mask (no gradient), detach_reset and a full or broadcast output gradient compile no new kernel."""
    x = (torch.rand(9, 3, 40) * 1.5).requires_grad_(True)
    snn.IELIF(levels=4, backend="numba")(x).sum().backward()
    compiled = (len(cpu._forward.signatures), len(cpu._backward.signatures))
    y = snn.IELIF(levels=4, detach_reset=True, backend="numba")(x)
    y.backward(torch.rand_like(y))
    with torch.no_grad():
        snn.IELIF(levels=4, backend="numba")(x)
    assert (len(cpu._forward.signatures), len(cpu._backward.signatures)) == compiled


def test_backward_keeps_only_the_mask():
    """Saved for backward: one byte per neuron-step (the straight-through mask), no float [T, N] tensor."""
    saved = []

    def pack(t):
        saved.append(t)
        return t

    x = (torch.rand(8, 4, 50) * 1.5).requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        snn.IELIF(levels=4, backend="numba")(x)
    assert [(t.dtype, tuple(t.shape)) for t in saved] == [(torch.uint8, (8, 200))]


def test_no_mask_without_gradient(monkeypatch):
    calls = _count_calls(monkeypatch)
    x = torch.rand(5, 2, 30) * 2
    with torch.no_grad():
        y_ng = snn.IELIF(levels=4, backend="numba")(x)
    torch.testing.assert_close(y_ng, snn.IELIF(levels=4, store_v=True)(x), rtol=0, atol=0)
    _, _, mask = _integer_lif_op(x.reshape(5, 60), torch.zeros(60), *IntegerLIFParams().kernel_args(), "numba", False)
    assert mask.shape == (0, 60) and calls["forward"] == 2


def test_half_precision_on_cpu_is_computed_in_float32():
    torch.manual_seed(6)
    x = torch.randn(10, 3, 20) + 0.5
    y = snn.IELIF(levels=4)(x.to(torch.bfloat16))
    y32 = snn.IELIF(levels=4)(x.to(torch.bfloat16).float())
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), y32, rtol=0, atol=0)


def test_opcheck_forward_and_backward_ops():
    torch.manual_seed(0)
    x = torch.randn(6, 40) + 0.5
    v0 = torch.rand(40) * 0.2
    args = IntegerLIFParams(beta=0.5, v_th=0.25, levels=4, norm=4.0).kernel_args()
    torch.library.opcheck(_integer_lif_op, (x, v0, *args, "numba", True), test_utils=("test_schema", "test_faketensor"))
    _, _, mask = _integer_lif_op(x, v0, *args, "numba", True)
    bargs = (args[0], args[1], args[2], args[4], args[5])
    torch.library.opcheck(_integer_lif_backward_op, (torch.randn(6, 40), torch.randn(40), mask, *bargs, "numba"),
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("backend", [None, "numba"])
def test_torch_compile_traces_the_op_with_its_backward(backend):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(20, 30), snn.IELIF(levels=4, tau=2.0, backend=backend))

    def step(x):
        return (model(x) * torch.linspace(-1, 1, 30)).sum()

    x = torch.rand(12, 4, 20)
    eager = step(x)
    eager.backward()
    g_eager = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)  # fake-tensor tracing, no C++ codegen
    out = compiled(x)
    out.backward()
    assert out.item() == eager.item() != 0
    for p, g in zip(model.parameters(), g_eager):
        assert g.abs().sum() > 0
        torch.testing.assert_close(p.grad, g, rtol=1e-6, atol=1e-6)


def test_forced_backend_on_the_wrong_device_raises():
    from neuro.backend import BackendUnavailableError

    with pytest.raises(BackendUnavailableError):
        integer_lif_multi_step(torch.rand(3, 4), None, IntegerLIFParams(), backend="cupy")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("beta, decay_input, v_th, levels, norm, detach_reset", OPTIONS)
def test_cupy_kernel_equals_reference(dtype, beta, decay_input, v_th, levels, norm, detach_reset):
    p = IntegerLIFParams(beta=beta, v_th=v_th, levels=levels, norm=norm, decay_input=decay_input, detach_reset=detach_reset)
    inputs = [t.detach().cuda().requires_grad_(True) for t in _inputs(dtype)]
    T, n = inputs[0].shape
    g = torch.Generator().manual_seed(5)
    grads = tuple(t.cuda() for t in (torch.randn(T, n, generator=g, dtype=dtype), torch.randn(n, generator=g, dtype=dtype)))
    ours = _run("cupy", inputs, p, grads)
    expected = _run("autograd", [t.detach().cpu().requires_grad_(True) for t in inputs], p, tuple(t.cpu() for t in grads))
    # nvcc contracts h = beta v + c x into an FMA: a count may differ where u lands within an ulp of a rounding edge
    mismatch = (ours[0].cpu() != expected[0]).float().mean().item()
    assert mismatch < (1e-4 if dtype == torch.float32 else 1e-9)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4)
    if mismatch == 0:
        for name, a, b in zip(NAMES[1:], ours[1:], expected[1:]):
            torch.testing.assert_close(a.cpu(), b, **tol, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.gpu
def test_cupy_module_and_broadcast_gradient():
    torch.manual_seed(7)
    x = (torch.randn(16, 4, 300, device="cuda") + 0.5).requires_grad_(True)
    neuron = snn.IELIF(levels=4, backend="cupy")
    (g_scalar,) = torch.autograd.grad(neuron(x).sum(), x)
    y = neuron(x)
    (g_full,) = torch.autograd.grad(y, x, grad_outputs=torch.ones_like(y))
    torch.testing.assert_close(g_scalar, g_full, rtol=0, atol=0)
    loop = snn.IELIF(levels=4, store_v=True)
    xl = x.detach().clone().requires_grad_(True)
    yl = loop(xl)
    (gl,) = torch.autograd.grad(yl.sum(), xl)
    assert (y != yl).float().mean() < 1e-4
    assert (g_scalar != gl).float().mean() < 1e-3


@pytest.mark.gpu
def test_cupy_kernel_half_precision_counts_match_a_float32_reference():
    x, v0 = (t.detach() for t in _inputs(torch.float32))
    p = IntegerLIFParams(beta=0.5, v_th=0.25, levels=4, norm=4.0)
    for dtype in (torch.float16, torch.bfloat16):
        xh = x.cuda().to(dtype)
        y, _ = integer_lif_multi_step(xh, v0.cuda().to(dtype), p, backend="cupy")
        y_ref, _ = ref.multi_step_autograd(xh.float().cpu(), v0.to(dtype).float(), *p.kernel_args())
        assert y.dtype == dtype
        assert (y.float().cpu() != y_ref).float().mean() < 1e-3
