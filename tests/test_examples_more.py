"""The QSD distillation, energy report and datasets tour examples run to completion at tiny sizes and write their outputs."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine, two spinning threads per process slow tiny convolutions down many times."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_example(script: str, args: list[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [script, *args])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")


@pytest.mark.parametrize("script", ["qsd_distill.py", "energy_report.py", "datasets_tour.py"])
def test_help(script, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exc:
        run_example(script, ["--help"], monkeypatch)
    assert exc.value.code == 0
    assert "--out" in capsys.readouterr().out


def test_qsd_distill_quick_learns_and_resumes(tmp_path, monkeypatch, capsys):
    """Teacher, distilled 4-bit student and CE-only baseline on digits (CI size); a resume afterwards trains nothing again."""
    out = tmp_path / "qsd"
    args = ["--quick", "--threads", "1", "--no-progress", "--out", str(out)]
    run_example("qsd_distill.py", args, monkeypatch)
    summary = json.loads((out / "qsd_distill.json").read_text())
    assert (out / "qsd_distill.png").stat().st_size > 0
    assert set(summary["results"]) == {"teacher", "student", "baseline"}
    assert summary["teacher_accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert min(summary["student_accuracy"], summary["baseline_accuracy"]) > 0.13  # ~0.24 and ~0.22 at this size (teacher ~0.72)
    student = summary["results"]["student"]
    assert student["distilled"] and student["weight_bits"] == [4] and summary["results"]["teacher"]["weight_bits"] == [32]
    assert max(student["distinct_levels_per_layer"]) <= 16  # 4-bit weights: at most 2^4 integer levels per layer
    assert student["history"][0]["fgd"] > 0 and student["storage_kib"] < summary["results"]["teacher"]["storage_kib"] / 4
    for stage in ("teacher", "student", "baseline"):
        assert (out / f"{stage}.pt").is_file()
    capsys.readouterr()
    run_example("qsd_distill.py", [*args, "--resume"], monkeypatch)
    assert "done: teacher, student, baseline" in capsys.readouterr().out
    assert json.loads((out / "qsd_distill.json").read_text())["student_accuracy"] == summary["student_accuracy"]
    # the student's checkpoint names its factory: the energy report rebuilds it from the file alone
    run_example("energy_report.py", ["--checkpoint", str(out / "student.pt"), "--data", "digits", "--direct", "--input-shape", "2,1,1,24,24",
                                     "--out", str(tmp_path / "energy")], monkeypatch)
    rep = json.loads((tmp_path / "energy" / "energy.json").read_text())
    assert any(layer.get("weight_bits") == 4 for layer in rep["layers"])


def test_energy_report_named_model_and_digits(tmp_path, monkeypatch):
    out = tmp_path / "energy"
    run_example("energy_report.py", ["--model", "spikformer:cifar10-4-384", "--kwarg", "depth=1", "--kwarg", "embed_dim=32", "--kwarg", "num_heads=4",
                                     "--kwarg", "img_size=16", "--kwarg", "in_channels=1", "--data", "digits", "--input-shape", "2,2,1,16,16",
                                     "--out", str(out)], monkeypatch)
    for name in ("energy.txt", "energy.json", "energy.png", "energy_bitbudget.png"):
        assert (out / name).stat().st_size > 0, name
    rep = json.loads((out / "energy.json").read_text())
    assert rep["time_steps"] == 2 and rep["samples"] == 2 and rep["total_params"] > 0
    assert set(rep["energy"]) >= {"convention", "ops", "memory"} and rep["energy_per_sample_mj"] > 0
    bb = rep["bit_budget"]
    assert bb["snn_bit_ops"] > 0 and bb["ann_bit_ops"] > 0 and len(bb["sweep"]) > 3
    assert 0 <= rep["neurobench"]["ActivationSparsity"] <= 1


def test_energy_report_factory_on_synthetic_frames(tmp_path, monkeypatch):
    """MODULE:FACTORY with tuple kwargs, real (format-exact N-MNIST) frames resized to the model's input."""
    out = tmp_path / "energy"
    run_example("energy_report.py", ["--model", "neuro.nn.models:qsd_transformer", "--kwarg", "name=imagenet-8M", "--kwarg", "embed_dims=8,16,32,32",
                                     "--kwarg", "depth=2", "--kwarg", "num_heads=4", "--kwarg", "img_size=32", "--kwarg", "in_channels=2",
                                     "--kwarg", "num_classes=10", "--kwarg", "time_steps=2", "--data", "nmnist", "--synthetic",
                                     "--input-shape", "2,2,2,32,32", "--out", str(out), "--stem", "qsd"], monkeypatch)
    rep = json.loads((out / "qsd.json").read_text())
    assert (out / "qsd_bitbudget.png").is_file() and rep["bit_budget"]["weight_bits"] > 0
    assert any(layer.get("weight_bits") == 4 for layer in rep["layers"])


def test_datasets_tour_synthetic(tmp_path, monkeypatch):
    out = tmp_path / "tour"
    run_example("datasets_tour.py", ["--synthetic", "--datasets", "shd", "nmnist", "dvsgesture", "--bins", "4", "--samples", "2", "--out", str(out)],
                monkeypatch)
    summary = json.loads((out / "tour.json").read_text())
    assert set(summary["datasets"]) == {"shd", "nmnist", "dvsgesture"}
    for name in ("shd_raster.png", "shd_frames.png", "nmnist_frames.png", "nmnist.gif", "dvsgesture_frames.png", "dvsgesture.gif"):
        assert (out / name).stat().st_size > 0, name
    assert summary["datasets"]["nmnist"]["frame_shape"] == [4, 2, 34, 34]
    assert summary["datasets"]["shd"]["examples"][0]["events"] > 0
