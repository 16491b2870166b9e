"""NaN / Inf input to a multi-step neuron is an error naming the layer and the count (or one warning), never silent zeros."""

from __future__ import annotations

import warnings

import pytest
import torch

from neuro import nn as snn
from neuro.nn.nonfinite import set_nonfinite

NEURONS = {
    "LIF": lambda **kw: snn.LIF(tau=2.0, **kw),
    "ParametricLIF": lambda **kw: snn.ParametricLIF(tau=2.0, **kw),
    "ParametricLIF per channel": lambda **kw: snn.ParametricLIF(tau=2.0, per_channel=4, **kw),
    "IF": lambda **kw: snn.IF(**kw),
    "PDSGLIF": lambda **kw: snn.PDSGLIF(tau=2.0, **kw),
    "ALIF": lambda **kw: snn.ALIF(**kw),
    "ALIF store_state": lambda **kw: snn.ALIF(store_state=True, **kw),
    "IntegerLIF": lambda **kw: snn.IntegerLIF(**kw),
    "IELIF": lambda **kw: snn.IELIF(**kw),
    "UltraLIF": lambda **kw: snn.UltraLIF(**kw),
}


def _bad_input(n_bad: int = 3) -> torch.Tensor:
    x = torch.rand(8, 2, 4, 32) + 1.0  # [T, B, C, N], 2048 values, all strong enough to fire
    flat = x.view(-1)
    flat[5], flat[700], flat[2047] = float("nan"), float("inf"), float("-inf")
    return x


@pytest.mark.parametrize("name", list(NEURONS))
def test_nonfinite_input_raises_naming_the_layer_and_the_count(name):
    layer = NEURONS[name]()
    with pytest.raises(ValueError, match=rf"^{type(layer).__name__} got 3 non-finite input values \(NaN/Inf\) of 2048 \(input shape \(8, 2, 4, 32\)\)"):
        layer(_bad_input())
    out = layer(torch.rand(8, 2, 4, 32) + 1.0)  # finite input still runs
    assert out.shape == (8, 2, 4, 32) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", list(NEURONS))
def test_warn_mode_warns_once_per_layer_and_runs(name):
    layer = NEURONS[name](nonfinite="warn")
    with pytest.warns(RuntimeWarning, match="got 3 non-finite input values"):
        out = layer(_bad_input())
    assert out.shape == (8, 2, 4, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer(_bad_input())  # the second call stays quiet


def test_ignore_mode_and_the_attribute_and_set_nonfinite():
    lif = snn.LIF(tau=2.0, nonfinite="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lif(_bad_input()).shape == (8, 2, 4, 32)
    lif.nonfinite = "raise"
    with pytest.raises(ValueError, match="LIF got 3 non-finite"):
        lif(_bad_input())
    model = torch.nn.Sequential(torch.nn.Linear(32, 32), snn.LIF(), torch.nn.Linear(32, 32), snn.ALIF())
    assert set_nonfinite(model, "ignore") == 2
    assert model(_bad_input()).shape == (8, 2, 4, 32)
    with pytest.raises(ValueError, match="nonfinite must be one of"):
        snn.LIF(nonfinite="loud")
    with pytest.raises(ValueError, match="nonfinite must be one of"):
        lif.nonfinite = "quiet"


def test_the_check_stays_out_of_a_compiled_graph():
    model = torch.nn.Sequential(torch.nn.Linear(20, 30), snn.LIF(tau=2.0))
    compiled = torch.compile(lambda x: model(x).sum(), backend="aot_eager", fullgraph=True)
    x = torch.randn(8, 4, 20)
    assert compiled(x).item() == model(x).sum().item()
