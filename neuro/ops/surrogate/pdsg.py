r"""Potential-dependent surrogate gradient (PDSG; Lun et al., *Towards Effective and Sparse Adversarial Attack
on Spiking Neural Networks via Breaking Invisible Surrogate Gradients*, CVPR 2025).

The surrogate's width follows the spread of the layer's membrane potential: with :math:`x = h - v_{th}` and
:math:`\sigma` the standard deviation of the (detached) membrane potentials of the layer,

.. math::

    H(x) \ \text{forward}, \qquad
    \sigma'_{PDSG}(x) = \frac{1}{\sqrt{2\pi}\,\kappa\sigma} \exp\!\Big(-\frac{(x - \kappa\sigma/2)^2}{2\kappa^2\sigma^2}\Big)
    \ \text{backward},

a Gaussian density centred half a width above threshold: the derivative of the smooth primitive
:math:`\Phi\big((x - \kappa\sigma/2)/(\kappa\sigma)\big)` (:func:`pdsg_primitive`, :math:`\Phi` the normal CDF).
:math:`\kappa` (``width_scale``) is 1 in the paper. In the official code (github.com/ryime/PDSG-SDA,
``utils/attack.py``) :math:`\sigma` is the unbiased std of the membrane potentials of steps
:math:`1..t` (before reset), over time, batch and positions, one value per channel
(:func:`membrane_std`), and a zero std is replaced by 1. :math:`\sigma` receives no gradient.
"""

from __future__ import annotations

import math

import torch

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def pdsg_grad(x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    r"""The PDSG derivative :math:`\mathcal N(x;\ \sigma/2,\ \sigma^2)` (``sigma`` broadcast against ``x``, already scaled)."""
    z = (x - 0.5 * sigma) / sigma
    return torch.exp(-0.5 * z * z) / (_SQRT_2PI * sigma)


def pdsg_primitive(x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    r"""The smooth function whose derivative is :func:`pdsg_grad`: :math:`\Phi((x - \sigma/2)/\sigma)`."""
    return 0.5 * (1.0 + torch.erf((x - 0.5 * sigma) / (sigma * math.sqrt(2.0))))


class _PDSGHeaviside(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, sigma):
        ctx.save_for_backward(x, sigma)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, sigma = ctx.saved_tensors
        return grad * pdsg_grad(x, sigma), None


def pdsg_heaviside(x: torch.Tensor, sigma: torch.Tensor, width_scale: float = 1.0) -> torch.Tensor:
    """:math:`H(x)` (1 where ``x >= 0``) forward, :func:`pdsg_grad` with width ``width_scale * sigma`` backward.

    ``sigma`` (detached, > 0) broadcasts against ``x``; the backward is built from torch ops, so double backward works.
    """
    if width_scale <= 0:
        raise ValueError(f"width_scale must be > 0, got {width_scale}")
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).detach() * width_scale
    return _PDSGHeaviside.apply(x, sigma)


def membrane_std(v_hist: torch.Tensor, channel_dim: int | None = 1) -> torch.Tensor:
    """Unbiased std of a detached membrane history ``[t, B, ...]`` over all dimensions but the channel, zeros replaced by 1.

    ``channel_dim`` indexes the per-step tensor ``[B, ...]`` (1: ``[B, C, ...]`` channels, or the features
    of ``[B, N]``); ``None`` pools everything into one value. The result broadcasts against one step ``[B, ...]``.
    """
    v_hist = v_hist.detach()
    if channel_dim is None:
        dims, n = tuple(range(v_hist.dim())), v_hist.numel()
    else:
        keep = 1 + (channel_dim % (v_hist.dim() - 1))
        dims, n = tuple(d for d in range(v_hist.dim()) if d != keep), v_hist.numel() // v_hist.shape[keep]
    if n < 2:  # a single sample has no spread: the fallback width 1, as for a zero std
        std = torch.ones_like(v_hist.sum(dim=dims, keepdim=True))
    else:
        std = v_hist.std(dim=dims, keepdim=True)
    std = torch.where(std == 0, torch.ones_like(std), std)
    return std.squeeze(0)
