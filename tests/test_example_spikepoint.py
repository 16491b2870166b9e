"""examples/spikepoint.py --quick: SpikePoint learns the 4-class DVS-Gesture-format fixture (read through neuro.data)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numba
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import spikepoint as example  # noqa: E402


def test_quick_run_beats_chance_by_a_quarter(tmp_path):
    """About 8 s on a loaded 2-core machine. Chance is 0.25 for 4 classes; the seeded run reaches 0.79 on one thread
    (seeds 0-4: 0.54 to 0.79), and the test asks for at least 0.5 (chance + 0.25)."""
    t, n = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    try:
        r = example.main(["--quick", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(t)
        numba.set_num_threads(n)
    assert r["chance"] == 0.25
    assert r["test_accuracy"] >= r["chance"] + 0.25
    assert json.loads((tmp_path / "result.json").read_text())["test_accuracy"] == r["test_accuracy"]
    assert (tmp_path / "spikepoint.png").stat().st_size > 10_000


def test_fixture_is_dvs_gesture_format(tmp_path):
    import numpy as np

    example.write_gesture_fixture(tmp_path, classes=2, train_per_class=1, test_per_class=1, seed=0)
    files = sorted((tmp_path / "DVSGesture").rglob("*.npy"))
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "DVSGesture/ibmGestureTest/user24_fluorescent/0.npy", "DVSGesture/ibmGestureTest/user24_fluorescent/1.npy",
        "DVSGesture/ibmGestureTrain/user01_fluorescent/0.npy", "DVSGesture/ibmGestureTrain/user01_fluorescent/1.npy"]
    ev = np.load(files[0])
    assert ev.dtype == np.int64 and ev.shape[1] == 4
    assert ev[:, :2].min() >= 0 and ev[:, :2].max() <= 127 and set(np.unique(ev[:, 2])) <= {0, 1}
    assert np.all(np.diff(ev[:, 3]) >= 0)
