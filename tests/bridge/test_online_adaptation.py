"""examples/online_adaptation.py --quick: a network trained on digits 0-4, deployed, learns digits 5-9 on-line in the simulator."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_online_adaptation_quick_rises_above_chance(tmp_path, capsys):
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location("online_adaptation", ROOT / "examples" / "online_adaptation.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    t0 = time.perf_counter()
    result = mod.main(["--quick", "--out", str(tmp_path / "curve.png")])
    elapsed = time.perf_counter() - t0
    assert (tmp_path / "curve.png").is_file() and "wrote" in capsys.readouterr().out
    assert json.loads((tmp_path / "curve.json").read_text())["final_new_class_accuracy"] == result["final_new_class_accuracy"]
    assert result["nn_accuracy_old_classes"] > 0.8  # the trained network works on its own classes
    assert result["before_new_class_accuracy"] < 0.25  # outputs 5-9 were never trained: at or below chance (0.2)
    assert result["final_new_class_accuracy"] > 0.4  # two times chance after the on-line presentations
    assert elapsed < 120, f"--quick took {elapsed:.0f} s"
