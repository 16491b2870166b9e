r"""Parameters of the STDP rules (immutable; times in ms, weights in the projection's units).

Pair STDP (Song, Miller & Abbott 2000; Gütig et al. 2003 weight dependence). A pre spike
*arriving* at the synapse meets the postsynaptic trace, a post spike reaching the synapse
meets the presynaptic trace:

.. math::

    \Delta w_{pre} = -\eta_-\, f_-(w)\, x_{post}, \qquad \Delta w_{post} = \eta_+\, f_+(w)\, x_{pre}

    f_+(w) = \Big(\frac{w_{max} - w}{w_{max} - w_{min}}\Big)^{\mu_+}, \qquad
    f_-(w) = \Big(\frac{w - w_{min}}{w_{max} - w_{min}}\Big)^{\mu_-}

:math:`\mu = 0` is additive STDP, :math:`\mu = 1` multiplicative (soft bounds); the result is
always clipped to :math:`[w_{min}, w_{max}]` (hard bounds). Traces decay as
:math:`\dot x = -x/\tau` and jump by 1 at each spike (``all_to_all``) or are set to 1
(``nearest``). For an isolated pair, :math:`\Delta t = t_{post} - t_{pre}` measured at the
synapse, the additive window is :math:`\eta_+ e^{-\Delta t/\tau_+}` for
:math:`\Delta t > 0` and :math:`-\eta_- e^{\Delta t/\tau_-}` for :math:`\Delta t < 0`;
``symmetric=True`` makes both branches potentiate (:math:`+\eta_- e^{-|\Delta t|/\tau_-}`).
:math:`\Delta t = 0` counts as pre-before-post.

Delays: a synapse's delay ``d`` is split into a dendritic part ``dendritic_fraction d`` (post
spike back to the synapse), rounded to whole simulation steps, and an axonal part, the rest
(pre spike to the synapse); the current reaches the post neuron after the whole ``d``. The
rule sees :math:`\Delta t = (t_{post} + d_{dend}) - (t_{pre} + d_{ax})`. The default (0) puts
the whole delay on the axon, as Brian2's ``delay`` does; NEST's STDP synapses take the whole
delay as dendritic (``dendritic_fraction=1``).

Delivery order (``delivery``): a presynaptic spike changes the weight and delivers a weight in the same step.
``"after_update"`` (the default) delivers the weight its own update just produced, the order of NEST's
``stdp_synapse``; ``"before_update"`` delivers the weight as it was before the update, the order of Brian2's
classic STDP example (``on_pre = "ge += w; Apre += dApre; w = clip(w + Apost, 0, wmax)"``).
``tests/sim/test_semantics_vs_brian2.py`` runs both orders against Brian2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

PAIRINGS = ("all_to_all", "nearest")
# the weight a presynaptic spike delivers: the one its own STDP update just produced ("after_update": NEST's
# stdp_synapse, which updates and then sends) or the one it found ("before_update": Brian2's classic STDP example,
# on_pre = "ge += w; ...; w = clip(w + Apost, ...)")
DELIVERIES = ("after_update", "before_update")


def _check_positive(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{type(obj).__name__}.{name} must be a finite number > 0, got {value}")


def _check_finite(obj) -> None:
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, float | int) and not isinstance(value, bool) and not math.isfinite(value):
            raise ValueError(f"{type(obj).__name__}.{f.name} must be finite, got {value}")


@dataclass(frozen=True)
class PairSTDP:
    """Pair-based STDP with exponential traces (see the module docstring for the equations)."""

    tau_plus: float = 20.0
    tau_minus: float = 20.0
    eta_plus: float = 0.01
    eta_minus: float = 0.0105
    w_min: float = 0.0
    w_max: float = 1.0
    mu_plus: float = 0.0
    mu_minus: float = 0.0
    pairing: str = "all_to_all"
    symmetric: bool = False
    dendritic_fraction: float = 0.0
    delivery: str = "after_update"

    def __post_init__(self) -> None:
        _check_finite(self)
        _check_positive(self, "tau_plus", "tau_minus")
        if self.w_min > self.w_max:
            raise ValueError(f"PairSTDP needs w_min <= w_max, got w_min={self.w_min} > w_max={self.w_max}")
        if self.eta_plus < 0 or self.eta_minus < 0:
            raise ValueError(f"eta_plus and eta_minus are magnitudes and must be >= 0, got {self.eta_plus}, {self.eta_minus}")
        if self.mu_plus < 0 or self.mu_minus < 0:
            raise ValueError(f"mu_plus and mu_minus must be >= 0, got {self.mu_plus}, {self.mu_minus}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {PAIRINGS}, got {self.pairing!r}")
        if not 0.0 <= self.dendritic_fraction <= 1.0:
            raise ValueError(f"dendritic_fraction must be in [0, 1], got {self.dendritic_fraction}")
        if self.delivery not in DELIVERIES:
            raise ValueError(f"delivery must be one of {DELIVERIES}, got {self.delivery!r}")

    @classmethod
    def additive(cls, **kw) -> PairSTDP:
        return cls(mu_plus=0.0, mu_minus=0.0, **kw)

    @classmethod
    def multiplicative(cls, **kw) -> PairSTDP:
        return cls(mu_plus=1.0, mu_minus=1.0, **kw)

    def window(self, dt):
        """Analytic weight change for one isolated pair at ``dt = t_post - t_pre`` (ms, at the synapse), away from the bounds."""
        import numpy as np

        dt = np.asarray(dt, dtype=float)
        ltp = self.eta_plus * np.exp(-np.abs(dt) / self.tau_plus)
        ltd = self.eta_minus * np.exp(-np.abs(dt) / self.tau_minus)
        # dt = 0 counts as pre-before-post: pre arrivals are processed first within a step
        return np.where(dt >= 0, ltp, ltd if self.symmetric else -ltd)


@dataclass(frozen=True)
class TripletSTDP:
    r"""Triplet STDP (Pfister & Gerstner 2006, eqs. 3-4).

    Presynaptic traces :math:`r_1` (:math:`\tau_+`), :math:`r_2` (:math:`\tau_x`); postsynaptic
    :math:`o_1` (:math:`\tau_-`), :math:`o_2` (:math:`\tau_y`). At a presynaptic spike
    :math:`w \leftarrow w - o_1 (A_2^- + A_3^- r_2)` then :math:`r_{1,2}` jump; at a postsynaptic
    spike :math:`w \leftarrow w + r_1 (A_2^+ + A_3^+ o_2)` then :math:`o_{1,2}` jump (traces
    are read just before their own jump). Presets: :data:`TRIPLET_PRESETS` (their Table 4).
    """

    tau_plus: float = 16.8
    tau_minus: float = 33.7
    tau_x: float = 101.0
    tau_y: float = 125.0
    a2_plus: float = 5e-10
    a3_plus: float = 6.2e-3
    a2_minus: float = 7e-3
    a3_minus: float = 2.3e-4
    w_min: float = 0.0
    w_max: float = 1.0
    pairing: str = "all_to_all"
    dendritic_fraction: float = 0.0
    delivery: str = "after_update"

    def __post_init__(self) -> None:
        _check_finite(self)
        _check_positive(self, "tau_plus", "tau_minus", "tau_x", "tau_y")
        if self.w_min > self.w_max:
            raise ValueError(f"TripletSTDP needs w_min <= w_max, got w_min={self.w_min} > w_max={self.w_max}")
        for name in ("a2_plus", "a3_plus", "a2_minus", "a3_minus"):
            if getattr(self, name) < 0:
                raise ValueError(f"TripletSTDP.{name} is a magnitude and must be >= 0, got {getattr(self, name)}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {PAIRINGS}, got {self.pairing!r}")
        if not 0.0 <= self.dendritic_fraction <= 1.0:
            raise ValueError(f"dendritic_fraction must be in [0, 1], got {self.dendritic_fraction}")
        if self.delivery not in DELIVERIES:
            raise ValueError(f"delivery must be one of {DELIVERIES}, got {self.delivery!r}")

    @classmethod
    def preset(cls, name: str, **kw) -> TripletSTDP:
        """One of Pfister & Gerstner's fitted parameter sets (:data:`TRIPLET_PRESETS`)."""
        try:
            values = TRIPLET_PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown triplet preset {name!r}; expected one of {sorted(TRIPLET_PRESETS)}") from None
        return cls(**{**values, **kw})


# Pfister & Gerstner (2006), Table 4 (full models); tau_plus = 16.8 ms and tau_minus = 33.7 ms throughout.
TRIPLET_PRESETS: dict[str, dict] = {
    "visual_cortex_all_to_all": dict(tau_x=101.0, tau_y=125.0, a2_plus=5e-10, a3_plus=6.2e-3, a2_minus=7e-3, a3_minus=2.3e-4, pairing="all_to_all"),
    "visual_cortex_nearest": dict(tau_x=714.0, tau_y=40.0, a2_plus=8.8e-11, a3_plus=5.3e-2, a2_minus=6.6e-3, a3_minus=3.1e-3, pairing="nearest"),
    "hippocampal_all_to_all": dict(tau_x=946.0, tau_y=27.0, a2_plus=6.1e-3, a3_plus=6.7e-3, a2_minus=1.6e-3, a3_minus=1.4e-3, pairing="all_to_all"),
    "hippocampal_nearest": dict(tau_x=575.0, tau_y=47.0, a2_plus=4.6e-3, a3_plus=9.1e-3, a2_minus=3e-3, a3_minus=7.5e-9, pairing="nearest"),
}
