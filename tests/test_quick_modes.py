"""The ``--quick`` modes finish and print their result: every benchmark (ours and its peer, JSON last) and the QSD example.

Only that they finish, not how fast: their speed is what the benchmarks report. Running them all takes minutes
(Brian2's C++ standalone builds are compiled on a machine's first run), so those tests are ``slow``; the default run
checks the pieces the quick modes rest on: the kept standalone build, the quick configurations, the shrunken model.
"""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import __main__ as runner  # noqa: E402
from benchmarks import _pairs  # noqa: E402

BRIAN2_SCRIPTS = {"sim_vs_brian2", "coba_vs_brian2", "izhikevich_vs_brian2", "plasticity_vs_brian2", "spnet_vs_brian2", "sim_scaling",
                  "microcircuit"}


class _FakeBrian2:
    """Stands for ``brian2`` in :func:`benchmarks._pairs.standalone_build`: ``device.build`` writes the project the way
    Brian2 does (a source file only when its contents changed) and "compiles" it the way its makefile does (the binary
    again only when a source is newer), counting the compilations."""

    def __init__(self, source: str):
        self.source, self.compiled = source, 0
        self.device = self

    def build(self, directory, compile, run, debug):
        src, main = Path(directory) / "code.cpp", Path(directory) / "main"
        if not src.is_file() or src.read_text() != self.source:
            src.write_text(self.source)
        if not main.is_file() or main.stat().st_mtime_ns < src.stat().st_mtime_ns:
            Path(directory, "code.o").write_text(f"object of {self.source}")
            main.write_text(f"binary of {self.source}")
            self.compiled += 1


def test_standalone_build_is_kept_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_BRIAN2_BUILD_CACHE", str(tmp_path / "cache"))
    first = _FakeBrian2("v += 1")
    d1 = _pairs.standalone_build(first, "net")
    assert first.compiled == 1 and _pairs.LAST_BUILD["reused"] is False
    assert (tmp_path / "cache" / "net" / "main").read_text() == "binary of v += 1"
    assert _pairs.build_fields("cpp_standalone") == {"peer_build_reused": False, "peer_objects_compiled": "1/1"}
    assert _pairs.build_fields("numpy") == {}
    again = _FakeBrian2("v += 1")
    d2 = _pairs.standalone_build(again, "net")
    assert again.compiled == 0 and _pairs.LAST_BUILD["reused"] is True  # the same network: nothing compiled
    assert _pairs.build_fields("cpp_standalone") == {"peer_build_reused": True, "peer_objects_compiled": "0/1"}
    assert d1 != d2 and Path(d1, "main").is_file()  # each run builds in a directory of its own
    changed = _FakeBrian2("v += 2")
    _pairs.standalone_build(changed, "net")
    assert changed.compiled == 1 and _pairs.LAST_BUILD["reused"] is False
    assert (tmp_path / "cache" / "net" / "main").read_text() == "binary of v += 2"  # the kept build follows the change
    other = _FakeBrian2("v += 1")
    _pairs.standalone_build(other, "another_net")  # another name, another kept build
    assert other.compiled == 1 and sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["another_net", "net"]


def _qsd():
    return runpy.run_path(str(ROOT / "examples" / "qsd_distill.py"), run_name="not_main")


def test_qsd_quick_configuration_and_overrides():
    qsd = _qsd()
    quick = qsd["parse"](["--quick"])
    for key, value in qsd["QUICK"].items():
        assert getattr(quick, key) == value, key
    assert quick.teacher_epochs == 3 and quick.batch == 64
    full = qsd["parse"]([])
    assert (full.epochs, full.teacher_epochs, full.dim, full.size, full.lr, full.train_images, full.threads) == (15, 15, 16, 32, 3e-3, None, None)
    mine = qsd["parse"](["--quick", "--epochs", "2", "--threads", "2", "--lr", "0.01"])  # the command line wins over --quick
    assert (mine.epochs, mine.teacher_epochs, mine.threads, mine.lr, mine.dim) == (2, 3, 2, 0.01, 8)


@pytest.fixture
def threads_restored():
    import numba
    import torch

    before = torch.get_num_threads(), numba.get_num_threads()
    yield
    torch.set_num_threads(before[0])
    numba.set_num_threads(before[1])


def test_transformer_step_quick_runs_ours_and_the_peer(threads_restored, monkeypatch, capsys):
    """``--quick``'s plumbing (shrunken model, one thread for torch and Numba, both sides timed) at an even smaller size."""
    import torch

    from benchmarks import transformer_step

    monkeypatch.setattr(transformer_step, "QUICK_OVERRIDES", dict(embed_dim=32, depth=1, num_heads=2, img_size=16))
    transformer_step.main(["--quick", "--batch", "2", "--repeats", "1"])
    result = runner.parse_result(capsys.readouterr().out, "transformer_step.py")
    assert result["quick"] is True and result["threads"] == 1 and torch.get_num_threads() == 1
    assert result["model"] == "spikformer-cifar10-4-384 (embed_dim=32, depth=1, num_heads=2, img_size=16)"
    assert result["runs"][0]["logits_match"] and result["ours_s"] > 0 and result["peer_s"] > 0
    assert "ours_torch_reference_s" not in result["runs"][0]  # the reference row is the full size's only


@pytest.mark.slow
@pytest.mark.timeout(900)  # a machine's first run compiles Brian2's C++ standalone builds
@pytest.mark.parametrize("script", runner.discover(), ids=lambda p: p.stem)
def test_benchmark_quick_finishes_with_its_peer(script):
    proc = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, cwd=ROOT, timeout=880)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = runner.parse_result(proc.stdout, script.name)
    assert "unavailable" not in str(result["peer"]) and "skipped" not in str(result["peer"]), result["peer"]
    assert result["ours_s"] > 0 and result["peer_s"] > 0 and result["ratio"] > 0
    if script.stem in BRIAN2_SCRIPTS and shutil.which("g++"):
        assert result["peer"] == "brian2-cpp_standalone" and "peer_build_reused" in result


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_qsd_distill_quick_command_finishes(tmp_path):
    """``python examples/qsd_distill.py --quick`` as a user types it (torch's own thread default replaced by one thread)."""
    out = tmp_path / "qsd"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "qsd_distill.py"), "--quick", "--no-progress", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=580)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "qsd_distill.json").read_text())
    assert summary["threads"] == 1 and set(summary["results"]) == {"teacher", "student", "baseline"}
    assert f"wrote {out / 'qsd_distill.json'}" in proc.stdout
