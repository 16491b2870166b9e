"""``neuro::lif_multi_step``: the multi-step LIF law as a torch custom op with an autograd rule.

The op runs whichever backend :func:`neuro.backend.resolve` picks for the tensors'
device (or the one named by ``backend``); its fake implementation lets ``torch.compile``
trace through it. Saved for backward: the input ``x_seq`` only (one value per neuron-step:
4 bytes in float32, 2 in float16/bfloat16) and ``v0``; the backward kernel recomputes the
charges from them. The charges ``h_seq`` are an output only when asked for (``need_h``).
"""

from __future__ import annotations

import torch

from ... import backend as _backend
from ...backend import compute_dtype
from . import reference as _reference
from .params import LIFParams

__all__ = ["lif_multi_step"]


def _impl(name: str, device: torch.device, backend: str):
    return _backend.op("lif", name, device=device, backend=backend or None)


@torch.library.custom_op("neuro::lif_multi_step", mutates_args=())
def _lif_op(
    x_seq: torch.Tensor,
    v0: torch.Tensor,
    beta: torch.Tensor,
    v_th: float,
    v_reset: float,
    v_leak: float,
    soft_reset: bool,
    decay_input: bool,
    detach_reset: bool,
    surrogate: int,
    alpha: float,
    backend: str,
    need_h: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    fwd = _impl("multi_step_forward", x_seq.device, backend)
    s, h, v = fwd(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha, need_h=need_h)
    if h is None:
        h = x_seq.new_empty((0,) + tuple(x_seq.shape[1:]))
    # a float32 beta with half tensors: the reference computes in float32; the outputs are in the tensors' dtype
    return s.to(x_seq.dtype), h.to(x_seq.dtype), v.to(v0.dtype)


@_lif_op.register_fake
def _(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha, backend, need_h):
    h = torch.empty_like(x_seq) if need_h else x_seq.new_empty((0,) + tuple(x_seq.shape[1:]))
    return torch.empty_like(x_seq), h, torch.empty_like(v0)


@torch.library.custom_op("neuro::lif_multi_step_backward", mutates_args=())
def _lif_backward_op(
    grad_s: torch.Tensor,
    grad_h: torch.Tensor,
    grad_v_last: torch.Tensor,
    x_seq: torch.Tensor,
    v0: torch.Tensor,
    beta: torch.Tensor,
    v_th: float,
    v_reset: float,
    v_leak: float,
    soft_reset: bool,
    decay_input: bool,
    detach_reset: bool,
    surrogate: int,
    alpha: float,
    backend: str,
    input_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    bwd = _impl("multi_step_backward", x_seq.device, backend)
    gh, gv0 = bwd(grad_s, grad_h, grad_v_last, x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha,
                  input_grad=input_grad)
    return gh.to(x_seq.dtype), gv0.to(grad_v_last.dtype)


@_lif_backward_op.register_fake
def _(grad_s, grad_h, grad_v_last, x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha, backend, input_grad):
    return torch.empty_like(x_seq), torch.empty_like(grad_v_last)


def _setup_context(ctx, inputs, output):
    x_seq, v0, beta, *scalars = inputs
    ctx.scalars = tuple(scalars[:-1])  # need_h does not matter to the backward
    ctx.save_for_backward(x_seq, v0, beta)
    ctx.set_materialize_grads(False)  # unused outputs' gradients arrive as None, not as [T, N] tensors of zeros


def _zeros_if_none(g, like):
    # a broadcast zero (stride 0): the Numba kernel reads it as one value, the others broadcast it
    return torch.zeros((), dtype=like.dtype, device=like.device).expand_as(like) if g is None else g


def _backward(ctx, grad_s, grad_h, grad_v_last):
    x_seq, v0, beta = ctx.saved_tensors
    v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha, backend = ctx.scalars
    if grad_h is not None and grad_h.numel() == 0:  # h was not an output (need_h=False)
        grad_h = None
    need_beta = ctx.needs_input_grad[2]
    # without a beta gradient the kernel returns the input gradient directly (one pass over memory less)
    grad_first, grad_v0 = _lif_backward_op(
        _zeros_if_none(grad_s, x_seq),
        _zeros_if_none(grad_h, x_seq),
        _zeros_if_none(grad_v_last, v0),
        x_seq,
        v0,
        beta,
        v_th,
        v_reset,
        v_leak,
        soft_reset,
        decay_input,
        detach_reset,
        surrogate,
        alpha,
        backend,
        not need_beta,
    )
    if not need_beta:
        return (grad_first, grad_v0) + (None,) * 12
    grad_h_total = grad_first
    b = beta.to(compute_dtype(x_seq.dtype))  # not rounded to a half type
    s_seq, h_seq, _ = _lif_op(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha, backend, True)
    grad_x = (grad_h_total * (1.0 - b)).to(x_seq.dtype) if decay_input else grad_h_total
    # dh_t/dbeta = v_{t-1} - v_leak - [decay_input] x_t ; v_{t-1} recomputed from h_{t-1}, with the forward's spikes
    # (a half-precision h rounded onto v_th did not fire)
    fired = s_seq > 0
    v_after = torch.where(fired, h_seq - v_th, h_seq) if soft_reset else torch.where(fired, torch.full_like(h_seq, v_reset), h_seq)
    v_prev = torch.cat([v0.unsqueeze(0), v_after[:-1]], dim=0)
    dh_db = v_prev - v_leak - (x_seq if decay_input else 0.0)
    g = (grad_h_total.to(b.dtype) * dh_db.to(b.dtype)).sum(dim=0)  # summed over time in the arithmetic type
    grad_beta = g.sum().reshape(beta.shape) if beta.numel() == 1 else g.reshape(beta.shape)
    return (grad_x, grad_v0, grad_beta) + (None,) * 11


_lif_op.register_autograd(_backward, setup_context=_setup_context)


def lif_multi_step(
    x_seq: torch.Tensor,
    v0: torch.Tensor | None,
    beta: torch.Tensor | float,
    params: LIFParams,
    backend: str | None = None,
    need_h: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """All T steps of an LIF layer in one call.

    ``x_seq`` is ``[T, *shape]``; ``v0`` is ``[*shape]`` (``None``: start at ``v_reset``,
    or 0 under soft reset); ``beta`` is a scalar, a 1-element tensor, or a tensor of
    ``shape`` (per-neuron decay, learnable when it requires grad). Returns
    ``(spikes [T, *shape], h_seq [T, *shape], v_last [*shape])`` where ``h_seq`` is the
    membrane potential after charging, before reset. With ``need_h=False`` the fused kernels do
    not write ``h_seq`` (one output stream less) and ``None`` is returned in its place.

    Layers whose law the fused kernels do not implement (``params.fused`` is ``False``:
    ``reset_delay`` or ``strict_threshold``) run :func:`neuro.ops.lif.reference.multi_step_autograd`
    whatever the automatic backend choice; naming ``backend="numba"`` or ``"cupy"`` for them raises ``ValueError``.
    """
    if x_seq.dim() < 1:
        raise ValueError(f"x_seq must be [T, ...], got a {x_seq.dim()}-d tensor")
    if not x_seq.is_floating_point():
        raise TypeError(f"x_seq must be a floating-point tensor, got {x_seq.dtype}")
    T, shape = x_seq.shape[0], x_seq.shape[1:]
    n = 1
    for d in shape:
        n *= d
    if v0 is None:
        v0 = torch.full(shape, 0.0 if params.v_reset is None else params.v_reset, dtype=x_seq.dtype, device=x_seq.device)
    elif v0.shape != shape:
        raise ValueError(f"v0 must have the neuron shape {tuple(shape)}, got {tuple(v0.shape)}")
    if not isinstance(beta, torch.Tensor):
        # float32 for half tensors: the kernels compute in float32, and 0.99 in bfloat16 would be 0.98828125
        beta = torch.tensor([float(beta)], dtype=compute_dtype(x_seq.dtype), device=x_seq.device)
    if beta.numel() == 1:
        beta_flat = beta.reshape(1)
    elif beta.shape == shape or beta.numel() == n:
        beta_flat = beta.reshape(n)
    else:
        beta_flat = beta.expand(shape).reshape(n)
    if not params.fused:
        if backend not in (None, "torch"):
            raise ValueError(f"backend {backend!r} has no kernel for reset_delay / strict_threshold; use backend=None or 'torch'")
        # in the fused kernels' arithmetic type (float32 for half tensors, beta not rounded to them), results in x's dtype
        work = compute_dtype(x_seq.dtype)
        s, h, v = _reference.multi_step_autograd(x_seq.reshape(T, n).to(work), v0.reshape(n).to(work), beta_flat.to(work), *params.kernel_args(),
                                                 reset_delay=params.reset_delay, strict_threshold=params.strict_threshold)
        dtype = x_seq.dtype
        return s.to(dtype).reshape(x_seq.shape), h.to(dtype).reshape(x_seq.shape), v.to(dtype).reshape(shape)
    if backend is not None and not torch.compiler.is_compiling():
        _backend.resolve(x_seq.device, backend)  # raise now, with a clear message, if it cannot run (the op checks again)
    s, h, v = _lif_op(
        x_seq.reshape(T, n),
        v0.reshape(n).to(x_seq.dtype),
        beta_flat,
        *params.kernel_args(),
        backend or "",
        bool(need_h),
    )
    return s.reshape(x_seq.shape), (h.reshape(x_seq.shape) if need_h else None), v.reshape(shape)
