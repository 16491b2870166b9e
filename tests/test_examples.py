"""Example scripts run to completion at tiny sizes."""

from __future__ import annotations

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
