"""Izhikevich presets: silent without input from their resting state; the resonator resonates.

Every preset of :data:`neuro.ops.izhikevich.PRESETS` is a neuron that rests at zero input in
Izhikevich (2003, Fig. 2; 2004, Fig. 1): the tonic, bursting and resonator panels all get an
input current before they fire. Its resting state is the stable fixed point
:math:`0.04 v^2 + (5 - b) v + 140 = 0` (lower root), :math:`u = b v`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuro import sim
from neuro.ops.izhikevich import PRESETS


def resting_v(b: float) -> float:
    """Stable resting potential (mV) of the Izhikevich neuron at zero input."""
    return (-(5.0 - b) - math.sqrt((5.0 - b) ** 2 - 4 * 0.04 * 140.0)) / (2 * 0.04)


def _spike_counts(v_init, scheme, dt, duration=200.0, drive=None):
    net = sim.Network(dt=dt)
    mons = {}
    for name in PRESETS:
        b = PRESETS[name][1]
        pop = sim.Izhikevich(1, preset=name, scheme=scheme, v_init=resting_v(b) if v_init == "rest" else v_init, name=name)
        if drive is not None:
            pop.inject(drive)
        mons[name] = net.add(pop, sim.SpikeMonitor(pop))
    net.run(duration)
    return {name: m.count for name, m in mons.items()}


@pytest.mark.parametrize("scheme, dt", [("euler", 0.1), ("izhikevich", 1.0)])
def test_every_preset_is_silent_at_rest_without_input(scheme, dt):
    counts = _spike_counts("rest", scheme, dt)
    assert counts == dict.fromkeys(PRESETS, 0), counts


def test_resting_potentials():
    """b = 0.2 rests at -70 mV, b = 0.25 at -64.4 mV, the resonator's b = 0.26 at -62.5 mV."""
    assert resting_v(0.2) == pytest.approx(-70.0)
    assert resting_v(0.25) == pytest.approx(-64.414, abs=1e-3)
    assert resting_v(0.26) == pytest.approx(-62.5)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_is_silent_from_the_default_initial_state(name):
    """``sim.Izhikevich``'s default start (each preset's resting state) without input."""
    net = sim.Network(dt=0.1)
    pop = sim.Izhikevich(1, preset=name, scheme="euler")
    mon = net.add(pop, sim.SpikeMonitor(pop))
    net.run(200.0)
    assert mon.count == 0


def _doublet(gap, dt=0.25, t1=40.0, width=4.0, amp=0.65, duration=200.0):
    """Izhikevich 2004 Fig. 1(K): two 4 ms pulses of 0.65 mV/ms, ``gap`` ms apart (onsets)."""
    t = np.arange(int(duration / dt)) * dt
    return amp * (((t > t1) & (t < t1 + width)) | ((t > t1 + gap) & (t < t1 + gap + width))).astype(float)


def test_resonator_fires_to_a_doublet_at_its_resonant_interval_only():
    """Linearised at rest the resonator has eigenvalues -0.05 +- 0.153i /ms: a damped oscillation of period
    2 pi / 0.153 = 41 ms. A doublet 40 ms apart fires it; 20 or 60 ms apart (antiphase) does not, nor does one pulse."""
    a, b = PRESETS["resonator"][:2]
    lam = np.linalg.eigvals(np.array([[0.08 * resting_v(b) + 5.0, -1.0], [a * b, -a]]))
    assert 2 * math.pi / abs(lam[0].imag) == pytest.approx(41.0, abs=0.5)
    dt = 0.25
    counts = {}
    for gap in (20.0, 40.0, 60.0, 1000.0):
        net = sim.Network(dt=dt)
        pop = sim.Izhikevich(1, preset="resonator", scheme="euler", v_init=resting_v(b))
        pop.inject(_doublet(gap, dt=dt))
        mon = net.add(pop, sim.SpikeMonitor(pop))
        net.run(200.0)
        counts[gap] = mon.count
    assert counts == {20.0: 0, 40.0: 1, 60.0: 0, 1000.0: 0}, counts
