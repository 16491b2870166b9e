"""neuro.nn.Neuron's generated CUDA kernels (neuro.dynamics.torchgen_cuda), run on the host.

Without a GPU the kernels run on the host (``tests/ops/cuda_emulation.py``: the generated ``.cu`` compiled by g++
without fused multiply-adds, one call per thread). Two kinds of check, chosen so that this file compiles no Numba
kernel of its own (each generated Numba variant costs 10-60 s on a cold cache):

* **the Numba kernels' bits**: every call a layer makes into the fused op on the CPU is replayed through the op's CUDA
  implementation (``torchop._forward_cuda`` / ``_backward_cuda``, launcher included) and must give the same bits:
  spikes, final states, gradients of the input, of the initial state and of the learned parameters. Only on the
  definitions and variants ``tests/nn/test_neuron_definitions.py`` already compiles (imported from there: the same
  law, learned set, surrogate, reset and dtype): its adaptive LIF in float64 (parameters shared and per neuron, full
  and broadcast spike gradients), its QIF in float64 with a detached reset and in float32 (per-neuron ``tau``);
  float16 inputs give those float32 kernels' results rounded once to float16 (the kernels compute in float32).
* **autograd through the generated torch reference** (float64, no Numba): the layer's fused path runs on the
  emulated CUDA kernels and is compared with the same layer on ``backend="torch"``: ``adex`` (an exponential; a
  detached reset, parameters per channel, the recorded states) and a definition written here (sqrt, abs, a square, a
  clip; with frozen parameters, the broadcast spike gradient without parameter gradients). Spikes must be equal, states
  agree to 1e-12 (the same step expressions; equal to the bit here, but the reference's ``torch.exp`` is not the GPU's
  ``exp``), gradients to rtol 1e-11 / atol 1e-13, not to the bit: the kernels evaluate the ``sympy.cse``'d
  derivatives, autograd the chain rule through the step, in another order (a few ulps over 24 steps: about 1e-15 here,
  some 500 times under the tolerance).

The ``gpu``-marked tests run the layer on a GPU against the CPU (skipped without one)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import types

import pytest
import torch

from neuro import backend as nb
from neuro import kernel_loader
from neuro.dynamics import library, torchgen_cuda, torchop
from neuro.dynamics.discrete import DiscreteNeuron
from neuro.nn import Neuron
from neuro.nn import neuron as neuron_module
from neuro.ops._host import broadcast_scalar
from neuro.paths import kernel_dir

from ..ops.cuda_emulation import compiler, emulate, has_half_types
from ..ops.fake_cupy import FakeCupy
from .test_neuron_definitions import CASES as DEFINITION_CASES
from .test_neuron_definitions import QIF

F64 = torch.float64

# written as a user would: a nonlinear adaptive neuron (sqrt, abs, a square, a clip) with a learned threshold
USER = DiscreteNeuron(update="v = beta * v + (1 - beta) * x - c * w; w = rho * w + 0.02 * abs(v) ** 2",
                      threshold="v >= v_th + sqrt(1 + w)", reset="v = clip(v - v_th, -1, 1); w = w + gamma",
                      parameters={"beta": 0.8, "rho": 0.9, "c": 0.2, "v_th": 0.6, "gamma": 0.2}, states=["v", "w"], name="user_adaptive")

# Numba variants test_neuron_definitions.py compiles anyway: (definition, layer options, input scale, dtype, spike-sum call)
_ADAPTIVE, _ADAPTIVE_OPTS, _ADAPTIVE_SCALE = DEFINITION_CASES["adaptive"]
_QIF_OPTS, _QIF_SCALE = DEFINITION_CASES["qif"][1:]
SHARED = {
    # test_fused_kernel_equals_autograd_through_the_reference[adaptive-False] and the spike-sum test (backward_gs1)
    "adaptive": (_ADAPTIVE, _ADAPTIVE_OPTS, _ADAPTIVE_SCALE, F64, True),
    # test_fused_kernel_equals_autograd_through_the_reference[qif-True]
    "qif_detached": (QIF, dict(_QIF_OPTS, detach_reset=True), _QIF_SCALE, F64, False),
    # test_qif_with_adaptation_adapts_and_trains (float32, tau per neuron)
    "qif_float32": (QIF, dict(dt=1.0, input="I", learnable={"tau": "neuron", "b": "shared"}, shape=(8,), surrogate="fast_sigmoid", alpha=2.0),
                    1.5, torch.float32, False),
}

# (definition, layer options, input scale, input offset); shape [T, 3, 3, 4]. On the host: adex and user against the torch
# reference; the launch-path and nvcc tests read the user one's sources; the gpu tests run all on a GPU against the CPU
CASES = {
    "qif_adaptation": (library.qif_adaptation(), dict(dt=1.0, input="I", learnable={"a": "shared", "d": "neuron", "k": "shared"},
                                                      shape=(3, 4), alpha=0.5), 400.0, 0.0),
    "adex_detached": (library.adex(), dict(dt=0.25, input="I", learnable={"b": "channel", "a": "shared"}, channels=3,
                                           surrogate="erf", alpha=0.2, detach_reset=True, store_state=True), 3000.0, 300.0),
    "user": (USER, dict(learnable={"beta": "neuron", "v_th": "shared", "gamma": "shared"}, shape=(3, 4), surrogate="atan", alpha=2.0),
             6.0, 0.0),
}
REFERENCE = ("adex_detached", "user")


def _clone(v):
    if isinstance(v, torch.Tensor):
        if broadcast_scalar(v):  # keep a broadcast spike gradient broadcast (the kernels read one value then)
            return v.reshape(-1)[:1].detach().clone().expand(v.shape)
        return v.detach().clone()
    if isinstance(v, (tuple, list)):
        return type(v)(_clone(x) for x in v)
    return v


def _record(monkeypatch):
    """The arguments and outputs of every call into the fused op (the CPU kernels), in order."""
    calls = []
    fwd, bwd = neuron_module.fused_multi_step, torchop._backward_op

    def forward(key, x, z0, scal, arr, alpha, need_states=False):
        out = fwd(key, x, z0, scal, arr, alpha, need_states)
        calls.append(("forward", _clone((x, z0, scal, arr, key, float(alpha), bool(need_states))), _clone(out)))
        return out

    def backward(*args):
        out = bwd(*args)
        calls.append(("backward", _clone(args), _clone(out)))
        return out

    monkeypatch.setattr(neuron_module, "fused_multi_step", forward)
    monkeypatch.setattr(torchop, "_backward_op", backward)
    return calls


def _shape(opts):
    return (3, *opts.get("shape", (5,)))


def _train_calls(monkeypatch, case, x_dtype=None):
    """Forward + backward of a layer of the shared variant ``case`` on the CPU kernels: a weighted loss on spikes and
    final state, with the learned parameters' gradients; then (``adaptive``) a spike count (its gradient one broadcast
    value). Inputs and the loss's weights are ``x_dtype``-representable (float16 for the half test)."""
    definition, opts, scale, dtype, spike_sum = SHARED[case]
    g = torch.Generator().manual_seed(7)
    x = (torch.rand(24, *_shape(opts), generator=g) * scale).to(x_dtype or dtype).to(dtype)
    layer = Neuron(definition, backend="numba", dtype=dtype, **opts)
    state = {k: (v + 0.05 * torch.randn(v.shape, generator=g, dtype=dtype) * (1 + v.abs())).to(x_dtype or dtype).to(dtype)
             for k, v in layer.initial_state(x[0]).items()}
    with torch.no_grad():
        for p in layer.learned.values():
            p.mul_(1 + 0.1 * torch.rand(p.shape, generator=g, dtype=dtype))
    calls = _record(monkeypatch)
    w = [torch.randn(x.shape if j == 0 else x.shape[1:], generator=g, dtype=dtype).to(x_dtype or dtype).to(dtype) for j in range(3)]
    x.requires_grad_()
    for v in state.values():
        v.requires_grad_()
    s, final = layer.run(x, state)
    loss = (s * w[0]).sum() + sum((v * wj).sum() for v, wj in zip(final.values(), w[1:]))
    torch.autograd.grad(loss, [x, *state.values(), *layer.learned.values()])
    assert 0.02 < float(s.detach().mean()) < 0.9, "the case must spike, and not always"
    assert [c[0] for c in calls] == ["forward", "backward"] and calls[1][1][-1]  # with the parameters' gradients
    assert not broadcast_scalar(calls[1][1][0])
    if spike_sum:
        torch.autograd.grad(layer(x).sum(), [x, *layer.learned.values()])
        assert [c[0] for c in calls] == ["forward", "backward"] * 2
        assert broadcast_scalar(calls[3][1][0]) and calls[3][1][-1]  # the broadcast spike gradient, parameters' gradients
    return calls


def _replay(monkeypatch, calls, cast=None):
    """Each call through the op's CUDA implementation on the host; returns ``(kind, got, want)`` per call."""
    kernels = emulate(monkeypatch, torchgen_cuda)
    out = []
    for kind, args, want in calls:
        if cast is not None:
            args = cast(kind, args)
        got = (torchop._forward_cuda if kind == "forward" else torchop._backward_cuda)(*args)
        out.append((kind, got, want))
    assert kernels and all(k.calls == 1 for k in kernels)  # the emulated kernels really ran, once per call
    return out


def _bits(got, want, where):
    assert got.dtype == want.dtype and got.shape == want.shape, where
    assert torch.equal(got, want), f"{where}: max difference {float((got.double() - want.double()).abs().max())}"


needs_cxx = pytest.mark.skipif(compiler() is None, reason="the host emulation needs a C++ compiler")


@needs_cxx
@pytest.mark.parametrize("case", list(SHARED))
def test_emulated_cuda_kernels_give_the_numba_kernels_bits(monkeypatch, case):
    calls = _train_calls(monkeypatch, case)
    before = dict(torchop.kernel_calls)
    for n, (kind, got, want) in enumerate(_replay(monkeypatch, calls)):
        for j, (g, w) in enumerate(zip(got, want)):
            _bits(g, w, f"{case} {kind} (call {n}) output {j}")
    assert torchop.kernel_calls["cuda_forward"] == before["cuda_forward"] + len(calls) // 2
    assert torchop.kernel_calls["cuda_backward"] == before["cuda_backward"] + len(calls) // 2
    gx, gz0, gscal, garr = calls[1][2]
    assert float(gx.abs().max()) > 0 and float(gz0.abs().max()) > 0
    assert float(gscal.abs().max()) > 0 and (garr.numel() == 0 or float(garr.abs().max()) > 0), "learned parameters get gradients"


@needs_cxx
@pytest.mark.skipif(not has_half_types(), reason="the host compiler has no _Float16 for the emulated half types")
def test_emulated_float16_is_the_float32_kernels_rounded_once(monkeypatch):
    calls = _train_calls(monkeypatch, "qif_float32", x_dtype=torch.float16)

    def half(kind, args):  # the storage tensors in float16 (exact: the values are float16's), the parameters float32
        if kind == "forward":
            x, z0, *rest = args
            return (x.half(), z0.half(), *rest)
        gs, gzT, x, z0, *rest = args
        return (gs.half(), gzT.half(), x.half(), z0.half(), *rest)

    for n, (kind, got, want) in enumerate(_replay(monkeypatch, calls, cast=half)):
        for j, (g, w) in enumerate(zip(got, want)):
            where = f"float16 {kind} (call {n}) output {j}"
            if kind == "backward" and j >= 2:  # parameter gradients: float32 sums, not rounded to float16
                _bits(g, w, where)
            else:
                _bits(g, w.half(), where)


class _EmulatedOp(torch.autograd.Function):
    """The fused op with its CUDA implementation (host-emulated) on CPU tensors, and the op's own autograd rule."""

    @staticmethod
    def forward(x, z0, scal, arr, key, alpha, need_states):
        return torchop._forward_cuda(x, z0, scal, arr, key, alpha, need_states)

    @staticmethod
    def setup_context(ctx, inputs, output):
        torchop._setup_context(ctx, inputs, output)
        ctx.mark_non_differentiable(output[2])

    @staticmethod
    def backward(ctx, gs, gzT, gzseq):
        return torchop._backward(ctx, gs, gzT, gzseq)


def _emulated_layers(monkeypatch):
    kernels = emulate(monkeypatch, torchgen_cuda)
    monkeypatch.setattr(neuron_module, "fused_multi_step",
                        lambda key, x, z0, scal, arr, alpha, need_states=False: _EmulatedOp.apply(x, z0, scal, arr, key, float(alpha),
                                                                                                  bool(need_states)))
    monkeypatch.setattr(torchop, "_backward_op", torchop._backward_cuda)
    return kernels


def _close(got, want, where, **tol):
    assert got.dtype == want.dtype == F64 and got.shape == want.shape, where
    torch.testing.assert_close(got, want, **tol, msg=lambda m: f"{where}: {m}")


@needs_cxx
@pytest.mark.parametrize("case", REFERENCE)
def test_emulated_cuda_kernels_match_autograd_through_the_reference(monkeypatch, case):
    definition, opts, scale, offset = CASES[case]
    g = torch.Generator().manual_seed(8)
    x = torch.rand(24, 3, 3, 4, generator=g, dtype=F64) * scale + offset
    kernels = _emulated_layers(monkeypatch)
    cuda = Neuron(definition, backend="numba", dtype=F64, **opts)  # the fused path, here the emulated CUDA kernels
    ref = Neuron(definition, backend="torch", dtype=F64, **opts)
    with torch.no_grad():
        for p in cuda.learned.values():
            p.mul_(1 + 0.1 * torch.rand(p.shape, generator=g, dtype=F64))
    ref.load_state_dict(cuda.state_dict())
    state0 = {k: v + 0.05 * torch.randn(v.shape, generator=g, dtype=F64) * (1 + v.abs()) for k, v in cuda.initial_state(x[0]).items()}
    w = [torch.randn(x.shape if j == 0 else x.shape[1:], generator=g, dtype=F64) for j in range(3)]
    out = {}
    before = dict(torchop.kernel_calls)
    for name, layer in (("cuda", cuda), ("ref", ref)):
        xl = x.clone().requires_grad_()
        state = {k: v.clone().requires_grad_() for k, v in state0.items()}
        s, final = layer.run(xl, state)
        loss = (s * w[0]).sum() + sum((v * wj).sum() for v, wj in zip(final.values(), w[1:]))
        grads = torch.autograd.grad(loss, [xl, *state.values(), *layer.learned.values()])
        out[name] = (s, list(final.values()), list(layer.state_seq.values()) if layer.store_state else [], grads)
        if case == "user":  # parameters frozen, a spike count: the broadcast spike gradient, no parameters' gradients
            layer.requires_grad_(False)
            out[name] += (torch.autograd.grad(layer(xl).sum(), [xl])[0],)
    assert torchop.kernel_calls["cuda_forward"] == before["cuda_forward"] + (2 if case == "user" else 1)
    assert torchop.kernel_calls["cuda_backward"] == before["cuda_backward"] + (2 if case == "user" else 1)
    assert kernels and all(k.calls == 1 for k in kernels)
    (s, final, seq, grads, *more), (rs, rfinal, rseq, rgrads, *rmore) = out["cuda"], out["ref"]
    assert 0.02 < float(s.detach().mean()) < 0.9, "the case must spike, and not always"
    assert torch.equal(s, rs), f"{case}: spikes differ"
    for j, (a, b) in enumerate(zip(final + seq, rfinal + rseq)):
        _close(a, b, f"{case} state {j}", rtol=1e-12, atol=1e-12)
    for j, (a, b) in enumerate(zip(grads + tuple(more), rgrads + tuple(rmore))):
        _close(a, b, f"{case} gradient {j}", rtol=1e-11, atol=1e-13)
    assert all(float(a.abs().max()) > 0 for a in grads), "every input, state and learned parameter gets a gradient"


def test_cuda_source_is_readable_and_refuses_what_it_cannot_run():
    layer = Neuron(USER, learnable={"beta": "neuron", "v_th": "shared"}, shape=(4,))
    v = torchop._cuda_variant(layer._key, torch.float32)[2]
    src = torchgen_cuda.kernel_source(layer.law, v)
    assert "nn_backward_nograd" in src and "nn_sqrt(" in src and "nn_min(nn_max(" in src
    assert "//   if spike: v =" in src  # the law is written at the top
    with pytest.raises(TypeError, match="int32"):
        torchop._cuda_variant(layer._key, torch.int32)
    with pytest.raises(nb.BackendUnavailableError, match="'cupy'"):  # CuPy missing, or the tensors on the CPU
        Neuron(USER, backend="cupy")(torch.rand(3, 2, 4))
    mod = DiscreteNeuron(update="v = v + x", threshold="v >= 1", reset="v = v % 1", name="modulo")
    with pytest.raises(Exception, match="%"):
        torchgen_cuda.kernel_source(Neuron(mod).law, v.__class__((), (), 0, False, False))


def test_launch_path_compiles_the_generated_file_once_without_fma_on_torchs_stream(monkeypatch):
    """With CuPy replaced by ``FakeCupy``: the generated source goes to NVRTC from its cache file (``#line`` names it,
    so compile errors point there) with ``--fmad=false``, the storage type and ``kernels/`` on the include path, once
    per options; each kernel runs one thread per neuron on torch's current stream, with the launcher's arguments."""
    fake = FakeCupy(capabilities=("90",))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: types.SimpleNamespace(cuda_stream=0x7E57))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torchgen_cuda, "to_cupy", lambda t: nb._cupy_view(fake, t.detach()))
    codes = []
    raw = fake.RawModule
    monkeypatch.setattr(fake, "RawModule", lambda code, options=(): codes.append(code) or raw(code, options))
    kernel_loader.clear_cache()
    try:
        layer = Neuron(USER, **CASES["user"][1])
        N = 300
        x, z0 = torch.rand(5, N), torch.zeros(2, N)
        scal, arr = torch.rand(4), torch.rand(1, N)
        for _ in range(2):
            torchop._forward_cuda(x, z0, scal, arr, layer._key, 2.0, False)
        torchop._backward_cuda(torch.ones(()).expand(5, N), z0, x, z0, scal, arr, layer._key, 2.0, True)
    finally:
        kernel_loader.clear_cache()
    path = torchgen_cuda.write(layer.law, torchop._cuda_variant(layer._key, torch.float32)[2])
    assert len(codes) == 1 and codes[0].startswith(f'#line 1 "{path}"\n') and codes[0].endswith(path.read_text())
    (compiled,) = fake.calls("compile")
    assert {"--fmad=false", "-DSCALAR_T=float", f"-I{kernel_dir()}"} <= set(compiled[1])
    calls = fake.calls("call")
    assert [c[1] for c in calls] == ["nn_forward", "nn_forward", "nn_backward"]
    assert all(c[3] == 0x7E57 and c[4] == (2,) and c[5] == (256,) for c in calls)  # 300 neurons: 2 blocks of 256 threads
    assert [len(c[6]) for c in calls] == [10, 10, 15] and calls[2][6][1] == 1  # the broadcast spike gradient read once


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
def test_generated_source_compiles_for_sm90_without_fused_multiply_adds(tmp_path):
    """What NVRTC gets (``--fmad=false``) compiled by nvcc in float64: the entry points take what the launchers pass
    (pointers, int32 flags and sizes, a float64 slope), and a law of + - * /, sqrt, abs, powers and clip with the atan
    surrogate has no fused multiply-add left: the Numba kernels' roundings."""
    layer = Neuron(USER, **CASES["user"][1])
    path = torchgen_cuda.write(layer.law, torchop._cuda_variant(layer._key, F64)[2])
    out = tmp_path / "double.ptx"
    cmd = ["nvcc", "-arch=sm_90", "-ptx", "--std=c++17", "--fmad=false", f"-I{kernel_dir()}", "-DSCALAR_T=double", "-o", str(out), str(path)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-1500:]
    text = out.read_text()
    params = {fn: re.findall(r"\.param \.(\w+)", re.search(rf"\.entry {fn}\((.*?)\)", text, flags=re.S).group(1))
              for fn in ("nn_forward", "nn_backward", "nn_backward_nograd")}
    assert params["nn_forward"] == ["u64"] * 7 + ["u32"] * 3
    assert params["nn_backward"] == params["nn_backward_nograd"] == ["u64", "u32"] + ["u64"] * 5 + ["f64"] + ["u64"] * 5 + ["u32"] * 2
    assert "fma" not in text


# --------------------------------------------------------------------------------------------------------------- on a GPU
@pytest.mark.gpu
@pytest.mark.parametrize("case,dtype", [("qif_adaptation", F64), ("adex_detached", F64), ("user", F64), ("user", torch.float32)])
def test_gpu_layer_equals_the_cpu_kernels(case, dtype):
    definition, opts, scale, offset = CASES[case]
    g = torch.Generator().manual_seed(9)
    x = torch.rand(40, 8, 3, 4, generator=g, dtype=dtype) * scale + offset
    w = torch.randn(x.shape, generator=g, dtype=dtype)
    out = {}
    for device in ("cpu", "cuda"):
        layer = Neuron(definition, dtype=dtype, **opts).to(device)
        xd = x.to(device).requires_grad_()
        before = dict(torchop.kernel_calls)
        s, final = layer.run(xd)
        loss = (s * w.to(device)).sum() + sum(v.square().sum() for v in final.values())
        grads = torch.autograd.grad(loss, [xd, *layer.learned.values()])
        if device == "cuda":
            assert torchop.kernel_calls["cuda_forward"] > before["cuda_forward"] and torchop.kernel_calls["cuda_backward"] > before["cuda_backward"]
        out[device] = [s, *final.values(), *grads]
    assert torch.equal(out["cpu"][0], out["cuda"][0].cpu())  # the same spikes
    # the same arithmetic; the GPU's libm exp (erf surrogate in float64) and the order of the parameters' sums over
    # neurons may differ in the last bits
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == F64 else dict(rtol=1e-5, atol=1e-6)
    for a, b in zip(out["cpu"][1:], out["cuda"][1:]):
        torch.testing.assert_close(b.cpu(), a, **tol)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_gpu_half_layer_spikes_are_the_float32_kernels(dtype):
    g = torch.Generator().manual_seed(10)
    x = (torch.rand(40, 8, 3, 4, generator=g) * 3.0).to(dtype)
    opts = CASES["user"][1]
    spikes = {}
    for device, xd in (("cpu", x.float()), ("cuda", x.to("cuda"))):
        layer = Neuron(USER, **opts).to(device)
        xd = xd.requires_grad_()
        s = layer(xd)
        (gx,) = torch.autograd.grad(s.sum(), [xd])
        assert s.dtype == gx.dtype == xd.dtype
        spikes[device] = (s.float().cpu(), gx.float().cpu())
    assert torch.equal(spikes["cpu"][0], spikes["cuda"][0])
    torch.testing.assert_close(spikes["cuda"][1], spikes["cpu"][1].to(dtype).float(), rtol=0, atol=0)
