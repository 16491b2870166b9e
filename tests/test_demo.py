"""The main job trains a real spiking network on the bundled digits and writes its run folder."""

from __future__ import annotations

import json

import pytest

from neuro import cli


def test_digits_snn_learns(tmp_path):
    pytest.importorskip("sklearn")
    from neuro.demo import DemoConfig, train_digits

    result = train_digits(DemoConfig(epochs=15, seed=1), tmp_path)
    assert result["test_acc"] >= 0.9, result["history"]["test_acc"]
    assert (tmp_path / "checkpoint.pt").stat().st_size > 0
    assert (tmp_path / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist["train_loss"][-1] < hist["train_loss"][0]


def test_demo_rejects_bad_epochs(capsys):
    assert cli.main(["demo", "--epochs", "0", "--out", "unused"]) == 2
    assert "epochs must be >= 1, got 0" in capsys.readouterr().err


def test_info_lists_backends_and_paths(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "backends" in out and "numba" in out
    assert "kernel sources" in out and "data root" in out


def test_stdp_simulation_pushes_weights_to_the_bounds(tmp_path):
    from neuro.demo import simulate_stdp

    out = simulate_stdp(tmp_path, duration_ms=20_000.0, seed=2)
    # initial weights are uniform: 10 % in each tenth; additive STDP moves mass to both ends
    assert out["weights_low"] > 0.12 and out["weights_high"] > 0.11, out["histogram"]
    assert out["synaptic_events"] > 1000 * 15 * 20 * 0.8
    for name in ("stdp_raster.png", "stdp_weights.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_demo_energy_report(tmp_path):
    import torch

    from neuro.demo import DigitsSNN, estimate_energy

    torch.manual_seed(0)
    out = estimate_energy(tmp_path, DigitsSNN(32, 2.0), torch.rand(20, 64), time_steps=4)
    assert out["effective_acs"] > 0 and out["effective_macs"] == 0, "Poisson-coded input makes every layer spike-driven"
    assert out["effective_acs"] < out["dense_macs"]
    assert out["snn_bit_ops"] == 4 * out["ann_bit_ops"] / 3  # T = 4 binary steps vs ceil(log2(5)) = 3-bit activations
    for name in ("energy.txt", "energy.json", "energy.png", "bit_budget.json"):
        assert (tmp_path / name).stat().st_size > 0
