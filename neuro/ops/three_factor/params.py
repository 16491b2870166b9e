r"""Parameters of the three-factor rules (times in ms).

Reward-modulated STDP (Izhikevich 2007, "Solving the distal reward problem"): STDP does not
change the weight directly but a per-synapse eligibility trace :math:`c`, which a
neuromodulator concentration :math:`d` (dopamine) turns into weight change:

.. math::

    \dot c = -c/\tau_c + \mathrm{STDP}(\Delta t)\,\delta(t - t_{pre/post}), \qquad
    \dot d = -d/\tau_d + \sum_k r_k\,\delta(t - t_k), \qquad
    \dot w = (b + d)\, c

with :math:`b` a small baseline (Izhikevich's 0.002). The weight is updated with a period
:math:`P` (``update_interval``, 10 ms in the paper's code): every :math:`P`,
:math:`w \leftarrow \mathrm{clip}(w + a + r\,(b + d)\, c)` with :math:`r` = ``weight_rate``
(1 in the paper's units: ``s += (0.002 + DA) * sd``) and :math:`a` = ``drift`` (Izhikevich
2006's ``s += 0.01 + sd``, there with :math:`b = 1`, :math:`d = 0`). Between events :math:`c`
decays continuously (``eligibility_decay="continuous"``, the default: an increment made :math:`s` ms
before an update counts :math:`e^{-s/\tau_c}` there), or, as in Izhikevich's published code, once
per period (``eligibility_decay="periodic"``: increments add undecayed, each update uses :math:`c` and
then multiplies it by :math:`e^{-P/\tau_c}`; ``sd *= 0.99`` every 10 ms is
:math:`\tau_c = -10/\ln 0.99 \approx 995` ms, spnet's ``sd *= 0.9`` every second
:math:`\tau_c = -1000/\ln 0.9`); :math:`d` decays every step
(``DA *= 0.995`` per ms is :math:`\tau_d = -1/\ln 0.995 \approx 199.5` ms).

Gated Hebbian readout rule (three factors: presynaptic activity :math:`r_j`, postsynaptic
activity :math:`r_i`, error or attention signal :math:`M`): :math:`\Delta w_{ij} = \eta\, M\,
(r_i - \bar r_i)\, r_j` with :math:`\bar r_i` a running mean (``tau_mean``); with
``use_error=True`` the postsynaptic factor is the error :math:`(y_i - r_i)` instead (the
delta rule, gated by :math:`M`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..stdp.params import PairSTDP, _check_finite, _check_positive


@dataclass(frozen=True)
class Neuromodulator:
    """A modulator concentration (e.g. dopamine) decaying with ``tau`` (ms) from ``initial``, raised by release events."""

    tau: float = -1.0 / math.log(0.995)
    initial: float = 0.0

    def __post_init__(self) -> None:
        _check_finite(self)
        _check_positive(self, "tau")


@dataclass(frozen=True)
class RewardModulatedSTDP:
    """STDP into an eligibility trace, converted to weight change by a neuromodulator (see module docstring)."""

    stdp: PairSTDP = PairSTDP(tau_plus=20.0, tau_minus=20.0, eta_plus=1.0, eta_minus=1.5, w_min=0.0, w_max=4.0)
    tau_c: float = -10.0 / math.log(0.99)
    baseline: float = 0.002
    weight_rate: float = 1.0
    update_interval: float = 10.0
    drift: float = 0.0
    eligibility_decay: str = "continuous"

    def __post_init__(self) -> None:
        if self.eligibility_decay not in ("continuous", "periodic"):
            raise ValueError(f"RewardModulatedSTDP.eligibility_decay must be 'continuous' or 'periodic', got {self.eligibility_decay!r}")
        if not isinstance(self.stdp, PairSTDP):
            raise TypeError(f"RewardModulatedSTDP.stdp must be a PairSTDP, got {type(self.stdp).__name__}")
        _check_finite(self)
        _check_positive(self, "tau_c", "update_interval")
        if self.weight_rate < 0:
            raise ValueError(f"RewardModulatedSTDP.weight_rate must be >= 0, got {self.weight_rate}")


@dataclass(frozen=True)
class GatedHebbian:
    """Error/attention-gated Hebbian rule for readouts (see module docstring)."""

    eta: float = 1e-3
    tau_mean: float = 100.0
    use_error: bool = False
    w_min: float = -math.inf
    w_max: float = math.inf

    def __post_init__(self) -> None:
        for name in ("eta", "tau_mean"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"GatedHebbian.{name} must be finite, got {getattr(self, name)}")
        _check_positive(self, "tau_mean")
        if self.eta < 0:
            raise ValueError(f"GatedHebbian.eta must be >= 0, got {self.eta}")
        if self.w_min > self.w_max:
            raise ValueError(f"GatedHebbian needs w_min <= w_max, got w_min={self.w_min} > w_max={self.w_max}")
