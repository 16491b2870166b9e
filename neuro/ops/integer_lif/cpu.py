r"""Numba CPU kernels of the multi-step integer LIF law (see ``reference.py`` for the equations).

The layout of :mod:`neuro.ops.alif.cpu`: parallel (``prange``) over blocks of neurons; inside a block
the time loop is outermost and the neuron loop innermost, so memory is read contiguously. Writing the mask, the
detach flag and a broadcast output gradient are runtime arguments, so each kernel compiles once per dtype. float32 and
float64 each get their own compiled signature and float32 math stays float32; float16 and bfloat16
tensors are computed in float32 and the results cast back.

Memory. The backward pass needs only whether each charge lay inside the straight-through range,
:math:`m_t = [0 < h_t/\theta < D]`: the forward kernel writes it as one byte per neuron-step (uint8)
when a gradient is wanted, and the backward kernel reads nothing else of the forward pass (neither the
input nor the charges): 1 byte per neuron-step in every precision, against the 4 of the float32 input
that :mod:`neuro.ops.alif` keeps. A broadcast output gradient (``loss = y.sum()``: a stride-0 tensor of
ones) is read as its one value.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from ...backend import to_numpy
from .. import buffers
from .._host import as_array as _np
from .._host import block_size, threads_for
from .._host import broadcast_scalar as _broadcast_scalar
from .._host import work_dtype as _work
from ..fastmath import const


@njit(inline="always", cache=True)
def _forward_row(xt, yt, mt, v, beta, c, v_th, top, norm, n, write_mask):
    """One step of a block's neurons: counts into ``yt``, potentials updated in ``v``, the mask into ``mt`` if asked."""
    zero = const(v_th, 0.0)
    half = const(v_th, 0.5)
    one8 = np.uint8(1)
    zero8 = np.uint8(0)
    for j in range(n):
        h = beta * v[j] + c * xt[j]
        u = h / v_th
        # clip by selects, not min/max (which keep LLVM from vectorising); NaN stays NaN, as in torch.clamp
        uc = zero if u < zero else u
        uc = top if uc > top else uc
        k = np.floor(uc + half)
        yt[j] = k / norm
        v[j] = h - v_th * k
        if write_mask:
            mt[j] = one8 if (u > zero) & (u < top) else zero8


@njit(parallel=True, cache=True)
def _forward(x, v0, beta, c, v_th, levels, norm, write_mask, y_out, mask_out, v_out, block):
    T, N = x.shape
    top = const(v_th, levels)
    n_blocks = (N + block - 1) // block
    for blk in prange(n_blocks):
        lo = blk * block
        hi = min(N, lo + block)
        v = v0[lo:hi].copy()
        for t in range(T):
            xt = x[t, lo:hi]
            yt = y_out[t, lo:hi]
            # one copy of the loop with the mask's store, one without (a constant inlined), chosen per row
            if write_mask:
                _forward_row(xt, yt, mask_out[t, lo:hi], v, beta, c, v_th, top, norm, hi - lo, True)
            else:
                _forward_row(xt, yt, mask_out[0, 0:1], v, beta, c, v_th, top, norm, hi - lo, False)
        v_out[lo:hi] = v


@njit(inline="always", cache=True)
def _recursion_row(mt, ot, gyt, gv, beta, c, v_th, norm, detach_reset, n, gs_scalar):
    """One step of the backward recursion over a block's neurons (the input gradient into ``ot``)."""
    zero = const(v_th, 0.0)
    for j in range(n):
        gk = (gyt[0] if gs_scalar else gyt[j]) / norm
        if not detach_reset:
            gk = gk - v_th * gv[j]
        gh = (gk / v_th if mt[j] != 0 else zero) + gv[j]
        ot[j] = c * gh
        gv[j] = beta * gh


@njit(parallel=True, cache=True)
def _backward(gy, gs_scalar, gv_last, mask, beta, c, v_th, norm, detach_reset, gx_out, gv0_out, block):
    T, N = gx_out.shape
    n_blocks = (N + block - 1) // block
    for blk in prange(n_blocks):
        lo = blk * block
        hi = min(N, lo + block)
        gv = gv_last[lo:hi].copy()
        for t in range(T - 1, -1, -1):
            mt = mask[t, lo:hi]
            ot = gx_out[t, lo:hi]
            gyt = gy[0, 0:1] if gs_scalar else gy[t, lo:hi]  # a broadcast output gradient (gy is [1, 1]): its one value
            # one copy of the loop per gradient kind, a constant inlined, rather than a select in one loop
            if gs_scalar:
                _recursion_row(mt, ot, gyt, gv, beta, c, v_th, norm, detach_reset, hi - lo, True)
            else:
                _recursion_row(mt, ot, gyt, gv, beta, c, v_th, norm, detach_reset, hi - lo, False)
        gv0_out[lo:hi] = gv


def _forward_kernel():
    """The compiled forward kernel, the same with or without the mask (the launchers call it through here, so that a test
    can count the calls into it)."""
    return _forward


def _backward_kernel():
    """The compiled backward kernel, the same for a full or a broadcast output gradient."""
    return _backward


def multi_step_forward(x_seq, v0, beta, c, v_th, levels, norm, detach_reset, need_mask=True):
    dtype = x_seq.dtype
    work = _work(dtype)
    T, n = x_seq.shape
    xw = x_seq.to(work)
    y_seq = buffers.empty((T, n), work)
    v_last = torch.empty(n, dtype=work)
    mask = torch.empty((T, n) if need_mask else (0, n), dtype=torch.uint8)
    f = np.dtype(str(work).removeprefix("torch.")).type  # scalars in the tensors' precision
    mask_np = to_numpy(mask) if need_mask else np.empty((1, 1), dtype=np.uint8)
    with threads_for(T * n):
        _forward_kernel()(_np(xw), _np(v0.to(work)), f(beta), f(c), f(v_th), int(levels), f(norm), bool(need_mask), to_numpy(y_seq), mask_np,
                          to_numpy(v_last), block_size(T, n, work.itemsize))
    return y_seq.to(dtype), v_last.to(dtype), mask


def multi_step_backward(grad_y_seq, grad_v_last, mask, beta, c, v_th, norm, detach_reset):
    dtype = grad_y_seq.dtype
    work = _work(dtype)
    T, n = grad_y_seq.shape
    if mask.shape[0] != T:
        raise RuntimeError("integer LIF backward: the forward pass did not keep its mask (need_mask=False)")
    grad_x = buffers.empty((T, n), work)
    grad_v0 = torch.empty(n, dtype=work)
    f = np.dtype(str(work).removeprefix("torch.")).type
    gs_scalar = _broadcast_scalar(grad_y_seq)
    gy = grad_y_seq.reshape(-1)[:1].to(work).reshape(1, 1).contiguous() if gs_scalar else grad_y_seq.to(work).contiguous()
    with threads_for(T * n):
        _backward_kernel()(to_numpy(gy), bool(gs_scalar), _np(grad_v_last.to(work)), _np(mask), f(beta), f(c), f(v_th), f(norm),
                           bool(detach_reset), to_numpy(grad_x), to_numpy(grad_v0), block_size(T, n, work.itemsize))
    return grad_x.to(dtype), grad_v0.to(dtype)
