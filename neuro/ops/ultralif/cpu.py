r"""Numba CPU kernels of the multi-step UltraLIF law (see ``reference.py`` for the equations).

The layout of :mod:`neuro.ops.alif.cpu`: parallel (``prange``) over blocks of neurons; inside a block
the time loop is outermost and the neuron loop innermost, so memory is read contiguously. The reset mode, whether
the charges are written and a broadcast spike gradient are runtime arguments, so each kernel is compiled once per dtype,
not once per switch combination (the forward: loop-invariant selects; the backward: its loop inlined once per reset and
gradient kind, chosen per row). float32 and float64 each get their own compiled
signature and float32 math stays float32 (the sigmoid's exponential is
:func:`neuro.ops.fastmath.fast_exp`, so the loops vectorise); float16 and bfloat16 tensors are computed
in float32 and the results cast back.

Memory. The backward pass needs the charges :math:`h_t` only: the forward kernel writes them when a
gradient is wanted (4 bytes per neuron-step in float32, float16 and bfloat16, 8 in float64) and the backward kernel
recomputes :math:`z_t` and :math:`s_t` from them (one exponential per neuron-step) instead of rerunning
the forward recursion over the input. A broadcast spike gradient (``loss = s.sum()``: a stride-0
tensor of ones) is read as its one value.
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
from ..fastmath import const, fast_exp


@njit(parallel=True, cache=True)
def _forward(x, v0, eps, beta, c, v_th, v_reset, soft, write_h, s_out, h_out, v_out, block):
    T, N = x.shape
    one = const(v_th, 1.0)
    n_blocks = (N + block - 1) // block
    for blk in prange(n_blocks):
        lo = blk * block
        hi = min(N, lo + block)
        v = v0[lo:hi].copy()
        et = eps[lo:hi]
        # without write_h, the charges go to a block-local row that is overwritten every step (a store, not a branch)
        h_row = np.empty(0 if write_h else hi - lo, dtype=v0.dtype)
        for t in range(T):
            xt = x[t, lo:hi]
            st = s_out[t, lo:hi]
            ht = h_out[t, lo:hi] if write_h else h_row
            for j in range(hi - lo):
                h = beta * v[j] + c * xt[j]
                s = one / (one + fast_exp(-((h - v_th) / et[j])))
                st[j] = s
                ht[j] = h
                v[j] = h - v_th * s if soft else h * (one - s) + v_reset * s
        v_out[lo:hi] = v


@njit(inline="always", cache=True)
def _recursion_row(ht, ot, gst, et, gv, g_eps, beta, c, v_th, v_reset, n, soft, gs_scalar):
    """One step of the backward recursion over a block's neurons (the input gradient into ``ot``)."""
    one = const(v_th, 1.0)
    for j in range(n):
        h = ht[j]
        e = et[j]
        z = (h - v_th) / e
        s = one / (one + fast_exp(-z))
        g_spike = gst[0] if gs_scalar else gst[j]
        if soft:
            g_spike = g_spike - v_th * gv[j]
        else:
            g_spike = g_spike + (v_reset - h) * gv[j]
        gz = g_spike * (s * (one - s))
        if soft:
            gh = gz / e + gv[j]
        else:
            gh = gz / e + gv[j] * (one - s)
        g_eps[j] -= gz * z / e
        ot[j] = c * gh
        gv[j] = beta * gh


@njit(parallel=True, cache=True)
def _backward(gs, gs_scalar, gv_last, h_seq, eps, beta, c, v_th, v_reset, soft, gx_out, gv0_out, geps_out, block):
    T, N = h_seq.shape
    n_blocks = (N + block - 1) // block
    for blk in prange(n_blocks):
        lo = blk * block
        hi = min(N, lo + block)
        n = hi - lo
        gv = gv_last[lo:hi].copy()
        g_eps = np.zeros(n, dtype=gv.dtype)
        et = eps[lo:hi]
        for t in range(T - 1, -1, -1):
            ht = h_seq[t, lo:hi]
            ot = gx_out[t, lo:hi]
            gst = gs[0, 0:1] if gs_scalar else gs[t, lo:hi]  # a broadcast spike gradient (gs is [1, 1]): its one value
            # one copy of the loop per (reset, broadcast gradient), constants inlined, rather than selects in one loop
            if soft and gs_scalar:
                _recursion_row(ht, ot, gst, et, gv, g_eps, beta, c, v_th, v_reset, n, True, True)
            elif soft:
                _recursion_row(ht, ot, gst, et, gv, g_eps, beta, c, v_th, v_reset, n, True, False)
            elif gs_scalar:
                _recursion_row(ht, ot, gst, et, gv, g_eps, beta, c, v_th, v_reset, n, False, True)
            else:
                _recursion_row(ht, ot, gst, et, gv, g_eps, beta, c, v_th, v_reset, n, False, False)
        gv0_out[lo:hi] = gv
        geps_out[lo:hi] = g_eps


def _forward_kernel():
    """The compiled forward kernel, the same for both resets and with or without the charges (the launchers call it
    through here, so that a test can count the calls into it)."""
    return _forward


def _backward_kernel():
    """The compiled backward kernel, the same for both resets and a full or broadcast spike gradient."""
    return _backward


def _scalar_type(dtype: torch.dtype):
    return np.float64 if dtype == torch.float64 else np.float32


def _per_neuron(p: torch.Tensor, n: int, dtype: torch.dtype) -> np.ndarray:
    p = p.detach().to(dtype)
    return to_numpy((p.expand(n) if p.numel() == 1 else p.reshape(n)).contiguous())


def multi_step_forward(x_seq, v0, eps, beta, c, v_th, v_reset, soft_reset, need_h=True):
    dtype = x_seq.dtype
    work = _work(dtype)
    T, n = x_seq.shape
    xw = x_seq.to(work)
    s_seq = buffers.empty((T, n), work)
    h_seq = buffers.empty((T, n), work) if need_h else torch.empty((0, n), dtype=work)
    v_last = torch.empty(n, dtype=work)
    f = _scalar_type(work)  # scalars in the tensors' precision, so float32 math stays float32
    h_np = to_numpy(h_seq) if need_h else np.empty((1, 1), dtype=f)
    with threads_for(T * n):
        _forward_kernel()(_np(xw), _np(v0.to(work)), _per_neuron(eps, n, work), f(beta), f(c), f(v_th), f(v_reset), bool(soft_reset),
                          bool(need_h), to_numpy(s_seq), h_np, to_numpy(v_last), block_size(T, n, work.itemsize, tiles=2))
    return s_seq.to(dtype), v_last.to(dtype), h_seq  # the charges stay in the working type (float32 for half tensors)


def multi_step_backward(grad_s_seq, grad_v_last, h_seq, eps, beta, c, v_th, v_reset, soft_reset):
    dtype = grad_s_seq.dtype
    work = _work(dtype)
    T, n = grad_s_seq.shape
    if h_seq.shape[0] != T:
        raise RuntimeError("UltraLIF backward: the forward pass did not keep its charges (need_h=False)")
    grad_x = buffers.empty((T, n), work)
    grad_v0 = torch.empty(n, dtype=work)
    grad_eps = torch.empty(n, dtype=work)
    f = _scalar_type(work)
    gs_scalar = _broadcast_scalar(grad_s_seq)
    gs = grad_s_seq.reshape(-1)[:1].to(work).reshape(1, 1).contiguous() if gs_scalar else grad_s_seq.to(work).contiguous()
    with threads_for(T * n):
        _backward_kernel()(to_numpy(gs), bool(gs_scalar), _np(grad_v_last.to(work)), _np(h_seq.to(work)), _per_neuron(eps, n, work), f(beta),
                           f(c), f(v_th), f(v_reset), bool(soft_reset), to_numpy(grad_x), to_numpy(grad_v0), to_numpy(grad_eps),
                           block_size(T, n, work.itemsize, tiles=2))
    return grad_x.to(dtype), grad_v0.to(dtype), grad_eps.to(dtype)
