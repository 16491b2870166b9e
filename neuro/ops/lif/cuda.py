"""CuPy launchers of ``kernels/lif.cu`` (same signature as ``reference.py``)."""

from __future__ import annotations

import torch

from ...backend import to_cupy
from ...kernel_loader import get_kernel

_THREADS = 256
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
        raise TypeError(f"LIF CUDA kernel supports {list(_SCALAR)}, got {dtype}") from None
    return get_kernel("lif", name, options=(f"-DSCALAR_T={scalar}",), device=device.index)


def _launch(kernel, n: int, device: torch.device, args) -> None:
    import cupy

    blocks = (n + _THREADS - 1) // _THREADS
    with cupy.cuda.Device(device.index), cupy.cuda.ExternalStream(torch.cuda.current_stream(device).cuda_stream):
        kernel((max(blocks, 1),), (_THREADS,), args)


def multi_step_forward(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha, need_h=True):
    import numpy as np

    x_seq = x_seq.contiguous()
    T, N = x_seq.shape
    s_seq = torch.empty_like(x_seq)
    h_seq = torch.empty_like(x_seq)
    v_last = torch.empty_like(v0)
    b = beta.to(x_seq.dtype).contiguous()
    if N == 0 or T == 0:
        v_last.copy_(v0)
        return s_seq, (h_seq if need_h else None), v_last
    kernel = _kernel("lif_forward", x_seq.dtype, x_seq.device)
    args = (
        to_cupy(x_seq), to_cupy(v0.contiguous()), to_cupy(b), to_cupy(s_seq), to_cupy(h_seq), to_cupy(v_last),
        np.int32(T), np.int32(N), np.int32(b.numel() != 1),
        np.float32(v_th), np.float32(v_reset), np.float32(v_leak), np.int32(soft_reset), np.int32(decay_input),
    )
    _launch(kernel, N, x_seq.device, args)
    return s_seq, (h_seq if need_h else None), v_last


def multi_step_backward(grad_s_seq, grad_h_in, grad_v_last, x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset,
                        surrogate, alpha, input_grad=False):
    import numpy as np

    # the charges are recomputed by the forward kernel (the forward pass keeps only the input)
    _, h_seq, _ = multi_step_forward(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha)
    h_seq = h_seq.contiguous()
    T, N = h_seq.shape
    grad_h = torch.empty_like(h_seq)
    grad_v0 = torch.empty_like(grad_v_last)
    b = beta.to(h_seq.dtype).contiguous()
    if N == 0 or T == 0:
        grad_v0.copy_(grad_v_last)
        return grad_h, grad_v0
    kernel = _kernel("lif_backward", h_seq.dtype, h_seq.device)
    args = (
        to_cupy(grad_s_seq.contiguous()), to_cupy(grad_h_in.contiguous()), to_cupy(grad_v_last.contiguous()), to_cupy(h_seq), to_cupy(b),
        to_cupy(grad_h), to_cupy(grad_v0),
        np.int32(T), np.int32(N), np.int32(b.numel() != 1),
        np.float32(v_th), np.float32(v_reset), np.int32(soft_reset), np.int32(detach_reset),
        np.int32(surrogate), np.float32(alpha),
    )
    _launch(kernel, N, h_seq.device, args)
    if input_grad and decay_input:
        grad_h.mul_(1.0 - b)
    return grad_h, grad_v0
