r"""Output layers and losses for ``[T, B, ...]`` spiking networks.

* :class:`LeakyReadout`: a non-spiking leaky integrator output layer, read as the max or mean of its
  membrane over time (or the whole trace, or the last step);
* classification losses on output spikes or membranes: :func:`spike_count_cross_entropy`,
  :func:`spike_rate_cross_entropy`, :func:`max_membrane_cross_entropy`, :func:`rate_mse_loss`;
* activity regularisers: :func:`upper_rate_penalty`, :func:`lower_rate_penalty` (per-neuron bounds on
  the firing rate), :func:`l1_spike_penalty`.

Where snntorch 1.0's ``snntorch.functional`` defines the same quantity the definitions agree (a test
holds them within 1e-6): ``ce_count_loss``, ``ce_rate_loss``, ``ce_max_membrane_loss``,
``mse_count_loss`` (when ``T * rate`` is an integer; snntorch truncates it with ``int``) and
``l1_rate_sparsity``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..backend import compute_dtype
from .neurons import decay_factor
from .timemajor import TimeMajorInput

_REDUCTIONS = ("max", "mean", "last", "none")


class LeakyReadout(TimeMajorInput, nn.Module):
    r"""Non-spiking leaky integrator read-out (the output layer of SpyTorch / Zenke & Vogels 2021 and of snntorch's tutorials).

    .. math::

        u_t = \beta\, u_{t-1} + c\, x_t, \qquad u_{-1} = 0, \qquad
        y = \max_t u_t \ (\text{``max''}), \quad \tfrac1T \textstyle\sum_t u_t \ (\text{``mean''}), \quad u_{T-1} \ (\text{``last''})

    with :math:`\beta = 1 - 1/\tau` (``tau`` in steps) or ``beta`` given, and :math:`c = 1-\beta` when
    ``decay_input`` (else 1, snntorch's ``Leaky(beta, reset_mechanism="none")``). ``reduce="none"``
    returns the trace ``[T, B, ...]``; the other modes return ``[B, ...]`` (max over time picks, per
    output, the step where the potential peaks; its gradient flows only there). ``learn_beta=True``
    learns :math:`\beta` through a sigmoid. Feed it the output of a linear layer on spikes. A 2-D input is
    refused unless ``input_layout="TN"`` says it is ``[T, N]`` (:mod:`neuro.nn.timemajor`).

    Example::

        readout = LeakyReadout(tau=10.0, reduce="max")
        logits = readout(torch.randn(25, 8, 10))    # [T, B, C] -> [B, C]
    """

    is_spiking = False

    def __init__(self, tau: float | None = 10.0, beta: float | None = None, decay_input: bool = False, reduce: str = "mean",
                 learn_beta: bool = False, input_layout: str = "TB"):
        super().__init__()
        self.input_layout = input_layout
        beta = decay_factor(tau, beta)
        if reduce not in _REDUCTIONS:
            raise ValueError(f"reduce must be one of {_REDUCTIONS}, got {reduce!r}")
        if learn_beta:
            if not 0.0 < beta < 1.0:
                raise ValueError(f"learn_beta needs 0 < beta < 1, got {beta}")
            self.w = nn.Parameter(torch.tensor([math.log(beta / (1.0 - beta))]))
        else:
            self._beta_value = float(beta)  # a Python float: module.float() / .half() leave it exact
        self.learn_beta, self.decay_input, self.reduce = learn_beta, decay_input, reduce

    def beta(self) -> torch.Tensor:
        """The decay :math:`\\beta`, shape ``[1]`` (learned: the parameter's dtype; fixed: float64)."""
        return torch.sigmoid(self.w) if self.learn_beta else torch.tensor([self._beta_value], dtype=torch.float64)

    def extra_repr(self) -> str:
        return f"beta={float(self.beta().detach()[0]):.4g}, decay_input={self.decay_input}, reduce={self.reduce!r}"

    def step(self, x: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """One step: :math:`u_t` from input ``x`` and the previous potential ``u`` (``None``: 0)."""
        # beta in the arithmetic type (float32 for half inputs: 0.99 in bfloat16 would be 0.98828125); u follows it
        work = compute_dtype(x.dtype)
        beta = torch.sigmoid(self.w).to(work) if self.learn_beta else torch.full((1,), self._beta_value, dtype=work, device=x.device)
        c = (1.0 - beta) if self.decay_input else 1.0
        return c * x if u is None else beta * u + c * x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_time_major(x)
        u, trace = None, []
        for xt in x:
            u = self.step(xt, u)
            trace.append(u)
        u_seq = torch.stack(trace).to(x.dtype)
        if self.reduce == "max":
            return u_seq.max(dim=0).values
        if self.reduce == "mean":
            return u_seq.mean(dim=0)
        if self.reduce == "last":
            return u_seq[-1]
        return u_seq


def _check_seq(x: torch.Tensor, name: str) -> None:
    if x.dim() < 3:
        raise ValueError(f"{name} must be [T, B, C], got shape {tuple(x.shape)}")


def spike_count_cross_entropy(spikes: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Cross-entropy of the spike counts :math:`\mathrm{CE}(\mathrm{softmax}(\sum_t s_t), y)`; ``spikes [T, B, C]`` (snntorch ``ce_count_loss``)."""
    _check_seq(spikes, "spikes")
    return F.cross_entropy(spikes.sum(0), targets, reduction=reduction)


def spike_rate_cross_entropy(spikes: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    r"""Per-step cross-entropy averaged over time: :math:`\frac1T \sum_t \mathrm{CE}(\mathrm{softmax}(s_t), y)` (snntorch ``ce_rate_loss``)."""
    _check_seq(spikes, "spikes")
    return torch.stack([F.cross_entropy(st, targets) for st in spikes]).mean()


def max_membrane_cross_entropy(mem: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    r"""Cross-entropy of the peak output potential: :math:`\mathrm{CE}(\mathrm{softmax}(\max_t u_t), y)` (snntorch ``ce_max_membrane_loss``)."""
    _check_seq(mem, "mem")
    return F.cross_entropy(mem.max(0).values, targets, reduction=reduction)


def rate_mse_loss(spikes: torch.Tensor, targets: torch.Tensor, correct_rate: float = 1.0, incorrect_rate: float = 0.0) -> torch.Tensor:
    r"""Mean squared error between spike counts and target counts, divided by T (SLAYER's loss; snntorch ``mse_count_loss``).

    .. math::

        L = \frac{1}{T}\,\frac{1}{BC}\sum_{b,c} \Big(\sum_t s_{t,b,c} - T\, r_{b,c}\Big)^2, \qquad
        r_{b,c} = \texttt{correct\_rate}\ \text{if}\ c = y_b\ \text{else}\ \texttt{incorrect\_rate}

    ``spikes [T, B, C]``, ``targets [B]`` class indices. snntorch truncates :math:`T r` to an integer;
    the two agree whenever :math:`T r` is one.
    """
    _check_seq(spikes, "spikes")
    for name, r in (("correct_rate", correct_rate), ("incorrect_rate", incorrect_rate)):
        if not 0.0 <= r <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {r}")
    T, C = spikes.shape[0], spikes.shape[-1]
    onehot = F.one_hot(targets, C).to(spikes.dtype)
    target_counts = T * (incorrect_rate + (correct_rate - incorrect_rate) * onehot)
    return F.mse_loss(spikes.sum(0), target_counts) / T


def firing_rates(spikes: torch.Tensor) -> torch.Tensor:
    """Per-neuron firing rate (spikes per step), averaged over time and batch: ``[T, B, ...] -> [...]``."""
    if spikes.dim() < 2:
        raise ValueError(f"spikes must be [T, B, ...], got shape {tuple(spikes.shape)}")
    return spikes.mean(dim=(0, 1))


def upper_rate_penalty(spikes: torch.Tensor, max_rate: float, weight: float = 1.0) -> torch.Tensor:
    r"""Penalty on neurons firing above ``max_rate`` (spikes per step): :math:`\lambda\,\frac1N \sum_i [r_i - \theta_U]_+^2`.

    :math:`r_i` is neuron :math:`i`'s rate over time and batch (:func:`firing_rates`); the per-neuron
    bound of Zenke & Vogels (*The remarkable robustness of surrogate gradient learning*, Neural Comput. 2021).
    """
    return weight * torch.relu(firing_rates(spikes) - max_rate).pow(2).mean()


def lower_rate_penalty(spikes: torch.Tensor, min_rate: float, weight: float = 1.0) -> torch.Tensor:
    r"""Penalty on neurons firing below ``min_rate`` (silent neurons): :math:`\lambda\,\frac1N \sum_i [\theta_L - r_i]_+^2` (Zenke & Vogels 2021)."""
    return weight * torch.relu(min_rate - firing_rates(spikes)).pow(2).mean()


def l1_spike_penalty(spikes: torch.Tensor, weight: float = 1e-5) -> torch.Tensor:
    r""":math:`\lambda \sum s` over all spikes (snntorch ``l1_rate_sparsity(Lambda)``)."""
    return weight * spikes.sum()
