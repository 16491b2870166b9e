"""A model/input shape mismatch in ``estimate`` and ``neuro energy`` is one ValueError naming the layer and its input shape."""

from __future__ import annotations

import argparse
import sys

import pytest
import torch
from torch import nn

from neuro import nn as snn
from neuro.energy import estimate
from neuro.energy.cli import add_cli, calibrate_batchnorm


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(20, 32), snn.LIF(tau=2.0))
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.encoder(x)).mean(0)


class NetBN(Net):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(10)

    def forward(self, x):
        return self.bn(super().forward(x))


def build() -> Net:
    return Net()


def build_bn() -> NetBN:
    return NetBN()


def test_estimate_names_the_failing_layer_and_its_input_shape():
    torch.manual_seed(0)
    estimate(Net(), torch.rand(4, 2, 20))  # the right shape runs
    with pytest.raises(ValueError, match=r"^layer 'encoder\.0' \(Linear\) failed on input shape \(4, 2, 7\) \(model input shape \(4, 2, 7\)\): "
                                         r"RuntimeError: mat1 and mat2 shapes cannot be multiplied") as info:
        estimate(Net(), torch.rand(4, 2, 7))
    assert isinstance(info.value.__cause__, RuntimeError)  # the original error stays attached


def test_estimate_names_a_neuron_that_refuses_its_input_and_removes_its_hooks():
    model = nn.Sequential(nn.Flatten(0, 1), snn.LIF(tau=2.0))  # the LIF gets [T*B, N]: 1-D per step
    with pytest.raises(ValueError, match=r"^layer '1' \(LIF\) failed on input shape \(8,\) \(model input shape \(4, 2\)\): ValueError: LIF expects"):
        estimate(model, torch.rand(4, 2))
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())


def _energy(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["energy", *argv])
    return args.func(args)


def test_batchnorm_calibration_names_the_failing_layer():
    assert calibrate_batchnorm(NetBN(), torch.rand(4, 2, 20), 1) == 1
    with pytest.raises(ValueError, match=r"^layer 'encoder\.0' \(Linear\) failed on input shape \(4, 2, 7\)"):
        calibrate_batchnorm(NetBN(), torch.rand(4, 2, 7), 1)


@pytest.mark.parametrize("factory, extra", [("build", ["--allow-silent"]), ("build_bn", ["--calibrate-bn", "1", "--allow-silent"])])
def test_cli_shape_mismatch_is_a_clear_error(factory, extra, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "energy_shape_errors_factory", sys.modules[__name__])
    spec = f"energy_shape_errors_factory:{factory}"
    assert _energy(spec, "--input-shape", "4,2,20", *extra) == 0
    with pytest.raises(ValueError, match=r"layer 'encoder\.0' \(Linear\) failed on input shape \(4, 2, 7\)"):
        _energy(spec, "--input-shape", "4,2,7", *extra)
    from neuro.cli import main

    capsys.readouterr()
    assert main(["energy", spec, "--input-shape", "4,2,7", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neuro energy: error: layer 'encoder.0' (Linear) failed on input shape (4, 2, 7)") and "Traceback" not in err
