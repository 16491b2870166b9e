"""CuPy launchers of ``kernels/alif.cu`` (same signature as ``reference.py``).

The backward launcher reruns the forward kernel to recompute the charges :math:`h_t` and adaptations
:math:`a_{t-1}` (kept in the kernel's arithmetic type: float32, or float64 for float64 tensors), then
runs the backward kernel over them; the forward pass keeps only its input. The parameters go to the kernels
in that arithmetic type too, the scalars and the surrogate slope as float64, and the per-neuron parameter gradients
come back in it (float32 sums for half tensors); the input and state gradients are in the tensors' dtype.
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
        raise TypeError(f"ALIF CUDA kernel supports {list(_SCALAR)}, got {dtype}") from None
    return get_kernel("alif", name, options=(f"-DSCALAR_T={scalar}",), device=device.index)


def _launch(kernel, n: int, device: torch.device, args) -> None:
    _launch_on_device(kernel, n, device, args)  # on the tensors' device, on torch's current stream


def _coefficients(beta, rho, beta_a, n, dtype, decay_input):
    """Per-neuron ``beta``, input scale ``c``, ``rho``, ``beta_a``, contiguous, of length ``n``, in the kernels'
    arithmetic type (float32 for half tensors: the parameters are not rounded to the storage type)."""
    dtype = compute_dtype(dtype)

    def per_neuron(p):
        p = p.detach().to(dtype)
        return (p.expand(n) if p.numel() == 1 else p.reshape(n)).contiguous()

    b = beta.detach().to(dtype)
    c = (1.0 - b) if decay_input else torch.ones_like(b)
    return per_neuron(b), per_neuron(c), per_neuron(rho), per_neuron(beta_a)


def _forward(x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, gamma, soft_reset, decay_input, write_state):
    import numpy as np

    x_seq = x_seq.contiguous()
    T, N = x_seq.shape
    s_seq = torch.empty_like(x_seq)
    v_last, a_last = torch.empty_like(v0), torch.empty_like(a0)
    acc = torch.float64 if x_seq.dtype == torch.float64 else torch.float32
    shape = (T, N) if write_state else (1,)
    h_seq = torch.empty(shape, dtype=acc, device=x_seq.device)
    a_prev = torch.empty(shape, dtype=acc, device=x_seq.device)
    if N == 0 or T == 0:
        v_last.copy_(v0)
        a_last.copy_(a0)
        return s_seq, v_last, a_last, h_seq, a_prev
    coef = _coefficients(beta, rho, beta_a, N, x_seq.dtype, decay_input)
    args = (
        to_cupy(x_seq), to_cupy(v0.contiguous()), to_cupy(a0.contiguous()), *(to_cupy(p) for p in coef),
        to_cupy(s_seq), to_cupy(v_last), to_cupy(a_last), to_cupy(h_seq), to_cupy(a_prev),
        np.int32(T), np.int32(N), np.float64(v_th), np.float64(v_reset), np.float64(gamma), np.int32(soft_reset), np.int32(write_state),
    )
    _launch(_kernel("alif_forward", x_seq.dtype, x_seq.device), N, x_seq.device, args)
    return s_seq, v_last, a_last, h_seq, a_prev


def multi_step_forward(x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, gamma, soft_reset, decay_input, detach_reset, detach_adaptation,
                       surrogate, alpha):
    s_seq, v_last, a_last, _, _ = _forward(x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, gamma, soft_reset, decay_input, False)
    return s_seq, v_last, a_last


def multi_step_backward(grad_s_seq, grad_v_last, grad_a_last, x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, gamma, soft_reset,
                        decay_input, detach_reset, detach_adaptation, surrogate, alpha):
    import numpy as np

    x_seq = x_seq.contiguous()
    T, N = x_seq.shape
    _, _, _, h_seq, a_prev = _forward(x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, gamma, soft_reset, decay_input, True)
    grad_x = torch.empty_like(x_seq)
    grad_v0, grad_a0 = torch.empty_like(v0), torch.empty_like(a0)
    # parameter gradients (sums over T) in the arithmetic type, as the Numba kernels return them: float32 for half tensors
    grads = [torch.empty(N, dtype=h_seq.dtype, device=x_seq.device) for _ in range(3)]
    if N == 0:
        return grad_x, grad_v0, grad_a0, *grads
    coef = _coefficients(beta, rho, beta_a, N, x_seq.dtype, decay_input)
    args = (
        to_cupy(grad_s_seq.contiguous()), to_cupy(grad_v_last.contiguous()), to_cupy(grad_a_last.contiguous()),
        to_cupy(x_seq), to_cupy(v0.contiguous()), to_cupy(h_seq), to_cupy(a_prev), *(to_cupy(p) for p in coef),
        to_cupy(grad_x), to_cupy(grad_v0), to_cupy(grad_a0), *(to_cupy(g) for g in grads),
        np.int32(T), np.int32(N), np.float64(v_th), np.float64(v_reset), np.float64(gamma),
        np.int32(soft_reset), np.int32(decay_input), np.int32(detach_reset), np.int32(detach_adaptation), np.int32(surrogate), np.float64(alpha),
    )
    _launch(_kernel("alif_backward", x_seq.dtype, x_seq.device), N, x_seq.device, args)
    return grad_x, grad_v0, grad_a0, *grads
