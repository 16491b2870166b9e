r"""The spike nonlinearity :math:`s = H(x)` with a surrogate derivative :math:`\sigma'(x)` in the backward pass.

The surrogate table is shared with the fused kernels (:mod:`neuro.ops.surrogate`): ``sigmoid``,
``atan``, ``fast_sigmoid``, ``triangle``, ``rectangle``, ``erf``, ``piecewise_quadratic``, each
with slope ``alpha``.
"""

from __future__ import annotations

import torch

from ..ops.surrogate.reference import surrogate_grad, surrogate_id


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kind, alpha):
        ctx.save_for_backward(x)
        ctx.kind, ctx.alpha = kind, alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * surrogate_grad(x, ctx.kind, ctx.alpha), None, None


def spike(x: torch.Tensor, surrogate: str = "sigmoid", alpha: float = 4.0) -> torch.Tensor:
    """:math:`H(x)` (1 where ``x >= 0``) forward; the named surrogate's derivative backward."""
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    return _Spike.apply(x, surrogate_id(surrogate), float(alpha))
