"""``neuro::ultralif_multi_step``: the multi-step UltraLIF law as a torch custom op with an autograd rule.

The op runs whichever backend :func:`neuro.backend.resolve` picks for the tensors' device (or the one
named by ``backend``); its fake implementation lets ``torch.compile`` trace through it. Saved for
backward: the charges ``h_seq`` only (kept in float64 for float64 tensors and float32 otherwise: 4
bytes per neuron-step in float32, float16 and bfloat16, 8 in float64), an output of the forward op
written only when a gradient is wanted (``need_h``), and the temperature ``eps``; the backward recomputes the spikes from them. Gradients reach ``x_seq``,
``v0`` and ``eps`` (the module learns :math:`\\log\\varepsilon` through it); the backward op returns
the temperature's gradient per neuron, and a temperature shared by all neurons gets their sum.

The backward is a custom op without an autograd rule of its own: there is no double backward through
the fused op (as for ``neuro::alif_multi_step``). :func:`neuro.ops.ultralif.reference.multi_step_autograd`
is the differentiable torch form for that.
"""

from __future__ import annotations

import torch

from ... import backend as _backend
from ...backend import compute_dtype
from .params import UltraLIFParams
from .reference import charge_dtype

__all__ = ["ultralif_multi_step"]


def _impl(name: str, device: torch.device, backend: str):
    return _backend.op("ultralif", name, device=device, backend=backend or None)


@torch.library.custom_op("neuro::ultralif_multi_step", mutates_args=())
def _ultralif_op(
    x_seq: torch.Tensor,
    v0: torch.Tensor,
    eps: torch.Tensor,
    beta: float,
    c: float,
    v_th: float,
    v_reset: float,
    soft_reset: bool,
    backend: str,
    need_h: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    fwd = _impl("multi_step_forward", x_seq.device, backend)
    s, v, h = fwd(x_seq, v0, eps, beta, c, v_th, v_reset, soft_reset, need_h=need_h)
    # a float32 eps with half tensors: the reference computes in float32; the outputs are in the tensors' dtypes
    s, v = s.to(x_seq.dtype), v.to(v0.dtype)
    # a custom op's outputs may not alias its inputs (T = 0 hands the initial state straight back)
    return s, (v.clone() if v is v0 else v), h


@_ultralif_op.register_fake
def _(x_seq, v0, eps, beta, c, v_th, v_reset, soft_reset, backend, need_h):
    h = x_seq.new_empty((x_seq.shape[0] if need_h else 0, x_seq.shape[1]), dtype=charge_dtype(x_seq.dtype))
    return torch.empty_like(x_seq), torch.empty_like(v0), h


@torch.library.custom_op("neuro::ultralif_multi_step_backward", mutates_args=())
def _ultralif_backward_op(
    grad_s: torch.Tensor,
    grad_v_last: torch.Tensor,
    h_seq: torch.Tensor,
    eps: torch.Tensor,
    beta: float,
    c: float,
    v_th: float,
    v_reset: float,
    soft_reset: bool,
    backend: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    bwd = _impl("multi_step_backward", h_seq.device, backend)
    grads = bwd(grad_s, grad_v_last, h_seq, eps, beta, c, v_th, v_reset, soft_reset)
    grads = tuple(g.to(d) for g, d in zip(grads, (grad_s.dtype, grad_v_last.dtype, grad_s.dtype)))
    inputs = (grad_s, grad_v_last, h_seq, eps)
    return tuple(g.clone() if any(g is t for t in inputs) else g for g in grads)


@_ultralif_backward_op.register_fake
def _(grad_s, grad_v_last, h_seq, eps, *scalars):
    return torch.empty_like(grad_s, memory_format=torch.contiguous_format), torch.empty_like(grad_v_last), grad_s.new_empty(grad_s.shape[1])


def _setup_context(ctx, inputs, output):
    x_seq, v0, eps, beta, c, v_th, v_reset, soft_reset, backend, need_h = inputs
    ctx.scalars = (beta, c, v_th, v_reset, soft_reset, backend)
    ctx.save_for_backward(output[2], eps)
    ctx.set_materialize_grads(False)  # unused outputs' gradients arrive as None, not as tensors of zeros
    ctx.shapes = (x_seq.shape, v0.shape)
    ctx.dtype, ctx.device = x_seq.dtype, x_seq.device


def _backward(ctx, grad_s, grad_v_last, grad_h):
    h_seq, eps = ctx.saved_tensors
    x_shape, v_shape = ctx.shapes
    if grad_s is None:
        # a broadcast zero (stride 0): the Numba kernel reads it as one value, the others broadcast it
        grad_s = torch.zeros((), dtype=ctx.dtype, device=ctx.device).expand(x_shape)
    if grad_v_last is None:
        grad_v_last = torch.zeros(v_shape, dtype=ctx.dtype, device=ctx.device)
    gx, gv0, g_eps = _ultralif_backward_op(grad_s, grad_v_last, h_seq, eps, *ctx.scalars)
    if ctx.needs_input_grad[2]:
        g_eps = g_eps.sum().reshape(eps.shape) if eps.numel() == 1 else g_eps.reshape(eps.shape)
    else:
        g_eps = None
    return (gx, gv0, g_eps) + (None,) * 7


_ultralif_op.register_autograd(_backward, setup_context=_setup_context)


def ultralif_multi_step(
    x_seq: torch.Tensor,
    v0: torch.Tensor | None,
    eps: torch.Tensor | float,
    params: UltraLIFParams,
    backend: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All T steps of an UltraLIF layer in one call.

    ``x_seq`` is ``[T, *shape]``; ``v0`` broadcasts to ``shape`` (``None``: at rest, ``v_reset``, 0
    under soft reset); ``eps`` is a scalar or a tensor broadcasting against ``shape`` (learnable when
    it requires grad). Returns ``(spikes [T, *shape], v_last [*shape])``, the spikes in (0, 1).

    Example::

        s, v = ultralif_multi_step(torch.randn(8, 4, 64), None, 0.1, UltraLIFParams(beta=0.5))
    """
    if x_seq.dim() < 1:
        raise ValueError(f"x_seq must be [T, ...], got a {x_seq.dim()}-d tensor")
    if not x_seq.is_floating_point():
        raise TypeError(f"x_seq must be a floating-point tensor, got {x_seq.dtype}")
    T, shape = x_seq.shape[0], x_seq.shape[1:]
    n = shape.numel()
    dtype, device = x_seq.dtype, x_seq.device
    if v0 is None:
        v0 = torch.full(shape, 0.0 if params.v_reset is None else params.v_reset, dtype=dtype, device=device)
    try:
        v0 = v0.to(dtype).expand(shape).reshape(n)
    except RuntimeError:
        raise ValueError(f"v0 must broadcast to the neuron shape {tuple(shape)}, got {tuple(v0.shape)}") from None
    # the temperature in the kernels' arithmetic type (float32 for half tensors: 0.99 in bfloat16 would be 0.98828125)
    if not isinstance(eps, torch.Tensor):
        eps = torch.tensor([float(eps)], dtype=compute_dtype(dtype), device=device)
    eps = eps.to(compute_dtype(dtype))
    eps = eps.reshape(1) if eps.numel() == 1 else eps.expand(shape).reshape(n)
    if backend is not None and not torch.compiler.is_compiling():
        _backend.resolve(device, backend)  # raise now, with a clear message, if it cannot run (the op checks again)
    need_h = torch.is_grad_enabled() and (x_seq.requires_grad or v0.requires_grad or eps.requires_grad)
    s, v, _ = _ultralif_op(x_seq.reshape(T, n), v0, eps, *params.kernel_args(), backend or "", need_h)
    return s.reshape(x_seq.shape), v.reshape(shape)
