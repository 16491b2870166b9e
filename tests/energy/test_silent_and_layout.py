"""No silent wrong numbers from the energy estimator: a silent (or partly silent) network is warned about, named layer
by layer, and refused by the CLI, whose default calibrates BatchNorm as ``examples/energy_report.py`` does; the input
layout is taken from the model, and a layout that contradicts the model's is an error instead of a swap of time and
batch."""

from __future__ import annotations

import argparse
import importlib
import json
import warnings

import pytest
import torch
from torch import nn

from neuro import nn as snn
from neuro.energy import estimate
from neuro.energy.cli import add_cli
from neuro.energy.layouts import MODEL_LAYOUTS, declared_layout, resolve_layout
from neuro.energy.report import SILENT_RATE, SilentNetworkWarning
from neuro.nn import models as M


def _mlp(second_gain: float = 1.0) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), snn.LIF(tau=2.0), nn.Linear(16, 4), snn.LIF(tau=2.0))
    with torch.no_grad():
        model[0].weight.fill_(0.5)
        model[0].bias.zero_()
        model[2].weight.mul_(second_gain)
    return model


X = torch.ones(8, 3, 6)  # [T, B, N]: 3 per neuron of the first layer each step, it fires


# -- 1. silence --------------------------------------------------------------------------------------------
def test_a_silent_layer_is_named_in_a_warning_and_in_the_report():
    with pytest.warns(SilentNetworkWarning, match=r"1 of 2 spiking layers never fired \(3\)"):
        rep = estimate(_mlp(second_gain=0.0), X)
    assert rep.silent_layers() == ["3"] and rep.spike_rate() > SILENT_RATE
    table = rep.format_table()
    assert table.startswith("WARNING: 1 of 2 spiking layers never fired (3)") and table.rstrip().splitlines()[-1].startswith("WARNING")
    assert rep.to_dict()["silent_layers"] == ["3"] and rep.to_dict()["warnings"]


def test_a_silent_network_says_so_and_what_to_do():
    with pytest.warns(SilentNetworkWarning, match=r"^silent network: 0 spikes per neuron per step.*2 of 2 spiking layers never fired \(1, 3\)"
                      r".*--calibrate-bn"):
        rep = estimate(_mlp(), torch.zeros(8, 3, 6))
    assert rep.spike_rate() == 0


def test_a_nearly_silent_network_is_flagged_too():
    model = nn.Sequential(nn.Linear(1, 1000, bias=False), snn.LIF(tau=2.0))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].weight[0] = 10.0  # one neuron of 1000 fires at every step: rate 1e-3 / 2
    x = torch.zeros(4, 2, 1)
    x[::2] = 1.0
    with pytest.warns(SilentNetworkWarning, match=r"^nearly silent network: 0.0005 spikes per neuron per step"):
        estimate(model, x)


def test_a_firing_network_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentNetworkWarning)
        rep = estimate(_mlp(second_gain=5.0), X)
    assert rep.silence() is None and rep.silent_layers() == [] and "WARNING" not in rep.format_table()


def test_the_warning_can_be_switched_off():
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentNetworkWarning)
        rep = estimate(_mlp(second_gain=0.0), X, warn_silent=False)
    assert rep.silence() is not None  # still in the report


# -- 2. layout ---------------------------------------------------------------------------------------------
def _tiny_spikformer() -> nn.Module:
    torch.manual_seed(0)
    return M.spikformer("cifar10-4-384", embed_dim=32, num_heads=4, depth=1, img_size=16, in_channels=1, time_steps=3).eval()


def test_every_registered_model_class_exists():
    for key, layout in MODEL_LAYOUTS.items():
        module, _, name = key.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), name), type), key
        assert layout in ("TB", "BT")


def test_layout_is_inferred_from_the_zoo_models():
    x = torch.rand(2, 3, 1, 16, 16)  # [B=2, T=3, C, H, W]
    model = _tiny_spikformer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SilentNetworkWarning)
        rep = estimate(model, x)
        explicit = estimate(model, x, layout="BT")
    assert (rep.time_steps, rep.batch) == (3, 2)
    assert rep.energy("memory").per_sample_pj == explicit.energy("memory").per_sample_pj
    assert resolve_layout(M.qsd_transformer("imagenet-8M", embed_dims=(8, 16, 32, 40), num_classes=10, img_size=32), None) == "BT"


def test_a_layout_that_contradicts_the_model_is_an_error():
    model = _tiny_spikformer()
    with pytest.raises(ValueError, match=r"layout='TB' reads the inputs as \[T, B, \.\.\.\] .* but Spikformer takes \[B, T, \.\.\.\]"):
        estimate(model, torch.rand(2, 3, 1, 16, 16), layout="TB")
    from neuro.demo import DigitsSNN

    with pytest.raises(ValueError, match="DigitsSNN takes \\[T, B, ...\\]"):
        estimate(DigitsSNN(8, 2.0), torch.rand(4, 2, 64), layout="BT")


def test_a_model_declares_its_layout_with_an_attribute():
    class BatchFirst(nn.Module):
        input_layout = "BT"

        def __init__(self):
            super().__init__()
            self.fc, self.lif = nn.Linear(5, 5), snn.LIF(tau=2.0)

        def forward(self, x):  # [B, T, N]
            return self.lif(self.fc(x.transpose(0, 1)))

    assert declared_layout(BatchFirst()) == ("BT", "BatchFirst.input_layout")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SilentNetworkWarning)
        rep = estimate(BatchFirst(), torch.rand(3, 7, 5))
    assert (rep.time_steps, rep.batch) == (7, 3)
    with pytest.raises(ValueError, match="declared by BatchFirst.input_layout"):
        estimate(BatchFirst(), torch.rand(3, 7, 5), layout="TB")
    assert resolve_layout(nn.Linear(2, 2), None) == "TB" and resolve_layout(nn.Linear(2, 2), "BT") == "BT"  # nothing declared


# -- the CLI ---------------------------------------------------------------------------------------------------
TINY = ["neuro.nn.models:spikformer", "--kwarg", "name=cifar10-4-384", "--kwarg", "embed_dim=32", "--kwarg", "num_heads=4", "--kwarg", "depth=1",
        "--kwarg", "img_size=16", "--kwarg", "in_channels=1", "--kwarg", "time_steps=2", "--input-shape", "2,2,1,16,16"]


def _energy(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["energy", *argv])
    return args.func(args)


def test_cli_default_calibrates_batchnorm_and_reads_the_model_layout(tmp_path, capsys):
    """The README's command without --calibrate-bn or --layout: as examples/energy_report.py, BatchNorm is set from the
    inputs, and the [B, T, ...] layout comes from the model."""
    assert _energy(*TINY, "--out", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "BatchNorm statistics of" in out and "(BT)" in out
    d = json.loads((tmp_path / "energy.json").read_text())
    assert d["time_steps"] == 2 and d["samples"] == 2 and d["spike_rate"] > SILENT_RATE


def test_cli_refuses_a_silent_network_with_the_reason(capsys):
    with pytest.raises(ValueError, match=r"refusing to report the energy of a silent network: 0 spikes per neuron per step.*never fired "
                                         r"\(patch_embed\.proj_lif.*--calibrate-bn.*BatchNorm not calibrated \(--calibrate-bn 0\).*--allow-silent"):
        _energy(*TINY, "--calibrate-bn", "0")
    assert _energy(*TINY, "--calibrate-bn", "0", "--allow-silent") == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("WARNING: silent network") and "neuro energy: WARNING: silent network" in captured.err


def test_cli_layout_that_contradicts_the_model_fails_before_running_it():
    with pytest.raises(ValueError, match="but Spikformer takes \\[B, T, ...\\]"):
        _energy(*TINY, "--layout", "TB")
