"""A sweep of bad inputs to the simulator's public API: each ends in an exception whose message names the argument
(or a warning where the input is legal but almost certainly a mistake), never in a silent result or a deep error."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from neuro import sim
from neuro.ops.stdp import PairSTDP, TripletSTDP
from neuro.ops.three_factor import RewardModulatedSTDP


def _net(*objs, dt=0.1):
    net = sim.Network(dt=dt)
    net.add(*objs)
    return net


def _pair(**kw):
    a, b = sim.LIF(2), sim.LIF(2)
    p = sim.Projection(a, b, **kw)
    return _net(a, b, p)


CASES = [
    ("Network dt=0", lambda: sim.Network(dt=0), ValueError, "dt must be a finite number > 0"),
    ("Network dt str", lambda: sim.Network(dt="0.1"), ValueError, "dt must be a finite number > 0"),
    ("Network seed str", lambda: sim.Network(seed="a"), ValueError, "seed must be an integer"),
    ("Network seed float", lambda: sim.Network(seed=1.5), ValueError, "seed must be an integer"),
    ("Network seed negative", lambda: sim.Network(seed=-1), ValueError, "seed must be an integer in"),
    ("Network backend", lambda: sim.Network(backend="gpu"), ValueError, "backend must be one of"),
    ("LIF n=0", lambda: sim.LIF(0), ValueError, "positive integer size"),
    ("LIF n=2.5", lambda: sim.LIF(2.5), ValueError, "positive integer size"),
    ("LIF tau_m=0", lambda: sim.LIF(3, tau_m=0), ValueError, "tau_m must be a finite number > 0"),
    ("LIF tau_m=nan", lambda: sim.LIF(3, tau_m=float("nan")), ValueError, "tau_m must be a finite number > 0"),
    ("LIF tau_m str", lambda: sim.LIF(3, tau_m="10"), TypeError, "tau_m must be a number, got str"),
    ("LIF t_ref < 0", lambda: sim.LIF(3, t_ref=-1), ValueError, "t_ref must be >= 0"),
    ("LIF v_init shape", lambda: sim.LIF(3, v_init=[1, 2]), ValueError, r"v_init must be a scalar or an array of shape \(3,\)"),
    ("LIF v_init nan", lambda: sim.LIF(3, v_init=[1, 2, np.nan]), ValueError, "v_init must be finite"),
    ("LIF v_init str", lambda: sim.LIF(3, v_init="a"), TypeError, "v_init must be a number"),
    ("LIF noise < 0", lambda: sim.LIF(3, noise=-1.0), ValueError, "noise is a standard deviation"),
    ("LIF refractory_input str", lambda: sim.LIF(3, refractory_input="yes"), TypeError, "refractory_input must be True or False"),
    ("COBA tau_e=0", lambda: sim.ConductanceLIF(3, tau_e=0), ValueError, "tau_e must be a finite number > 0"),
    ("Izhikevich preset", lambda: sim.Izhikevich(3, preset="foo"), ValueError, "unknown Izhikevich preset 'foo'"),
    ("Izhikevich a nan", lambda: sim.Izhikevich(3, a=float("nan")), ValueError, "a must be finite"),
    ("Izhikevich scheme", lambda: sim.Izhikevich(3, scheme="rk4"), ValueError, "unknown Izhikevich scheme 'rk4'"),
    ("Poisson rate < 0", lambda: sim.PoissonInput(3, rate=-1), ValueError, "rate must be >= 0 Hz"),
    ("Poisson rate nan", lambda: sim.PoissonInput(3, rate=float("nan")), ValueError, "rate must be finite"),
    ("Poisson rate inf", lambda: sim.PoissonInput(3, rate=float("inf")), ValueError, "rate must be finite"),
    ("SpikeSource time < 0", lambda: sim.SpikeSource(2, [-1.0], [0]), ValueError, "spike times must be finite and >= 0"),
    ("SpikeSource time nan", lambda: sim.SpikeSource(2, [np.nan], [0]), ValueError, "spike times must be finite"),
    ("SpikeSource index out", lambda: sim.SpikeSource(2, [1.0], [2]), ValueError, r"indices must be integers in \[0, 1\]"),
    ("SpikeSource index float", lambda: sim.SpikeSource(2, [1.0], [0.5]), ValueError, "indices must be integers"),
    ("SpikeSource lengths", lambda: sim.SpikeSource(2, [1.0, 2.0], [0]), ValueError, "same length, got 2 and 1"),
    ("SpikeSource times str", lambda: sim.SpikeSource(2, ["a"], [0]), TypeError, "times must be numbers"),
    ("SpikeSource rounding", lambda: sim.SpikeSource(2, [1.0], [0], rounding="up"), ValueError, "rounding must be one of"),
    ("SpikeSource repeats", lambda: sim.SpikeSource(2, [1.0], [0], repeats="sum"), ValueError, "repeats must be one of"),
    ("SpikeSource repeated spike", lambda: _net(sim.SpikeSource(2, [1.0, 1.05], [1, 1])).run(2.0), ValueError,
     "neuron 1 spikes 2 times in step 10"),
    ("from_events fields", lambda: sim.SpikeSource.from_events(np.zeros(3, dtype=[("x", int)])), ValueError, "events need fields 't' and 'x'"),
    ("from_events outside", lambda: sim.SpikeSource.from_events(np.array([(1, 5, 0, 1)], dtype=[("t", int), ("x", int), ("y", int), ("p", int)]),
                                                                sensor_size=(2, 2, 2)), ValueError, "outside sensor_size"),
    ("Projection pre", lambda: sim.Projection(3, sim.LIF(2)), TypeError, "pre and post must be populations"),
    ("Projection receptor", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), receptor="ampa"), ValueError, "unknown receptor 'ampa'"),
    ("Projection connect str", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), connect="random"), ValueError, "unknown connect rule 'random'"),
    ("Projection connect type", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), connect=0.5), ValueError, "unsupported connect=0.5"),
    ("FixedProbability p", lambda: sim.FixedProbability(2.0), ValueError, r"FixedProbability.p must be in \[0, 1\]"),
    ("FixedInDegree k < 0", lambda: sim.FixedInDegree(-1), ValueError, "FixedInDegree.k must be an integer >= 0"),
    ("FixedInDegree k float", lambda: sim.FixedInDegree(1.5), ValueError, "FixedInDegree.k must be an integer >= 0"),
    ("FixedOutDegree k float", lambda: sim.FixedOutDegree(1.5), ValueError, "FixedOutDegree.k must be an integer >= 0"),
    ("FixedInDegree too large", lambda: _pair(connect=sim.FixedInDegree(5)), ValueError, r"FixedInDegree\(k=5\) needs 0 <= k <= 2"),
    ("weight shape", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), weight=[1, 2, 3]), ValueError, r"weight must be .* shape \(4,\)"),
    ("weight nan", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), weight=float("nan")), ValueError, "weight has NaN or infinite"),
    ("weight str", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), weight="a"), TypeError, "weight must be numbers"),
    ("weight callable shape", lambda: _pair(connect=sim.FixedProbability(1.0), weight=lambda rng, n: rng.random(n + 1)), ValueError,
     r"weight must be .* shape \(4,\)"),
    ("delay < 0", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), delay=-1.0), ValueError, "delays must be >= 0 ms"),
    ("delay off the grid", lambda: _pair(delay=0.05).run(1.0), ValueError, "delay 0.05 ms is not a whole number of steps"),
    ("delay too long", lambda: _pair(delay=1e9).run(1.0), ValueError, "delays that long are not supported"),
    ("index out of range", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), ([0, 5], [0, 1])), ValueError, "indices out of range"),
    ("index float", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), ([0.5, 1], [0, 1])), ValueError, "pre indices must be integers"),
    ("index lengths", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), ([0, 1], [0])), ValueError, "1-d and of equal length"),
    ("sparse shape", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), sp.eye(3)), ValueError, r"must have shape \(2, 2\), got \(3, 3\)"),
    ("repeated pairs", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), ([0, 0], [1, 1])), ValueError, "repeated \\(pre, post\\) pairs"),
    ("plasticity type", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), plasticity="stdp"), TypeError, "plasticity must be PairSTDP"),
    ("weight outside bounds", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), weight=5.0, plasticity=PairSTDP()), ValueError,
     "initial weights must lie in the plasticity bounds"),
    ("modulator without rule", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), modulator="da"), ValueError, "can only drive a projection"),
    ("rule without modulator", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), plasticity=RewardModulatedSTDP()), ValueError,
     "RewardModulatedSTDP needs modulator="),
    ("unknown modulator", lambda: _pair(plasticity=RewardModulatedSTDP(), modulator="da", weight=0.5).run(1.0), ValueError,
     "needs modulator 'da'; add it with add_modulator"),
    ("population not in network", lambda: _net(*(lambda a, b: (a, sim.Projection(a, b)))(sim.LIF(2), sim.LIF(2))).run(1.0), ValueError,
     "which is not in this network"),
    ("projection seed", lambda: sim.Projection(sim.LIF(2), sim.LIF(2), seed="x"), TypeError, "seed must be an integer or None"),
    ("STDP tau 0", lambda: PairSTDP(tau_plus=0), ValueError, "PairSTDP.tau_plus must be a finite number > 0"),
    ("STDP eta < 0", lambda: PairSTDP(eta_plus=-1), ValueError, "eta_plus and eta_minus are magnitudes"),
    ("STDP pairing", lambda: PairSTDP(pairing="all"), ValueError, "pairing must be one of"),
    ("STDP bounds", lambda: PairSTDP(w_min=2, w_max=1), ValueError, "w_min <= w_max"),
    ("STDP delivery", lambda: PairSTDP(delivery="now"), ValueError, "delivery must be one of"),
    ("triplet preset", lambda: TripletSTDP.preset("foo"), ValueError, "unknown triplet preset 'foo'"),
    ("run < 0", lambda: _net(sim.LIF(2)).run(-1.0), ValueError, "duration must be a non-negative multiple of dt"),
    ("run off the grid", lambda: _net(sim.LIF(2)).run(0.05), ValueError, "duration must be a non-negative multiple of dt"),
    ("run nan", lambda: _net(sim.LIF(2)).run(float("nan")), ValueError, "duration must be a finite number"),
    ("run str", lambda: _net(sim.LIF(2)).run("1"), TypeError, "duration must be a number of ms, got str"),
    ("run None", lambda: _net(sim.LIF(2)).run(None), TypeError, "duration must be a number of ms"),
    ("reward not callable", lambda: _net(sim.LIF(2)).run(1.0, reward=3), TypeError, "reward must be a callable"),
    ("reward_interval 0", lambda: _net(sim.LIF(2)).run(1.0, reward=lambda n: None, reward_interval=0.0), ValueError,
     "reward_interval must be a positive multiple of dt"),
    ("chunk < 0", lambda: _net(sim.LIF(2)).run(1.0, chunk=-1.0), ValueError, "chunk must be a finite number of ms > 0"),
    ("inject nan", lambda: sim.LIF(2).inject([np.nan]), ValueError, "inject: the current has NaN"),
    ("inject shape", lambda: sim.LIF(2).inject(np.zeros((3, 3))), ValueError, r"inject needs shape \[steps\] or \[steps, 2\]"),
    ("set v shape", lambda: setattr(sim.LIF(2), "v", [1, 2, 3]), ValueError, r"\.v must be a scalar or an array of shape \(2,\)"),
    ("set v nan", lambda: setattr(sim.LIF(2), "v", np.nan), ValueError, r"\.v must be finite"),
    ("set weights nan", lambda: setattr(sim.Projection(sim.LIF(2), sim.LIF(2)), "weights", np.full(4, np.nan)), ValueError,
     "weights has NaN or infinite"),
    ("StateMonitor variable", lambda: sim.StateMonitor(sim.LIF(2), "w"), ValueError, "unknown state variable 'w'"),
    ("StateMonitor index", lambda: sim.StateMonitor(sim.LIF(2), "v", [5]), ValueError, r"indices must be integers in \[0, 1\]"),
    ("StateMonitor every < 0", lambda: sim.StateMonitor(sim.LIF(2), "v", every=-1.0), ValueError, "every must be a finite number of ms > 0"),
    ("StateMonitor every off the grid", lambda: _net(*(lambda a: (a, sim.StateMonitor(a, "v", every=0.05)))(sim.LIF(2))).run(1.0),
     ValueError, "samples every 0.05 ms, not a multiple of dt"),
    ("SpikeMonitor index", lambda: sim.SpikeMonitor(sim.LIF(2), indices=[7]), ValueError, r"indices must be integers in \[0, 1\]"),
    ("SpikeMonitor population", lambda: sim.SpikeMonitor(3), TypeError, "SpikeMonitor needs a population"),
    ("rate duration", lambda: sim.SpikeMonitor(sim.LIF(2)).rate(-1.0), ValueError, "duration_ms must be a finite number > 0"),
    ("population in two networks", lambda: (lambda a: (sim.Network().add(a), sim.Network().add(a)))(sim.LIF(2)), ValueError,
     "already belongs to another network"),
    ("add an int", lambda: sim.Network().add(3), TypeError, "cannot add a int to a Network"),
    ("release unknown", lambda: sim.Network().release("da", 1.0), KeyError, "no modulator 'da'"),
    ("release nan", lambda: (lambda n: (n.add_modulator("da"), n.release("da", float("nan"))))(sim.Network()), ValueError,
     "amount must be finite"),
    ("modulator tau 0", lambda: sim.Network().add_modulator("da", tau=0), ValueError, "tau must be a finite number > 0"),
    ("normalize nan", lambda: sim.Projection(sim.LIF(2), sim.LIF(2)).normalize_incoming(float("nan")), ValueError,
     "total must be a finite number > 0"),
]


@pytest.mark.parametrize("make,error,match", [c[1:] for c in CASES if c[2] is not None], ids=[c[0] for c in CASES if c[2] is not None])
def test_bad_input_is_named(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("make,match", [
    (lambda: sim.LIF(3, v_th=-70.0, v_reset=-60.0), "v_reset .* is not below v_th"),
    (lambda: _net(sim.PoissonInput(3, rate=1e6)).run(0.1), "asks for 100 spikes per step"),
], ids=["reset above threshold", "rate above one spike per step"])
def test_legal_but_suspicious_input_warns(make, match):
    with pytest.warns(RuntimeWarning, match=match):
        make()


def test_off_grid_update_interval_is_refused_at_build():
    a, b = sim.LIF(2), sim.LIF(2)
    net = _net(a, b, sim.Projection(a, b, plasticity=RewardModulatedSTDP(update_interval=0.05), modulator="da", weight=0.5))
    net.add_modulator("da")
    with pytest.raises(ValueError, match="update_interval 0.05 ms is not a whole number of steps"):
        net.run(1.0)
