"""verify(): per-file status; the `data` CLI."""

from __future__ import annotations

import argparse
import dataclasses
import json

from neuro.data import fixtures, get_spec, verify
from neuro.data.cli import add_cli, main
from neuro.data.files import md5sum
from neuro.data.specs import SPECS


def _status(report, role, split="train"):
    return [r for r in report if r.role == role and r.split == split]


def test_verify_missing(tmp_path):
    report = verify("nmnist", tmp_path)
    assert {r.status for r in report} == {"missing"}
    assert any(get_spec("nmnist").url("train") in r.detail for r in report)


def test_verify_ok_checksum_mismatch_truncated(tmp_path, monkeypatch):
    out = fixtures.make_fixture("shd", tmp_path)
    train_zip = tmp_path / "SHD" / "shd_train.h5.zip"
    monkeypatch.setattr(get_spec("shd").tonic_cls(), "train_md5", md5sum(train_zip))
    monkeypatch.setitem(SPECS, "shd", dataclasses.replace(SPECS["shd"], splits=tuple(dataclasses.replace(s, expected_samples=8) for s in SPECS["shd"].splits)))
    report = verify("shd", tmp_path)
    assert [r.status for r in _status(report, "archive")] == ["ok"]
    assert [r.status for r in _status(report, "data")] == ["ok"]
    assert [r.status for r in _status(report, "archive", "test")] == ["checksum mismatch"]
    # cut the archive and the HDF5 file short
    train_zip.write_bytes(train_zip.read_bytes()[:200])
    h5 = tmp_path / "SHD" / "shd_train.h5"
    size = h5.stat().st_size
    h5.write_bytes(h5.read_bytes()[: size // 2])
    report = verify("shd", tmp_path)
    assert [r.status for r in _status(report, "archive")] == ["truncated"]
    # the first verify recorded the manifest: the cut file is also a size change against it
    assert [r.status for r in _status(report, "data")] == ["truncated", "changed"]
    assert _status(report, "data")[1].detail == f"size {size // 2} bytes, expected {size} bytes"
    assert out["files"][0] == h5


def test_verify_counts_and_broken_samples(data_copy):
    root = data_copy("nmnist")
    bad = sorted((root / "NMNIST" / "Test").rglob("*.bin"))[3]
    bad.write_bytes(bad.read_bytes()[:-1])
    report = verify("nmnist", root, split="test", md5=False)
    statuses = {r.status for r in report}
    assert "truncated" in statuses and "incomplete" in statuses
    assert any(r.path == bad and r.status == "truncated" for r in report)


def test_verify_not_extracted(tmp_path):
    fixtures.make_fixture("dvsgesture", tmp_path, split="test", n_samples=4, extract=False)
    report = verify("dvsgesture", tmp_path, split="test", md5=False)
    assert [r.status for r in report] == ["ok", "not extracted"]


def test_cli_standalone(fixture_root, data_copy, capsys):
    assert main(["list", "--root", str(fixture_root)]) == 0
    assert "nmnist" in capsys.readouterr().out
    assert main(["where", "shd", "--root", str(fixture_root), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["splits"]["train"]["md5"] == get_spec("shd").md5("train") and info["splits"]["train"]["ready"]
    # verify records a manifest beside the data: on a copy, so the shared fixtures stay as written
    assert main(["verify", "shd", "--root", str(data_copy("shd"))]) == 1
    assert "checksum mismatch" in capsys.readouterr().out
    assert main(["verify", "nosuch"]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_cli_prepare_and_fixture(tmp_path, capsys):
    assert main(["fixture", "nmnist", str(tmp_path), "--split", "test", "--n-samples", "10", "--archive-only"]) == 0
    assert main(["prepare", "nmnist", "--root", str(tmp_path), "--split", "test"]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert main(["prepare", "nmnist", "--root", str(tmp_path), "--split", "test", "--no-md5"]) == 0
    assert "extracted test.zip" in capsys.readouterr().out
    assert main(["prepare", "nmnist", "--root", str(tmp_path), "--split", "train"]) == 2
    assert "train.zip" in capsys.readouterr().err


def test_add_cli_registers_data_subcommand(data_copy, capsys):
    parser = argparse.ArgumentParser(prog="neuro")
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "verify", "nmnist", "--root", str(data_copy("nmnist")), "--no-md5"])
    assert args.func(args) == 1  # fixtures hold fewer samples than published
    assert "incomplete" in capsys.readouterr().out


def test_python_m_neuro_data_cli(fixture_root):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "neuro.data.cli", "where", "nmnist", "--root", str(fixture_root)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert get_spec("nmnist").md5("test") in out.stdout
