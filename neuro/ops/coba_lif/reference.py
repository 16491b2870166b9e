r"""Readable NumPy step of the conductance-based LIF neuron.

.. math::

    \tau_m \dot v = (v_{rest} - v) + g_e (E_e - v) + g_i (E_i - v) + I_{ext}, \qquad
    \tau_e \dot g_e = -g_e, \qquad \tau_i \dot g_i = -g_i

Conductances are dimensionless (relative to the leak), potentials in mV, times in ms.
Scheme: exponential Euler (as Brian2's ``exponential_euler``): with the conductances of the
step start, :math:`v` relaxes exactly towards
:math:`v_\infty = (v_{rest} + g_e E_e + g_i E_i + I_{ext}) / (1 + g_e + g_i)` with time
constant :math:`\tau_m / (1 + g_e + g_i)`; the conductances decay exactly.
"""

from __future__ import annotations

import numpy as np


def step(v, g_e, g_i, refrac, i_ext, dt, v_rest, v_th, v_reset, t_ref_steps, tau_m, tau_e, tau_i, e_e, e_i):
    """One step for arrays of neurons; returns ``(v, g_e, g_i, refrac, spiked)``."""
    g_tot = 1.0 + g_e + g_i
    v_inf = (v_rest + g_e * e_e + g_i * e_i + i_ext) / g_tot
    v_free = v_inf + (v - v_inf) * np.exp(-dt * g_tot / tau_m)
    refrac = np.where(refrac > 0, refrac - 1, refrac)
    frozen = refrac > 0
    v = np.where(frozen, v, v_free)
    spiked = ~frozen & (v > v_th)
    v = np.where(spiked, v_reset, v)
    refrac = np.where(spiked, t_ref_steps, refrac)
    return v, g_e * np.exp(-dt / tau_e), g_i * np.exp(-dt / tau_i), refrac, spiked
