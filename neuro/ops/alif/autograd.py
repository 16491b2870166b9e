"""``neuro::alif_multi_step``: the multi-step ALIF law as a torch custom op with an autograd rule.

The op runs whichever backend :func:`neuro.backend.resolve` picks for the tensors' device (or the one
named by ``backend``); its fake implementation lets ``torch.compile`` trace through it. Saved for
backward: the input ``x_seq`` only (one value per neuron-step: 4 bytes in float32, 2 in
float16/bfloat16), ``v0``, ``a0`` and the three parameter tensors; the backward kernels recompute the
charges and adaptations from them. The backward op returns per-neuron parameter gradients; a
parameter shared by all neurons gets their sum.

The backward is a custom op without an autograd rule of its own: there is no double backward through
the fused op (as for ``neuro::lif_multi_step``). :func:`neuro.ops.alif.reference.multi_step_autograd`
is the differentiable torch form for that.
"""

from __future__ import annotations

import torch

from ... import backend as _backend
from ...backend import compute_dtype
from .params import ALIFParams

__all__ = ["alif_multi_step"]


def _impl(name: str, device: torch.device, backend: str):
    return _backend.op("alif", name, device=device, backend=backend or None)


@torch.library.custom_op("neuro::alif_multi_step", mutates_args=())
def _alif_op(
    x_seq: torch.Tensor,
    v0: torch.Tensor,
    a0: torch.Tensor,
    beta: torch.Tensor,
    rho: torch.Tensor,
    beta_a: torch.Tensor,
    v_th: float,
    v_reset: float,
    adapt_increment: float,
    soft_reset: bool,
    decay_input: bool,
    detach_reset: bool,
    detach_adaptation: bool,
    surrogate: int,
    alpha: float,
    backend: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    fwd = _impl("multi_step_forward", x_seq.device, backend)
    s, v, a = fwd(x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, adapt_increment, soft_reset, decay_input, detach_reset, detach_adaptation,
                  surrogate, alpha)
    # float32 parameters with half tensors: the reference computes in float32; the outputs are in the tensors' dtypes
    s, v, a = s.to(x_seq.dtype), v.to(v0.dtype), a.to(a0.dtype)
    # a custom op's outputs may not alias its inputs (T = 0 hands the initial state straight back)
    return s, (v.clone() if v is v0 else v), (a.clone() if a is a0 else a)


@_alif_op.register_fake
def _(x_seq, v0, a0, beta, rho, beta_a, *scalars):
    return torch.empty_like(x_seq), torch.empty_like(v0), torch.empty_like(a0)


@torch.library.custom_op("neuro::alif_multi_step_backward", mutates_args=())
def _alif_backward_op(
    grad_s: torch.Tensor,
    grad_v_last: torch.Tensor,
    grad_a_last: torch.Tensor,
    x_seq: torch.Tensor,
    v0: torch.Tensor,
    a0: torch.Tensor,
    beta: torch.Tensor,
    rho: torch.Tensor,
    beta_a: torch.Tensor,
    v_th: float,
    v_reset: float,
    adapt_increment: float,
    soft_reset: bool,
    decay_input: bool,
    detach_reset: bool,
    detach_adaptation: bool,
    surrogate: int,
    alpha: float,
    backend: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    bwd = _impl("multi_step_backward", x_seq.device, backend)
    grads = bwd(grad_s, grad_v_last, grad_a_last, x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, adapt_increment, soft_reset, decay_input,
                detach_reset, detach_adaptation, surrogate, alpha)
    # parameter gradients in the parameters' (arithmetic) type: float32 sums for half tensors
    dtypes = (x_seq.dtype, v0.dtype, a0.dtype, beta.dtype, rho.dtype, beta_a.dtype)
    grads = tuple(g.to(d) for g, d in zip(grads, dtypes))
    inputs = (grad_s, grad_v_last, grad_a_last, x_seq, v0, a0, beta, rho, beta_a)
    return tuple(g.clone() if any(g is t for t in inputs) else g for g in grads)


@_alif_backward_op.register_fake
def _(grad_s, grad_v_last, grad_a_last, x_seq, v0, a0, beta, rho, beta_a, *scalars):
    n = x_seq.shape[1]
    return (torch.empty_like(x_seq), torch.empty_like(v0), torch.empty_like(a0),
            beta.new_empty(n), rho.new_empty(n), beta_a.new_empty(n))


def _setup_context(ctx, inputs, output):
    x_seq, v0, a0, beta, rho, beta_a, *scalars = inputs
    ctx.scalars = tuple(scalars)
    ctx.save_for_backward(x_seq, v0, a0, beta, rho, beta_a)
    ctx.set_materialize_grads(False)  # unused outputs' gradients arrive as None, not as tensors of zeros


def _zeros_if_none(g, like):
    # a broadcast zero (stride 0): the Numba kernel reads it as one value, the others broadcast it
    return torch.zeros((), dtype=like.dtype, device=like.device).expand_as(like) if g is None else g


def _backward(ctx, grad_s, grad_v_last, grad_a_last):
    x_seq, v0, a0, beta, rho, beta_a = ctx.saved_tensors
    gx, gv0, ga0, g_beta, g_rho, g_beta_a = _alif_backward_op(
        _zeros_if_none(grad_s, x_seq),
        torch.zeros_like(v0) if grad_v_last is None else grad_v_last,
        torch.zeros_like(a0) if grad_a_last is None else grad_a_last,
        x_seq, v0, a0, beta, rho, beta_a,
        *ctx.scalars,
    )

    def reduce(g, p, i):
        if not ctx.needs_input_grad[i]:
            return None
        return g.sum().reshape(p.shape) if p.numel() == 1 else g.reshape(p.shape)

    params = (reduce(g_beta, beta, 3), reduce(g_rho, rho, 4), reduce(g_beta_a, beta_a, 5))
    return (gx, gv0, ga0, *params) + (None,) * len(ctx.scalars)


_alif_op.register_autograd(_backward, setup_context=_setup_context)


def _flat_param(p: torch.Tensor | float, shape: torch.Size, n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A parameter as ``[1]`` (one shared value) or ``[n]`` (per neuron, broadcast against the neuron shape), in the
    kernels' arithmetic type (float32 for half tensors: rho = 0.995 in bfloat16 would be 0.99609375)."""
    dtype = compute_dtype(dtype)
    if not isinstance(p, torch.Tensor):
        return torch.tensor([float(p)], dtype=dtype, device=device)
    p = p.to(dtype)
    if p.numel() == 1:
        return p.reshape(1)
    return p.expand(shape).reshape(n)


def alif_multi_step(
    x_seq: torch.Tensor,
    v0: torch.Tensor | None,
    a0: torch.Tensor | None,
    beta: torch.Tensor | float,
    rho: torch.Tensor | float,
    beta_a: torch.Tensor | float,
    params: ALIFParams,
    backend: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All T steps of an ALIF layer in one call.

    ``x_seq`` is ``[T, *shape]``; ``v0``, ``a0`` broadcast to ``shape`` (``None``: at rest, ``v =
    v_reset`` (0 under soft reset) and ``a = 0``); ``beta``, ``rho``, ``beta_a`` are scalars or
    tensors broadcasting against ``shape`` (per-neuron values along the last dimension, learnable
    when they require grad). Returns ``(spikes [T, *shape], v_last [*shape], a_last [*shape])``.

    Example::

        s, v, a = alif_multi_step(torch.rand(100, 8, 64), None, None, 0.95, 0.995, 1.8, ALIFParams())
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
    if a0 is None:
        a0 = torch.zeros(shape, dtype=dtype, device=device)
    try:
        v0, a0 = (t.to(dtype).expand(shape).reshape(n) for t in (v0, a0))
    except RuntimeError:
        raise ValueError(f"v0 and a0 must broadcast to the neuron shape {tuple(shape)}, got {tuple(v0.shape)} and {tuple(a0.shape)}") from None
    beta, rho, beta_a = (_flat_param(p, shape, n, dtype, device) for p in (beta, rho, beta_a))
    if backend is not None and not torch.compiler.is_compiling():
        _backend.resolve(device, backend)  # raise now, with a clear message, if it cannot run (the op checks again)
    s, v, a = _alif_op(x_seq.reshape(T, n), v0, a0, beta, rho, beta_a, *params.kernel_args(), backend or "")
    return s.reshape(x_seq.shape), v.reshape(shape), a.reshape(shape)
