r"""Readable NumPy step of the Izhikevich (2003) neuron.

.. math::

    \dot v = 0.04 v^2 + 5 v + 140 - u + I, \qquad \dot u = a (b v - u);
    \quad v \ge 30\ \text{mV} \Rightarrow v \leftarrow c,\ u \leftarrow u + d

(v in mV, t in ms, I in mV/ms). Schemes:

* ``"izhikevich"``: the published code's, for a 1 ms step: v advanced in two 0.5 ms Euler
  half-steps, then u by one Euler step with the new v (for other dt, ``n_half`` substeps of
  dt/2 are used the same way);
* ``"euler"``: forward Euler on both with the step dt (use dt <= 0.1 ms).

Spikes are detected on the value *after* the update and reset in the same step, like the
published code (which checks ``v >= 30`` at the start of the next step, before integrating —
the same spike times). Input current ``I`` is the current for this step (synaptic input of the
step plus external drive). The scheme diverges for large dt: above 1 ms (izhikevich) or
0.25 ms (euler) the simulator warns.
"""

from __future__ import annotations

import numpy as np

# (a, b, c, d): Izhikevich 2003 Fig. 2 (RS, IB, CH, FS, LTS, TC, RZ). Without input each rests at the lower root of
# 0.04 v^2 + (5 - b) v + 140 = 0, u = b v: -70 mV for b = 0.2, -64.4 mV for b = 0.25, -62.5 mV for the resonator
# (b = 0.26). Started at -65 mV (u = b v) the resonator is off its rest and fires once at ~21 ms: start it at
# v = -62.5 (Izhikevich 2004's figure1.m starts its resonator, there with c = -60, d = -1, at v = -62).
PRESETS: dict[str, tuple[float, float, float, float]] = {
    "regular_spiking": (0.02, 0.2, -65.0, 8.0),
    "intrinsically_bursting": (0.02, 0.2, -55.0, 4.0),
    "chattering": (0.02, 0.2, -50.0, 2.0),
    "fast_spiking": (0.1, 0.2, -65.0, 2.0),
    "low_threshold_spiking": (0.02, 0.25, -65.0, 2.0),
    "thalamo_cortical": (0.02, 0.25, -65.0, 0.05),
    "resonator": (0.1, 0.26, -65.0, 2.0),
}

V_PEAK = 30.0
STABLE_DT = {"izhikevich": 1.0, "euler": 0.25}


def step(v, u, current, dt, a, b, c, d, scheme="izhikevich"):
    """One step; returns ``(v, u, spiked)``."""
    if scheme == "izhikevich":
        half = dt / 2.0
        for _ in range(2):
            v = v + half * (0.04 * v * v + 5.0 * v + 140.0 - u + current)
        u = u + dt * a * (b * v - u)
    elif scheme == "euler":
        dv = 0.04 * v * v + 5.0 * v + 140.0 - u + current
        u = u + dt * a * (b * v - u)
        v = v + dt * dv
    else:
        raise ValueError(f"unknown Izhikevich scheme {scheme!r}; expected 'izhikevich' or 'euler'")
    spiked = v >= V_PEAK
    v = np.where(spiked, c, v)
    u = np.where(spiked, u + d, u)
    return v, u, spiked
