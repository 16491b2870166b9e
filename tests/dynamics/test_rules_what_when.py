""""What and when" predictions (after Yamada & Chao 2025) as definitions (neuro.dynamics.rules.gated_error_rule /
error_readout): the rule's change against the readout's own error and the gate, the stimulus entering the error only,
and a small run of examples/what_and_when.py whose readouts fire at their outcome's time, with magnitudes ordered as
the probabilities, and reverse when the probabilities are swapped."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from neuro import sim
from neuro.dynamics.rules import error_readout, gated_error_rule

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
import what_and_when as ex  # noqa: E402


def _one_update(gate: float, kicks=(), stimulus=(5.0, 8.0, 12.0), pre_at: float = 20.0):
    """One presynaptic spike at ``pre_at`` onto a readout with a stimulus (and forced own spikes ``kicks``) before it;
    returns the weight change, the readout's traces at that step and the gate then (``gate`` decayed with tau 1e12 ms)."""
    net = sim.Network(dt=0.5)
    net.add_modulator("attention", tau=1e12, initial=gate)
    pre = sim.SpikeSource(1, times=[pre_at], indices=[0])
    stim = sim.SpikeSource(1, times=list(stimulus), indices=[0] * len(stimulus))
    kick = sim.SpikeSource(1, times=list(kicks), indices=[0] * len(kicks))
    out = sim.Population(1, error_readout())
    proj = sim.Projection(pre, out, weight=0.0, receptor="v", plasticity=gated_error_rule()(eta=0.2))
    net.add(pre, stim, kick, out, proj, sim.Projection(stim, out, weight=1.0, receptor="exc"),
            sim.Projection(kick, out, weight=100.0, receptor="v"))
    net.run(pre_at + 0.5, progress=False)
    return float(proj.weights[0]), float(out.s[0]), float(out.r[0]), net.modulator("attention")


@pytest.mark.parametrize("gate", [1.0, 0.5])
def test_update_is_eta_gate_times_error(gate):
    dw, s, r, g = _one_update(gate)
    assert s > 0.5 and r == 0.0  # three stimulus spikes 8-15 ms before (tau_r 20 ms), no own spike
    assert g == pytest.approx(gate, rel=1e-10)
    assert dw == pytest.approx(0.2 * g * (s - r), rel=1e-12)
    dw, s, r, g = _one_update(gate, kicks=(14.0, 17.0), stimulus=())
    assert s == 0.0 and r > 1.0  # own spikes and no stimulus: the readout predicted what did not come
    assert dw == pytest.approx(-0.2 * g * r, rel=1e-12)


def test_closed_gate_freezes_and_stimulus_never_drives_the_readout():
    dw, s, r, _ = _one_update(0.0, stimulus=tuple(np.arange(1.0, 19.0, 1.0)))
    assert dw == 0.0
    assert r == 0.0  # 18 stimulus spikes and no own spike: the stimulus does not drive the membrane
    assert s == pytest.approx(sum(np.exp(-(20.5 - t) / 20.0) for t in np.arange(1.0, 19.0, 1.0)), rel=0.1)  # step timing


def test_readouts_predict_when_and_how_likely_and_adapt():
    """30 + 30 trials (A at 300 ms with p 0.8 then 0.3, B at 550 ms with p 0.3 then 0.8); rates over the last 10 trials
    of each block. Untrained (no plasticity) the readouts stay silent."""
    cfg = ex.Config(trials=30, last=10)
    r, extra = ex.run(cfg, progress=False)
    # when: each readout fires in its outcome's window far more than in the other's or elsewhere
    assert r["block1_rate_A_in_A"] > 3 * max(r["block1_rate_A_in_B"], r["block1_rate_A_outside"], 2.0), r
    assert r["block2_rate_B_in_B"] > 3 * max(r["block2_rate_B_in_A"], r["block2_rate_B_outside"], 2.0), r
    # how likely: the likelier outcome's readout fires more, in both blocks, so the order reverses after the swap
    assert r["block1_rate_A_in_A"] > 2 * r["block1_rate_B_in_B"], r
    assert r["block2_rate_B_in_B"] > 2 * r["block2_rate_A_in_A"], r
    assert r["block2_rate_A_in_A"] < 0.7 * r["block1_rate_A_in_A"], r  # p: 0.8 -> 0.3
    assert r["trials_to_reverse"] is not None and r["trials_to_reverse"] <= 25, r
    control, _ = ex.run(cfg, progress=False, plastic=False)
    assert control["block1_rate_A_in_A"] == 0.0 and control["block2_rate_B_in_B"] == 0.0


def test_bad_gate_is_refused():
    with pytest.raises(ValueError, match="gate must be disjoint windows"):
        ex.gate_edges(ex.Config(gate=((100.0, 900.0),)))
    with pytest.raises(SystemExit, match="--trials must be >= 40"):
        ex.main(["--trials", "5"])
