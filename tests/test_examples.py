"""Example scripts run to completion at tiny sizes."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script, args", [("cuba.py", ["--duration", "100", "--n", "800"]), ("distal_reward.py", ["--seconds", "3"]),
                                           ("polychronization.py", ["--seconds", "2"])])
def test_example_runs(script, args, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [script, *args, "--out", str(tmp_path)])
    runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    assert "wrote" in capsys.readouterr().out
    assert any(p.suffix == ".png" for p in tmp_path.iterdir())
