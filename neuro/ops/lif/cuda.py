"""CuPy launchers of ``kernels/lif.cu`` (same signature as ``reference.py``).

The kernels run on the tensors' device and on torch's current stream (:func:`neuro.kernel_loader.launch`). They
compute in float32 for float32 / float16 / bfloat16 tensors and in float64 for float64 ones; the decay ``beta``
goes to them in that type (not rounded to a half type) and the thresholds as float64. The backward launcher
reruns the forward kernel to recompute the charges, in the arithmetic type (``-DCHARGE_T=acc_t``), so its spikes
are the forward pass's even where rounding a charge to float16 / bfloat16 would carry it onto the threshold.
"""

from __future__ import annotations

import numpy as np
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


def _kernel(name: str, dtype: torch.dtype, device: torch.device, charges_in_acc: bool = False):
    try:
        scalar = _SCALAR[dtype]
    except KeyError:
        raise TypeError(f"LIF CUDA kernel supports {list(_SCALAR)}, got {dtype}") from None
    options = (f"-DSCALAR_T={scalar}",)
    if charges_in_acc and compute_dtype(dtype) != dtype:  # float32 / float64: the charges are already in acc_t
        options += ("-DCHARGE_T=acc_t",)
    return get_kernel("lif", name, options=options, device=device.index)


def _launch(kernel, n: int, device: torch.device, args) -> None:
    _launch_on_device(kernel, n, device, args)


def _forward(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, write_h, charges_in_acc):
    x_seq = x_seq.contiguous()
    T, N = x_seq.shape
    s_seq = torch.empty_like(x_seq)
    h_dtype = compute_dtype(x_seq.dtype) if charges_in_acc else x_seq.dtype
    h_seq = torch.empty((T, N) if write_h else (1,), dtype=h_dtype, device=x_seq.device)
    v_last = torch.empty_like(v0)
    b = beta.detach().to(compute_dtype(x_seq.dtype)).contiguous()
    if N == 0 or T == 0:
        v_last.copy_(v0)
        return s_seq, h_seq, v_last
    args = (
        to_cupy(x_seq), to_cupy(v0.contiguous()), to_cupy(b), to_cupy(s_seq), to_cupy(h_seq), to_cupy(v_last),
        np.int32(T), np.int32(N), np.int32(b.numel() != 1),
        np.float64(v_th), np.float64(v_reset), np.float64(v_leak), np.int32(soft_reset), np.int32(decay_input), np.int32(write_h),
    )
    _launch(_kernel("lif_forward", x_seq.dtype, x_seq.device, charges_in_acc), N, x_seq.device, args)
    return s_seq, h_seq, v_last


def multi_step_forward(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha, need_h=True):
    s_seq, h_seq, v_last = _forward(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, bool(need_h), False)
    return s_seq, (h_seq if need_h else None), v_last


def multi_step_backward(grad_s_seq, grad_h_in, grad_v_last, x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset,
                        surrogate, alpha, input_grad=False):
    # the charges are recomputed by the forward kernel (the forward pass keeps only the input), in the arithmetic type
    _, h_seq, _ = _forward(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, True, True)
    T, N = x_seq.shape
    grad_h = torch.empty(x_seq.shape, dtype=x_seq.dtype, device=x_seq.device)
    grad_v0 = torch.empty_like(grad_v_last)
    b = beta.detach().to(compute_dtype(x_seq.dtype)).contiguous()
    if N == 0 or T == 0:
        grad_v0.copy_(grad_v_last)
        return grad_h, grad_v0
    args = (
        to_cupy(grad_s_seq.contiguous()), to_cupy(grad_h_in.contiguous()), to_cupy(grad_v_last.contiguous()), to_cupy(h_seq), to_cupy(b),
        to_cupy(grad_h), to_cupy(grad_v0),
        np.int32(T), np.int32(N), np.int32(b.numel() != 1),
        np.float64(v_th), np.float64(v_reset), np.int32(soft_reset), np.int32(detach_reset),
        np.int32(surrogate), np.float64(alpha),
    )
    _launch(_kernel("lif_backward", x_seq.dtype, x_seq.device, True), N, x_seq.device, args)
    if input_grad and decay_input:
        grad_h.mul_(1.0 - b)  # in float32 for half types, rounded once
    return grad_h, grad_v0
