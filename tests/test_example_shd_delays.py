"""examples/shd_delays.py (DCLS-Delays on SHD) on format-exact generated SHD files: it trains (weights and
delays move, sigma follows the schedule) and a run cut after step 2 and resumed ends on the same weights."""

from __future__ import annotations

import json
import runpy
import shutil
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(ROOT / "examples" / "shd_delays.py")


def _run(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["shd_delays.py", *args])
    runpy.run_path(SCRIPT, run_name="__main__")


def _model(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


@pytest.mark.timeout(120)
def test_shd_delays_example_trains_and_resumes_exactly(tmp_path, monkeypatch):
    pytest.importorskip("h5py")
    run = tmp_path / "run"
    args = ["--synthetic", "--tiny", "--set", "progress=false", "--set", "tensorboard=false"]
    _run(monkeypatch, *args, "--out", str(run))
    result = json.loads((run / "result.json").read_text())
    assert result["epoch"] == 2 and result["step"] == 4  # 8 samples, batch 4, 2 epochs
    assert all(torch.isfinite(torch.tensor(result[k])) for k in ("train_loss", "eval_loss"))
    assert result["sigma"] == pytest.approx(0.5) and result["taps"] == 5

    ckpts = sorted((run / "checkpoints").glob("step_*.pt"))
    assert [c.name for c in ckpts] == [f"step_{i:08d}.pt" for i in range(1, 5)]
    first, last = _model(ckpts[0]), _model(ckpts[-1])
    assert int(last["batches_seen"]) == 4
    assert float(first["delays.0._sigma"]) == pytest.approx(2.27)  # epoch 0: 0.27 + taps // 2
    assert float(last["delays.0._sigma"]) == pytest.approx(0.5)  # epoch 1 = final_epoch
    for name in ("delays.0.weight", "delays.0.delay_raw", "delays.2.weight", "delays.2.delay_raw"):
        assert not torch.equal(first[name], last[name]), f"{name} did not change"

    cut = tmp_path / "cut"
    shutil.copytree(run, cut)
    for c in ckpts[2:]:
        (cut / "checkpoints" / c.name).unlink()
    _run(monkeypatch, *args, "--out", str(cut), "--resume")
    resumed = json.loads((cut / "result.json").read_text())
    assert resumed["step"] == 4 and resumed["epoch"] == 2
    again = _model(cut / "checkpoints" / ckpts[-1].name)
    for name, value in last.items():
        torch.testing.assert_close(again[name], value, rtol=0, atol=0, msg=f"{name} differs after resume")


def test_shd_delays_model_shapes_and_fixed_delays():
    mod = runpy.run_path(SCRIPT)
    net = mod["DelaySNN"](140, hidden=8, taps=5, learn_delays=False, final_epoch=1)
    assert all(not layer.delay_raw.requires_grad and layer.sigma == 0.0 for layer in net.delays)
    x = (torch.rand(12, 3, 140) < 0.2).float()
    out = net(x)
    assert out.shape == (3, 20)
    torch.testing.assert_close(out.sum(-1), torch.full((3,), 12.0 + 3 * 2))  # "sum" readout: one softmax per step, T + 3 x 2 padded steps
    net.eval()
    assert net(x).shape == (3, 20)
