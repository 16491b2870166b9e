"""``neuro::integer_lif_multi_step``: the multi-step integer LIF law as a torch custom op with an autograd rule.

The op runs whichever backend :func:`neuro.backend.resolve` picks for the tensors' device (or the one
named by ``backend``); its fake implementation lets ``torch.compile`` trace through it. Saved for
backward: the straight-through mask only (one byte per neuron-step, uint8), an output of the forward
op written only when a gradient is wanted (``need_mask``); the backward reads neither the input nor
the charges. No parameter of the law is learned, so the gradients are those of ``x_seq`` and ``v0``.

The backward is a custom op without an autograd rule of its own: there is no double backward through
the fused op (as for ``neuro::alif_multi_step``; the straight-through gradient is piecewise constant
in the input anyway). :func:`neuro.ops.integer_lif.reference.multi_step_autograd` is the
differentiable torch form.
"""

from __future__ import annotations

import torch

from ... import backend as _backend
from .params import IntegerLIFParams

__all__ = ["integer_lif_multi_step"]


def _impl(name: str, device: torch.device, backend: str):
    return _backend.op("integer_lif", name, device=device, backend=backend or None)


@torch.library.custom_op("neuro::integer_lif_multi_step", mutates_args=())
def _integer_lif_op(
    x_seq: torch.Tensor,
    v0: torch.Tensor,
    beta: float,
    c: float,
    v_th: float,
    levels: int,
    norm: float,
    detach_reset: bool,
    backend: str,
    need_mask: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    fwd = _impl("multi_step_forward", x_seq.device, backend)
    y, v, mask = fwd(x_seq, v0, beta, c, v_th, levels, norm, detach_reset, need_mask=need_mask)
    # a custom op's outputs may not alias its inputs (T = 0 hands the initial state straight back)
    return y, (v.clone() if v is v0 else v), mask


@_integer_lif_op.register_fake
def _(x_seq, v0, beta, c, v_th, levels, norm, detach_reset, backend, need_mask):
    rows = x_seq.shape[0] if need_mask else 0
    return torch.empty_like(x_seq), torch.empty_like(v0), x_seq.new_empty((rows, x_seq.shape[1]), dtype=torch.uint8)


@torch.library.custom_op("neuro::integer_lif_multi_step_backward", mutates_args=())
def _integer_lif_backward_op(
    grad_y: torch.Tensor,
    grad_v_last: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
    c: float,
    v_th: float,
    norm: float,
    detach_reset: bool,
    backend: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    bwd = _impl("multi_step_backward", grad_y.device, backend)
    gx, gv0 = bwd(grad_y, grad_v_last, mask, beta, c, v_th, norm, detach_reset)
    return (gx.clone() if gx is grad_y else gx), (gv0.clone() if gv0 is grad_v_last else gv0)


@_integer_lif_backward_op.register_fake
def _(grad_y, grad_v_last, mask, *scalars):
    return torch.empty_like(grad_y, memory_format=torch.contiguous_format), torch.empty_like(grad_v_last)


def _setup_context(ctx, inputs, output):
    x_seq, v0, beta, c, v_th, levels, norm, detach_reset, backend, need_mask = inputs
    ctx.scalars = (beta, c, v_th, norm, detach_reset, backend)
    ctx.save_for_backward(output[2])
    ctx.set_materialize_grads(False)  # unused outputs' gradients arrive as None, not as tensors of zeros
    ctx.shapes = (x_seq.shape, v0.shape)
    ctx.dtype, ctx.device = x_seq.dtype, x_seq.device


def _backward(ctx, grad_y, grad_v_last, grad_mask):
    (mask,) = ctx.saved_tensors
    x_shape, v_shape = ctx.shapes
    if grad_y is None:
        # a broadcast zero (stride 0): the Numba kernel reads it as one value, the others broadcast it
        grad_y = torch.zeros((), dtype=ctx.dtype, device=ctx.device).expand(x_shape)
    if grad_v_last is None:
        grad_v_last = torch.zeros(v_shape, dtype=ctx.dtype, device=ctx.device)
    gx, gv0 = _integer_lif_backward_op(grad_y, grad_v_last, mask, *ctx.scalars)
    return (gx, gv0) + (None,) * 8


_integer_lif_op.register_autograd(_backward, setup_context=_setup_context)


def integer_lif_multi_step(
    x_seq: torch.Tensor,
    v0: torch.Tensor | None,
    params: IntegerLIFParams,
    backend: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All T steps of an integer LIF layer in one call.

    ``x_seq`` is ``[T, *shape]``; ``v0`` broadcasts to ``shape`` (``None``: 0). Returns
    ``(y [T, *shape], v_last [*shape])`` with ``y = k / norm``, ``k`` the integer counts.

    Example::

        y, v = integer_lif_multi_step(torch.randn(4, 8, 128), None, IntegerLIFParams(beta=0.5, levels=4))
    """
    if x_seq.dim() < 1:
        raise ValueError(f"x_seq must be [T, ...], got a {x_seq.dim()}-d tensor")
    if not x_seq.is_floating_point():
        raise TypeError(f"x_seq must be a floating-point tensor, got {x_seq.dtype}")
    T, shape = x_seq.shape[0], x_seq.shape[1:]
    n = shape.numel()
    if v0 is None:
        v0 = torch.zeros(shape, dtype=x_seq.dtype, device=x_seq.device)
    try:
        v0 = v0.to(x_seq.dtype).expand(shape).reshape(n)
    except RuntimeError:
        raise ValueError(f"v0 must broadcast to the neuron shape {tuple(shape)}, got {tuple(v0.shape)}") from None
    if backend is not None and not torch.compiler.is_compiling():
        _backend.resolve(x_seq.device, backend)  # raise now, with a clear message, if it cannot run (the op checks again)
    need_mask = torch.is_grad_enabled() and (x_seq.requires_grad or v0.requires_grad)
    y, v, _ = _integer_lif_op(x_seq.reshape(T, n), v0, *params.kernel_args(), backend or "", need_mask)
    return y.reshape(x_seq.shape), v.reshape(shape)
