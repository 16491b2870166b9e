r"""Low-bit weights by learned step-size quantization (LSQ; Esser et al., ICLR 2020), per output channel.

.. math::

    \hat w = s_c \cdot \mathrm{round}\big(\mathrm{clip}(w / s_c,\ -2^{b-1},\ 2^{b-1}-1)\big)

with one learned step :math:`s_c` per output channel ``c`` and ``b`` bits. Rounding is
straight-through (gradient 1), and the step's gradient is scaled by
:math:`g = 1/\sqrt{N_w Q_p}` (:math:`N_w` weights, :math:`Q_p = 2^{b-1}-1`). The step starts at
:math:`2\,\overline{|w|}/\sqrt{Q_p}` and is re-initialised from the weights on the first training
forward pass, as in the QSD-Transformer code (github.com/bollossom/QSD-Transformer, ``quan_w.py``).
:mod:`neuro.energy` reads the weight bit width of these layers from their ``weight_bits``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["lsq_quantize", "QConv2d", "QConv1d", "QLinear"]


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def _grad_scale(x: torch.Tensor, g: float) -> torch.Tensor:
    return (x - x * g).detach() + x * g


def _levels(bits: int) -> tuple[int, int]:
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def lsq_quantize(w: torch.Tensor, step: torch.Tensor, bits: int) -> torch.Tensor:
    """Fake-quantise ``w`` ``[out, ...]`` with per-output-channel ``step`` ``[out]`` to signed ``bits``-bit integers times the step."""
    qn, qp = _levels(bits)
    s = _grad_scale(step, 1.0 / math.sqrt(w.numel() * qp)).view(-1, *([1] * (w.dim() - 1)))
    return _round_ste(torch.clamp(w / s, qn, qp)) * s


class _IdentityActQuantizer(nn.Module):
    """The activation quantizer the official layers carry; its forward is the identity. Frozen, kept for checkpoint parity."""

    def __init__(self, features: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(features), requires_grad=False)
        self.zero_point = nn.Parameter(torch.zeros(features), requires_grad=False)
        self.register_buffer("init_state", torch.zeros(1))
        self.register_buffer("signed", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _LSQ:
    """Shared state of the quantised layers: ``bits``, per-channel step ``alpha``, ``init_state``."""

    weight: torch.Tensor

    def _setup_lsq(self, bits: int, out_features: int, in_features: int) -> None:
        if int(bits) != bits or not 2 <= bits <= 16:
            raise ValueError(f"bits must be an integer in [2, 16], got {bits}")
        self.bits = int(bits)
        self.alpha = nn.Parameter(torch.empty(out_features))
        self.register_buffer("init_state", torch.zeros(1))
        self.act = _IdentityActQuantizer(in_features)
        self.reset_step()

    @torch.no_grad()
    def reset_step(self) -> None:
        """Step from the current weights: :math:`2\\,\\overline{|w|}/\\sqrt{Q_p}` for every channel."""
        qp = _levels(self.bits)[1]
        self.alpha.copy_((2 * self.weight.abs().mean() / math.sqrt(qp)).expand_as(self.alpha))

    @property
    def weight_bits(self) -> int:
        return self.bits

    def quantized_weight(self) -> torch.Tensor:
        if self.training and not bool(self.init_state):
            self.reset_step()
            self.init_state.fill_(1)
        return lsq_quantize(self.weight, self.alpha, self.bits)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", bits={self.bits}"


class QConv2d(_LSQ, nn.Conv2d):
    """``nn.Conv2d`` with LSQ weights (``bits``, per output channel)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, groups: int = 1, bias: bool = True, bits: int = 4):
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=bias)
        self._setup_lsq(bits, out_channels, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.act(x), self.quantized_weight(), self.bias)


class QConv1d(_LSQ, nn.Conv1d):
    """``nn.Conv1d`` with LSQ weights (``bits``, per output channel)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size=1, stride=1, padding=0, groups: int = 1, bias: bool = True, bits: int = 4):
        nn.Conv1d.__init__(self, in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=bias)
        self._setup_lsq(bits, out_channels, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.act(x), self.quantized_weight(), self.bias)


class QLinear(_LSQ, nn.Linear):
    """``nn.Linear`` with LSQ weights (``bits``, per output feature)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bits: int = 4):
        nn.Linear.__init__(self, in_features, out_features, bias=bias)
        self._setup_lsq(bits, out_features, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.act(x), self.quantized_weight(), self.bias)
