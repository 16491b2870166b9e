"""Small stateless and linear-filter layers for ``[T, B, ...]`` tensors (used by :mod:`neuro.nn.nir` and models)."""

from __future__ import annotations

import torch
from torch import nn


class PerStep(nn.Module):
    """Applies a stateless ``layer`` to every time step at once by folding T into the batch.

    Example::

        conv = PerStep(nn.Conv2d(2, 8, 3))
        y = conv(torch.randn(10, 4, 2, 32, 32))    # [T, B, 2, 32, 32] -> [T, B, 8, 30, 30]
    """

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f"PerStep expects [T, B, ...] input, got shape {tuple(x.shape)}")
        y = self.layer(x.flatten(0, 1))
        return y.unflatten(0, x.shape[:2])


class Scale(nn.Module):
    r"""Element-wise :math:`y = s \odot x` with a fixed ``scale`` broadcast against the neuron shape (NIR's ``Scale``)."""

    def __init__(self, scale: torch.Tensor | float):
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.to(x.dtype)


class SynapticCurrent(nn.Module):
    r"""Exponentially decaying synaptic current, the first stage of a current-based LIF (NIR's ``CubaLIF``).

    .. math::

        I_t = \alpha I_{t-1} + (1 - \alpha)\, x_t, \qquad I_{-1} = 0

    the forward-Euler step of :math:`\tau_{syn} \dot I = -I + x` with :math:`\alpha = 1 - \Delta t/\tau_{syn}`.
    ``alpha`` is a scalar or a tensor broadcast against the neuron shape. Input and output ``[T, B, ...]``.
    """

    def __init__(self, alpha: torch.Tensor | float):
        super().__init__()
        alpha = torch.as_tensor(alpha, dtype=torch.float32)
        if not bool(((alpha >= 0) & (alpha <= 1)).all()):
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.register_buffer("alpha", alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha.to(x.dtype)
        i = torch.zeros_like(x[0])
        out = []
        for xt in x:
            i = a * i + (1.0 - a) * xt
            out.append(i)
        return torch.stack(out)
