r"""NumPy reference of the three-factor laws (equations in :mod:`.params`)."""

from __future__ import annotations

import numpy as np

from .params import GatedHebbian, RewardModulatedSTDP


def modulator_decay(d, dt, tau):
    """Concentration after ``dt`` ms without release."""
    return d * np.exp(-dt / tau)


def periodic_weight_update(w, c, d, rule: RewardModulatedSTDP):
    """The periodic step: ``w += drift + rate (b + d) c``, clipped to the STDP bounds; returns ``w``.

    ``c`` is the eligibility now (decayed continuously to this time, or, under
    ``eligibility_decay="periodic"``, accumulated undecayed since the last update, which then
    multiplies it by :math:`e^{-P/\tau_c}`) and ``d`` the modulator concentration now (scalar,
    or one value per synapse for per-population modulators).
    """
    s = rule.stdp
    return np.clip(w + rule.drift + rule.weight_rate * (rule.baseline + d) * c, s.w_min, s.w_max)


def gated_hebbian_update(w, pre_rate, post_rate, post_mean, modulator, rule: GatedHebbian, target=None):
    """One step of the gated Hebbian rule on a dense ``[n_post, n_pre]`` weight matrix; returns the new weights."""
    post = (target - post_rate) if rule.use_error else (post_rate - post_mean)
    if rule.use_error and target is None:
        raise ValueError("GatedHebbian(use_error=True) needs a target")
    dw = rule.eta * modulator * np.outer(post, pre_rate)
    return np.clip(w + dw, rule.w_min, rule.w_max)


def running_mean(mean, value, dt, tau):
    """Exponential running mean with time constant ``tau`` (ms) after a step of ``dt`` ms."""
    a = np.exp(-dt / tau)
    return a * mean + (1.0 - a) * value
