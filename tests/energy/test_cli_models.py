"""``neuro energy`` on the model zoo's factories: a config by name (``--kwarg name=...``), overrides, [B, T, ...] input,
BatchNorm calibration of a random-weight network, named output files."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from neuro.energy.cli import add_cli, calibrate_batchnorm


def energy_cli(*argv: str) -> int:
    """``neuro energy ARGV`` through the energy sub-command's own parser (no import of the other sub-commands)."""
    import argparse

    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["energy", *argv])
    return args.func(args)


def test_cli_spikformer_factory_bt_input_calibrated(tmp_path, capsys):
    args = ["neuro.nn.models:spikformer", "--kwarg", "name=cifar10-4-256", "--kwarg", "depth=1", "--input-shape", "1,2,3,32,32",
            "--layout", "BT", "--out", str(tmp_path), "--stem", "spk"]
    assert energy_cli(*args, "--calibrate-bn", "2") == 0
    out = capsys.readouterr().out
    assert "block.0.mlp.fc1_linear" in out and "not counted (no rule" not in out  # the functional 1x1 map of the MLP is counted
    assert "matched neither" not in out  # [T, B, ...] tensors inside a model fed [B, T, ...] are attributed to their steps
    d = json.loads((tmp_path / "spk.json").read_text())
    assert (tmp_path / "spk.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "spk.txt").is_file()
    fc1 = next(c for c in d["layers"] if c["name"] == "block.0.mlp.fc1_linear")
    assert fc1["dense_macs"] == 2 * 64 * 256 * 1024  # T x tokens x in x out, one sample
    rate = sum(c["spikes"] for c in d["layers"]) / sum(c["neuron_updates"] for c in d["layers"])
    assert rate > 0.005  # calibrated BatchNorm: the random network fires


def test_calibrate_batchnorm_sets_input_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    x = torch.randn(8, 3, 10, 10) * 3 + 1
    assert calibrate_batchnorm(model, x, 3) == 1
    bn = model[1]
    y = model[0](x)
    assert not model.training and bn.momentum == pytest.approx(0.1)
    assert torch.allclose(bn.running_mean, y.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(bn.running_var, y.var((0, 2, 3)), rtol=1e-4)
    assert calibrate_batchnorm(nn.Linear(2, 2), torch.randn(1, 2), 3) == 0


def test_cli_prices_with_a_rates_file(tmp_path, capsys):
    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps({"fc*": 0.1, "nothing": 0.5}))
    assert energy_cli("neuro.demo:DigitsSNN", "--kwarg", "hidden=16", "--kwarg", "tau=2.0", "--input-shape", "4,3,64", "--rates", str(rates),
                      "--rate-steps", "8") == 0
    out = capsys.readouterr().out
    assert "over T = 8" in out and "rates matching no layer: nothing" in out
    rates.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        energy_cli("neuro.demo:DigitsSNN", "--kwarg", "hidden=16", "--kwarg", "tau=2.0", "--input-shape", "4,3,64", "--rates", str(rates))
