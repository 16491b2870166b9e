r"""Surrogate derivatives :math:`\sigma'(x)` of the spike :math:`H(x)`, with :math:`x = h - v_{th}`.

================  ===========================================================================
name              derivative (``alpha`` is the slope / inverse width)
================  ===========================================================================
sigmoid           :math:`\alpha\,s(1-s)`, :math:`s = 1/(1+e^{-\alpha x})` (SpikingJelly ``Sigmoid``)
atan              :math:`\frac{\alpha/2}{1 + (\frac{\pi}{2}\alpha x)^2}` (SpikingJelly / snntorch ``ATan``)
fast_sigmoid      :math:`\frac{1}{(1+\alpha|x|)^2}` (SuperSpike; snntorch ``fast_sigmoid(slope)``)
triangle          :math:`\alpha\max(0, 1-\alpha|x|)`
rectangle         :math:`\alpha\,[\,|x| < \frac{1}{2\alpha}\,]`
erf               :math:`\frac{\alpha}{\sqrt\pi} e^{-(\alpha x)^2}` (SpikingJelly ``Erf``)
piecewise_quadratic :math:`\max(0, \alpha - \alpha^2|x|)` (SpikingJelly ``PiecewiseQuadratic``)
================  ===========================================================================

Every kernel implements the same table (``cpu.py`` here, ``kernels/surrogate.cuh``).
"""

from __future__ import annotations

import math

import torch

SURROGATE_IDS = {
    "sigmoid": 0,
    "atan": 1,
    "fast_sigmoid": 2,
    "triangle": 3,
    "rectangle": 4,
    "erf": 5,
    "piecewise_quadratic": 6,
}


def surrogate_id(name: str) -> int:
    """Integer id of surrogate ``name``; a clear error for unknown names."""
    try:
        return SURROGATE_IDS[name]
    except KeyError:
        raise ValueError(f"unknown surrogate {name!r}; expected one of {sorted(SURROGATE_IDS)}") from None


def surrogate_grad(x: torch.Tensor, kind: int, alpha: float) -> torch.Tensor:
    """:math:`\\sigma'(x)` for surrogate id ``kind`` (see the module table)."""
    if kind == 0:
        s = torch.sigmoid(alpha * x)
        return alpha * s * (1.0 - s)
    if kind == 1:
        return (alpha / 2.0) / (1.0 + (math.pi / 2.0 * alpha * x) ** 2)
    if kind == 2:
        return 1.0 / (1.0 + alpha * x.abs()) ** 2
    if kind == 3:
        return alpha * torch.clamp(1.0 - alpha * x.abs(), min=0.0)
    if kind == 4:
        return alpha * (x.abs() < 0.5 / alpha).to(x.dtype)
    if kind == 5:
        return alpha / math.sqrt(math.pi) * torch.exp(-((alpha * x) ** 2))
    if kind == 6:
        return torch.clamp(alpha - alpha * alpha * x.abs(), min=0.0)
    raise ValueError(f"unknown surrogate id {kind}; expected one of {sorted(SURROGATE_IDS.values())}")


class _Heaviside(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kind, alpha, strict):
        ctx.save_for_backward(x)
        ctx.kind, ctx.alpha = kind, alpha
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * surrogate_grad(x, ctx.kind, ctx.alpha), None, None, None


def heaviside(x: torch.Tensor, kind: int, alpha: float, strict: bool = False) -> torch.Tensor:
    """:math:`H(x)` forward (1 where ``x >= 0``, or ``x > 0`` when ``strict``); surrogate ``kind``'s derivative backward.

    The backward is built from torch ops, so double backward works.
    """
    return _Heaviside.apply(x, int(kind), float(alpha), bool(strict))
