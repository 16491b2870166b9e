"""Damaged data is named, never loaded silently: the manifest (sizes and hashes) and the format checks.

Every test writes a small copy of one dataset in its exact on-disk format
(:mod:`neuro.data.fixtures`), damages it one way, and expects ``verify`` and ``load`` to name
the file and say what differs; the undamaged copy loads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import h5py
import numpy as np
import pytest

from neuro.data import DataCorruptError, fixtures, get_spec, load, prepare, verify
from neuro.data.cli import main
from neuro.data.files import sample_files
from neuro.data.formats import check_sample_file
from neuro.data.manifest import HASH, MANIFEST_NAME, hash_files, manifest_path

SPLIT = {"shd": "test", "ssc": "test", "dvsgesture": "test", "nmnist": "test", "cifar10dvs": "all"}


def _write(root, name, n_samples=6):
    # CIFAR10-DVS: two files per class, so that deleting one leaves its class folder
    fixtures.make_fixture(name, root, split=SPLIT[name], n_samples=20 if name == "cifar10dvs" else n_samples)
    return sorted(sample_files(get_spec(name), SPLIT[name], root))


def _recorded(root, name):
    """Write the fixture and run the first verify, which records the manifest."""
    files = _write(root, name)
    report = verify(name, root, split=SPLIT[name], md5=False)
    rows = [r for r in report if r.role == "manifest"]
    assert [r.status for r in rows] == ["ok"] and rows[0].detail.startswith(f"recorded {len(files)} files")
    return files


def _rows(report, path):
    return [r for r in report if r.path == path and not r.ok]


def _flip(path, at=None):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 if at is None else at] ^= 0xFF
    path.write_bytes(bytes(raw))


def _load_all(name, root, **kw):
    ds = load(name, SPLIT[name], root=root, **kw)
    return [ds[i] for i in range(len(ds))]


# ----------------------------------------------------------------------------- undamaged
@pytest.mark.parametrize("name", ["shd", "dvsgesture", "nmnist", "cifar10dvs"])
def test_undamaged_verifies_records_and_loads(tmp_path, name):
    files = _recorded(tmp_path, name)
    manifest = json.loads(manifest_path(get_spec(name), tmp_path).read_text())
    entry = manifest["splits"][SPLIT[name]]["files"]
    assert manifest["hash"] == HASH and len(entry) == len(files)
    first = entry[files[0].relative_to(tmp_path / get_spec(name).folder_name()).as_posix()]
    assert first["size"] == files[0].stat().st_size and first["blake2b"] == hash_files([files[0]])[0]
    assert list((tmp_path / get_spec(name).folder_name()).glob(f"{MANIFEST_NAME}.*")) == []  # no temporary file left
    again = verify(name, tmp_path, split=SPLIT[name], md5=False)
    assert [r.status for r in again if r.role == "manifest"] == ["ok"]
    assert all(r.ok or r.status == "incomplete" for r in again)
    assert len(_load_all(name, tmp_path)) == (6 if name == "shd" else len(files))


# ----------------------------------------------------------------------------- against the manifest
@pytest.mark.parametrize("name", ["shd", "dvsgesture", "nmnist", "cifar10dvs"])
def test_flipped_byte(tmp_path, name):
    files = _recorded(tmp_path, name)
    bad = files[-1]
    _flip(bad)
    rows = _rows(verify(name, tmp_path, split=SPLIT[name], md5=False), bad)
    changed = [r for r in rows if r.status == "changed"]
    assert changed and f"{HASH} " in changed[0].detail and ", expected " in changed[0].detail
    with pytest.raises(DataCorruptError, match=rf"(?s)differ from the manifest.*{bad.name}: changed: {HASH} \w+…, expected \w+…"):
        load(name, SPLIT[name], root=tmp_path)


def test_bin_cut_by_one_event(tmp_path):
    files = _recorded(tmp_path, "nmnist")
    bad = files[2]
    size = bad.stat().st_size
    bad.write_bytes(bad.read_bytes()[:-5])  # still a multiple of 5: only the manifest can tell
    check_sample_file(bad, full=True)
    rows = _rows(verify("nmnist", tmp_path, split="test", md5=False), bad)
    assert [(r.status, r.detail) for r in rows] == [("changed", f"size {size - 5} bytes, expected {size} bytes")]
    with pytest.raises(DataCorruptError, match=rf"{bad.name}: changed: size {size - 5} bytes, expected {size} bytes"):
        load("nmnist", "test", root=tmp_path)
    assert len(_load_all("nmnist", tmp_path, verify=False)) == len(files)  # the escape hatch


@pytest.mark.parametrize("name", ["dvsgesture", "nmnist", "cifar10dvs"])
def test_deleted_sample_file(tmp_path, name):
    files = _recorded(tmp_path, name)
    gone = files[1]
    gone.unlink()
    rows = _rows(verify(name, tmp_path, split=SPLIT[name], md5=False), gone)
    assert [r.status for r in rows] == ["missing"] and "listed in the manifest" in rows[0].detail
    with pytest.raises(DataCorruptError, match=rf"{gone.name}: missing: listed in the manifest \(\d+ bytes, {HASH} \w+…\), not on disk"):
        load(name, SPLIT[name], root=tmp_path)


@pytest.mark.parametrize("name", ["dvsgesture", "nmnist"])
def test_extra_sample_file(tmp_path, name):
    files = _recorded(tmp_path, name)
    extra = files[0].with_name("extra" + files[0].suffix)
    shutil.copy(files[0], extra)
    rows = _rows(verify(name, tmp_path, split=SPLIT[name], md5=False), extra)
    assert [r.status for r in rows] == ["extra"]
    with pytest.raises(DataCorruptError, match=rf"{extra.name}: extra: not in the manifest"):
        load(name, SPLIT[name], root=tmp_path)


def test_file_damaged_after_open_is_caught_at_read(tmp_path):
    files = _recorded(tmp_path, "dvsgesture")
    ds = load("dvsgesture", "test", root=tmp_path)
    i = [str(p) for p in map(ds.sample_path, range(len(ds)))].index(str(files[3]))
    ds[i]
    ev = np.load(files[3])
    ev[:, [0, 1]] = ev[:, [1, 0]]  # x and y swapped: no format check can see it
    np.save(files[3], ev)
    with pytest.raises(DataCorruptError, match=rf"{files[3].name}: changed: "):
        ds[i]


def test_rehash_after_a_deliberate_change(tmp_path, capsys):
    files = _recorded(tmp_path, "nmnist")
    files[0].write_bytes(files[0].read_bytes()[:-5])
    files[1].unlink()
    assert main(["verify", "nmnist", "--root", str(tmp_path), "--split", "test", "--no-md5"]) == 1
    out = capsys.readouterr().out
    assert "changed" in out and "missing" in out and "mismatch" in out
    assert main(["verify", "nmnist", "--root", str(tmp_path), "--split", "test", "--no-md5", "--rehash"]) == 1  # still incomplete
    out = capsys.readouterr().out
    assert "re-recorded 5 files" in out and "1 changed, 0 new, 1 gone" in out
    assert len(_load_all("nmnist", tmp_path)) == len(files) - 1


def test_copy_without_mtimes_loads_and_refreshes(tmp_path):
    _recorded(tmp_path / "a", "nmnist")
    shutil.copytree(tmp_path / "a", tmp_path / "b", copy_function=shutil.copy)  # new mtimes, same bytes
    before = json.loads((tmp_path / "b" / "NMNIST" / MANIFEST_NAME).read_text())
    assert len(_load_all("nmnist", tmp_path / "b")) == 6
    after = json.loads((tmp_path / "b" / "NMNIST" / MANIFEST_NAME).read_text())
    moved = [k for k, v in after["splits"]["test"]["files"].items() if v["mtime_ns"] != before["splits"]["test"]["files"][k]["mtime_ns"]]
    assert moved and all(after["splits"]["test"]["files"][k]["blake2b"] == before["splits"]["test"]["files"][k]["blake2b"] for k in moved)


def test_load_trusts_size_and_mtime_verify_hashes(tmp_path, monkeypatch):
    """The documented trade-off: load hashes only files whose mtime moved (or is too recent to trust); verify hashes all."""
    from neuro.data import manifest

    monkeypatch.setattr(manifest, "RACY_NS", 50_000_000)
    files = _recorded(tmp_path, "nmnist")
    time.sleep(0.2)
    hashed = []
    real = manifest.hash_files
    monkeypatch.setattr(manifest, "hash_files", lambda paths, *a, **k: hashed.append(len(paths)) or real(paths, *a, **k))
    load("nmnist", "test", root=tmp_path)  # files written just before the manifest: hashed once, then the manifest is rewritten
    load("nmnist", "test", root=tmp_path)
    assert hashed[0] == len(files) and hashed[-1] == 0
    st = files[0].stat()
    _flip(files[0], at=5 * 7 + 4)  # the low timestamp byte of the 8th event: no format check can see it
    os.utime(files[0], ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime: invisible to a stat
    assert len(load("nmnist", "test", root=tmp_path)) == len(files)
    assert [r.status for r in _rows(verify("nmnist", tmp_path, split="test", md5=False), files[0])] == ["changed"]


def test_prepare_records_the_manifest(tmp_path):
    fixtures.make_fixture("dvsgesture", tmp_path, split="test", n_samples=5, extract=False)
    assert prepare("dvsgesture", tmp_path, split="test", check_md5=False)["test"] == "extracted ibmGestureTest.tar.gz; manifest recorded (5 files)"
    manifest = json.loads(manifest_path(get_spec("dvsgesture"), tmp_path).read_text())
    assert len(manifest["splits"]["test"]["files"]) == 5
    assert len(_load_all("dvsgesture", tmp_path)) == 5


def test_unreadable_manifest_is_named(tmp_path):
    _recorded(tmp_path, "nmnist")
    where = manifest_path(get_spec("nmnist"), tmp_path)
    where.write_text(where.read_text()[:100])
    with pytest.raises(DataCorruptError, match=rf"{MANIFEST_NAME}: unreadable manifest .* --rehash"):
        load("nmnist", "test", root=tmp_path)
    assert [r.status for r in verify("nmnist", tmp_path, split="test", md5=False) if r.role == "manifest"] == ["corrupt"]
    assert [r.status for r in verify("nmnist", tmp_path, split="test", md5=False, rehash=True) if r.role == "manifest"] == ["ok"]


# ----------------------------------------------------------------------------- format checks, no manifest
def _format_damage(tmp_path, name, damage):
    files = _write(tmp_path, name)
    bad = files[2]
    damage(bad)
    rows = _rows(verify(name, tmp_path, split=SPLIT[name], md5=False), bad)
    assert rows and rows[0].status in ("corrupt", "truncated")
    assert [r.status for r in verify(name, tmp_path, split=SPLIT[name], md5=False) if r.role == "manifest"] == ["not recorded"]
    return bad, rows[0].detail


def _npy(transform):
    def damage(path):
        np.save(path, transform(np.load(path)))

    return damage


@pytest.mark.parametrize("damage, message", [
    (_npy(lambda ev: ev[:, [3, 1, 2, 0]]), r"column 0 \(x\) spans \d+\.\.\d+, expected 0\.\.127"),
    (_npy(lambda ev: ev[:, [0, 1, 3, 2]]), r"column 2 \(p\) spans \d+\.\.\d+, expected 0\.\.1; column 3 \(t, ms\) decreases"),
    (_npy(lambda ev: ev.astype(np.float64)), r"must hold integers .* got dtype float64"),
    (_npy(lambda ev: np.column_stack([ev[:, :3], ev[:, 3] / 1000.0])), r"must hold integers .* got dtype float64"),
    (_npy(lambda ev: ev.astype(np.int16)), r"column 3 \(t, ms\) reaches \d+: times 1000 it overflows int16"),
])
def test_npy_columns_checked_without_manifest(tmp_path, damage, message):
    bad, detail = _format_damage(tmp_path, "dvsgesture", damage)
    assert detail.startswith(str(bad)) and re.search(message, detail), detail
    ds = load("dvsgesture", "test", root=tmp_path)
    i = [ds.sample_path(k) for k in range(len(ds))].index(bad)
    with pytest.raises(DataCorruptError, match=rf"{bad.name}: .*{message}"):
        ds[i]


def test_bin_event_outside_sensor_without_manifest(tmp_path):
    bad, detail = _format_damage(tmp_path, "nmnist", lambda p: _flip(p, at=5 * 7))  # x of the 8th event: 0..33 -> 222..255
    assert "outside the 34x34 sensor" in detail
    ds = load("nmnist", "test", root=tmp_path)
    with pytest.raises(DataCorruptError, match=rf"{bad.name}: corrupt N-MNIST file: 1 event\(s\) outside the 34x34 sensor"):
        ds[[ds.sample_path(k) for k in range(len(ds))].index(bad)]


@pytest.mark.parametrize("what, message", [
    ("unit", r"sample 2 has unit 700 \(channels are 0\.\.699\)"),
    ("order", r"spike times decrease in 1 sample\(s\), the first in sample 3"),
    ("length", r"sample 1 has \d+ spike times but \d+ units"),
])
def test_shd_contents_checked_without_manifest(tmp_path, what, message):
    h5 = _write(tmp_path, "shd")[0]
    with h5py.File(h5, "r+") as f:
        if what == "unit":
            u = f["spikes/units"][2]
            u[5] = 700
            f["spikes/units"][2] = u
        elif what == "order":
            t = f["spikes/times"][3]
            f["spikes/times"][3] = t[::-1]
        else:
            f["spikes/units"][1] = f["spikes/units"][1][:-1]
    rows = _rows(verify("shd", tmp_path, split="test", md5=False), h5)
    assert [r.status for r in rows] == ["corrupt"] and re.search(message, rows[0].detail)
    ds = load("shd", "test", root=tmp_path)
    if what != "length":  # tonic builds the events from both lists; numpy raises on the length, wrapped with the file name
        with pytest.raises(DataCorruptError, match=rf"{h5.name}: sample {2 if what == 'unit' else 3} is corrupt"):
            ds[2 if what == "unit" else 3]
    else:
        with pytest.raises(DataCorruptError, match=rf"{h5.name}: sample 1 of"):
            ds[1]


@pytest.mark.parametrize("cut", ["half", "data table", "one byte"])
def test_truncated_aedat4(tmp_path, cut):
    pytest.importorskip("aedat")
    pytest.importorskip("dv_processing")

    def damage(path):
        raw = path.read_bytes()
        # the data table is the last ~100-200 bytes; without it tonic still reads every event
        keep = {"half": len(raw) // 2, "data table": len(raw) - 150, "one byte": len(raw) - 1}[cut]
        path.write_bytes(raw[:keep])

    bad, detail = _format_damage(tmp_path, "cifar10dvs", damage)
    assert "truncated" in detail and "AEDAT4" in detail
    ds = load("cifar10dvs", "all", root=tmp_path)
    with pytest.raises(DataCorruptError, match=rf"{bad.name}: truncated (or corrupt )?AEDAT4 file"):
        ds[[ds.sample_path(k) for k in range(len(ds))].index(bad)]


@pytest.mark.parametrize("compression", ["NONE", "LZ4", "LZ4_HIGH", "ZSTD", "ZSTD_HIGH"])
def test_aedat4_chain_every_compression(tmp_path, compression):
    pytest.importorskip("aedat")
    dv = pytest.importorskip("dv_processing")
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(0, 10**6, 900)) + 1
    path = fixtures.write_aedat4(tmp_path / "s.aedat4", t, rng.integers(0, 128, 900), rng.integers(0, 128, 900), rng.integers(0, 2, 900),
                                 compression=getattr(dv.CompressionType, compression), packets=3)
    check_sample_file(path, full=True)
    raw = path.read_bytes()
    for keep in (len(raw) // 2, len(raw) - 20, len(raw) - 1):
        (tmp_path / "cut.aedat4").write_bytes(raw[:keep])
        with pytest.raises(DataCorruptError, match="AEDAT4"):
            check_sample_file(tmp_path / "cut.aedat4")


# ----------------------------------------------------------------------------- list agrees with verify
def test_list_agrees_with_verify(tmp_path, capsys):
    files = _recorded(tmp_path, "nmnist")
    _write(tmp_path, "dvsgesture")
    np.save(sorted(sample_files(get_spec("dvsgesture"), "test", tmp_path))[0], np.zeros((5, 3), np.int64))
    assert main(["list", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "test: incomplete (6 .bin files)" in out and "train: missing" in out
    assert "DVS128 Gesture" in out and "test: damaged (1 file(s))" in out
    files[0].write_bytes(files[0].read_bytes()[:-5])
    assert main(["list", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("nmnist ")][0].endswith("train: missing, test: damaged (1 file(s))")
    assert "run `neuro data verify nmnist`" in out
    quick = verify("nmnist", tmp_path, split="test", quick=True)
    assert [r.status for r in quick if r.path == files[0]] == ["changed"]
