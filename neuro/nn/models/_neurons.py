"""The neurons the transformer models are built from, behind one adapter.

Every model takes a ``neuron`` factory with the signature of :func:`make_lif`
(``tau``, ``v_threshold``) and calls it once per spiking layer, so the same
architecture can run on our fused LIF op (the default) or on another library's
neuron (the benchmark builds Spikformer on SpikingJelly's ``LIFNode`` this way).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..neurons import LIF

NeuronFactory = Callable[..., nn.Module]


def make_lif(tau: float = 2.0, v_threshold: float = 1.0, detach_reset: bool = True, v_reset: float | None = 0.0,
             backend: str | None = None) -> nn.Module:
    r"""The multi-step LIF of the official spiking-transformer code (SpikingJelly ``MultiStepLIFNode``).

    .. math::

        h_t = v_{t-1} + (x_t - v_{t-1})/\tau, \quad s_t = H(h_t - v_{th}), \quad v_t = h_t (1 - s_t)

    hard reset to 0, reset detached from the graph, sigmoid surrogate with slope 4;
    input and output ``[T, B, ...]``, potentials dimensionless, ``tau`` in time steps.
    """
    return LIF(tau=tau, v_threshold=v_threshold, v_reset=v_reset, detach_reset=detach_reset, surrogate="sigmoid", alpha=4.0,
               backend=backend)


class _RoundClamp(torch.autograd.Function):
    """``floor(clamp(u, 0, D) + 0.5)`` with the straight-through gradient on ``0 < u < D``."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, levels: int) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.levels = levels
        return torch.floor(u.clamp(0.0, float(levels)) + 0.5)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (u,) = ctx.saved_tensors
        inside = (u > 0) & (u < ctx.levels)
        return grad * inside.to(grad.dtype), None


class MultiLevelSpike(nn.Module):
    r"""Integer-valued ("multi-level") spikes: the training form of QSD-Transformer's IE-LIF.

    .. math::

        s = \frac{1}{n}\,\mathrm{round}\big(\mathrm{clip}(D\,x,\ 0,\ D)\big) \in \{0, \tfrac1n, \dots, \tfrac{D}{n}\}

    with ``levels`` :math:`D` and normaliser ``norm`` :math:`n` (``D`` by default; the
    QSD attention neuron uses ``n = D/2``). The gradient is straight-through on
    :math:`0 < Dx < D` and zero outside (Qiu et al., *Quantized Spike-driven Transformer*,
    ICLR 2025; Luo et al. 2024 integer training). At inference an integer spike ``k`` is
    ``k`` binary spikes over ``D`` virtual steps (:func:`expand_to_binary`), so the layer
    stays spike-driven. Stateless: applied to each time step of ``[T, B, ...]`` alike.
    """

    is_spiking = True

    def __init__(self, levels: int = 4, norm: float | None = None):
        super().__init__()
        if int(levels) != levels or levels < 1:
            raise ValueError(f"levels must be a positive integer, got {levels}")
        if norm is not None and not norm > 0:
            raise ValueError(f"norm must be > 0, got {norm}")
        self.levels = int(levels)
        self.norm = float(levels if norm is None else norm)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, norm={self.norm:g}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RoundClamp.apply(x * self.levels, self.levels) / self.norm


def expand_to_binary(counts: torch.Tensor, levels: int) -> torch.Tensor:
    """Integer spike counts ``[...]`` in ``0..levels`` as binary spikes ``[levels, ...]`` (the first ``k`` steps fire)."""
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    k = torch.round(counts)
    if bool(((k < 0) | (k > levels)).any()):
        raise ValueError(f"spike counts must lie in [0, {levels}]")
    steps = torch.arange(levels, device=counts.device, dtype=counts.dtype).view(-1, *([1] * counts.dim()))
    return (steps < k.unsqueeze(0)).to(counts.dtype)


class ReLUNeuron(nn.Module):
    """The ANN counterpart of a spiking layer (ReLU), used to build a distillation teacher."""

    is_spiking = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)
