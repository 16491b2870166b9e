"""SOEL-style on-chip learning (neuro.dynamics.rules_onchip.soel_rule) as a definition: the error-triggered update on
the weight grid, frozen by its modulator; and the --quick run of examples/onchip_learning.py whose readout, learned on
the deployed network with 8-bit weights, beats the same readout without learning and chance."""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from neuro import sim
from neuro.dynamics.rules import error_readout
from neuro.dynamics.rules_onchip import soel_rule

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
import onchip_learning as ex  # noqa: E402

Q, K, QMAX = 0.25, 2.0, 3.0


def one_synapse(teacher_steps, pre_steps, learning=1.0):
    """A presynaptic train onto a silent readout (r = 0) whose error trace s is raised by 2 per teacher spike."""
    net = sim.Network(dt=1.0, seed=0)
    net.add_modulator("learning", tau=1e15, initial=learning)
    out = sim.Population(1, error_readout(v_th=1e6), tau_r=5.0)
    pre = sim.SpikeSource(1, np.asarray(pre_steps, float), np.zeros(len(pre_steps), np.int64))
    teach = sim.SpikeSource(1, np.asarray(teacher_steps, float), np.zeros(len(teacher_steps), np.int64))
    syn = sim.Projection(pre, out, weight=0.0, receptor="v", plasticity=soel_rule()(q=Q, k=K, q_max=QMAX, theta=1.0))
    net.add(out, pre, teach, syn, sim.Projection(teach, out, weight=2.0, receptor="exc"))
    net.run(40.0, progress=False)
    return syn.weights[0]


def test_update_is_triggered_by_the_error_and_stays_on_the_grid():
    assert one_synapse([], [5.0, 10.0]) == 0.0  # no error: no update
    assert one_synapse([4.0], [6.0]) == pytest.approx(K * Q)  # error ~2 e^-0.2 >= theta: one update of k grid steps
    assert one_synapse([4.0], [30.0]) == 0.0  # the error has decayed under theta: not triggered
    w = one_synapse([4.0, 6.0, 8.0], [5.0, 7.0, 9.0])  # three updates, clipped at q_max * q
    assert w == pytest.approx(QMAX * Q)
    assert one_synapse([4.0], [6.0], learning=0.0) == 0.0  # the modulator at 0 freezes the weight


def test_onchip_learning_beats_no_learning_and_chance(tmp_path):
    """The example's --quick run (32 hidden neurons pre-trained 5 epochs; 20 shots per new class, classes 5-9, one
    pass; 20 test samples per class): accuracy at least 0.15 above chance (0.2); the readout without learning never
    fires (accuracy 0). The learned weights stay on the 8-bit grid and do not move while testing; the 8-bit
    quantisation of the pre-trained layers costs under 5 % of old-class accuracy."""
    threads = torch.get_num_threads()
    try:
        r = ex.main(["--quick", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)  # main sets one thread
    assert r["config"] == asdict(ex.QUICK)
    assert r["fits"] and r["cores_used"] == 2
    assert r["new_classes_accuracy_soel"] >= r["chance"] + 0.15, r
    assert r["new_classes_accuracy_no_learning"] == 0.0 and r["no_learning"]["silent_fraction"] == 1.0
    assert r["soel"]["weights_on_grid"] and r["soel"]["weights_frozen_in_test"]
    assert r["old_classes_accuracy_quantised"] >= r["old_classes_accuracy_float"] - 0.05, r
    assert (tmp_path / "result.json").is_file() and (tmp_path / "onchip_learning.png").is_file()


def test_unknown_chip_is_refused():
    with pytest.raises(ValueError, match="chip must be one of"):
        ex.run(replace(ex.QUICK, chip="nope"), progress=False)
