"""The training-layer CUDA kernels on a GPU: what the host emulation and the fake CuPy cannot show (skipped without one).

bfloat16 / float16 hand-over to CuPy, float64 thresholds, half-precision backward spikes, capture in a
``torch.cuda.graph`` (torch's current stream is not the default one there), every variant compiling through NVRTC,
and launches on a tensor's device when it is not the current one.
"""

from __future__ import annotations

import pytest
import torch

from neuro import backend as nb
from neuro import kernel_loader
from neuro.ops.alif import ALIFParams
from neuro.ops.alif.autograd import alif_multi_step
from neuro.ops.integer_lif import IntegerLIFParams
from neuro.ops.integer_lif.autograd import integer_lif_multi_step
from neuro.ops.lif import LIFParams
from neuro.ops.lif import cpu as lif_cpu
from neuro.ops.lif import cuda as lif_cuda
from neuro.ops.lif import reference as lif_ref
from neuro.ops.lif.autograd import lif_multi_step
from neuro.ops.ultralif import UltraLIFParams
from neuro.ops.ultralif.autograd import ultralif_multi_step

pytestmark = pytest.mark.gpu

HALF = [pytest.param(torch.float16, 2.0**-11, id="f16"), pytest.param(torch.bfloat16, 2.0**-8, id="bf16")]


@pytest.mark.parametrize("dtype, name", [(torch.bfloat16, "uint16"), (torch.float16, "float16"), (torch.float32, "float32")])
def test_hand_over_of_half_types_shares_memory(dtype, name):
    import cupy

    t = (torch.arange(12, device="cuda") * 0.5).to(dtype).reshape(3, 4)[:, 1:]
    a = nb.to_cupy(t)
    assert a.data.ptr == t.data_ptr() and str(a.dtype) == name and a.shape == (3, 3)
    torch.cuda.synchronize()
    assert cupy.asnumpy(a).tobytes() == t.cpu().contiguous().view(torch.int16 if t.element_size() == 2 else torch.int32).numpy().tobytes()


@pytest.mark.parametrize("op", ["lif", "alif", "integer_lif", "ultralif"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
def test_every_op_runs_forward_and_backward_in_half_precision(op, dtype):
    torch.manual_seed(0)
    x = (torch.randn(6, 4, 32, device="cuda") * 0.6 + 0.6).to(dtype).requires_grad_(True)
    if op == "lif":
        out = lif_multi_step(x, None, 0.9, LIFParams(), backend="cupy")[0]
    elif op == "alif":
        out = alif_multi_step(x, None, None, 0.9, 0.99, 1.8, ALIFParams(), backend="cupy")[0]
    elif op == "integer_lif":
        out = integer_lif_multi_step(x, None, IntegerLIFParams(), backend="cupy")[0]
    else:
        out = ultralif_multi_step(x, None, 0.2, UltraLIFParams(), backend="cupy")[0]
    (g,) = torch.autograd.grad(out.float().sum(), x)
    assert out.dtype == dtype and g.dtype == dtype and torch.isfinite(g.float()).all()


def test_lif_float64_charge_exactly_on_threshold_fires():
    x = torch.full((4, 8), 0.3, dtype=torch.float64)
    args = (torch.zeros(8, dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64), 0.3, 0.0, 0.0, False, False, False, 0, 2.0)
    s_numba, _, _ = lif_cpu.multi_step_forward(x, *args)
    s, _, _ = lif_cuda.multi_step_forward(x.cuda(), *(a.cuda() if torch.is_tensor(a) else a for a in args))
    assert int(s_numba.sum()) == 32 and torch.equal(s.cpu(), s_numba)


@pytest.mark.parametrize("dtype, ulp", HALF)
def test_lif_half_backward_uses_the_forward_spikes(dtype, ulp):
    """Every neuron: h_1 = 1 - ulp/2 < v_th = 1 (exact in float32, no contraction can change it), which rounds to 1.0 in
    ``dtype``; the backward must not see a spike there (see test_cuda_precision_emulated.py for the emulated twin)."""
    n = 256
    x = torch.tensor([1.0 - ulp, 0.5, 0.25], device="cuda").to(dtype)[:, None].expand(3, n).contiguous()
    v0 = torch.zeros(n, dtype=dtype, device="cuda")
    beta = torch.tensor([0.5], device="cuda")
    scalars = (1.0, 0.0, 0.0, False, False, True, 0, 4.0)
    grads = (torch.ones(3, n, dtype=dtype, device="cuda"), torch.zeros(3, n, dtype=dtype, device="cuda"), torch.ones(n, dtype=dtype, device="cuda"))
    s_ref, _, _ = lif_ref.multi_step_forward(x.float(), v0.float(), beta, *scalars)
    gh_ref, gv_ref = lif_ref.multi_step_backward(*(t.float() for t in grads), x.float(), v0.float(), beta, *scalars)
    s, _, _ = lif_cuda.multi_step_forward(x, v0, beta, *scalars)
    gh, gv = lif_cuda.multi_step_backward(*grads, x, v0, beta, *scalars)
    assert torch.equal(s.float(), s_ref) and s_ref[1].sum() == 0
    torch.testing.assert_close(gh.float(), gh_ref, rtol=2e-2, atol=1e-2)
    torch.testing.assert_close(gv.float(), gv_ref, rtol=2e-2, atol=1e-2)


def test_lif_launchers_are_captured_in_a_torch_cuda_graph():
    """torch.cuda.graph captures on a side stream: the kernels must be launched there (not on CuPy's stream) and the
    hand-over must not synchronise with the legacy default stream (DLPack did: capture failed)."""
    torch.manual_seed(1)
    T, n = 8, 4096
    x = torch.randn(T, n, device="cuda") + 0.5
    v0 = torch.zeros(n, device="cuda")
    beta = torch.tensor([0.9], device="cuda")
    scalars = LIFParams().kernel_args()
    grads = (torch.ones(T, n, device="cuda"), torch.zeros(T, n, device="cuda"), torch.zeros(n, device="cuda"))
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up: compile and load the modules outside the capture
        lif_cuda.multi_step_forward(x, v0, beta, *scalars)
        lif_cuda.multi_step_backward(*grads, x, v0, beta, *scalars)
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        s, h, v = lif_cuda.multi_step_forward(x, v0, beta, *scalars)
        gh, gv = lif_cuda.multi_step_backward(*grads, x, v0, beta, *scalars)
    x.copy_(torch.randn(T, n, device="cuda") + 0.5)  # new input, replayed
    graph.replay()
    torch.cuda.synchronize()
    s2, h2, v2 = lif_cuda.multi_step_forward(x, v0, beta, *scalars)
    gh2, gv2 = lif_cuda.multi_step_backward(*grads, x, v0, beta, *scalars)
    torch.cuda.synchronize()
    assert s.sum() > 0
    for a, b in ((s, s2), (h, h2), (v, v2), (gh, gh2), (gv, gv2)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("src", ["lif", "alif", "integer_lif", "ultralif"])
def test_every_variant_compiles_through_nvrtc_on_this_device(src):
    kernel_loader.clear_cache()
    for scalar in ("float", "double", "__half", "__nv_bfloat16"):
        options = [(f"-DSCALAR_T={scalar}",)]
        if src == "lif" and scalar.startswith("__"):
            options.append((f"-DSCALAR_T={scalar}", "-DCHARGE_T=acc_t"))
        for opts in options:
            kernel_loader.load_module(src, opts).get_function(f"{src}_forward")


def test_kernels_run_on_the_tensors_device_when_it_is_not_the_current_one():
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    torch.manual_seed(2)
    x = torch.randn(8, 1000) + 0.5
    ref = lif_multi_step(x.to("cuda:0"), None, 0.9, LIFParams(), backend="cupy")[0].cpu()
    with torch.cuda.device(0):
        got = lif_multi_step(x.to("cuda:1"), None, 0.9, LIFParams(), backend="cupy")[0]
    assert got.device == torch.device("cuda:1") and torch.equal(got.cpu(), ref)
