r"""Readable NumPy step of the current-based LIF neuron with exponential synapses (exact integration).

.. math::

    \tau_m \dot v = (v_{rest} - v) + I_e + I_i + I_{ext}, \qquad
    \tau_e \dot I_e = -I_e, \qquad \tau_i \dot I_i = -I_i

Potentials and currents are in mV (currents as :math:`R I`), times in ms. Between two steps
:math:`I_{ext}` is constant and the system is linear, so one step of length :math:`\Delta t`
is exact:

.. math::

    v' = v_{rest} + I_{ext} + (v - v_{rest} - I_{ext}) e^{-\Delta t/\tau_m}
         + \sum_{x \in \{e, i\}} I_x \frac{\tau_x}{\tau_x - \tau_m}\big(e^{-\Delta t/\tau_x} - e^{-\Delta t/\tau_m}\big)

(:math:`\tau_x = \tau_m` uses the limit :math:`I_x \frac{\Delta t}{\tau_m} e^{-\Delta t/\tau_m}`).
A neuron fires when :math:`v' > v_{th}` and is reset to :math:`v_{reset}`; for the refractory
period its potential is not integrated (inputs that jump :math:`v` directly still apply) while its
synaptic currents keep decaying; integration resumes at the step that ends ``t_ref`` after the
spike — Brian2's ``(unless refractory)`` semantics, step for step.
"""

from __future__ import annotations

import numpy as np


def propagators(dt, tau_m, tau_e, tau_i):
    """``(p_mm, p_em, p_ee, p_im, p_ii)``: the exact one-step coefficients."""
    p_mm = np.exp(-dt / tau_m)

    def cross(tau_x):
        if abs(tau_x - tau_m) < 1e-12 * tau_m:
            return dt / tau_m * p_mm
        return tau_x / (tau_x - tau_m) * (np.exp(-dt / tau_x) - p_mm)

    return p_mm, cross(tau_e), np.exp(-dt / tau_e), cross(tau_i), np.exp(-dt / tau_i)


def step(v, i_e, i_i, refrac, i_ext, dt, v_rest, v_th, v_reset, t_ref_steps, tau_m, tau_e, tau_i):
    """One step for arrays of neurons; returns ``(v, i_e, i_i, refrac, spiked)``.

    ``refrac`` counts down the refractory steps; integration resumes ``t_ref_steps`` steps after the spike.
    """
    p_mm, p_em, p_ee, p_im, p_ii = propagators(dt, tau_m, tau_e, tau_i)
    v_free = v_rest + i_ext + (v - v_rest - i_ext) * p_mm + i_e * p_em + i_i * p_im
    refrac = np.where(refrac > 0, refrac - 1, refrac)
    frozen = refrac > 0
    v = np.where(frozen, v, v_free)
    spiked = ~frozen & (v > v_th)
    v = np.where(spiked, v_reset, v)
    refrac = np.where(spiked, t_ref_steps, refrac)
    return v, i_e * p_ee, i_i * p_ii, refrac, spiked


def isi_constant_current(i_ext, v_rest, v_th, v_reset, tau_m, t_ref):
    """Analytic interspike interval (ms) under a constant drive :math:`I_{ext}` (``inf`` if it never fires)."""
    v_inf = v_rest + i_ext
    if v_inf <= v_th:
        return np.inf
    return t_ref + tau_m * np.log((v_inf - v_reset) / (v_inf - v_th))
