"""Numba CPU kernels of the multi-step LIF law (see ``reference.py`` for the equations).

Parallel over blocks of neurons; inside a block the time loop is outermost and the neuron loop
innermost, so memory is read contiguously and the neuron loop vectorises. Each kernel is compiled per
combination of its switches (reset, surrogate, ...), which are then constants of the loop: a loop with
run-time switches did not vectorise and ran 2-3x slower. Exponentials in float32 use
:func:`neuro.ops.fastmath.fast_exp` (vectorisable; libm's ``expf`` is not without SVML).

The backward kernel recomputes the block's charges :math:`h_t` from the saved input (the same
expression, so the same bits) into its own output buffer, then runs the backward recursion over them
in place: the forward pass need not store ``h`` at all, and the backward pass reads each input once.
Outputs come from :mod:`neuro.ops.buffers` (memory that stays mapped between calls: no page faults).
Gradients that autograd hands over as a broadcast scalar (``loss = s.sum()``: a stride-0 tensor of
ones; a ``None`` gradient: an expanded zero) are read as that scalar instead of being materialised.
float16 and bfloat16 tensors (storage types NumPy cannot hand to Numba) are computed in float32, ``beta``
included, and the results returned in the tensors' dtypes.
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
from ..surrogate.cpu import surrogate_grad

_FORWARD: dict = {}
_BACKWARD: dict = {}


def _forward_kernel(soft: bool, write_h: bool, shared: bool = False):
    """The forward kernel; ``shared``: ``beta``, ``c``, ``leak`` are one value for every neuron (length-1 arrays)."""
    key = (bool(soft), bool(write_h), bool(shared))
    kernel = _FORWARD.get(key)
    if kernel is not None:
        return kernel
    SOFT, WRITE_H, SHARED = key

    @njit(parallel=True, cache=True)
    def forward(x, v0, beta, c, leak, v_th, v_reset, s_out, h_out, v_out, block):
        T, N = x.shape
        one = const(v_th, 1.0)
        zero = const(v_th, 0.0)
        n_blocks = (N + block - 1) // block
        for b in prange(n_blocks):
            lo = b * block
            hi = min(N, lo + block)
            v = v0[lo:hi].copy()
            bt, ct, lt = (beta, c, leak) if SHARED else (beta[lo:hi], c[lo:hi], leak[lo:hi])
            b0, c0, l0 = beta[0], c[0], leak[0]
            for t in range(T):
                xt = x[t, lo:hi]
                st = s_out[t, lo:hi]
                for j in range(hi - lo):
                    if SHARED:
                        h = b0 * v[j] + l0 + c0 * xt[j]
                    else:
                        h = bt[j] * v[j] + lt[j] + ct[j] * xt[j]
                    fire = h >= v_th
                    if WRITE_H:
                        h_out[t, lo + j] = h
                    st[j] = one if fire else zero
                    if SOFT:
                        v[j] = h - v_th if fire else h
                    else:
                        v[j] = v_reset if fire else h
            v_out[lo:hi] = v

    _FORWARD[key] = forward
    return forward


def _backward_kernel(kind: int, soft: bool, detach: bool, gs_scalar: bool, gh_scalar: bool, shared: bool = False):
    """The backward kernel for one combination of (surrogate, reset, detach, broadcast gradients, shared coefficients)."""
    key = (int(kind), bool(soft), bool(detach), bool(gs_scalar), bool(gh_scalar), bool(shared))
    kernel = _BACKWARD.get(key)
    if kernel is not None:
        return kernel
    KIND, SOFT, DETACH, GS_SCALAR, GH_SCALAR, SHARED = key

    @njit(parallel=True, cache=True)
    def backward(gs, ghin, gv_last, x, v0, beta, c, leak, scale, v_th, v_reset, alpha, out, gv0_out, block):
        T, N = x.shape
        one = const(v_th, 1.0)
        zero = const(v_th, 0.0)
        n_blocks = (N + block - 1) // block
        for b in prange(n_blocks):
            lo = b * block
            hi = min(N, lo + block)
            bt, ct, lt, sc = (beta, c, leak, scale) if SHARED else (beta[lo:hi], c[lo:hi], leak[lo:hi], scale[lo:hi])
            b0, c0, l0, s0 = beta[0], c[0], leak[0], scale[0]
            # 1. the block's charges h_t, exactly as the forward kernel computed them, into `out`
            v = v0[lo:hi].copy()
            for t in range(T):
                xt = x[t, lo:hi]
                ot = out[t, lo:hi]
                for j in range(hi - lo):
                    if SHARED:
                        h = b0 * v[j] + l0 + c0 * xt[j]
                    else:
                        h = bt[j] * v[j] + lt[j] + ct[j] * xt[j]
                    ot[j] = h
                    if SOFT:
                        v[j] = h - v_th if h >= v_th else h
                    else:
                        v[j] = v_reset if h >= v_th else h
            # 2. the backward recursion, overwriting h_t by the gradient
            gv = gv_last[lo:hi].copy()
            sgt = np.empty(hi - lo, dtype=gv.dtype)
            for t in range(T - 1, -1, -1):
                ot = out[t, lo:hi]
                gst = gs[0, 0:1] if GS_SCALAR else gs[t, lo:hi]
                ght = ghin[0, 0:1] if GH_SCALAR else ghin[t, lo:hi]
                # the surrogate in a loop of its own: LLVM vectorises it (it did not inside the longer loop)
                for j in range(hi - lo):
                    sgt[j] = surrogate_grad(ot[j] - v_th, KIND, alpha)
                for j in range(hi - lo):
                    ht = ot[j]
                    sg = sgt[j]
                    if SOFT:
                        dv_dh = one if DETACH else one - v_th * sg
                    else:
                        s = one if ht >= v_th else zero
                        dv_dh = (one - s) if DETACH else (one - s + (v_reset - ht) * sg)
                    g_s = gst[0] if GS_SCALAR else gst[j]
                    g_h = ght[0] if GH_SCALAR else ght[j]
                    g = g_s * sg + gv[j] * dv_dh + g_h
                    ot[j] = g * (s0 if SHARED else sc[j])
                    gv[j] = (b0 if SHARED else bt[j]) * g
            gv0_out[lo:hi] = gv

    _BACKWARD[key] = backward
    return backward


def _as_2d(t: torch.Tensor, dtype: torch.dtype) -> tuple[np.ndarray, bool]:
    """``(array, is_scalar)`` in ``dtype``: a stride-0 tensor becomes its single value as a ``[1, 1]`` array."""
    if _broadcast_scalar(t):
        return to_numpy(t.reshape(-1)[:1].to(dtype).contiguous().reshape(1, 1)), True
    return _np(t.to(dtype)), False


def _coefficients(beta, n, dtype, v_leak, decay_input):
    """``beta``, input scale ``c`` and leak term ``(1 - beta) v_leak``: arrays of length ``n``, or of length 1
    where ``beta`` is one value for every neuron (the kernels' ``shared`` variant reads them as scalars)."""
    bt = beta.to(dtype).reshape(-1)
    c = (1.0 - bt) if decay_input else torch.ones_like(bt)
    leak = (1.0 - bt) * v_leak
    return bt.contiguous(), c.contiguous(), leak.contiguous()


def multi_step_forward(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha, need_h=True):
    work = _work(x_seq.dtype)
    xw = x_seq.to(work)
    x = _np(xw)
    s_seq = buffers.empty_like(xw)
    h_seq = buffers.empty_like(xw) if need_h else xw.new_empty((0, x_seq.shape[1]))
    v_last = torch.empty(v0.shape, dtype=work)
    bt, c, leak = _coefficients(beta, x_seq.shape[1], work, v_leak, decay_input)
    f = x.dtype.type  # scalars in the working precision, so float32 math stays float32
    with threads_for(x.size):
        _forward_kernel(soft_reset, need_h, bt.numel() == 1)(x, _np(v0.to(work)), to_numpy(bt), to_numpy(c), to_numpy(leak), f(v_th), f(v_reset),
                                            to_numpy(s_seq), to_numpy(h_seq), to_numpy(v_last), block_size(*x.shape, x.itemsize))
    dtype = x_seq.dtype
    return s_seq.to(dtype), (h_seq.to(dtype) if need_h else None), v_last.to(v0.dtype)


def multi_step_backward(grad_s_seq, grad_h_in, grad_v_last, x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset,
                        surrogate, alpha, input_grad=False):
    work = _work(x_seq.dtype)
    x = _np(x_seq.to(work))
    out = buffers.empty(x_seq.shape, work)
    grad_v0 = torch.empty(grad_v_last.shape, dtype=work)
    bt, c, leak = _coefficients(beta, x_seq.shape[1], work, v_leak, decay_input)
    scale = c if input_grad else torch.ones_like(c)
    f = x.dtype.type  # scalars in the working precision, so float32 math stays float32 (exp included)
    gs, gs_scalar = _as_2d(grad_s_seq, work)
    gh, gh_scalar = _as_2d(grad_h_in, work)
    with threads_for(x.size):
        _backward_kernel(surrogate, soft_reset, detach_reset, gs_scalar, gh_scalar, bt.numel() == 1)(
            gs, gh, _np(grad_v_last.to(work)), x, _np(v0.to(work)), to_numpy(bt), to_numpy(c), to_numpy(leak), to_numpy(scale), f(v_th), f(v_reset),
            f(alpha), to_numpy(out), to_numpy(grad_v0), block_size(*x.shape, x.itemsize),
        )
    return out.to(x_seq.dtype), grad_v0.to(grad_v_last.dtype)
