r"""Numba CPU kernels of the multi-step ALIF law (see ``reference.py`` for the equations).

The layout of :mod:`neuro.ops.lif.cpu`: parallel (``prange``) over blocks of neurons; inside a block
the time loop is outermost and the neuron loop innermost, so memory is read contiguously. The switches (reset,
detach flags, surrogate, a broadcast spike gradient) are runtime arguments of one compiled kernel per direction and
dtype, so no switch combination costs a compile of its own (each cost 10-14 s on a 2-core machine when they were
constants). The forward's reset and the detach flags are loop-invariant selects; the surrogate, and in the backward
recursion the reset and the gradient kind, pick once per row one of several copies of a loop inlined with them as
constants, each vectorised as the kernel specialised to them was.
float32 and float64 each get their own compiled signature; float32 math stays float32. float16 and bfloat16 tensors
(storage types NumPy cannot hand to Numba) are computed in float32, parameters included, and the results cast back
to the tensors' dtypes; parameter gradients stay in float32.

Memory. The forward pass keeps only its input for the backward pass: the op saves ``x_seq`` (4 bytes
per neuron-step in float32, 8 in float64) and ``v0``, ``a0`` (per neuron). The backward kernel
recomputes, block by block, the charges :math:`h_t` (same expressions, so the same bits) into its own
output buffer and the adaptation :math:`a_{t-1}` into a block-local scratch (``T x 512`` values per
thread, freed at the end of the block), then runs the backward recursion over them, overwriting
:math:`h_t` by :math:`\bar x_t`. The potential before each step, needed for :math:`\bar\beta`, is
recomputed from :math:`h_{t-1}` and :math:`a_{t-2}`. A broadcast spike gradient (``loss = s.sum()``:
a stride-0 tensor of ones) is read as its one value.
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


@njit(inline="always", cache=True)
def _surrogate_row(out, h, ap, ba, v_th, kind, alpha, n):
    """``out[j] = surrogate'(h[j] - (v_th + ba[j] ap[j]))``: one loop per surrogate, so the kind is tested once per row (not
    per neuron) and each loop, its kind a constant, vectorises as a kernel compiled for that surrogate alone did."""
    if kind == 0:
        for j in range(n):
            out[j] = surrogate_grad(h[j] - (v_th + ba[j] * ap[j]), 0, alpha)
    elif kind == 1:
        for j in range(n):
            out[j] = surrogate_grad(h[j] - (v_th + ba[j] * ap[j]), 1, alpha)
    elif kind == 2:
        for j in range(n):
            out[j] = surrogate_grad(h[j] - (v_th + ba[j] * ap[j]), 2, alpha)
    elif kind == 3:
        for j in range(n):
            out[j] = surrogate_grad(h[j] - (v_th + ba[j] * ap[j]), 3, alpha)
    elif kind == 4:
        for j in range(n):
            out[j] = surrogate_grad(h[j] - (v_th + ba[j] * ap[j]), 4, alpha)
    elif kind == 5:
        for j in range(n):
            out[j] = surrogate_grad(h[j] - (v_th + ba[j] * ap[j]), 5, alpha)
    else:
        for j in range(n):
            out[j] = surrogate_grad(h[j] - (v_th + ba[j] * ap[j]), 6, alpha)


@njit(inline="always", cache=True)
def _recursion_row(ot, apt, xt, gst, sgt, vpt, gv, ga, g_beta, g_rho, g_beta_a, bt, ct, rt, bat, v_th, v_reset, gamma, x_in_beta,
                   detach_reset, detach_adaptation, n, soft, gs_scalar):
    """One step of the backward recursion over a block's neurons, overwriting ``ot`` (h_t) by the input gradient."""
    zero = const(v_th, 0.0)
    for j in range(n):
        h = ot[j]
        a_prev = apt[j]
        g_spike = gst[0] if gs_scalar else gst[j]
        if soft:
            g_spike = g_spike if detach_reset else g_spike - gv[j] * v_th
        else:
            g_spike = g_spike if detach_reset else g_spike + gv[j] * (v_reset - h)
        g_spike = g_spike if detach_adaptation else g_spike + gamma * ga[j]
        gz = g_spike * sgt[j]
        if soft:
            gh = gz + gv[j]
        else:
            gh = gz + (zero if h - (v_th + bat[j] * a_prev) >= zero else gv[j])
        g_beta[j] += gh * (vpt[j] - x_in_beta * xt[j])
        g_rho[j] += ga[j] * a_prev
        g_beta_a[j] -= gz * a_prev
        ot[j] = ct[j] * gh
        gv[j] = bt[j] * gh
        ga[j] = rt[j] * ga[j] - bat[j] * gz


@njit(parallel=True, cache=True)
def _forward(x, v0, a0, beta, c, rho, beta_a, v_th, v_reset, gamma, soft, s_out, v_out, a_out, block):
    T, N = x.shape
    one = const(v_th, 1.0)
    zero = const(v_th, 0.0)
    n_blocks = (N + block - 1) // block
    for blk in prange(n_blocks):
        lo = blk * block
        hi = min(N, lo + block)
        v = v0[lo:hi].copy()
        a = a0[lo:hi].copy()
        bt, ct, rt, bat = beta[lo:hi], c[lo:hi], rho[lo:hi], beta_a[lo:hi]
        for t in range(T):
            xt = x[t, lo:hi]
            st = s_out[t, lo:hi]
            for j in range(hi - lo):
                h = bt[j] * v[j] + ct[j] * xt[j]
                fire = h - (v_th + bat[j] * a[j]) >= zero
                st[j] = one if fire else zero
                v[j] = (h - v_th if soft else v_reset) if fire else h
                a[j] = rt[j] * a[j] + gamma if fire else rt[j] * a[j]
        v_out[lo:hi] = v
        a_out[lo:hi] = a


@njit(parallel=True, cache=True)
def _backward(gs, gs_scalar, gv_last, ga_last, x, v0, a0, beta, c, rho, beta_a, v_th, v_reset, gamma, alpha, x_in_beta, soft, detach_reset,
              detach_adaptation, kind, gx_out, gv0_out, ga0_out, gbeta_out, grho_out, gbeta_a_out, block):
    T, N = x.shape
    zero = const(v_th, 0.0)
    n_blocks = (N + block - 1) // block
    for blk in prange(n_blocks):
        lo = blk * block
        hi = min(N, lo + block)
        n = hi - lo
        bt, ct, rt, bat = beta[lo:hi], c[lo:hi], rho[lo:hi], beta_a[lo:hi]
        # 1. the block's charges h_t (into gx_out) and adaptations a_{t-1}, exactly as the forward kernel computed them
        ap = np.empty((T, n), dtype=v0.dtype)
        v = v0[lo:hi].copy()
        a = a0[lo:hi].copy()
        for t in range(T):
            xt = x[t, lo:hi]
            ot = gx_out[t, lo:hi]
            apt = ap[t]
            for j in range(n):
                h = bt[j] * v[j] + ct[j] * xt[j]
                fire = h - (v_th + bat[j] * a[j]) >= zero
                ot[j] = h
                apt[j] = a[j]
                v[j] = (h - v_th if soft else v_reset) if fire else h
                a[j] = rt[j] * a[j] + gamma if fire else rt[j] * a[j]
        # 2. the backward recursion, overwriting h_t by the input gradient
        gv = gv_last[lo:hi].copy()
        ga = ga_last[lo:hi].copy()
        g_beta = np.zeros(n, dtype=v0.dtype)
        g_rho = np.zeros(n, dtype=v0.dtype)
        g_beta_a = np.zeros(n, dtype=v0.dtype)
        sgt = np.empty(n, dtype=v0.dtype)
        vpt = np.empty(n, dtype=v0.dtype)
        for t in range(T - 1, -1, -1):
            ot = gx_out[t, lo:hi]
            apt = ap[t]
            xt = x[t, lo:hi]
            gst = gs[0, 0:1] if gs_scalar else gs[t, lo:hi]  # a broadcast spike gradient (gs is [1, 1]): its one value
            # short loops of their own, each vectorised by LLVM (one long loop with all of it was not)
            _surrogate_row(sgt, ot, apt, bat, v_th, kind, alpha, n)
            # v_{t-1}, from h_{t-1} (row t-1 of gx_out is overwritten after this one) and a_{t-2}
            if t > 0:
                hpt = gx_out[t - 1, lo:hi]
                appt = ap[t - 1]
                for j in range(n):
                    hp = hpt[j]
                    fp = hp - (v_th + bat[j] * appt[j]) >= zero
                    vpt[j] = (hp - v_th if soft else v_reset) if fp else hp
            else:
                vpt[:] = v0[lo:hi]
            # the reset and a broadcast gradient change the loop's arithmetic: one copy of it for each (constants inlined;
            # as selects in one loop they cost the default layer's backward 5-20 %)
            if soft and gs_scalar:
                _recursion_row(ot, apt, xt, gst, sgt, vpt, gv, ga, g_beta, g_rho, g_beta_a, bt, ct, rt, bat, v_th, v_reset, gamma, x_in_beta,
                               detach_reset, detach_adaptation, n, True, True)
            elif soft:
                _recursion_row(ot, apt, xt, gst, sgt, vpt, gv, ga, g_beta, g_rho, g_beta_a, bt, ct, rt, bat, v_th, v_reset, gamma, x_in_beta,
                               detach_reset, detach_adaptation, n, True, False)
            elif gs_scalar:
                _recursion_row(ot, apt, xt, gst, sgt, vpt, gv, ga, g_beta, g_rho, g_beta_a, bt, ct, rt, bat, v_th, v_reset, gamma, x_in_beta,
                               detach_reset, detach_adaptation, n, False, True)
            else:
                _recursion_row(ot, apt, xt, gst, sgt, vpt, gv, ga, g_beta, g_rho, g_beta_a, bt, ct, rt, bat, v_th, v_reset, gamma, x_in_beta,
                               detach_reset, detach_adaptation, n, False, False)
        gv0_out[lo:hi] = gv
        ga0_out[lo:hi] = ga
        gbeta_out[lo:hi] = g_beta
        grho_out[lo:hi] = g_rho
        gbeta_a_out[lo:hi] = g_beta_a


def _forward_kernel():
    """The compiled forward kernel, the same for every switch combination (the launchers call it through here, so that
    a test can count the calls into it)."""
    return _forward


def _backward_kernel():
    """The compiled backward kernel, the same for every switch combination."""
    return _backward


def _per_neuron(p: torch.Tensor, n: int, dtype: torch.dtype) -> np.ndarray:
    p = p.detach().to(dtype)
    return to_numpy((p.expand(n) if p.numel() == 1 else p.reshape(n)).contiguous())


def _coefficients(beta, rho, beta_a, n, dtype, decay_input):
    """Per-neuron ``beta``, input scale ``c``, ``rho``, ``beta_a`` as arrays of length ``n``."""
    bt = beta.detach().to(dtype)
    c = (1.0 - bt) if decay_input else torch.ones_like(bt)
    return _per_neuron(bt, n, dtype), _per_neuron(c, n, dtype), _per_neuron(rho, n, dtype), _per_neuron(beta_a, n, dtype)


def multi_step_forward(x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, gamma, soft_reset, decay_input, detach_reset, detach_adaptation,
                       surrogate, alpha):
    work = _work(x_seq.dtype)
    xw = x_seq.to(work)
    x = _np(xw)
    n = x_seq.shape[1]
    s_seq = buffers.empty_like(xw)
    v_last = torch.empty(n, dtype=work)
    a_last = torch.empty(n, dtype=work)
    f = x.dtype.type  # scalars in the working precision, so float32 math stays float32
    with threads_for(x.size):
        _forward_kernel()(x, _np(v0.to(work)), _np(a0.to(work)), *_coefficients(beta, rho, beta_a, n, work, decay_input), f(v_th), f(v_reset), f(gamma),
                          bool(soft_reset), to_numpy(s_seq), to_numpy(v_last), to_numpy(a_last), block_size(*x.shape, x.itemsize, tiles=2))
    return s_seq.to(x_seq.dtype), v_last.to(v0.dtype), a_last.to(a0.dtype)


def multi_step_backward(grad_s_seq, grad_v_last, grad_a_last, x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, gamma, soft_reset,
                        decay_input, detach_reset, detach_adaptation, surrogate, alpha):
    work = _work(x_seq.dtype)
    x = _np(x_seq.to(work))
    n = x_seq.shape[1]
    grad_x = buffers.empty(x_seq.shape, work)
    grad_v0, grad_a0 = torch.empty(n, dtype=work), torch.empty(n, dtype=work)
    grads = [torch.empty(n, dtype=work) for _ in range(3)]
    f = x.dtype.type
    gs_scalar = _broadcast_scalar(grad_s_seq)
    gs = to_numpy(grad_s_seq.reshape(-1)[:1].to(work).contiguous().reshape(1, 1)) if gs_scalar else _np(grad_s_seq.to(work))
    with threads_for(x.size):
        _backward_kernel()(
            gs, bool(gs_scalar), _np(grad_v_last.to(work)), _np(grad_a_last.to(work)), x, _np(v0.to(work)), _np(a0.to(work)),
            *_coefficients(beta, rho, beta_a, n, work, decay_input), f(v_th), f(v_reset), f(gamma), f(alpha), f(1.0 if decay_input else 0.0),
            bool(soft_reset), bool(detach_reset), bool(detach_adaptation), int(surrogate),
            to_numpy(grad_x), to_numpy(grad_v0), to_numpy(grad_a0), *(to_numpy(g) for g in grads), block_size(*x.shape, x.itemsize, tiles=2),
        )
    return grad_x.to(x_seq.dtype), grad_v0.to(v0.dtype), grad_a0.to(a0.dtype), *grads
