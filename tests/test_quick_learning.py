"""The PSPM and "what and when" examples run in their ``--quick`` modes (as a user runs them: a subprocess) and show
learning, with the margins read from their ``result.json``.

Each takes about 6-12 s once the simulator's generated kernels are cached (tests/dynamics compiles the same
definitions earlier in the session; a cold cache adds the compilation, a minute or more).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_quick(script: str, out: Path) -> dict:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == result  # the result is also the last line printed
    return result


def test_pspm_quick_recovers_weights(tmp_path):
    """10 s of recorded spikes: the learned weights correlate with the ground truth at least 0.5 above the 99th
    percentile of the shuffled control, and on held-out input the learned network (open loop) matches the target
    trains' spikes better than the same network with its recurrent weights at 0 (coincidence factor +0.15, van Rossum
    distance -0.1)."""
    r = run_quick("pspm.py", tmp_path)
    assert r["config"]["train_s"] == 10.0
    assert r["weight_correlation"] > r["shuffled_correlation_p99"] + 0.5, r
    assert r["trained_open_loop_coincidence"] > r["zero_weights_coincidence"] + 0.15, r
    assert r["trained_open_loop_van_rossum"] < r["zero_weights_van_rossum"] - 0.1, r
    assert (tmp_path / "pspm.png").stat().st_size > 10_000


def test_what_and_when_quick_predicts_and_adapts(tmp_path):
    """60 + 60 trials. The untrained readouts are silent (weights start at 0 and the stimulus never drives them,
    tests/dynamics/test_rules_what_when.py), so the control rate is 0 Hz: after each block, the likelier outcome's
    readout fires at least 20 Hz in its outcome's window, 3 times more than elsewhere in the trial, twice the other
    readout's rate, and the order of the two reverses after the probabilities swap."""
    r = run_quick("what_and_when.py", tmp_path)
    assert r["config"]["trials"] == 60 and r["plastic"] is True
    assert r["block1_rate_A_in_A"] >= 20.0 and r["block2_rate_B_in_B"] >= 20.0, r
    assert r["block1_rate_A_in_A"] > 3 * max(r["block1_rate_A_in_B"], r["block1_rate_A_outside"]), r
    assert r["block2_rate_B_in_B"] > 3 * max(r["block2_rate_B_in_A"], r["block2_rate_B_outside"]), r
    assert r["block1_rate_A_in_A"] > 2 * r["block1_rate_B_in_B"], r
    assert r["block2_rate_B_in_B"] > 2 * r["block2_rate_A_in_A"], r
    assert r["trials_to_reverse"] is not None and r["trials_to_reverse"] <= 30, r
    assert (tmp_path / "what_and_when.png").stat().st_size > 10_000
