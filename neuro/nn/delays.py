r"""Synaptic delays for deep feed-forward SNNs on ``[T, B, N]`` tensors.

Every synapse :math:`i \to j` has a weight :math:`W_{ji}` and a delay :math:`d_{ji}` (time steps):

.. math::

    y_t[j] = \sum_i W_{ji}\, x_{t - d_{ji}}[i] \; (+ b_j), \qquad x_{t<0} = 0

* :class:`DelayedLinear` — fixed integer delays in ``[0, max_delay]`` (random by default).
* :class:`LearnableDelayLinear` — delays learned with the weights by backpropagation, the method of
  Hammouamri, Khalfaoui-Hassani & Masquelier, "Learning Delays in Spiking Neural Networks using Dilated
  Convolutions with Learnable Spacings" (ICLR 2024; DCLS-Delays). Each synapse's delay is a continuous
  position :math:`\tau_{ji} \in [0, D]`; its temporal kernel over the taps :math:`k = 0 \dots D` is a
  normalised Gaussian centred on it,

  .. math::

      K_{ji}[k] = W_{ji}\, \frac{g_\sigma(k - \tau_{ji})}{\sum_{k'=0}^{D} g_\sigma(k' - \tau_{ji})}, \qquad
      g_\sigma(u) = e^{-u^2 / 2\sigma^2}, \qquad y_t[j] = \sum_i \sum_{k=0}^{D} K_{ji}[k]\, x_{t-k}[i]

  so the loss is differentiable in :math:`\tau`. :math:`\sigma` is annealed during training
  (:func:`dcls_sigma`, the paper's exponential schedule) and the positions are then rounded to integers
  (:meth:`LearnableDelayLinear.round_delays`): the layer becomes exactly a :class:`DelayedLinear`.

Both run as one causal ``conv1d`` over time (left zero padding of ``D`` steps) whose kernel has
``D + 1`` taps per synapse: one non-zero tap for fixed delays, a Gaussian for learnable ones. The
output has the length of the input; pad the input at the end (``F.pad(x, (0, 0, 0, 0, 0, n))``) to
let late spikes arrive, as the paper does. ``max_delay``, delays, :math:`\tau` and :math:`\sigma` are
all in time steps.

Speed (``benchmarks/delays_vs_dcls.py``; CPU, one thread, a loaded machine, 140 -> 256, 25 taps, T = 112):
the conv1d costs ``D + 1`` dense products but beat, for fixed delays, one masked matmul per delay value
(1.5-2x) and a sparse (CSR) product or a gather per synapse (7-12x, forward only). For learnable delays the
conv dominates at large batch; the Gaussian kernel (a softmax over the taps) is built 2.5-7x faster than the
DCLS package builds it, so a training step takes 0.73x (batch 8) to 0.85x (batch 32) of ``Dcls1d``'s time.

Example::

    fixed = DelayedLinear(700, 256, max_delay=24)                 # random delays in 0..24 steps
    learn = LearnableDelayLinear(700, 256, max_delay=24, sigma=12.27)
    y = learn(torch.rand(100, 8, 700))                            # [T, B, 700] -> [T, B, 256]
    learn.sigma = dcls_sigma(epoch, final_epoch=37)               # anneal once per epoch
    learn.round_delays()                                          # inference: integer delays
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DelayedLinear", "LearnableDelayLinear", "dcls_sigma", "delayed_linear_reference"]


def _check_max_delay(max_delay) -> int:
    if isinstance(max_delay, bool) or not isinstance(max_delay, int) or max_delay < 0:
        raise ValueError(f"max_delay must be an integer >= 0 (time steps), got {max_delay!r}")
    return max_delay


def _check_input(x: torch.Tensor, in_features: int, who: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who}: x must be a tensor [T, B, {in_features}], got {type(x).__name__}")
    if x.dim() != 3 or x.shape[-1] != in_features:
        raise ValueError(f"{who}: x must have shape [T, B, in_features={in_features}], got {tuple(x.shape)}")


def _check_delays(delays, out_features: int, in_features: int, max_delay: int, name: str, integer: bool) -> torch.Tensor:
    d = torch.as_tensor(delays)
    if tuple(d.shape) != (out_features, in_features):
        raise ValueError(f"{name} must have shape [out_features, in_features] = [{out_features}, {in_features}], got {tuple(d.shape)}")
    if d.dtype == torch.bool or d.is_complex():
        raise ValueError(f"{name} must be real numbers of time steps, got dtype {d.dtype}")
    if d.numel():
        if not bool(torch.isfinite(d.double()).all()):
            raise ValueError(f"{name} must be finite")
        if integer and d.dtype.is_floating_point and not bool((d == d.round()).all()):
            raise ValueError(f"{name} must be whole numbers of time steps (use LearnableDelayLinear for continuous delays)")
        lo, hi = float(d.min()), float(d.max())
        if lo < 0:
            raise ValueError(f"{name} must be >= 0 (time steps), got a minimum of {lo:g}")
        if hi > max_delay:
            raise ValueError(f"{name} must be <= max_delay={max_delay}, got a maximum of {hi:g}")
    return d


def _delay_conv(x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``[T, B, N_in]`` through the causal temporal convolution with ``kernel [N_out, N_in, D+1]``, whose
    tap ``k`` holds the weight of delay ``k``; returns ``[T, B, N_out]``."""
    d = kernel.shape[-1] - 1
    xb = x.permute(1, 2, 0)  # [B, N_in, T]
    xb = F.pad(xb, (d, 0))
    # conv1d is a cross-correlation: y[t] = sum_k K'[k] x_pad[t + k] = sum_k K'[k] x[t + k - D], so tap D - k of K' is delay k
    y = F.conv1d(xb, kernel.flip(-1), bias)
    return y.permute(2, 0, 1)


def _one_hot_kernel(weight: torch.Tensor, delays: torch.Tensor, max_delay: int) -> torch.Tensor:
    k = weight.new_zeros((*weight.shape, max_delay + 1))
    return k.scatter(-1, delays.long().unsqueeze(-1), weight.unsqueeze(-1))


def delayed_linear_reference(x: torch.Tensor, weight: torch.Tensor, delays: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """The definition, one masked matmul per delay value on the shifted input (the readable reference)."""
    t = x.shape[0]
    y = x.new_zeros((t, x.shape[1], weight.shape[0]))
    for d in torch.unique(delays).tolist():
        if d >= t:
            continue
        w = weight * (delays == d).to(weight.dtype)
        y[d:] = y[d:] + x[: t - d] @ w.t()
    return y if bias is None else y + bias


class DelayedLinear(nn.Module):
    r"""A linear layer whose synapses have fixed integer delays :math:`d_{ji} \in [0, D]` (time steps).

    .. math::  y_t[j] = \sum_i W_{ji}\, x_{t - d_{ji}}[i] + b_j

    ``delays`` (``[out_features, in_features]``, whole numbers) defaults to independent uniform draws
    from ``0..max_delay`` (``generator`` makes them reproducible). ``weight`` and ``bias`` are
    initialised as in ``nn.Linear``; the delays are a buffer (saved in the ``state_dict``, not trained).
    Input ``[T, B, in_features]``, output ``[T, B, out_features]``.

    Example::

        layer = DelayedLinear(140, 256, max_delay=24, generator=torch.Generator().manual_seed(0))
        y = layer(torch.rand(50, 4, 140))
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int, delays=None, bias: bool = False,
                 generator: torch.Generator | None = None):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        self.in_features, self.out_features = in_features, out_features
        self.max_delay = _check_max_delay(max_delay)
        lin = nn.Linear(in_features, out_features, bias=bias)
        self.weight = lin.weight
        self.bias = lin.bias
        if delays is None:
            delays = torch.randint(0, max_delay + 1, (out_features, in_features), generator=generator)
        self.register_buffer("delays", _check_delays(delays, out_features, in_features, max_delay, "delays", integer=True).long().clone())

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, bias={self.bias is not None}"

    def kernel(self) -> torch.Tensor:
        """The temporal kernel ``[out, in, max_delay + 1]``: tap ``k`` holds the weights of the synapses with delay ``k``."""
        return _one_hot_kernel(self.weight, self.delays, self.max_delay)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_features, type(self).__name__)
        if self.max_delay == 0:
            return F.linear(x, self.weight, self.bias)
        return _delay_conv(x, self.kernel().to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))


def dcls_sigma(epoch: int, final_epoch: int, sigma_init: float = 12.0, sigma_final: float = 0.23, offset: float = 0.27) -> float:
    r"""The paper's :math:`\sigma` for an epoch (0-based): an exponential decay of :math:`s` from ``sigma_init``
    to ``sigma_final`` over ``final_epoch`` epochs, constant after, plus ``offset``:

    .. math::  \sigma_e = \text{offset} + s_0 \,(s_1 / s_0)^{\min(e, E)/E}

    The defaults are the official SHD configuration (``max_delay = 25`` taps, ``sigInit = 25 // 2``, decreased
    to 0.23, the DCLS Gaussian adding 0.27), so :math:`\sigma` goes from 12.27 to 0.5 steps.
    ``final_epoch = 0`` keeps :math:`\sigma` at ``offset + sigma_final``.
    """
    if epoch < 0 or final_epoch < 0:
        raise ValueError(f"epoch and final_epoch must be >= 0, got epoch={epoch}, final_epoch={final_epoch}")
    if not (sigma_init > 0 and sigma_final > 0):
        raise ValueError(f"sigma_init and sigma_final must be > 0, got {sigma_init}, {sigma_final}")
    if final_epoch == 0:
        return offset + sigma_final
    return offset + sigma_init * (sigma_final / sigma_init) ** (min(epoch, final_epoch) / final_epoch)


class LearnableDelayLinear(nn.Module):
    r"""A linear layer with learnable per-synapse delays (DCLS-Delays, Hammouamri et al., ICLR 2024).

    Each synapse has a weight :math:`W_{ji}` and a continuous delay :math:`\tau_{ji} \in [0, D]`
    (time steps, ``D = max_delay``); the synapse's kernel over the ``D + 1`` taps is the normalised
    Gaussian of width :math:`\sigma` centred on :math:`\tau_{ji}` (module docstring), so

    .. math::  y_t[j] = \sum_i W_{ji} \sum_{k=0}^{D} g_\sigma(k - \tau_{ji})\, x_{t-k}[i] + b_j

    The Gaussian is computed as a softmax over the taps, so a very small :math:`\sigma` gives the one-hot
    kernel of the nearest tap without overflow. ``sigma = 0`` (set by :meth:`round_delays`) is the
    integer-delay inference mode: the kernel is one-hot at :math:`\mathrm{round}(\tau)` and the layer
    equals :class:`DelayedLinear` with those delays (:meth:`to_fixed`).

    :math:`\sigma` is a buffer (saved and restored with the ``state_dict``, not learned); set it with
    ``layer.sigma = value``, e.g. once per epoch from :func:`dcls_sigma`. In training mode the delays
    are clamped to ``[0, D]`` before every forward, as the official code does after every step.
    ``round_in_eval=True`` evaluates (``.eval()``) with the rounded integer delays, leaving the parameters
    and :math:`\sigma` untouched for further training: the official code's evaluation.

    ``delay_lr_scale`` stores :math:`\tau` as ``delay_lr_scale * delay_raw``: with Adam(W), whose steps do not
    depend on the gradient's scale, the delays then learn ``delay_lr_scale`` times faster than the weights
    under one optimizer (the paper trains positions with a 100x larger learning rate than weights).
    Initial delays: uniform in ``[0, D]`` (the paper's initialisation); weights as ``nn.Linear``.
    The same layer is the DCLS package's ``Dcls1d(in, out, kernel_count=1, dilated_kernel_size=D+1,
    version="gauss")`` applied to the input left-padded by ``D`` steps, with
    :math:`\tau = D - (P + \lfloor (D+1)/2 \rfloor)` and :math:`\sigma = |SIG| + 0.27` (tests hold them equal).

    Example::

        layer = LearnableDelayLinear(140, 256, max_delay=24, sigma=12.27)
        y = layer(torch.rand(50, 4, 140))     # [T, B, 140] -> [T, B, 256]
        layer.round_delays()                  # integer delays from now on
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int, sigma: float | None = None, bias: bool = False,
                 delays=None, delay_lr_scale: float = 1.0, round_in_eval: bool = False, generator: torch.Generator | None = None):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        self.round_in_eval = bool(round_in_eval)
        if not (isinstance(delay_lr_scale, (int, float)) and math.isfinite(delay_lr_scale) and delay_lr_scale > 0):
            raise ValueError(f"delay_lr_scale must be a finite number > 0, got {delay_lr_scale!r}")
        self.in_features, self.out_features = in_features, out_features
        self.max_delay = _check_max_delay(max_delay)
        self.delay_lr_scale = float(delay_lr_scale)
        lin = nn.Linear(in_features, out_features, bias=bias)
        self.weight = lin.weight
        self.bias = lin.bias
        if delays is None:
            tau = torch.rand((out_features, in_features), generator=generator) * max_delay
        else:
            tau = _check_delays(delays, out_features, in_features, max_delay, "delays", integer=False).to(torch.float32)
        self.delay_raw = nn.Parameter(tau / self.delay_lr_scale)
        self.register_buffer("_sigma", torch.tensor(float(max(max_delay, 1)) / 2 if sigma is None else self._checked_sigma(sigma)))

    @staticmethod
    def _checked_sigma(value) -> float:
        v = float(value)
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"sigma must be a finite number >= 0 (time steps; 0 = integer delays), got {value!r}")
        return v

    @property
    def sigma(self) -> float:
        """Width of the Gaussian kernels (time steps); 0 means rounded, integer delays."""
        return float(self._sigma)

    @sigma.setter
    def sigma(self, value: float) -> None:
        self._sigma.fill_(self._checked_sigma(value))

    @property
    def delays(self) -> torch.Tensor:
        r"""The continuous delays :math:`\tau` ``[out, in]`` (time steps)."""
        return self.delay_raw * self.delay_lr_scale

    def extra_repr(self) -> str:
        extra = ", round_in_eval=True" if self.round_in_eval else ""
        return f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, sigma={self.sigma:.4g}, bias={self.bias is not None}{extra}"

    @torch.no_grad()
    def clamp_delays_(self) -> None:
        """Clamp the delays into ``[0, max_delay]`` in place."""
        self.delay_raw.clamp_(0.0, self.max_delay / self.delay_lr_scale)

    def integer_delays(self) -> torch.Tensor:
        """The delays rounded to whole steps (``long``, ``[out, in]``), clamped into ``[0, max_delay]``."""
        return self.delays.detach().round().clamp(0, self.max_delay).long()

    def kernel(self) -> torch.Tensor:
        """The temporal kernel ``[out, in, max_delay + 1]``; tap ``k`` is the weight given to delay ``k``."""
        if self.sigma == 0.0 or (self.round_in_eval and not self.training):
            return _one_hot_kernel(self.weight, self.integer_delays(), self.max_delay)
        taps = torch.arange(self.max_delay + 1, device=self.weight.device, dtype=self.weight.dtype)
        z = (taps - self.delays.unsqueeze(-1)) / self._sigma.to(self.weight.dtype)
        return self.weight.unsqueeze(-1) * torch.softmax(-0.5 * z * z, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_features, type(self).__name__)
        if self.training:
            self.clamp_delays_()
        if self.max_delay == 0:
            return F.linear(x, self.weight, self.bias)
        return _delay_conv(x, self.kernel().to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))

    @torch.no_grad()
    def round_delays(self) -> LearnableDelayLinear:
        """Round the delays to whole steps in place and switch to integer delays (``sigma = 0``); returns ``self``."""
        self.delay_raw.copy_(self.integer_delays().to(self.delay_raw.dtype) / self.delay_lr_scale)
        self.sigma = 0.0
        return self

    def to_fixed(self) -> DelayedLinear:
        """A :class:`DelayedLinear` with the rounded delays and copies of the weights (what inference runs)."""
        fixed = DelayedLinear(self.in_features, self.out_features, self.max_delay, delays=self.integer_delays().cpu(), bias=self.bias is not None)
        fixed = fixed.to(device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            fixed.weight.copy_(self.weight)
            if self.bias is not None:
                fixed.bias.copy_(self.bias)
        return fixed
