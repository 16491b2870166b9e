"""Spiking neuron modules. Input and output are ``[T, B, ...]`` (multi-step; a 2-D input is refused unless the layer was
built with ``input_layout="TN"``: :mod:`neuro.nn.timemajor`); :meth:`LIF.step` is the single-step form."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..backend import compute_dtype
from ..ops.lif import LIFParams
from ..ops.lif.autograd import lif_multi_step
from .nonfinite import NonFiniteCheck
from .surrogate import spike
from .timemajor import TimeMajorInput


def decay_factor(tau: float | None, beta: float | None) -> float:
    """The per-step membrane decay :math:`\\beta`: given directly (in [0, 1]) or from :math:`\\tau \\ge 1` step as
    :math:`\\beta = 1 - 1/\\tau`; a clear error otherwise."""
    if beta is None:
        if tau is None or not (math.isfinite(tau) and tau >= 1.0):
            raise ValueError(f"tau must be a finite number >= 1 (in steps), got {tau}")
        return 1.0 - 1.0 / tau
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    return beta


class LIF(NonFiniteCheck, TimeMajorInput, nn.Module):
    r"""Leaky integrate-and-fire neurons, all T steps in one fused call.

    .. math::

        h_t = \beta v_{t-1} + (1-\beta) v_{reset} + c\, x_t, \quad s_t = H(h_t - v_{th}), \quad
        v_t = h_t (1 - s_t) + v_{reset} s_t \ \text{(hard)}\ \text{or}\ h_t - v_{th} s_t \ \text{(soft)}

    with :math:`\beta = 1 - 1/\tau` and :math:`c = 1 - \beta` when ``decay_input`` (else 1). This is
    SpikingJelly's ``LIFNode`` (tests hold it equal). Give ``tau`` (steps) or ``beta``.
    ``v_reset=None`` is the soft (subtractive) reset; ``v_leak`` (default: ``v_reset``, or 0 under
    soft reset) is the resting potential. ``forward`` returns the spikes; with
    ``store_v=True`` the potentials of the last call are kept in ``self.v_seq`` (after reset, or
    before reset under ``reset_delay``, which is then the state carried from step to step).

    ``nonfinite`` (``"raise"``, ``"warn"`` once, ``"ignore"``) is what ``forward`` does with NaN/Inf input
    (:mod:`neuro.nn.nonfinite`); the subclasses take it too.

    ``strict_threshold=True`` fires on :math:`h_t > v_{th}`; ``reset_delay=True`` applies a spike's
    reset at the next step (:func:`neuro.ops.lif.reference.multi_step_autograd` gives the law).
    Both run on the torch reference path (the fused kernels do not implement them).
    snntorch's ``Leaky(beta, threshold, spike_grad=surrogate.atan(alpha), reset_mechanism="subtract")``
    (its defaults, ``reset_delay=True``) is, within 1e-5 in spikes, membranes and gradients::

        LIF(beta=beta, v_threshold=threshold, v_reset=None, decay_input=False, detach_reset=True,
            reset_delay=True, strict_threshold=True, surrogate="atan", alpha=alpha)

    (``reset_mechanism="zero"``: ``v_reset=0.0``). norse's ``LIFBoxCell(LIFBoxParameters(tau_mem_inv,
    v_leak, v_th, v_reset), dt)`` is ``LIF(beta=1 - dt * tau_mem_inv, v_threshold=v_th, v_reset=v_reset,
    v_leak=v_leak, decay_input=True, strict_threshold=True, surrogate="fast_sigmoid", alpha=1.0)``
    (norse 1.1's SuperSpike backward ignores its ``alpha`` and uses slope 1).

    Example::

        lif = LIF(tau=2.0)
        spikes = lif(torch.randn(8, 32, 100))    # [T, B, N] -> [T, B, N]
    """

    is_spiking = True

    def __init__(self, tau: float | None = 2.0, beta: float | None = None, v_threshold: float = 1.0, v_reset: float | None = 0.0,
                 decay_input: bool = True, detach_reset: bool = False, surrogate: str = "sigmoid", alpha: float = 4.0,
                 backend: str | None = None, store_v: bool = False, v_leak: float | None = None, reset_delay: bool = False,
                 strict_threshold: bool = False, nonfinite: str = "raise", input_layout: str = "TB"):
        super().__init__()
        beta = decay_factor(tau, beta)
        self.nonfinite = nonfinite
        self.input_layout = input_layout
        if v_leak is None:
            v_leak = 0.0 if v_reset is None else v_reset
        self.params = LIFParams(v_th=v_threshold, v_reset=v_reset, v_leak=v_leak, decay_input=decay_input, detach_reset=detach_reset,
                                surrogate=surrogate, alpha=alpha, reset_delay=reset_delay, strict_threshold=strict_threshold)
        self._beta_value = float(beta)  # a Python float: neither module.float() nor .half() rounds it
        self._beta_neuron: torch.Tensor | None = None  # a fixed per-neuron decay in float64 (NIR import), against [B, ...]
        self.backend = backend
        self.store_v = store_v
        self.v_seq: torch.Tensor | None = None

    @classmethod
    def snntorch(cls, beta: float, threshold: float = 1.0, alpha: float = 2.0, reset_mechanism: str = "subtract", **kw) -> LIF:
        r"""The LIF that equals snntorch's ``Leaky(beta, threshold, spike_grad=surrogate.atan(alpha), reset_mechanism)``
        with snntorch's defaults (threshold 1, ATan surrogate with :math:`\alpha = 2`, subtractive reset, reset applied at
        the next step, ``H(0) = 0``): the same spikes, membranes (``store_v=True``: ``v_seq`` is snntorch's ``mem``)
        and gradients.

        .. math::

            m_t = \beta\, m_{t-1} + x_t - \theta\, H(m_{t-1} - \theta) \ \text{(subtract)}, \qquad s_t = H(m_t - \theta)

        ``reset_mechanism="zero"`` zeroes :math:`m_{t-1}` after a spike instead. ``kw`` are further :class:`LIF`
        arguments (``store_v``, ``backend``, ``nonfinite``, ``input_layout``). A snntorch loop over steps,
        ``spk, mem = leaky(x[t], mem)``, is one call ``lif(x)`` on ``[T, B, ...]`` (or ``lif.step(x[t], v)``).
        ``LIF(beta=beta)`` alone is *not* ``Leaky(beta)``: its default ``decay_input=True`` scales the input by
        :math:`1-\beta`, ten times less drive at ``beta=0.9`` (``docs/snntorch.md`` maps every default). snntorch's
        ``reset_delay=False`` has no exact counterpart here.

        Example::

            lif = LIF.snntorch(beta=0.9)          # snn.Leaky(beta=0.9)
            spikes = lif(x)                        # x: [T, B, N]
        """
        if cls is not LIF:
            raise TypeError(f"the snntorch preset builds a LIF; {cls.__name__} has no snntorch counterpart")
        resets = {"subtract": None, "zero": 0.0}
        if reset_mechanism not in resets:
            hint = " (snntorch's 'none' is a leaky integrator without spikes: neuro.nn.LeakyReadout(beta=beta, reduce='none'))"
            raise ValueError(f"reset_mechanism must be 'subtract' or 'zero', got {reset_mechanism!r}" + (hint if reset_mechanism == "none" else ""))
        for name in ("tau", "v_threshold", "v_reset", "decay_input", "detach_reset", "reset_delay", "strict_threshold", "surrogate"):
            if name in kw:
                raise TypeError(f"LIF.snntorch fixes {name!r} to snntorch's law; build LIF(...) directly to change it")
        return cls(beta=beta, v_threshold=threshold, v_reset=resets[reset_mechanism], decay_input=False, detach_reset=True, reset_delay=True,
                   strict_threshold=True, surrogate="atan", alpha=alpha, **kw)

    def beta(self) -> torch.Tensor:
        """The decay :math:`\\beta`, shape ``[1]``, in float64 (:meth:`decay` gives it in an input's arithmetic type)."""
        return self._beta_neuron if self._beta_neuron is not None else torch.tensor([self._beta_value], dtype=torch.float64)

    def decay(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\beta` as the kernels compute with it for input ``x``: float64 for a float64 ``x``, float32 otherwise
        (:func:`neuro.backend.compute_dtype`: float16 and bfloat16 are storage types, and 0.99 in bfloat16 would be
        0.98828125), on ``x``'s device."""
        if self._beta_neuron is not None:
            return self._beta_neuron.to(device=x.device, dtype=compute_dtype(x.dtype))
        return torch.full((1,), self._beta_value, dtype=compute_dtype(x.dtype), device=x.device)

    def _multi_step(self, x: torch.Tensor, v0: torch.Tensor | None, beta: torch.Tensor, need_h: bool):
        """The fused op on ``x`` with ``beta`` in the arithmetic type; half tensors on the CPU go through float32 (the
        Numba kernels take float32/float64 arrays) and the results come back in ``x``'s dtype."""
        work = compute_dtype(x.dtype)
        if x.device.type != "cpu" or work == x.dtype:
            return lif_multi_step(x, v0, beta, self.params, backend=self.backend, need_h=need_h)
        s, h, v = lif_multi_step(x.to(work), None if v0 is None else v0.to(work), beta, self.params, backend=self.backend, need_h=need_h)
        return s.to(x.dtype), (None if h is None else h.to(x.dtype)), v.to(x.dtype)

    def extra_repr(self) -> str:
        p = self.params
        extra = "".join(f", {k}=True" for k in ("reset_delay", "strict_threshold") if getattr(p, k))
        return f"beta={float(self.beta().detach().flatten()[0]):.4g}, v_threshold={p.v_th}, v_reset={p.v_reset}, surrogate={p.surrogate}{extra}"

    def forward(self, x: torch.Tensor, v0: torch.Tensor | None = None) -> torch.Tensor:
        self._check_time_major(x)
        self._check_input(x)
        s, h, _ = self._multi_step(x, v0, self.decay(x), need_h=self.store_v)
        if self.store_v:
            self.v_seq = self._v_after(h, s)
        return s

    def _v_after(self, h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """The state carried to the next step: ``h`` itself under ``reset_delay``, else ``h`` after reset."""
        p = self.params
        if p.reset_delay:
            return h
        sr = s.detach() if p.detach_reset else s
        return h - p.v_th * sr if p.soft_reset else h * (1 - sr) + p.v_reset * sr

    def step(self, x: torch.Tensor, v: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step with explicit state: ``(spikes, v)`` from input ``x`` and potential ``v`` (``None``: at rest)."""
        p = self.params
        if v is None:
            v = torch.full_like(x, 0.0 if p.v_reset is None else p.v_reset)
        beta = self.decay(x)  # float32 or float64: the charge is computed in that type, the spike returned in x's
        c = (1.0 - beta) if p.decay_input else 1.0
        h = beta * v + (1.0 - beta) * p.v_leak + c * x
        if p.reset_delay:  # v is the membrane before reset: apply the previous step's reset now
            r = spike(v - p.v_th, p.surrogate, p.alpha, p.strict_threshold)
            r = r.detach() if p.detach_reset else r
            h = h - p.v_th * r if p.soft_reset else beta * (v * (1 - r) + p.v_reset * r) + (1.0 - beta) * p.v_leak + c * x
        s = spike(h - p.v_th, p.surrogate, p.alpha, p.strict_threshold)
        return s.to(x.dtype), self._v_after(h, s)


class ParametricLIF(LIF):
    r"""LIF with a learnable time constant (Fang et al. 2021, PLIF): :math:`1/\tau = \mathrm{sigmoid}(w)`.

    ``per_channel=C`` learns one :math:`\tau` per channel of dimension 2 (``[T, B, C, ...]``).
    """

    def __init__(self, tau: float = 2.0, per_channel: int | None = None, **kw):
        super().__init__(tau=tau, **kw)
        w0 = -math.log(tau - 1.0) if tau > 1.0 else 10.0
        shape = (1,) if per_channel is None else (per_channel,)
        self.w = nn.Parameter(torch.full(shape, w0))
        self.per_channel = per_channel

    def beta(self) -> torch.Tensor:
        return 1.0 - torch.sigmoid(self.w)

    def decay(self, x: torch.Tensor) -> torch.Tensor:
        return self.beta().to(device=x.device, dtype=compute_dtype(x.dtype))

    def forward(self, x: torch.Tensor, v0: torch.Tensor | None = None) -> torch.Tensor:
        if self.per_channel is None:
            return super().forward(x, v0)
        self._check_time_major(x)
        if x.dim() < 3 or x.shape[2] != self.per_channel:
            raise ValueError(f"per-channel PLIF expects [T, B, {self.per_channel}, ...], got {tuple(x.shape)}")
        self._check_input(x)
        beta = self.decay(x).view(1, -1, *([1] * (x.dim() - 3))).expand(x.shape[1:])
        s, _, _ = self._multi_step(x, v0, beta, need_h=False)
        return s


class IF(LIF):
    """Integrate-and-fire: no leak, input added as is (:math:`\\beta = 1`, ``decay_input=False``)."""

    def __init__(self, v_threshold: float = 1.0, v_reset: float | None = 0.0, **kw):
        for name in ("tau", "beta", "decay_input", "v_leak"):
            if name in kw:
                raise TypeError(f"IF has no {name!r} (no leak, input added as is)")
        super().__init__(tau=None, beta=1.0, v_threshold=v_threshold, v_reset=v_reset, decay_input=False, **kw)
