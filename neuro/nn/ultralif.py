r"""UltraLIF: a LIF neuron made differentiable by ultradiscretization (max-plus / log-sum-exp) instead of a surrogate.

Miñoza, *UltraLIF: Fully Differentiable Spiking Neural Networks via Ultradiscretization and Max-Plus
Algebra*, arXiv:2602.11206 (2026). The max-plus operation :math:`\max(a, b)` is relaxed to the
log-sum-exp with temperature :math:`\varepsilon`,

.. math::

    \mathrm{LSE}_\varepsilon(a, b) = \varepsilon \log\big(e^{a/\varepsilon} + e^{b/\varepsilon}\big)
    \ \xrightarrow{\ \varepsilon \to 0\ }\ \max(a, b),

whose derivative :math:`\partial_a \mathrm{LSE}_\varepsilon(a, 0) = \sigma(a/\varepsilon)` relaxes the Heaviside
:math:`H(a) = \partial_a \max(a, 0)`. The same smooth function is used forward and backward, so there is
no surrogate mismatch. What we could read of the paper (its abstract and project page) gives the spike
:math:`s = \sigma(V/\varepsilon)` with :math:`V` the potential relative to threshold and a learnable
:math:`\varepsilon`; the reset below (the hard LIF reset with the soft spike in place of the Heaviside)
is our own completion, stated as such.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..backend import compute_dtype
from ..ops.ultralif import UltraLIFParams
from ..ops.ultralif.autograd import ultralif_multi_step
from .neurons import decay_factor
from .nonfinite import NonFiniteCheck
from .timemajor import TimeMajorInput


def lse_max(a: torch.Tensor, b: torch.Tensor | float, eps: torch.Tensor | float) -> torch.Tensor:
    r"""Soft maximum :math:`\varepsilon \log(e^{a/\varepsilon} + e^{b/\varepsilon})` (stable for any scale); :math:`\max(a, b)` as :math:`\varepsilon \to 0`."""
    b = torch.as_tensor(b, dtype=a.dtype, device=a.device)
    return eps * torch.logaddexp(a / eps, b / eps)


def soft_spike(x: torch.Tensor, eps: torch.Tensor | float) -> torch.Tensor:
    r""":math:`\sigma(x/\varepsilon) = \partial_x \mathrm{LSE}_\varepsilon(x, 0)`, the relaxed Heaviside of :math:`x = h - v_{th}`."""
    return torch.sigmoid(x / eps)


class UltraLIF(NonFiniteCheck, TimeMajorInput, nn.Module):
    r"""Fully differentiable LIF: the Heaviside and the reset in their log-sum-exp (soft max-plus) form.

    .. math::

        h_t &= \beta\, v_{t-1} + c\, x_t, \qquad
        s_t = \sigma\!\Big(\frac{h_t - v_{th}}{\varepsilon}\Big) = \partial_h \mathrm{LSE}_\varepsilon(h_t - v_{th}, 0)\\
        v_t &= h_t - v_{th}\, s_t \ \text{(soft reset, default)} \quad\text{or}\quad h_t (1 - s_t) + v_{reset}\, s_t \ \text{(hard)}

    with :math:`\beta = 1 - 1/\tau` (``tau`` in steps, or ``beta``) and :math:`c = 1 - \beta` if
    ``decay_input`` else 1. As :math:`\varepsilon \to 0`, :math:`s_t \to H(h_t - v_{th})` wherever
    :math:`h_t \ne v_{th}` and the layer becomes the hard :class:`neuro.nn.LIF` with the same
    ``beta``, ``v_reset`` and ``decay_input`` (a test shows it). Spikes are in :math:`(0, 1)`, not
    binary, for any :math:`\varepsilon > 0`; the gradient is the exact one,
    :math:`\partial s/\partial h = s(1-s)/\varepsilon`, bounded by :math:`1/(4\varepsilon)`.
    ``learn_eps=True`` (default, as in the paper) learns :math:`\log \varepsilon`.

    ``forward`` runs all T steps in one fused call (:func:`neuro.ops.ultralif.autograd.ultralif_multi_step`,
    on the backend chosen by ``backend`` or :mod:`neuro.backend`), as :class:`neuro.nn.ALIF` does. With
    ``store_v=True`` it runs the torch loop over :meth:`step` instead and keeps the potentials of the
    last call in ``self.v_seq``. ``nonfinite`` (``"raise"``, ``"warn"`` once, ``"ignore"``) is what
    ``forward`` does with NaN/Inf input (:mod:`neuro.nn.nonfinite`); a 2-D input is refused unless
    ``input_layout="TN"`` says it is ``[T, N]`` (:mod:`neuro.nn.timemajor`).

    Example::

        neuron = UltraLIF(tau=2.0, eps=0.1)
        s = neuron(torch.randn(8, 4, 64))    # [T, B, N] -> soft spikes in (0, 1)
    """

    is_spiking = True

    def __init__(self, tau: float | None = 2.0, beta: float | None = None, v_threshold: float = 1.0, v_reset: float | None = None,
                 eps: float = 0.1, learn_eps: bool = True, decay_input: bool = False, store_v: bool = False,
                 backend: str | None = None, nonfinite: str = "raise", input_layout: str = "TB"):
        super().__init__()
        self.nonfinite = nonfinite
        self.input_layout = input_layout
        beta = decay_factor(tau, beta)
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be > 0, got {eps}")
        log_eps = torch.tensor([math.log(eps)], dtype=torch.float64)
        if learn_eps:
            self.log_eps = nn.Parameter(log_eps.float())
        else:
            self.register_buffer("log_eps", log_eps, persistent=False)
        self.beta, self.v_threshold, self.v_reset = float(beta), float(v_threshold), v_reset
        self.decay_input, self.store_v = decay_input, store_v
        self.backend = backend
        self.v_seq: torch.Tensor | None = None

    @property
    def params(self) -> UltraLIFParams:
        """The layer's constants as the fused op takes them (built from the attributes, so it follows changes to them)."""
        return UltraLIFParams(beta=self.beta, v_th=self.v_threshold, v_reset=self.v_reset, decay_input=self.decay_input)

    def eps(self) -> torch.Tensor:
        """The temperature :math:`\\varepsilon > 0`."""
        return self.log_eps.exp()

    def extra_repr(self) -> str:
        return f"beta={self.beta:.4g}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, eps={float(self.eps().detach()[0]):.4g}"

    def step(self, x: torch.Tensor, v: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step with explicit state: ``(s_t, v_t)`` from input ``x`` and potential ``v`` (``None``: at rest)."""
        if v is None:
            v = torch.full_like(x, 0.0 if self.v_reset is None else self.v_reset)
        c = (1.0 - self.beta) if self.decay_input else 1.0
        h = self.beta * v + c * x
        s = soft_spike(h - self.v_threshold, self.eps().to(compute_dtype(x.dtype))).to(x.dtype)
        v = h - self.v_threshold * s if self.v_reset is None else h * (1.0 - s) + self.v_reset * s
        return s, v

    def forward(self, x: torch.Tensor, v0: torch.Tensor | None = None) -> torch.Tensor:
        self._check_time_major(x)
        self._check_input(x)
        if not self.store_v:
            # eps in the kernels' arithmetic type: float32 for half tensors (0.99 in bfloat16 would be 0.98828125)
            s, _ = ultralif_multi_step(x, v0, self.eps().to(compute_dtype(x.dtype)), self.params, backend=self.backend)
            return s
        # in the fused op's arithmetic type (float32 for half tensors), results in x's dtype
        work = compute_dtype(x.dtype)
        v, out, vs = (None if v0 is None else v0.to(work)), [], []
        for xt in x.to(work):
            s, v = self.step(xt, v)
            out.append(s)
            vs.append(v)
        self.v_seq = torch.stack(vs).to(x.dtype)
        return torch.stack(out).to(x.dtype)
