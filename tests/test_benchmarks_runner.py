"""The benchmark runner enforces the output contract and tabulates results."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import __main__ as runner  # noqa: E402


def test_parse_result_takes_the_last_json_line():
    out = 'warming up\n{"not": "this"}\n{"name": "x", "ours_s": 1.0, "peer": "p", "peer_s": 2.0, "ratio": 0.5}\n'
    assert runner.parse_result(out, "x.py")["ratio"] == 0.5


@pytest.mark.parametrize(
    "out, msg",
    [("", "printed nothing"), ("done\n", "not JSON"), ('{"name": "x", "ours_s": 1}', "lacks fields")],
)
def test_parse_result_rejects_broken_contracts(out, msg):
    with pytest.raises(ValueError, match=msg):
        runner.parse_result(out, "x.py")


def test_run_reports_failures_and_successes(tmp_path):
    ok = tmp_path / "ok.py"
    ok.write_text(
        "import json, sys\n"
        'print(json.dumps({"name": "ok", "ours_s": 0.1, "peer": "p", "peer_s": 0.2, "ratio": 0.5, "quick": "--quick" in sys.argv}))\n'
    )
    bad = tmp_path / "bad.py"
    bad.write_text("raise SystemExit(3)\n")
    rows = runner.run([ok, bad], quick=True, timeout=60)
    assert rows[0]["ratio"] == 0.5 and rows[0]["quick"] is True
    assert rows[1]["error"].startswith("exit 3")
    table = runner.format_table(rows)
    assert "ok" in table and "ERROR" in table


def test_every_benchmark_script_accepts_quick():
    for script in runner.discover():
        text = script.read_text()
        assert "--quick" in text, f"{script.name} must accept --quick"
