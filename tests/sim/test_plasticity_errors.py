"""Bad plasticity input gets a clear error: unknown parameters, w_min > w_max, non-positive time constants, a
modulator on a projection that cannot use it, weights outside the bounds."""

from __future__ import annotations

import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP, TripletSTDP
from neuro.ops.three_factor import GatedHebbian, Neuromodulator, RewardModulatedSTDP


@pytest.mark.parametrize(
    "make, err, msg",
    [
        # unknown rule parameters
        (lambda: TripletSTDP(tau_pre=10.0), TypeError, "unexpected keyword argument 'tau_pre'"),
        (lambda: TripletSTDP.preset("hippocampal_all_to_all", A3_plus=1.0), TypeError, "unexpected keyword argument 'A3_plus'"),
        (lambda: RewardModulatedSTDP(tau_e=100.0), TypeError, "unexpected keyword argument 'tau_e'"),
        (lambda: Neuromodulator(decay=0.99), TypeError, "unexpected keyword argument 'decay'"),
        (lambda: RewardModulatedSTDP(stdp=TripletSTDP()), TypeError, "must be a PairSTDP"),
        # bounds
        (lambda: TripletSTDP(w_min=2.0, w_max=1.0), ValueError, "w_min <= w_max"),
        (lambda: GatedHebbian(w_min=2.0, w_max=1.0), ValueError, "w_min <= w_max"),
        (lambda: RewardModulatedSTDP(stdp=PairSTDP(w_min=0.5, w_max=0.1)), ValueError, "w_min <= w_max"),
        # time constants
        (lambda: TripletSTDP(tau_x=-101.0), ValueError, "tau_x must be a finite number > 0"),
        (lambda: TripletSTDP(tau_y=0.0), ValueError, "tau_y must be a finite number > 0"),
        (lambda: PairSTDP(tau_minus=-20.0), ValueError, "tau_minus must be a finite number > 0"),
        (lambda: RewardModulatedSTDP(update_interval=-10.0), ValueError, "update_interval must be a finite number > 0"),
        (lambda: Neuromodulator(tau=-200.0), ValueError, "tau must be a finite number > 0"),
        (lambda: GatedHebbian(tau_mean=-1.0), ValueError, "tau_mean must be a finite number > 0"),
        (lambda: sim.Network().add_modulator("dopamine", tau=-5.0), ValueError, "tau must be a finite number > 0"),
        # amplitudes are magnitudes
        (lambda: TripletSTDP(a3_plus=-1e-3), ValueError, "a3_plus is a magnitude"),
    ],
)
def test_bad_rule_parameters(make, err, msg):
    with pytest.raises(err, match=msg):
        make()


@pytest.mark.parametrize(
    "kwargs, err, msg",
    [
        (dict(modulator="dopamine"), ValueError, "can only drive a projection with RewardModulatedSTDP.*no plasticity"),
        (dict(plasticity=PairSTDP(), modulator="dopamine"), ValueError, "can only drive a projection with RewardModulatedSTDP.*PairSTDP"),
        (dict(plasticity=TripletSTDP(), modulator="dopamine"), ValueError, "can only drive a projection with RewardModulatedSTDP.*TripletSTDP"),
        (dict(plasticity=RewardModulatedSTDP()), ValueError, "needs modulator="),
        (dict(plasticity=GatedHebbian()), TypeError, "RewardModulatedSTDP or a neuro.dynamics.SynapseModel, got GatedHebbian"),
        (dict(plasticity=TripletSTDP(w_max=0.5)), ValueError, r"initial weights must lie in the plasticity bounds \[0.0, 0.5\]"),
        (dict(plasticity=PairSTDP(w_min=1.5, w_max=2.0)), ValueError, "initial weights must lie in the plasticity bounds"),
    ],
)
def test_bad_plastic_projection(kwargs, err, msg):
    a, b = sim.LIF(3), sim.LIF(2)
    with pytest.raises(err, match=msg):
        sim.Projection(a, b, weight=1.0, **kwargs)


def test_modulator_must_exist_when_the_network_is_built():
    net = sim.Network()
    a, b = sim.LIF(2), sim.LIF(2)
    net.add_modulator("dopamine")
    net.add(a, b, sim.Projection(a, b, weight=1.0, plasticity=RewardModulatedSTDP(), modulator="serotonin"))
    with pytest.raises(ValueError, match="needs modulator 'serotonin'; add it with add_modulator"):
        net.run(1.0)
