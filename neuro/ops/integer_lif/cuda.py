"""CuPy launchers of ``kernels/integer_lif.cu`` (same signature as ``reference.py``).

The forward kernel writes the straight-through mask (uint8, one byte per neuron-step) only when asked
(``need_mask``); the backward kernel reads that mask and the output gradients, nothing else.
"""

from __future__ import annotations

import torch

from ...backend import to_cupy
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
        raise TypeError(f"integer LIF CUDA kernel supports {list(_SCALAR)}, got {dtype}") from None
    return get_kernel("integer_lif", name, options=(f"-DSCALAR_T={scalar}",), device=device.index)


def _launch(kernel, n: int, device: torch.device, args) -> None:
    _launch_on_device(kernel, n, device, args)  # on the tensors' device, on torch's current stream


def multi_step_forward(x_seq, v0, beta, c, v_th, levels, norm, detach_reset, need_mask=True):
    import numpy as np

    x_seq = x_seq.contiguous()
    T, N = x_seq.shape
    y_seq = torch.empty_like(x_seq)
    v_last = torch.empty_like(v0)
    mask = torch.empty((T, N) if need_mask else (0, N), dtype=torch.uint8, device=x_seq.device)
    if N == 0 or T == 0:
        v_last.copy_(v0)
        return y_seq, v_last, mask
    mask_arg = mask if need_mask else torch.empty(1, dtype=torch.uint8, device=x_seq.device)
    args = (
        to_cupy(x_seq), to_cupy(v0.contiguous()), to_cupy(y_seq), to_cupy(v_last), to_cupy(mask_arg),
        np.int32(T), np.int32(N), np.float64(beta), np.float64(c), np.float64(v_th), np.int32(levels), np.float64(norm), np.int32(need_mask),
    )
    _launch(_kernel("integer_lif_forward", x_seq.dtype, x_seq.device), N, x_seq.device, args)
    return y_seq, v_last, mask


def multi_step_backward(grad_y_seq, grad_v_last, mask, beta, c, v_th, norm, detach_reset):
    import numpy as np

    T, N = grad_y_seq.shape
    if mask.shape[0] != T:
        raise RuntimeError("integer LIF backward: the forward pass did not keep its mask (need_mask=False)")
    gs_scalar = grad_y_seq.numel() > 0 and all(s == 0 for s in grad_y_seq.stride())
    gy = grad_y_seq.reshape(-1)[:1].contiguous() if gs_scalar else grad_y_seq.contiguous()
    grad_x = torch.empty((T, N), dtype=grad_y_seq.dtype, device=grad_y_seq.device)
    grad_v0 = torch.empty_like(grad_v_last)
    if N == 0:
        return grad_x, grad_v0
    if T == 0:
        grad_v0.copy_(grad_v_last)
        return grad_x, grad_v0
    args = (
        to_cupy(gy), to_cupy(grad_v_last.contiguous()), to_cupy(mask.contiguous()), to_cupy(grad_x), to_cupy(grad_v0),
        np.int32(T), np.int32(N), np.float64(beta), np.float64(c), np.float64(v_th), np.float64(norm),
        np.int32(detach_reset), np.int32(gs_scalar),
    )
    _launch(_kernel("integer_lif_backward", grad_y_seq.dtype, grad_y_seq.device), N, grad_y_seq.device, args)
    return grad_x, grad_v0
