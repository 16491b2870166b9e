"""Spiking diffusion (neuro.nn.models.spiking_diffusion): shapes, the TSM factors per spiking step, threshold guidance,
equal parameter counts of the spiking and non-spiking denoisers, the DDPM schedule, and the quick example learning."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from neuro.nn import IF
from neuro.nn.models import count_parameters
from neuro.nn.models.spiking_diffusion import DDPM, SpikingDenoiser, TSMLinear, spike_counts, threshold_guidance

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(spiking=True, **kw):
    torch.manual_seed(0)
    return SpikingDenoiser((1, 8, 8), width=16, blocks=1, time_steps=3, diffusion_steps=10, spiking=spiking, **kw)


@pytest.mark.parametrize("spiking", [True, False])
def test_shapes_and_equal_parameter_counts(spiking):
    model = _model(spiking)
    x, t = torch.randn(5, 1, 8, 8), torch.randint(0, 10, (5,))
    assert model(x, t).shape == (5, 1, 8, 8)
    assert count_parameters(model) == count_parameters(_model(not spiking))
    assert any(isinstance(m, IF) for m in model.modules()) == spiking
    # same seed: the non-spiking twin starts from the same weights
    other = _model(not spiking)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters()))


def test_tsm_scales_each_spiking_step_by_its_own_factor():
    layer = TSMLinear(3, 4, 2)
    with torch.no_grad():
        layer.p.copy_(torch.tensor([1.0, -2.0, 0.5]))
    x = torch.randn(1, 6, 4).expand(3, 6, 4)                    # the same input at every step
    y = layer(x)
    base = layer.linear(x[0])
    for t, p in enumerate([1.0, -2.0, 0.5]):
        torch.testing.assert_close(y[t], p * base)
    assert not torch.allclose(y[0], y[1])
    # tsm=False: p is a fixed buffer of ones, not a parameter; every step equal
    plain = TSMLinear(3, 4, 2, tsm=False)
    assert [n for n, _ in plain.named_parameters()] == ["linear.weight", "linear.bias"]
    z = plain(x)
    torch.testing.assert_close(z[0], z[2])
    assert count_parameters(layer) == count_parameters(plain) + 3


def test_tsm_factors_change_the_spikes_per_step():
    """With equal input at every step, a neuron behind a TSM layer receives different currents per step."""
    layer, neuron = TSMLinear(2, 4, 8), IF()
    x = torch.randn(1, 16, 4).expand(2, 16, 4)
    with torch.no_grad():
        layer.p.copy_(torch.tensor([0.0, 3.0]))
    s = neuron(layer(x).contiguous())
    assert s[0].sum() == 0 and s[1].sum() > 0


def test_threshold_guidance_moves_every_threshold_and_restores_it():
    model = _model()
    model.eval()
    x, t = torch.randn(32, 1, 8, 8), torch.randint(0, 10, (32,))
    with spike_counts(model) as base:
        y0 = model(x, t)
    with threshold_guidance(model, 0.3):
        assert {n.params.v_th for n in model.modules() if isinstance(n, IF)} == {1.3}
        with spike_counts(model) as guided:
            y1 = model(x, t)
    assert {n.params.v_th for n in model.modules() if isinstance(n, IF)} == {1.0}
    torch.testing.assert_close(model(x, t), y0)                 # restored
    assert not torch.allclose(y0, y1)
    assert guided["neuron_steps"] == base["neuron_steps"] and guided["spikes"] < base["spikes"]  # inhibitory: fewer spikes
    # as defined: identical to a model built with the raised threshold and the same weights
    raised = _model(v_threshold=1.3)
    raised.load_state_dict(model.state_dict())
    raised.eval()
    torch.testing.assert_close(raised(x, t), y1)


def test_threshold_guidance_errors():
    with pytest.raises(ValueError, match="spiking neurons"):
        with threshold_guidance(_model(spiking=False), 0.1):
            pass
    with pytest.raises(ValueError, match="threshold > 0"):
        with threshold_guidance(_model(), -1.0):
            pass


def test_ddpm_schedule_and_input_errors():
    ddpm = DDPM(50)
    assert ddpm.betas[0] == pytest.approx(1e-4 * 20) and ddpm.betas[-1] == pytest.approx(0.02 * 20)
    assert float(ddpm.alphas_bar[-1]) < 1e-3                     # the last step is (almost) pure noise
    x0, noise = torch.ones(2, 1, 8, 8), torch.zeros(2, 1, 8, 8)
    torch.testing.assert_close(ddpm.q_sample(x0, torch.tensor([0, 0]), noise), ddpm.alphas_bar[0].sqrt() * x0)
    with pytest.raises(ValueError, match="variance"):
        DDPM(10, variance="learned")
    with pytest.raises(ValueError, match="steps"):
        DDPM(1)
    with pytest.raises(ValueError, match="width"):
        SpikingDenoiser(width=0)
    with pytest.raises(ValueError, match=r"x must be \[B, 1, 8, 8\]"):
        _model()(torch.randn(2, 64), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="t must have shape"):
        _model()(torch.randn(2, 1, 8, 8), torch.zeros(3, dtype=torch.long))


def test_quick_example_learns(tmp_path, monkeypatch, one_thread):
    """The --quick run: the trained spiking denoiser's samples score a classifier FID at
    most 75 % of pure noise's and of the untrained model's (0.61 at seed 0), and the real held-out digits
    score far below all of them."""
    monkeypatch.syspath_prepend(str(ROOT / "examples"))
    import spiking_diffusion as example

    summary = example.main(["--quick", "--no-progress", "--out", str(tmp_path)])
    rows = summary["rows"]
    fid = {k: v["fid"] for k, v in rows.items()}
    assert fid["spiking (TSM)"] < 0.75 * fid["pure noise"] and fid["spiking (TSM)"] < 0.75 * fid["untrained spiking"]
    assert fid["non-spiking"] < 0.75 * fid["pure noise"]
    assert fid["real held-out"] < 0.2 * min(fid["spiking (TSM)"], fid["non-spiking"])
    assert summary["params"]["spiking (TSM)"] == summary["params"]["non-spiking"]
    assert 0 < rows["spiking (TSM)"]["spike_rate"] < 1 and rows["non-spiking"]["spike_rate"] is None
    assert (tmp_path / "spiking_diffusion.png").stat().st_size > 0
    assert json.loads((tmp_path / "result.json").read_text())["rows"]["pure noise"]["fid"] == pytest.approx(fid["pure noise"])
    sys.modules.pop("spiking_diffusion", None)
