"""Each ALIF kernel backend equals the torch reference (spikes, state, gradients of the input, initial state and every
learnable parameter), for both resets and every option; the kernel really ran; the op is a proper torch custom op."""

from __future__ import annotations

import math

import pytest
import torch

from neuro import nn as snn
from neuro.ops.alif import ALIFParams, cpu
from neuro.ops.alif import reference as ref
from neuro.ops.alif.autograd import _alif_backward_op, _alif_op, alif_multi_step

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


def _inputs(dtype, per_neuron, T=11, n=1100, seed=1):
    """Input, initial state and parameters (all requiring grad); n > two blocks of neurons, the last one partial."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, n, generator=g, dtype=dtype) * 0.9 + 0.5
    v0 = torch.rand(n, generator=g, dtype=dtype) * 0.5
    a0 = torch.rand(n, generator=g, dtype=dtype) * 0.3
    if per_neuron:
        beta = torch.rand(n, generator=g, dtype=dtype) * 0.4 + 0.5
        rho = torch.rand(n, generator=g, dtype=dtype) * 0.2 + 0.75
        beta_a = torch.rand(n, generator=g, dtype=dtype) + 0.2
    else:
        beta, rho, beta_a = (torch.tensor([v], dtype=dtype) for v in (0.8, 0.9, 0.7))
    return [t.requires_grad_(True) for t in (x, v0, a0, beta, rho, beta_a)]


def _run(backend, inputs, p, grads):
    x, v0, a0, beta, rho, beta_a = inputs
    if backend == "autograd":
        s, v_seq, a_seq = ref.multi_step_autograd(x, v0, a0, beta, rho, beta_a, *p.kernel_args())
        v, a = v_seq[-1], a_seq[-1]
    else:
        s, v, a = alif_multi_step(x, v0, a0, beta, rho, beta_a, p, backend=backend)
    gs, gv, ga = grads
    loss = (s * gs).sum() + (v * gv).sum() + (a * ga).sum()
    return (s, v, a, *torch.autograd.grad(loss, inputs))


# (v_reset, decay_input, detach_reset, detach_adaptation, surrogate, adapt_increment, per_neuron): both resets, each
# option on and off, per-neuron and shared parameters. The switches are runtime arguments: one compiled kernel per dtype.
OPTIONS = [
    (None, False, False, False, "triangle", 1.0, True),
    (0.0, False, False, False, "triangle", 1.0, False),
    (-0.1, True, False, False, "sigmoid", 0.3, True),
    (None, True, True, False, "atan", 0.5, False),
    (0.2, False, True, True, "erf", 1.0, True),
    (None, False, False, True, "fast_sigmoid", 1.0, True),
]
NAMES = ("s", "v_last", "a_last", "grad_x", "grad_v0", "grad_a0", "grad_beta", "grad_rho", "grad_beta_a")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("v_reset, decay_input, detach_reset, detach_adaptation, surrogate, gamma, per_neuron", OPTIONS)
def test_numba_kernel_equals_reference(monkeypatch, dtype, v_reset, decay_input, detach_reset, detach_adaptation, surrogate, gamma, per_neuron):
    p = ALIFParams(v_th=1.0, v_reset=v_reset, adapt_increment=gamma, decay_input=decay_input, detach_reset=detach_reset,
                   detach_adaptation=detach_adaptation, surrogate=surrogate, alpha=1.5)
    inputs = _inputs(dtype, per_neuron)
    g = torch.Generator().manual_seed(5)
    T, n = inputs[0].shape
    grads = (torch.randn(T, n, generator=g, dtype=dtype), torch.randn(n, generator=g, dtype=dtype), torch.randn(n, generator=g, dtype=dtype))
    calls = _count_calls(monkeypatch)
    out = {b: _run(b, inputs, p, grads) for b in ("autograd", "torch", "numba")}
    assert calls == {"forward": 1, "backward": 1}
    s_ref = out["autograd"][0]
    assert 0 < s_ref.sum() < s_ref.numel()
    for backend in ("torch", "numba"):
        torch.testing.assert_close(out[backend][0], s_ref, rtol=0, atol=0)
        for name, a, b in zip(NAMES[1:], out[backend][1:], out["autograd"][1:]):
            assert b.abs().sum() > 0, name
            torch.testing.assert_close(a, b, **TOL[dtype], msg=lambda m, name=name, backend=backend: f"{backend} {name}: {m}")


def test_reference_equals_the_step_loop_bit_for_bit():
    """``multi_step_autograd`` is ALIF.step's arithmetic: the same spikes, potentials and adaptations, to the bit."""
    for dtype in (torch.float64, torch.float32):
        torch.manual_seed(2)
        for scale, kw in ((1.2, dict()), (6.0, dict(v_reset=0.1, decay_input=True, adapt_increment=0.2))):
            x = torch.rand(40, 3, 7, dtype=dtype) * scale
            alif = snn.ALIF(tau_mem=6.0, tau_adapt=30.0, beta_a=0.9, store_state=True, **kw)
            s = alif(x)
            p = alif.params
            flat = x.reshape(40, -1)
            v0 = torch.full_like(flat[0], 0.0 if p.v_reset is None else p.v_reset)
            s2, v2, a2 = ref.multi_step_autograd(flat, v0, torch.zeros_like(v0), alif.beta().to(dtype), alif.rho().to(dtype),
                                                 alif.beta_a().to(dtype), *p.kernel_args())
            assert 0 < s.sum() < s.numel()
            for a, b in ((s2, s), (v2, alif.v_seq), (a2, alif.a_seq)):
                torch.testing.assert_close(a.reshape(b.shape), b, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_alif_module_fused_equals_torch_loop(dtype):
    """ALIF's fused forward (no recorded state) equals its torch loop over ``step``, gradients of learnable per-neuron parameters included."""
    torch.manual_seed(3)
    x = (torch.rand(30, 4, 6, dtype=dtype) * 0.9).requires_grad_(True)
    w = torch.randn(6, dtype=dtype)
    kw = dict(n_neurons=6, learn_tau_mem=True, learn_tau_adapt=True, learn_beta_a=True, tau_mem=5.0, tau_adapt=25.0, beta_a=0.6)
    state = snn.ALIFState(torch.rand(4, 6, dtype=dtype) * 0.5, torch.rand(4, 6, dtype=dtype) * 0.2)
    out = {}
    for store_state in (True, False):
        alif = snn.ALIF(store_state=store_state, **kw).to(dtype)
        s = alif(x, state)
        out[store_state] = (s, *torch.autograd.grad((s * w).sum(), (x, *alif.parameters())))
    torch.testing.assert_close(out[False][0], out[True][0], rtol=0, atol=0)
    for a, b in zip(out[False][1:], out[True][1:]):
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
    alif = snn.ALIF(tau_mem=10.0, tau_adapt=50.0)
    (g_scalar,) = torch.autograd.grad(alif(x).sum(), x)
    s = alif(x)
    (g_full,) = torch.autograd.grad(s, x, grad_outputs=torch.ones_like(s))
    assert seen == [(True, True), (False, False)]
    torch.testing.assert_close(g_scalar, g_full, rtol=0, atol=0)


def test_switches_are_runtime_arguments_of_one_compiled_kernel():
    """Other resets, detach flags, surrogates and a full or broadcast spike gradient compile no new kernel (each new
    specialisation cost 10-14 s of compilation on a 2-core machine)."""
    x = (torch.rand(9, 3, 40) * 1.5).requires_grad_(True)
    snn.ALIF(tau_mem=10.0, backend="numba")(x).sum().backward()
    compiled = (len(cpu._forward.signatures), len(cpu._backward.signatures))
    for kw in (dict(v_reset=0.0, surrogate="sigmoid"), dict(detach_reset=True, detach_adaptation=True, surrogate="erf"),
               dict(v_reset=-0.1, decay_input=True, surrogate="piecewise_quadratic")):
        s = snn.ALIF(tau_mem=10.0, backend="numba", **kw)(x)
        s.backward(torch.rand_like(s))
    assert (len(cpu._forward.signatures), len(cpu._backward.signatures)) == compiled


def test_backward_keeps_only_the_input():
    """Saved for backward: the input (4 bytes per neuron-step in float32), v0, a0 and the parameters; nothing [T, N] else."""
    saved = []

    def pack(t):
        saved.append(t)
        return t

    x = (torch.rand(8, 4, 50) * 1.5).requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        snn.ALIF(tau_mem=10.0, backend="numba")(x)
    big = {t.data_ptr(): t for t in saved if t.numel() >= x.numel()}
    assert len(big) == 1 and next(iter(big.values())).data_ptr() == x.data_ptr()


def test_opcheck_forward_and_backward_ops():
    torch.manual_seed(0)
    x = torch.rand(6, 40) * 1.5
    v0, a0 = torch.zeros(40), torch.rand(40) * 0.2
    params = (torch.tensor([0.8]), torch.rand(40) * 0.1 + 0.85, torch.tensor([1.2]))
    args = ALIFParams(v_reset=0.0, decay_input=True).kernel_args()
    torch.library.opcheck(_alif_op, (x, v0, a0, *params, *args, "numba"), test_utils=("test_schema", "test_faketensor"))
    grads = (torch.ones(6, 40), torch.zeros(40), torch.randn(40))
    torch.library.opcheck(_alif_backward_op, (*grads, x, v0, a0, *params, *args, "numba"), test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("backend", [None, "numba"])
def test_torch_compile_traces_the_op_with_its_backward(backend):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(20, 30), snn.ALIF(tau_mem=8.0, tau_adapt=40.0, beta_a=0.5, n_neurons=30, learn_tau_mem=True,
                                                                  learn_tau_adapt=True, learn_beta_a=True, backend=backend))

    def step(x):
        return model(x).sum()

    x = torch.rand(12, 4, 20)
    eager = step(x)
    eager.backward()
    g_eager = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)  # fake-tensor tracing, no C++ codegen
    out = compiled(x)
    out.backward()
    assert out.item() == eager.item() > 0
    for p, g in zip(model.parameters(), g_eager):
        torch.testing.assert_close(p.grad, g, rtol=1e-6, atol=1e-6)


def test_forced_backend_on_the_wrong_device_raises():
    from neuro.backend import BackendUnavailableError

    with pytest.raises(BackendUnavailableError):
        alif_multi_step(torch.rand(3, 4), None, None, 0.9, 0.99, 1.0, ALIFParams(), backend="cupy")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("v_reset, decay_input, detach_reset, detach_adaptation, surrogate, gamma, per_neuron", OPTIONS)
def test_cupy_kernel_equals_reference(dtype, v_reset, decay_input, detach_reset, detach_adaptation, surrogate, gamma, per_neuron):
    p = ALIFParams(v_th=1.0, v_reset=v_reset, adapt_increment=gamma, decay_input=decay_input, detach_reset=detach_reset,
                   detach_adaptation=detach_adaptation, surrogate=surrogate, alpha=1.5)
    inputs = [t.detach().cuda().requires_grad_(True) for t in _inputs(dtype, per_neuron)]
    T, n = inputs[0].shape
    g = torch.Generator().manual_seed(5)
    grads = tuple(t.cuda() for t in (torch.randn(T, n, generator=g, dtype=dtype), torch.randn(n, generator=g, dtype=dtype),
                                     torch.randn(n, generator=g, dtype=dtype)))
    ours = _run("cupy", inputs, p, grads)
    expected = _run("autograd", inputs, p, grads)
    # the CUDA surrogate is computed in float32 whatever the storage type (kernels/surrogate.cuh)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours[0], expected[0], rtol=0, atol=0)
    for name, a, b in zip(NAMES[1:], ours[1:], expected[1:]):
        torch.testing.assert_close(a, b, **tol, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.gpu
def test_cupy_kernel_half_precision_spikes_match_a_float32_reference():
    inputs = _inputs(torch.float32, True)
    p = ALIFParams(surrogate="sigmoid", alpha=2.0)
    x = inputs[0].detach().cuda().to(torch.bfloat16)
    rest = [t.detach().cuda().to(torch.bfloat16) for t in inputs[1:]]
    s, _, _ = alif_multi_step(x, *rest, p, backend="cupy")
    s_ref, _, _ = ref.multi_step_autograd(x.float(), *(t.float() for t in rest), *p.kernel_args())
    assert (s.float() != s_ref).float().mean() < 1e-3
    assert not math.isnan(float(s.float().sum()))
