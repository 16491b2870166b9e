"""The launch path of the training-layer CUDA kernels, with CuPy replaced by ``fake_cupy.FakeCupy`` (no GPU needed).

- hand-over: tensors reach CuPy as views built from their address (no DLPack), bfloat16 as uint16 memory;
- streams: every kernel runs on torch's current stream (what a ``torch.cuda.graph`` capture records), not on CuPy's;
- devices: modules are compiled, looked up and launched on the tensors' device, and a device below compute
  capability 6.0 is refused with a clear error (and is no reason to pick the CuPy backend automatically).
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from neuro import backend as nb
from neuro import kernel_loader
from neuro.ops.alif import ALIFParams
from neuro.ops.alif import cuda as alif_cuda
from neuro.ops.integer_lif import cuda as integer_lif_cuda
from neuro.ops.lif import LIFParams
from neuro.ops.lif import cuda as lif_cuda
from neuro.ops.ultralif import cuda as ultralif_cuda

from .fake_cupy import LEGACY_STREAM, FakeCupy

TORCH_STREAM = 0x7E57  # the pointer of "torch's current stream" in these tests


@pytest.fixture
def fake_cupy(monkeypatch):
    """FakeCupy as ``cupy``; torch's current stream is TORCH_STREAM on every device; caches cleared before and after."""
    fake = FakeCupy(capabilities=("90", "80"))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    streams = []

    def current_stream(device=None):
        streams.append(device)
        return types.SimpleNamespace(cuda_stream=TORCH_STREAM)

    monkeypatch.setattr(torch.cuda, "current_stream", current_stream)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    fake.torch_stream_devices = streams
    kernel_loader.clear_cache()
    nb._import_error.cache_clear()
    yield fake
    kernel_loader.clear_cache()
    nb._import_error.cache_clear()


def _through_fake(monkeypatch, module, fake):
    """Let ``module`` hand CPU tensors to the fake (``to_cupy`` minus its CUDA-device check) and launch through it."""
    monkeypatch.setattr(module, "to_cupy", lambda t: nb._cupy_view(fake, t.detach()))


# ---------------------------------------------------------------- hand-over (item 3)


@pytest.mark.parametrize("dtype, name, size", [(torch.float32, "float32", 4), (torch.float64, "float64", 8), (torch.float16, "float16", 2),
                                               (torch.bfloat16, "uint16", 2), (torch.uint8, "uint8", 1)])
def test_view_spec_maps_every_kernel_dtype_bfloat16_as_uint16(dtype, name, size):
    t = torch.zeros(3, 5, dtype=dtype)
    spec = nb.cupy_view_spec(t)
    assert spec == dict(ptr=t.data_ptr(), nbytes=15 * size, shape=(3, 5), strides=(5 * size, size), dtype=name)
    col = t[:, 1]  # a strided view spans from its first to its last element
    assert nb.cupy_view_spec(col) == dict(ptr=col.data_ptr(), nbytes=(2 * 5 + 1) * size, shape=(3,), strides=(5 * size,), dtype=name)
    assert nb.cupy_view_spec(t[:0])["nbytes"] == 0


def test_view_spec_refuses_dtypes_without_a_kernel_type():
    with pytest.raises(TypeError, match="complex64"):
        nb.cupy_view_spec(torch.zeros(2, dtype=torch.complex64))


def test_bfloat16_goes_over_as_uint16_memory_without_dlpack(fake_cupy):
    t = torch.arange(6, dtype=torch.bfloat16).reshape(2, 3)
    a = nb._cupy_view(fake_cupy, t)
    assert a.dtype == "uint16" and a.ptr == t.data_ptr() and a.shape == (2, 3) and a.strides == (6, 2)
    assert a.owner is t  # the view keeps the tensor's memory alive
    assert not fake_cupy.log  # nothing was launched or synchronised to make it


# ---------------------------------------------------------------- streams (item 7) and devices (item 10)


def test_launch_runs_on_torchs_current_stream_of_the_tensors_device(fake_cupy):
    kernel = fake_cupy.RawModule("").get_function("k")
    kernel_loader.launch(kernel, 1000, torch.device("cuda", 1), (np.int32(3),))
    (_, name, device, stream, grid, block, args), = fake_cupy.calls("call")
    assert (device, stream) == (1, TORCH_STREAM)
    assert fake_cupy.torch_stream_devices == [1]  # torch's stream of that device, not of the current one
    assert grid == (4,) and block == (256,) and args == (np.int32(3),)
    assert fake_cupy.devices == [0] and fake_cupy.streams == [LEGACY_STREAM]  # both restored after the launch
    kernel_loader.launch(kernel, 0, 0, ())  # an empty launch still has one block (the kernels return at i >= N)
    assert fake_cupy.calls("call")[-1][4] == (1,)


def test_modules_are_compiled_and_looked_up_on_the_asked_device(fake_cupy):
    kernel_loader.get_kernel("lif", "lif_forward", ("-DSCALAR_T=float",), device=1)
    (_, opts, dev), = fake_cupy.calls("compile")
    assert dev == 1 and "-DSCALAR_T=float" in opts
    assert fake_cupy.calls("get_function") == [("get_function", "lif_forward", 1)]
    kernel_loader.get_kernel("lif", "lif_backward", ("-DSCALAR_T=float",), device=1)
    assert len(fake_cupy.calls("compile")) == 1  # cached per (source, options, device)
    kernel_loader.get_kernel("lif", "lif_forward", ("-DSCALAR_T=float",), device=0)
    assert [c[2] for c in fake_cupy.calls("compile")] == [1, 0]


def test_a_device_below_sm60_is_refused_by_the_loader(fake_cupy):
    fake_cupy.capabilities[1] = "52"
    with pytest.raises(kernel_loader.UnsupportedDeviceError, match=r"device 1 \(Fake GPU 1\) has compute capability 5\.2.*6\.0 or newer"):
        kernel_loader.load_module("lif", ("-DSCALAR_T=float",), device=1)
    assert not fake_cupy.calls("compile")
    assert isinstance(kernel_loader.UnsupportedDeviceError("x"), nb.BackendUnavailableError)
    kernel_loader.load_module("lif", ("-DSCALAR_T=float",), device=0)  # the sm_90 one is fine


def test_only_old_devices_mean_cupy_is_unavailable(fake_cupy, caplog):
    fake_cupy.capabilities[:] = ["52", "37"]
    reason = nb._import_error("cupy")
    assert reason is not None and "compute capability 5.2, 3.7" in reason and "6.0" in reason
    nb._log_fallback.cache_clear()
    assert nb.resolve("cuda") == "torch"  # the automatic choice falls back to the reference
    with pytest.raises(nb.BackendUnavailableError, match="compute capability"):
        nb.resolve("cuda", backend="cupy")
    nb._import_error.cache_clear()
    fake_cupy.capabilities[:] = ["52", "90"]  # one usable device is enough
    assert nb._import_error("cupy") is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["f32", "bf16"])
def test_launchers_hand_over_views_and_launch_on_torchs_stream(monkeypatch, fake_cupy, dtype):
    """Every launcher: views made from addresses (the fake's from_dlpack fails), launched on torch's current stream."""
    for module in (lif_cuda, alif_cuda, integer_lif_cuda, ultralif_cuda):
        _through_fake(monkeypatch, module, fake_cupy)
    T, n = 5, 7
    x = (torch.rand(T, n) + 0.5).to(dtype)
    z = torch.zeros(n, dtype=dtype)
    lif_cuda.multi_step_backward(torch.ones(T, n, dtype=dtype), torch.zeros(T, n, dtype=dtype), z, x, z, torch.tensor([0.9]),
                                 *LIFParams().kernel_args())
    alif_cuda.multi_step_forward(x, z, z, torch.tensor([0.9]), torch.tensor([0.99]), torch.tensor([1.8]), *ALIFParams().kernel_args())
    integer_lif_cuda.multi_step_forward(x, z, 0.5, 1.0, 0.3, 4, 4.0, False)
    ultralif_cuda.multi_step_forward(x, z, torch.tensor([0.2]), 0.5, 1.0, 1.0, 0.0, False)
    calls = fake_cupy.calls("call")
    assert [c[1] for c in calls] == ["lif_forward", "lif_backward", "alif_forward", "integer_lif_forward", "ultralif_forward"]
    assert all(c[3] == TORCH_STREAM for c in calls)
    want = "uint16" if dtype == torch.bfloat16 else "float32"
    x_arg = calls[2][6][0]  # alif_forward's x
    assert x_arg.dtype == want and x_arg.shape == (T, n)
    # the backward's recomputed charges are float32 for bfloat16 storage (-DCHARGE_T=acc_t), and so is beta
    h_arg, beta_arg = calls[1][6][3], calls[1][6][4]
    assert h_arg.dtype == "float32" and beta_arg.dtype == "float32"
    compiled = [c[1] for c in fake_cupy.calls("compile")]
    assert any("-DCHARGE_T=acc_t" in o for o in compiled) == (dtype == torch.bfloat16)
