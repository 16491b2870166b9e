"""Numba CPU kernels of the multi-step LIF law (see ``reference.py`` for the equations).

Parallel over blocks of neurons; inside a block the time loop is outermost and the
neuron loop innermost so that memory is read contiguously and the loop vectorises.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from ...backend import to_numpy
from ..surrogate.cpu import surrogate_grad

_BLOCK = 512


@njit(parallel=True, cache=True, fastmath=False)
def _forward(x, v0, beta, v_th, v_reset, v_leak, soft, decay_input, s_out, h_out, v_out):
    T, N = x.shape
    per_neuron = beta.shape[0] != 1
    n_blocks = (N + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        lo = b * _BLOCK
        hi = min(N, lo + _BLOCK)
        v = v0[lo:hi].copy()
        for t in range(T):
            for j in range(hi - lo):
                i = lo + j
                bt = beta[i] if per_neuron else beta[0]
                c = (1.0 - bt) if decay_input else 1.0
                h = bt * v[j] + (1.0 - bt) * v_leak + c * x[t, i]
                fire = h >= v_th
                h_out[t, i] = h
                s_out[t, i] = 1.0 if fire else 0.0
                if fire:
                    v[j] = h - v_th if soft else v_reset
                else:
                    v[j] = h
        v_out[lo:hi] = v


_BACKWARD: dict = {}


def _backward_kernel(kind: int, soft: bool, detach: bool):
    """The backward kernel compiled for one (surrogate, reset, detach) combination.

    The three are compile-time constants of the closure, so the inner loop carries no branch
    on them (the generic kernel with run-time switches was 2x slower).
    """
    key = (int(kind), bool(soft), bool(detach))
    kernel = _BACKWARD.get(key)
    if kernel is not None:
        return kernel
    KIND, SOFT, DETACH = key

    @njit(parallel=True, cache=True, fastmath=False)
    def backward(gs, ghin, gv_last, h, beta, v_th, v_reset, alpha, gh_out, gv0_out):
        T, N = h.shape
        n_blocks = (N + _BLOCK - 1) // _BLOCK
        for b in prange(n_blocks):
            lo = b * _BLOCK
            hi = min(N, lo + _BLOCK)
            gv = gv_last[lo:hi].copy()
            bt = beta[lo:hi]
            for t in range(T - 1, -1, -1):
                for j in range(hi - lo):
                    i = lo + j
                    ht = h[t, i]
                    sg = surrogate_grad(ht - v_th, KIND, alpha)
                    if SOFT:
                        dv_dh = 1.0 if DETACH else 1.0 - v_th * sg
                    else:
                        s = 1.0 if ht >= v_th else 0.0
                        dv_dh = (1.0 - s) if DETACH else (1.0 - s + (v_reset - ht) * sg)
                    g = gs[t, i] * sg + gv[j] * dv_dh + ghin[t, i]
                    gh_out[t, i] = g
                    gv[j] = bt[j] * g
            gv0_out[lo:hi] = gv

    _BACKWARD[key] = backward
    return backward


def _np(t: torch.Tensor) -> np.ndarray:
    return to_numpy(t.contiguous())


def multi_step_forward(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha):
    x = _np(x_seq)
    s_seq = torch.empty_like(x_seq)
    h_seq = torch.empty_like(x_seq)
    v_last = torch.empty_like(v0)
    b = _np(beta.to(x_seq.dtype))
    f = b.dtype.type
    _forward(x, _np(v0), b, f(v_th), f(v_reset), f(v_leak), soft_reset, decay_input, to_numpy(s_seq), to_numpy(h_seq), to_numpy(v_last))
    return s_seq, h_seq, v_last


def multi_step_backward(grad_s_seq, grad_h_in, grad_v_last, h_seq, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha):
    grad_h = torch.empty_like(h_seq)
    grad_v0 = torch.empty_like(grad_v_last)
    n = h_seq.shape[1]
    b = _np(beta.to(h_seq.dtype).expand(n) if beta.numel() == 1 else beta.to(h_seq.dtype))
    f = b.dtype.type  # scalars in the tensors' precision, so float32 math stays float32 (exp included)
    _backward_kernel(surrogate, soft_reset, detach_reset)(
        _np(grad_s_seq), _np(grad_h_in), _np(grad_v_last), _np(h_seq), b, f(v_th), f(v_reset), f(alpha), to_numpy(grad_h), to_numpy(grad_v0),
    )
    return grad_h, grad_v0
