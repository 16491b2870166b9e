r"""Integer ("multi-level") spiking neurons: integer training, spike-driven inference. Input and output ``[T, B, ...]``.

During training a neuron emits an integer count :math:`k_t \in \{0, \dots, D\}` per step; at inference
each count is unrolled into :math:`D` binary sub-steps of which the first :math:`k_t` fire
(:func:`expand_time`), so every downstream synaptic operation is still an accumulate of binary spikes
and a linear layer sees exactly the same summed input (Luo et al., *Integer-valued training and
spike-driven inference spiking neural network*, ECCV 2024 (SpikeYOLO, I-LIF); Xing et al., *SpikeLLM*,
2024; Yao et al., *Scaling spike-driven transformer with efficient spike firing approximation
training* (Spike-driven Transformer v3), TPAMI 2025).

The rounding and its straight-through gradient are the ones of
:class:`neuro.nn.models.MultiLevelSpike` (the QSD-Transformer neuron), reused here.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..ops.integer_lif import IntegerLIFParams
from ..ops.integer_lif.autograd import integer_lif_multi_step
from .models._neurons import _RoundClamp, expand_to_binary
from .neurons import decay_factor
from .nonfinite import NonFiniteCheck
from .timemajor import TimeMajorInput


class IntegerLIF(NonFiniteCheck, TimeMajorInput, nn.Module):
    r"""Leaky integrate-and-fire neuron whose spike is an integer count in :math:`[0, D]` (I-LIF).

    .. math::

        h_t &= \beta\, v_{t-1} + c\, x_t, \qquad
        k_t = \mathrm{round}\big(\mathrm{clip}(h_t / \theta,\ 0,\ D)\big) \in \{0, 1, \dots, D\}\\
        v_t &= h_t - \theta\, k_t \qquad \text{(soft reset by the emitted charge)}, \qquad
        y_t = k_t / n

    with :math:`\beta = 1 - 1/\tau` (``tau`` in steps, or ``beta``; ``beta=0`` is stateless),
    :math:`c = 1-\beta` if ``decay_input`` else 1 (default, as in I-LIF), threshold :math:`\theta` =
    ``v_threshold``, ``levels`` :math:`D` and output normaliser :math:`n` = ``norm`` (default 1: the
    output is the integer count itself). Rounding is half-up (:math:`\lfloor u + 1/2 \rfloor`). Backward: the
    straight-through estimator :math:`\partial k_t / \partial h_t = 1/\theta` on :math:`0 < h_t/\theta < D`
    and 0 outside; the reset goes through it too unless ``detach_reset`` (then, inside that range,
    :math:`\partial v_t/\partial h_t = 1 - \theta \cdot 1/\theta = 0`: no gradient along the membrane;
    ``detach_reset=True`` keeps it at 1). With one step, :math:`\theta = 1/D`
    and :math:`n = D` it is :class:`neuro.nn.models.MultiLevelSpike`.

    ``forward`` runs all T steps in one fused call (:func:`neuro.ops.integer_lif.autograd.integer_lif_multi_step`,
    on the backend chosen by ``backend`` or :mod:`neuro.backend`), as :class:`neuro.nn.ALIF` does. With
    ``store_v=True`` it runs the torch loop over :meth:`step` instead and keeps the potentials of the
    last call in ``self.v_seq``. ``nonfinite`` (``"raise"``, ``"warn"`` once, ``"ignore"``) is what
    ``forward`` does with NaN/Inf input (:mod:`neuro.nn.nonfinite`); a 2-D input is refused unless
    ``input_layout="TN"`` says it is ``[T, N]`` (:mod:`neuro.nn.timemajor`).

    Example::

        neuron = IntegerLIF(levels=4, tau=2.0)
        k = neuron(torch.randn(4, 8, 128))             # integer counts in 0..4, [T, B, N]
        binary = expand_time(k, levels=4)               # [4 * 4, B, N] binary spikes for inference
    """

    is_spiking = True

    def __init__(self, levels: int = 4, tau: float | None = 2.0, beta: float | None = None, v_threshold: float = 1.0,
                 norm: float = 1.0, decay_input: bool = False, detach_reset: bool = False, store_v: bool = False,
                 backend: str | None = None, nonfinite: str = "raise", input_layout: str = "TB"):
        super().__init__()
        self.nonfinite = nonfinite
        self.input_layout = input_layout
        if int(levels) != levels or levels < 1:
            raise ValueError(f"levels must be a positive integer, got {levels}")
        beta = decay_factor(tau, beta)
        if not (math.isfinite(v_threshold) and v_threshold > 0):
            raise ValueError(f"v_threshold must be > 0, got {v_threshold}")
        if not (math.isfinite(norm) and norm > 0):
            raise ValueError(f"norm must be > 0, got {norm}")
        self.levels, self.beta, self.v_threshold, self.norm = int(levels), float(beta), float(v_threshold), float(norm)
        self.decay_input, self.detach_reset, self.store_v = decay_input, detach_reset, store_v
        self.backend = backend
        self.v_seq: torch.Tensor | None = None

    @property
    def params(self) -> IntegerLIFParams:
        """The layer's constants as the fused op takes them (built from the attributes, so it follows changes to them)."""
        return IntegerLIFParams(beta=self.beta, v_th=self.v_threshold, levels=self.levels, norm=self.norm, decay_input=self.decay_input,
                                detach_reset=self.detach_reset)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, beta={self.beta:.4g}, v_threshold={self.v_threshold:g}, norm={self.norm:g}"

    def step(self, x: torch.Tensor, v: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step with explicit state: ``(y_t, v_t)`` from input ``x`` and potential ``v`` (``None``: 0)."""
        c = (1.0 - self.beta) if self.decay_input else 1.0
        h = c * x if v is None else self.beta * v + c * x
        k = _RoundClamp.apply(h / self.v_threshold, self.levels)
        kr = k.detach() if self.detach_reset else k
        return k / self.norm, h - self.v_threshold * kr

    def forward(self, x: torch.Tensor, v0: torch.Tensor | None = None) -> torch.Tensor:
        self._check_time_major(x)
        self._check_input(x)
        if not self.store_v:
            y, _ = integer_lif_multi_step(x, v0, self.params, backend=self.backend)
            return y
        v, out, vs = v0, [], []
        for xt in x:
            y, v = self.step(xt, v)
            out.append(y)
            vs.append(v)
        if self.store_v:
            self.v_seq = torch.stack(vs)
        return torch.stack(out)


class IELIF(IntegerLIF):
    r"""Information-enhanced LIF of the Quantized Spike-driven Transformer (Qiu et al., *Quantized
    Spike-driven Transformer*, ICLR 2025): integer spikes in :math:`\{0, \dots, D\}` scaled into
    :math:`[0, D/n]`, binary spikes at inference.

    .. math::

        h_t = \beta v_{t-1} + x_t, \quad y_t = \frac{1}{n}\,\mathrm{round}\big(\mathrm{clip}(D\, h_t,\ 0,\ D)\big), \quad
        v_t = h_t - \tfrac{n}{D}\, y_t

    i.e. :class:`IntegerLIF` with :math:`\theta = 1/D`. ``norm`` :math:`n` defaults to :math:`D` (outputs
    in :math:`[0, 1]`); the Q-SDSA attention neuron uses ``norm = D/2`` (outputs in :math:`[0, 2]`).
    With one time step (the paper's setting, ``T = 1``) this is exactly the official code's ``Multispike``
    (github.com/bollossom/QSD-Transformer, ``classification/models.py``) and
    :class:`neuro.nn.models.MultiLevelSpike`, values and gradients. For ``T > 1`` the membrane is carried
    with a soft reset by the emitted charge, as in I-LIF. The paper's "information enhancement" (a
    rectification of the Q-SDSA distribution, learned jointly with its fine-grained distillation,
    :func:`neuro.nn.models.fine_grained_distillation_loss`) is not a separate operation of the
    official code's neuron and is not reproduced here.
    """

    def __init__(self, levels: int = 4, norm: float | None = None, tau: float | None = 2.0, beta: float | None = None, **kw):
        super().__init__(levels=levels, tau=tau, beta=beta, v_threshold=1.0 / levels, norm=float(levels if norm is None else norm), **kw)


def expand_time(counts: torch.Tensor, levels: int) -> torch.Tensor:
    r"""Integer spikes ``[T, B, ...]`` in :math:`0..D` as binary spikes ``[T * D, B, ...]``: step :math:`t` becomes
    sub-steps :math:`tD, \dots, tD + D - 1`, of which the first :math:`k_t` fire.

    A linear map :math:`W` (no bias) then gives the same input summed over each step's sub-steps:
    :math:`\sum_{j<D} W b_{tD+j} = W k_t`. Counts must be integers; divide by ``norm`` first for
    :class:`IELIF` outputs (``counts = y * norm``).
    """
    if counts.dim() < 1:
        raise ValueError("counts must have a leading time dimension")
    if bool((counts != torch.round(counts)).any()):
        raise ValueError("counts must be integer-valued")
    binary = expand_to_binary(counts, levels)  # [D, T, B, ...]
    return binary.movedim(0, 1).flatten(0, 1)
