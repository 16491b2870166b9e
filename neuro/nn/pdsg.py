"""LIF neurons trained (or attacked) through the potential-dependent surrogate gradient (PDSG, :mod:`neuro.ops.surrogate.pdsg`)."""

from __future__ import annotations

import torch

from ..ops.surrogate.pdsg import membrane_std, pdsg_heaviside
from .neurons import LIF


class PDSGLIF(LIF):
    r""":class:`LIF` whose spike derivative is the potential-dependent surrogate of Lun et al. (CVPR 2025).

    Same forward law as :class:`LIF` (the spikes are identical); in the backward pass step :math:`t` uses

    .. math::

        \frac{\partial s_t}{\partial h_t} = \mathcal N\big(h_t - v_{th};\ \kappa\sigma_t/2,\ \kappa^2\sigma_t^2\big), \qquad
        \sigma_t = \mathrm{std}\big(\{h_\tau\}_{\tau \le t}\big)

    where :math:`\sigma_t` is the unbiased std of the detached charges :math:`h_1..h_t` of this layer over
    time, batch and positions, one value per channel (``channel_dim`` of one step ``[B, ...]``: 1 for
    ``[B, C, H, W]`` or the features of ``[B, N]``; ``None`` for one value per layer), zero replaced by 1,
    and :math:`\kappa` = ``width_scale`` (1 in the paper). This is the official ``PDSG_LIFNode``
    (github.com/ryime/PDSG-SDA) on SpikingJelly's ``LIFNode`` law. Runs on the torch reference loop
    (the surrogate width depends on the whole layer, so there is no fused kernel and no single-step form).
    ``reset_delay`` and ``strict_threshold`` are not supported.

    Example::

        lif = PDSGLIF(tau=2.0)           # drop-in for LIF(tau=2.0) when computing input gradients
        s = lif(torch.rand(4, 8, 16, 32, 32))
    """

    def __init__(self, tau: float | None = 2.0, width_scale: float = 1.0, channel_dim: int | None = 1, **kw):
        for name in ("reset_delay", "strict_threshold", "surrogate", "alpha", "backend"):
            if kw.get(name):
                raise TypeError(f"PDSGLIF does not take {name!r}")
        super().__init__(tau=tau, **kw)
        if width_scale <= 0:
            raise ValueError(f"width_scale must be > 0, got {width_scale}")
        self.width_scale, self.channel_dim = float(width_scale), channel_dim

    def extra_repr(self) -> str:
        return super().extra_repr().replace(f"surrogate={self.params.surrogate}", f"surrogate=pdsg(width_scale={self.width_scale:g})")

    def step(self, x: torch.Tensor, v: torch.Tensor | None = None):
        raise NotImplementedError("PDSGLIF has no single-step form: the surrogate width is the std over all steps so far; call it on [T, B, ...]")

    def forward(self, x: torch.Tensor, v0: torch.Tensor | None = None) -> torch.Tensor:
        self._check_time_major(x)
        self._check_input(x)
        p = self.params
        beta = self.decay(x)  # float32 for half inputs (computed in float32, spikes returned in x's dtype)
        c = (1.0 - beta) if p.decay_input else 1.0
        v = torch.full_like(x[0], 0.0 if p.v_reset is None else p.v_reset) if v0 is None else v0
        hist, spikes, vs = [], [], []
        for xt in x:
            h = beta * v + (1.0 - beta) * p.v_leak + c * xt
            hist.append(h.detach())
            sigma = membrane_std(torch.stack(hist), self.channel_dim)
            s = pdsg_heaviside(h - p.v_th, sigma, self.width_scale)
            sr = s.detach() if p.detach_reset else s
            v = h - p.v_th * sr if p.soft_reset else h * (1.0 - sr) + p.v_reset * sr
            spikes.append(s)
            vs.append(v)
        if self.store_v:
            self.v_seq = torch.stack(vs).to(x.dtype)
        return torch.stack(spikes).to(x.dtype)
