"""Adaptive-threshold LIF (ALIF) of long short-term memory SNNs (Bellec et al. 2018, 2020). Input and output ``[T, B, ...]``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..backend import compute_dtype
from ..ops.alif import ALIFParams
from ..ops.alif.autograd import alif_multi_step
from .nonfinite import NonFiniteCheck
from .surrogate import spike
from .timemajor import TimeMajorInput


@dataclass(frozen=True)
class ALIFState:
    """State of an ALIF layer after a step: membrane ``v`` (after reset) and adaptation variable ``a``."""

    v: torch.Tensor
    a: torch.Tensor


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class ALIF(NonFiniteCheck, TimeMajorInput, nn.Module):
    r"""Leaky integrate-and-fire neurons with an adaptive threshold (ALIF; Bellec et al., *Long short-term
    memory and learning-to-learn in networks of spiking neurons*, NeurIPS 2018; *A solution to the learning
    dilemma for recurrent networks of spiking neurons*, Nat. Commun. 2020, eq. 23-24).

    .. math::

        h_t &= \beta\, v_{t-1} + c\, x_t, \qquad b_t = b_0 + \beta_a\, a_{t-1}, \qquad s_t = H(h_t - b_t)\\
        v_t &= h_t - b_0\, s_t \ \text{(soft reset, default)} \quad\text{or}\quad h_t (1 - s_t) + v_{reset}\, s_t \ \text{(hard)}\\
        a_t &= \rho\, a_{t-1} + \gamma\, s_t

    with :math:`\beta = e^{-1/\tau_{mem}}`, :math:`\rho = e^{-1/\tau_{adapt}}` (time constants in steps),
    :math:`c = 1 - \beta` if ``decay_input`` else 1 (Bellec: 1), threshold baseline :math:`b_0` =
    ``v_threshold``, adaptation strength :math:`\beta_a` = ``beta_a`` and jump :math:`\gamma` =
    ``adapt_increment`` (1 as in the 2020 paper; ``1 - rho`` gives the 2018 LSNN form
    :math:`a_t = \rho a_{t-1} + (1-\rho) s_t`). ``beta_a=0`` is the plain LIF with soft reset.
    The spike's backward pass is the named surrogate of :func:`neuro.nn.spike` (default the
    triangle :math:`\max(0, 1 - |h - b|)`, Bellec's pseudo-derivative without its 0.3 damping); it
    also flows into the threshold through :math:`a` unless ``detach_adaptation``.

    Learnable options: ``learn_tau_mem``, ``learn_tau_adapt`` learn :math:`\beta`, :math:`\rho`
    through a sigmoid (kept in (0, 1)); ``learn_beta_a`` learns :math:`\beta_a` through a softplus
    (kept > 0). ``n_neurons=N`` makes each learnable value per neuron (the last input dimension).
    Potentials are dimensionless. ``nonfinite`` (``"raise"``, ``"warn"`` once, ``"ignore"``) is what
    ``forward`` does with NaN/Inf input (:mod:`neuro.nn.nonfinite`); a 2-D input is refused unless
    ``input_layout="TN"`` says it is ``[T, N]`` (:mod:`neuro.nn.timemajor`).

    ``forward`` runs all T steps in one fused call (:func:`neuro.ops.alif.autograd.alif_multi_step`,
    on the backend chosen by ``backend`` or :mod:`neuro.backend`), as :class:`neuro.nn.LIF` does. With
    ``store_state=True`` it runs the torch loop over :meth:`step` instead and keeps the potentials and
    adaptations of the last call in ``self.v_seq``, ``self.a_seq``.

    Example::

        alif = ALIF(tau_mem=20.0, tau_adapt=200.0, beta_a=1.8)
        s = alif(torch.rand(100, 8, 64))              # [T, B, N] -> spikes [T, B, N]
        s1, state = alif.step(torch.rand(8, 64))      # one step, explicit ALIFState(v, a)
    """

    is_spiking = True

    def __init__(self, tau_mem: float = 20.0, tau_adapt: float = 200.0, beta_a: float = 1.8, v_threshold: float = 1.0,
                 v_reset: float | None = None, decay_input: bool = False, adapt_increment: float = 1.0,
                 learn_tau_mem: bool = False, learn_tau_adapt: bool = False, learn_beta_a: bool = False, n_neurons: int | None = None,
                 detach_reset: bool = False, detach_adaptation: bool = False, surrogate: str = "triangle", alpha: float = 1.0,
                 store_state: bool = False, backend: str | None = None, nonfinite: str = "raise", input_layout: str = "TB"):
        super().__init__()
        self.nonfinite = nonfinite
        self.input_layout = input_layout
        for name, tau in (("tau_mem", tau_mem), ("tau_adapt", tau_adapt)):
            if not (math.isfinite(tau) and tau > 0):
                raise ValueError(f"{name} must be a finite number > 0 (in steps), got {tau}")
        if not (math.isfinite(beta_a) and beta_a >= 0):
            raise ValueError(f"beta_a must be >= 0, got {beta_a}")
        if learn_beta_a and beta_a <= 0:
            raise ValueError("learn_beta_a needs beta_a > 0 (it is learned through a softplus)")
        if not math.isfinite(v_threshold):
            raise ValueError(f"v_threshold must be finite, got {v_threshold}")
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if n_neurons is not None and n_neurons < 1:
            raise ValueError(f"n_neurons must be >= 1, got {n_neurons}")
        shape = (1,) if n_neurons is None else (n_neurons,)
        beta, rho = math.exp(-1.0 / tau_mem), math.exp(-1.0 / tau_adapt)
        self.learn = {"mem": learn_tau_mem, "adapt": learn_tau_adapt, "beta_a": learn_beta_a}
        self._init("w_mem", beta, _logit(beta), shape, learn_tau_mem)
        self._init("w_adapt", rho, _logit(rho), shape, learn_tau_adapt)
        self._init("w_beta_a", beta_a, math.log(math.expm1(beta_a)) if learn_beta_a else 0.0, shape, learn_beta_a)
        self.v_threshold, self.v_reset = float(v_threshold), v_reset
        self.decay_input, self.adapt_increment = decay_input, float(adapt_increment)
        self.detach_reset, self.detach_adaptation = detach_reset, detach_adaptation
        self.surrogate, self.alpha = surrogate, float(alpha)
        self.n_neurons = n_neurons
        self.store_state = store_state
        self.backend = backend
        self.v_seq: torch.Tensor | None = None
        self.a_seq: torch.Tensor | None = None
        spike(torch.zeros(1), surrogate, alpha)  # fail early on an unknown surrogate

    def _init(self, name: str, value: float, raw: float, shape: tuple[int, ...], learn: bool) -> None:
        """A learned value is the parameter ``raw`` (its logit / inverse softplus); a fixed one is kept as is, in float64."""
        if learn:
            self.register_parameter(name, nn.Parameter(torch.full(shape, float(raw))))
        else:
            self.register_buffer(name, torch.full(shape, float(value), dtype=torch.float64), persistent=False)

    def beta(self) -> torch.Tensor:
        """Membrane decay :math:`\\beta` (shape ``[1]`` or ``[n_neurons]``)."""
        return torch.sigmoid(self.w_mem) if self.learn["mem"] else self.w_mem

    def rho(self) -> torch.Tensor:
        """Adaptation decay :math:`\\rho`."""
        return torch.sigmoid(self.w_adapt) if self.learn["adapt"] else self.w_adapt

    def beta_a(self) -> torch.Tensor:
        """Adaptation strength :math:`\\beta_a`."""
        return nn.functional.softplus(self.w_beta_a) if self.learn["beta_a"] else self.w_beta_a

    def extra_repr(self) -> str:
        b, r = float(self.beta().detach()[0]), float(self.rho().detach()[0])
        return (f"beta={b:.4g}, rho={r:.4g}, beta_a={float(self.beta_a().detach()[0]):.4g}, v_threshold={self.v_threshold}, "
                f"v_reset={self.v_reset}, surrogate={self.surrogate}")

    @property
    def params(self) -> ALIFParams:
        """The layer's constants as the fused op takes them (built from the attributes, so it follows changes to them)."""
        return ALIFParams(v_th=self.v_threshold, v_reset=self.v_reset, adapt_increment=self.adapt_increment, decay_input=self.decay_input,
                          detach_reset=self.detach_reset, detach_adaptation=self.detach_adaptation, surrogate=self.surrogate, alpha=self.alpha)

    def initial_state(self, x: torch.Tensor) -> ALIFState:
        """At rest: ``v = v_reset`` (0 under soft reset), ``a = 0``, shaped like one step of input ``x``."""
        return ALIFState(torch.full_like(x, 0.0 if self.v_reset is None else self.v_reset), torch.zeros_like(x))

    def _check(self, x: torch.Tensor) -> None:
        if self.n_neurons is not None and x.shape[-1] != self.n_neurons:
            raise ValueError(f"ALIF(n_neurons={self.n_neurons}) expects inputs [..., {self.n_neurons}], got {tuple(x.shape)}")

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:math:`\\beta, \\rho, \\beta_a` as the kernels compute with them for input ``x``: float64 for a float64 ``x``,
        float32 otherwise (:func:`neuro.backend.compute_dtype`; 0.99 in bfloat16 would be 0.98828125)."""
        work = compute_dtype(x.dtype)
        return tuple(p.to(device=x.device, dtype=work) for p in (self.beta(), self.rho(), self.beta_a()))

    def step(self, x: torch.Tensor, state: ALIFState | None = None) -> tuple[torch.Tensor, ALIFState]:
        """One step with explicit state: ``(s_t, ALIFState(v_t, a_t))`` from ``x_t`` and the previous state (``None``: at rest).
        The state is computed in the arithmetic type of :meth:`coefficients` (float32 for half ``x``); ``s_t`` is in ``x``'s dtype."""
        self._check(x)
        if state is None:
            state = self.initial_state(x)
        beta, rho, beta_a = self.coefficients(x)
        c = (1.0 - beta) if self.decay_input else 1.0
        h = beta * state.v + c * x
        b = self.v_threshold + beta_a * state.a
        s = spike(h - b, self.surrogate, self.alpha)
        sr = s.detach() if self.detach_reset else s
        v = h - self.v_threshold * sr if self.v_reset is None else h * (1.0 - sr) + self.v_reset * sr
        sa = s.detach() if self.detach_adaptation else s
        a = rho * state.a + self.adapt_increment * sa
        return s.to(x.dtype), ALIFState(v, a)

    def forward(self, x: torch.Tensor, state: ALIFState | None = None) -> torch.Tensor:
        self._check_time_major(x)
        self._check_input(x)
        if not self.store_state:
            self._check(x)
            v0, a0 = (None, None) if state is None else (state.v, state.a)
            s, _, _ = alif_multi_step(x, v0, a0, *self.coefficients(x), self.params, backend=self.backend)
            return s
        spikes, vs, as_ = [], [], []
        for xt in x:
            s, state = self.step(xt, state)
            spikes.append(s)
            if self.store_state:
                vs.append(state.v)
                as_.append(state.a)
        if self.store_state:
            self.v_seq, self.a_seq = torch.stack(vs).to(x.dtype), torch.stack(as_).to(x.dtype)
        return torch.stack(spikes)
