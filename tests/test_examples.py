"""Example scripts run to completion at tiny sizes."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script, args", [("cuba.py", ["--duration", "100", "--n", "800"]), ("distal_reward.py", ["--seconds", "3"]),
                                           ("polychronization.py", ["--seconds", "2"]), ("digits_transformers.py", ["--quick"])])
def test_example_runs(script, args, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [script, *args, "--out", str(tmp_path)])
    runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    assert "wrote" in capsys.readouterr().out
    assert any(p.suffix == ".png" for p in tmp_path.iterdir())


def test_cli_simulate_runs_an_example(tmp_path, capsys):
    from neuro import cli

    assert cli.main(["simulate", "cuba", "--duration", "50", "--n", "400", "--out", str(tmp_path)]) == 0
    assert "mean excitatory rate" in capsys.readouterr().out
    assert (tmp_path / "cuba_raster.png").is_file()


def test_neuromorphic_recipe_example_trains_and_resumes(tmp_path, monkeypatch):
    """A shipped recipe on format-exact CIFAR10-DVS files (the real tonic reader), tiny model; then resumed for one more epoch."""
    pytest.importorskip("dv_processing", reason="writing CIFAR10-DVS .aedat4 fixtures needs dv-processing (in the dev extra)")
    script = str(ROOT / "examples" / "train_neuromorphic.py")
    args = ["--recipe", "sdt-cifar10dvs-2-256", "--synthetic", "--tiny", "--out", str(tmp_path / "run"), "--set", "progress=false"]
    monkeypatch.setattr(sys, "argv", ["train_neuromorphic.py", *args])
    runpy.run_path(script, run_name="__main__")
    first = json.loads((tmp_path / "run" / "result.json").read_text())
    assert first["epoch"] == 1 and first["step"] >= 1
    monkeypatch.setattr(sys, "argv", ["train_neuromorphic.py", *args, "--epochs", "2", "--resume"])
    with pytest.warns(UserWarning, match=f"resuming .*step_{first['step']:08d}.pt with a changed config"):  # epochs 1 -> 2
        runpy.run_path(script, run_name="__main__")
    second = json.loads((tmp_path / "run" / "result.json").read_text())
    assert second["epoch"] == 2 and second["step"] == 2 * first["step"]


@pytest.mark.parametrize("script, seconds, every, opts", [("distal_reward.py", 6, 2, ()), ("polychronization.py", 5, 2, ("--record", "1"))])
def test_simulation_examples_resume_exactly(script, seconds, every, opts, tmp_path, monkeypatch):
    """A run stopped after a checkpoint and resumed ends with the same weights as an uninterrupted one (the
    polychronization run records its last second only, so that the first 2 s learn and checkpoint)."""
    def run(out, *extra):
        monkeypatch.setattr(sys, "argv", [script, "--seed", "2", "--checkpoint-every", str(every), "--out", str(out), *opts, *extra])
        return runpy.run_path(str(ROOT / "examples" / script), run_name="not_main")["main"]()

    _, w_full = run(tmp_path / "full", "--seconds", str(seconds))
    run(tmp_path / "cut", "--seconds", str(every))  # the "interrupted" run: stops after its first checkpoint
    _, w_resumed = run(tmp_path / "cut", "--seconds", str(seconds), "--resume")
    assert (tmp_path / "cut" / "checkpoint_net.npz").is_file()
    assert w_full.shape == w_resumed.shape and (w_full == w_resumed).all()


def test_digits_transformers_resume_exactly(tmp_path, monkeypatch):
    """Stopped after one epoch and resumed, the run ends with the same weights as an uninterrupted one."""
    def run(out, *extra):
        monkeypatch.setattr(sys, "argv", ["digits_transformers.py", "--quick", "--model", "sdt", "--epochs", "3", "--out", str(out), *extra])
        return runpy.run_path(str(ROOT / "examples" / "digits_transformers.py"), run_name="not_main")["main"]()[0]

    full = run(tmp_path / "full")
    run(tmp_path / "cut", "--stop-after", "1")
    resumed = run(tmp_path / "cut", "--resume")
    assert resumed["epochs"] == 3 and len(resumed["history"]) == 3
    assert resumed["final_weights_sum"] == full["final_weights_sum"] and resumed["history"] == full["history"]
