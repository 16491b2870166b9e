"""CuPy launchers of ``kernels/ultralif.cu`` (same signature as ``reference.py``).

The forward kernel writes the charges :math:`h_t` (in the kernel's arithmetic type: float32, or float64
for float64 tensors) only when asked (``need_h``); the backward kernel recomputes the spikes from them.
"""

from __future__ import annotations

import torch

from ...backend import compute_dtype, to_cupy
from ...kernel_loader import get_kernel
from ...kernel_loader import launch as _launch_on_device

_SCALAR = {
    torch.float32: "float",
    torch.float64: "double",
    torch.float16: "__half",
    torch.bfloat16: "__nv_bfloat16",
}


def _kernel(name: str, dtype: torch.dtype, device: torch.device):
    try:
        scalar = _SCALAR[dtype]
    except KeyError:
        raise TypeError(f"UltraLIF CUDA kernel supports {list(_SCALAR)}, got {dtype}") from None
    return get_kernel("ultralif", name, options=(f"-DSCALAR_T={scalar}",), device=device.index)


def _launch(kernel, n: int, device: torch.device, args) -> None:
    _launch_on_device(kernel, n, device, args)  # on the tensors' device, on torch's current stream


_acc = compute_dtype


def _per_neuron(eps: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """``eps`` per neuron, in the kernels' arithmetic type (float32 for half tensors: not rounded to the storage type)."""
    eps = eps.detach().to(_acc(dtype))
    return (eps.expand(n) if eps.numel() == 1 else eps.reshape(n)).contiguous()


def multi_step_forward(x_seq, v0, eps, beta, c, v_th, v_reset, soft_reset, need_h=True):
    import numpy as np

    x_seq = x_seq.contiguous()
    T, N = x_seq.shape
    s_seq = torch.empty_like(x_seq)
    v_last = torch.empty_like(v0)
    h_seq = torch.empty((T, N) if need_h else (0, N), dtype=_acc(x_seq.dtype), device=x_seq.device)
    if N == 0 or T == 0:
        v_last.copy_(v0)
        return s_seq, v_last, h_seq
    h_arg = h_seq if need_h else torch.empty(1, dtype=h_seq.dtype, device=x_seq.device)
    args = (
        to_cupy(x_seq), to_cupy(v0.contiguous()), to_cupy(_per_neuron(eps, N, x_seq.dtype)), to_cupy(s_seq), to_cupy(v_last), to_cupy(h_arg),
        np.int32(T), np.int32(N), np.float64(beta), np.float64(c), np.float64(v_th), np.float64(v_reset), np.int32(soft_reset), np.int32(need_h),
    )
    _launch(_kernel("ultralif_forward", x_seq.dtype, x_seq.device), N, x_seq.device, args)
    return s_seq, v_last, h_seq


def multi_step_backward(grad_s_seq, grad_v_last, h_seq, eps, beta, c, v_th, v_reset, soft_reset):
    import numpy as np

    T, N = grad_s_seq.shape
    if h_seq.shape[0] != T:
        raise RuntimeError("UltraLIF backward: the forward pass did not keep its charges (need_h=False)")
    dtype, device = grad_s_seq.dtype, grad_s_seq.device
    gs_scalar = grad_s_seq.numel() > 0 and all(s == 0 for s in grad_s_seq.stride())
    gs = grad_s_seq.reshape(-1)[:1].contiguous() if gs_scalar else grad_s_seq.contiguous()
    grad_x = torch.empty((T, N), dtype=dtype, device=device)
    grad_v0 = torch.empty_like(grad_v_last)
    grad_eps = torch.zeros(N, dtype=dtype, device=device)
    if N == 0:
        return grad_x, grad_v0, grad_eps
    if T == 0:
        grad_v0.copy_(grad_v_last)
        return grad_x, grad_v0, grad_eps
    args = (
        to_cupy(gs), to_cupy(grad_v_last.contiguous()), to_cupy(h_seq.to(_acc(dtype)).contiguous()), to_cupy(_per_neuron(eps, N, dtype)),
        to_cupy(grad_x), to_cupy(grad_v0), to_cupy(grad_eps),
        np.int32(T), np.int32(N), np.float64(beta), np.float64(c), np.float64(v_th), np.float64(v_reset), np.int32(soft_reset), np.int32(gs_scalar),
    )
    _launch(_kernel("ultralif_backward", dtype, device), N, device, args)
    return grad_x, grad_v0, grad_eps
