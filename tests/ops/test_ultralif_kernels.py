"""Each UltraLIF kernel backend equals the torch reference (spikes, state, gradients of the input, the initial state
and the temperature) for both resets; the kernel really ran; the op is a proper torch custom op; UltraLIF gives the
same values and gradients through it as through its torch loop."""

from __future__ import annotations

import pytest
import torch

from neuro import nn as snn
from neuro.ops.ultralif import UltraLIFParams, cpu
from neuro.ops.ultralif import reference as ref
from neuro.ops.ultralif.autograd import _ultralif_backward_op, _ultralif_op, ultralif_multi_step

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


def _inputs(dtype, per_neuron_eps=False, T=11, n=1100, seed=1):
    """Input, initial state and temperature (all requiring grad); n > two blocks of neurons, the last one partial."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, n, generator=g, dtype=dtype) * 0.8 + 0.6
    v0 = torch.rand(n, generator=g, dtype=dtype) * 0.5
    eps = torch.rand(n, generator=g, dtype=dtype) * 0.3 + 0.05 if per_neuron_eps else torch.tensor([0.15], dtype=dtype)
    return [t.requires_grad_(True) for t in (x, v0, eps)]


def _run(backend, inputs, p, grads):
    x, v0, eps = inputs
    if backend == "autograd":
        s, v_seq = ref.multi_step_autograd(x, v0, eps, *p.kernel_args())
        v = v_seq[-1]
    else:
        s, v = ultralif_multi_step(x, v0, eps, p, backend=backend)
    gs, gv = grads
    loss = (s * gs).sum() + (v * gv).sum()
    return (s, v, *torch.autograd.grad(loss, inputs))


# (beta, decay_input, v_th, v_reset, per-neuron eps): both resets (runtime switches of one compiled kernel), decayed input,
# shared and per-neuron temperatures.
OPTIONS = [
    (0.5, False, 1.0, None, False),
    (0.8, True, 0.4, -0.1, True),
    (0.9, False, 0.7, 0.0, False),
]
NAMES = ("s", "v_last", "grad_x", "grad_v0", "grad_eps")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("beta, decay_input, v_th, v_reset, per_neuron", OPTIONS)
def test_numba_kernel_equals_reference(monkeypatch, dtype, beta, decay_input, v_th, v_reset, per_neuron):
    p = UltraLIFParams(beta=beta, v_th=v_th, v_reset=v_reset, decay_input=decay_input)
    inputs = _inputs(dtype, per_neuron)
    g = torch.Generator().manual_seed(5)
    T, n = inputs[0].shape
    grads = (torch.randn(T, n, generator=g, dtype=dtype), torch.randn(n, generator=g, dtype=dtype))
    calls = _count_calls(monkeypatch)
    out = {b: _run(b, inputs, p, grads) for b in ("autograd", "torch", "numba")}
    assert calls == {"forward": 1, "backward": 1}
    s_ref = out["autograd"][0]
    assert (s_ref > 0.9).any() and (s_ref < 0.1).any()
    for backend in ("torch", "numba"):
        for name, a, b in zip(NAMES, out[backend], out["autograd"]):
            assert b.abs().sum() > 0, name
            torch.testing.assert_close(a, b, **TOL[dtype], msg=lambda m, name=name, backend=backend: f"{backend} {name}: {m}")
    # the torch backend is the module's arithmetic: its spikes are the autograd form's, to the bit
    torch.testing.assert_close(out["torch"][0], s_ref, rtol=0, atol=0)


def test_reference_equals_the_step_loop_bit_for_bit():
    """``multi_step_autograd`` is UltraLIF.step's arithmetic: the same spikes and potentials, to the bit."""
    for dtype in (torch.float64, torch.float32):
        torch.manual_seed(2)
        for neuron in (snn.UltraLIF(tau=2.0, eps=0.2, store_v=True), snn.UltraLIF(tau=4.0, v_reset=0.0, decay_input=True, store_v=True)):
            x = torch.randn(20, 3, 7, dtype=dtype) + 0.8
            s = neuron(x)
            flat = x.reshape(20, -1)
            v0 = torch.full_like(flat[0], 0.0 if neuron.v_reset is None else neuron.v_reset)
            s2, v2 = ref.multi_step_autograd(flat, v0, neuron.eps().to(dtype), *neuron.params.kernel_args())
            for a, b in ((s2, s), (v2, neuron.v_seq)):
                torch.testing.assert_close(a.reshape(b.shape), b, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kw", [dict(tau=2.0, eps=0.2), dict(tau=5.0, eps=0.05, v_reset=0.0, decay_input=True),
                                dict(tau=3.0, eps=0.1, learn_eps=False)], ids=["soft", "hard", "fixed_eps"])
def test_module_fused_equals_torch_loop(dtype, kw):
    """The fused forward (no recorded potentials) equals the torch loop over ``step``, with and without a given initial
    potential: spikes, and the gradients of the input, the initial potential and the learned temperature."""
    torch.manual_seed(3)
    x = (torch.randn(30, 4, 6, dtype=dtype) + 0.7).requires_grad_(True)
    v0 = (torch.rand(4, 6, dtype=dtype) * 0.3).requires_grad_(True)
    w = torch.randn(6, dtype=dtype)
    out = {}
    for store_v in (True, False):
        neuron = snn.UltraLIF(store_v=store_v, **kw).to(dtype)
        outs = []
        for v in (None, v0):
            s = neuron(x, v)
            wrt = (x, *neuron.parameters()) + ((v0,) if v is not None else ())
            outs.append((s, *torch.autograd.grad((s * w).sum(), wrt)))
        out[store_v] = outs
    for fused, loop in zip(out[False], out[True]):
        assert len(fused) == len(loop)
        for a, b in zip(fused, loop):
            assert b.abs().sum() > 0
            torch.testing.assert_close(a, b, **TOL[dtype])


def test_broadcast_spike_gradient_is_read_as_a_scalar(monkeypatch):
    seen = []
    real = cpu._backward_kernel()

    def spy(gs, gs_scalar, *args):
        seen.append((gs_scalar, gs.shape == (1, 1)))
        return real(gs, gs_scalar, *args)

    monkeypatch.setattr(cpu, "_backward_kernel", lambda: spy)
    torch.manual_seed(4)
    x = (torch.rand(20, 8, 70) * 1.5).requires_grad_(True)
    neuron = snn.UltraLIF(tau=2.0)
    (g_scalar,) = torch.autograd.grad(neuron(x).sum(), x)
    s = neuron(x)
    (g_full,) = torch.autograd.grad(s, x, grad_outputs=torch.ones_like(s))
    assert seen == [(True, True), (False, False)]
    torch.testing.assert_close(g_scalar, g_full, rtol=0, atol=0)


def test_switches_are_runtime_arguments_of_one_compiled_kernel():
    """The other reset, no charges (no gradient) and a full or broadcast spike gradient compile no new kernel."""
    x = (torch.rand(9, 3, 40) * 1.5).requires_grad_(True)
    snn.UltraLIF(tau=2.0, backend="numba")(x).sum().backward()
    compiled = (len(cpu._forward.signatures), len(cpu._backward.signatures))
    s = snn.UltraLIF(tau=2.0, v_reset=0.0, backend="numba")(x)
    s.backward(torch.rand_like(s))
    with torch.no_grad():
        snn.UltraLIF(tau=2.0, backend="numba")(x)
    assert (len(cpu._forward.signatures), len(cpu._backward.signatures)) == compiled


def test_backward_keeps_only_the_charges():
    """Saved for backward: the charges (4 bytes per neuron-step in float32) and the temperature; nothing [T, N] else."""
    saved = []

    def pack(t):
        saved.append(t)
        return t

    x = (torch.rand(8, 4, 50) * 1.5).requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        snn.UltraLIF(tau=2.0, backend="numba")(x)
    big = [t for t in saved if t.numel() >= x.numel()]
    assert [(t.dtype, tuple(t.shape)) for t in big] == [(torch.float32, (8, 200))]
    assert all(t.data_ptr() != x.data_ptr() for t in saved)


def test_no_charges_without_gradient():
    x = torch.rand(5, 2, 30) * 2
    neuron = snn.UltraLIF(tau=2.0, backend="numba")
    with torch.no_grad():
        s_ng = neuron(x)
    torch.testing.assert_close(s_ng, snn.UltraLIF(tau=2.0, store_v=True)(x), rtol=1e-6, atol=1e-6)
    _, _, h = _ultralif_op(x.reshape(5, 60), torch.zeros(60), torch.tensor([0.1]), *UltraLIFParams().kernel_args(), "numba", False)
    assert h.shape == (0, 60)


def test_opcheck_forward_and_backward_ops():
    torch.manual_seed(0)
    x = torch.randn(6, 40) + 0.8
    v0 = torch.rand(40) * 0.2
    eps = torch.tensor([0.2])
    args = UltraLIFParams(beta=0.5, v_reset=0.0, decay_input=True).kernel_args()
    torch.library.opcheck(_ultralif_op, (x, v0, eps, *args, "numba", True), test_utils=("test_schema", "test_faketensor"))
    _, _, h = _ultralif_op(x, v0, eps, *args, "numba", True)
    torch.library.opcheck(_ultralif_backward_op, (torch.randn(6, 40), torch.randn(40), h, eps, *args, "numba"),
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("backend", [None, "numba"])
def test_torch_compile_traces_the_op_with_its_backward(backend):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(20, 30), snn.UltraLIF(tau=2.0, eps=0.2, backend=backend))

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
    assert len(g_eager) == 3  # weight, bias, log_eps
    for p, g in zip(model.parameters(), g_eager):
        assert g.abs().sum() > 0
        torch.testing.assert_close(p.grad, g, rtol=1e-6, atol=1e-6)


def test_forced_backend_on_the_wrong_device_raises():
    from neuro.backend import BackendUnavailableError

    with pytest.raises(BackendUnavailableError):
        ultralif_multi_step(torch.rand(3, 4), None, 0.1, UltraLIFParams(), backend="cupy")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("beta, decay_input, v_th, v_reset, per_neuron", OPTIONS)
def test_cupy_kernel_equals_reference(dtype, beta, decay_input, v_th, v_reset, per_neuron):
    p = UltraLIFParams(beta=beta, v_th=v_th, v_reset=v_reset, decay_input=decay_input)
    inputs = [t.detach().cuda().requires_grad_(True) for t in _inputs(dtype, per_neuron)]
    T, n = inputs[0].shape
    g = torch.Generator().manual_seed(5)
    grads = tuple(t.cuda() for t in (torch.randn(T, n, generator=g, dtype=dtype), torch.randn(n, generator=g, dtype=dtype)))
    ours = _run("cupy", inputs, p, grads)
    expected = _run("autograd", inputs, p, grads)
    tol = dict(rtol=1e-9, atol=1e-9) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4)
    for name, a, b in zip(NAMES, ours, expected):
        torch.testing.assert_close(a, b, **tol, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.gpu
def test_cupy_module_half_precision_and_broadcast_gradient():
    torch.manual_seed(7)
    x = (torch.randn(16, 4, 300, device="cuda") + 0.7).requires_grad_(True)
    neuron = snn.UltraLIF(tau=2.0, backend="cupy").cuda()
    (g_scalar,) = torch.autograd.grad(neuron(x).sum(), x)
    s = neuron(x)
    (g_full,) = torch.autograd.grad(s, x, grad_outputs=torch.ones_like(s))
    torch.testing.assert_close(g_scalar, g_full, rtol=0, atol=0)
    for dtype in (torch.float16, torch.bfloat16):
        xh = x.detach().to(dtype).requires_grad_(True)
        sh = neuron(xh)
        assert sh.dtype == dtype
        torch.testing.assert_close(sh.float(), s.detach(), rtol=0, atol=3e-2)
        (gh,) = torch.autograd.grad(sh.float().sum(), xh)
        assert gh.dtype == dtype and torch.isfinite(gh.float()).all()
