"""All five datasets through the real tonic classes, from generated fixtures, offline."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import numpy as np
import pytest
import tonic.datasets
from tonic.io import read_mnist_file

from neuro.data import DataCorruptError, DataMissingError, fixtures, get_spec, load, prepare
from neuro.data.files import md5sum
from neuro.data.specs import SPECS

ALL = ("shd", "ssc", "dvsgesture", "nmnist", "cifar10dvs")


def _split(name):
    return "all" if name == "cifar10dvs" else "train"


@pytest.mark.parametrize("name", ALL)
def test_loads_through_tonic_class(fixture_root, name):
    ds = load(name, _split(name), root=fixture_root)
    spec = get_spec(name)
    assert type(ds.tonic) is getattr(tonic.datasets, spec.tonic_class)
    assert len(ds) >= 8
    ev, y = ds[len(ds) - 1]
    assert set(ev.dtype.names) >= {"t", "x", "p"} and len(ev) > 0
    assert 0 <= y < spec.n_classes
    assert ev["x"].max() < spec.sensor_size[0]
    if "y" in ev.dtype.names:
        assert ev["y"].max() < spec.sensor_size[1]


def test_shd_events_are_the_file_contents(fixture_root):
    import h5py

    ds = load("shd", "test", root=fixture_root)
    with h5py.File(fixture_root / "SHD" / "shd_test.h5", "r") as f:
        t = f["spikes/times"][3].astype(np.float64) * 1e6
        u = f["spikes/units"][3]
        label = int(f["labels"][3])
    ev, y = ds[3]
    np.testing.assert_array_equal(ev["t"], t.astype(np.int64))
    np.testing.assert_array_equal(ev["x"], u)
    assert y == label and ds.classes[0] == b"english-zero"


def test_dvsgesture_times_converted_from_ms(fixture_root):
    ds = load("dvsgesture", "test", root=fixture_root)
    raw = np.load(ds.sample_path(2))
    ev, y = ds[2]
    np.testing.assert_array_equal(ev["t"], raw[:, 3] * 1000)
    np.testing.assert_array_equal(ev["x"], raw[:, 0])
    assert y == int(ds.sample_path(2).stem) and ds.tonic.users[2] >= 1


def test_nmnist_bin_roundtrip_with_overflow_marker(tmp_path):
    rng = np.random.default_rng(3)
    x, y, t, p = fixtures.nmnist_events(rng, 500)
    path = tmp_path / "s.bin"
    path.write_bytes(fixtures.encode_nmnist(x, y, t, p, overflow_every=50))
    raw = np.frombuffer(path.read_bytes(), dtype=np.uint8).reshape(-1, 5)
    assert (raw[:, 1] == fixtures.NMNIST_OVERFLOW_Y).sum() == 9  # the marker really is there
    ev = read_mnist_file(str(path), dtype=tonic.datasets.NMNIST.dtype)
    for field, want in zip("xytp", (x, y, t, p)):
        np.testing.assert_array_equal(ev[field], want)


def test_cifar10dvs_reads_aedat4(fixture_root):
    pytest.importorskip("aedat")
    pytest.importorskip("dv_processing")
    ds = load("cifar10dvs", "all", root=fixture_root)
    assert sorted(set(ds.targets.tolist())) == list(range(10))
    ev, y = ds[0]
    assert ev.dtype.names == ("t", "x", "y", "p") and y == 0


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match=r"unknown dataset 'nmist'.*did you mean 'nmnist'"):
        load("nmist")
    with pytest.raises(ValueError, match="no split 'valid'"):
        load("shd", "valid")
    with pytest.raises(ValueError, match="random_split"):
        load("cifar10dvs", "train")


def test_missing_data_names_files_urls_md5s_and_folder(tmp_path):
    with pytest.raises(DataMissingError) as err:
        load("shd", "train", root=tmp_path)
    msg = str(err.value)
    spec = get_spec("shd")
    for want in ("shd_train.h5.zip", spec.url("train"), spec.md5("train"), str(tmp_path / "SHD"), "download=True"):
        assert want in msg


@pytest.mark.parametrize("name", ALL)
def test_archive_only_is_md5_checked_then_extracted(tmp_path, name):
    fixtures.make_fixture(name, tmp_path, split=_split(name), n_samples=get_spec(name).n_classes, extract=False)
    with pytest.raises(DataCorruptError, match="checksum mismatch"):
        load(name, _split(name), root=tmp_path)
    assert prepare(name, tmp_path, split=_split(name), check_md5=False)[_split(name)].startswith("extracted")
    ds = load(name, _split(name), root=tmp_path)
    assert len(ds) >= get_spec(name).n_classes // 2 and len(ds[0][0]) > 0


@pytest.mark.parametrize("name", ["shd", "dvsgesture", "nmnist", "cifar10dvs"])
def test_download_true_runs_tonics_download_path_offline(tmp_path, monkeypatch, name):
    """With the archive present and its md5 known to tonic, tonic's own download() verifies and extracts it."""
    split = _split(name)
    out = fixtures.make_fixture(name, tmp_path, split=split, n_samples=get_spec(name).n_classes, extract=False)
    cls = get_spec(name).tonic_cls()
    monkeypatch.setattr(cls, get_spec(name).split(split).md5_attr, md5sum(out["archives"][0]))
    ds = load(name, split, root=tmp_path, download=True)
    assert len(ds) > 0 and len(ds[0][0]) > 0


@pytest.mark.network_attempt_expected
def test_download_failure_is_a_clear_error(tmp_path, no_network):
    with pytest.raises(DataMissingError, match="downloading N-MNIST failed"):
        load("nmnist", "test", root=tmp_path, download=True)
    assert no_network  # tonic did try, and was refused


def test_corrupt_hdf5_named(data_copy):
    root = data_copy("shd")
    (root / "SHD" / "shd_train.h5").write_bytes(b"this is not HDF5" * 100)
    with pytest.raises(DataCorruptError, match=r"shd_train\.h5: corrupt HDF5"):
        load("shd", "train", root=root)


def test_truncated_bin_named(data_copy):
    root = data_copy("nmnist")
    ds = load("nmnist", "train", root=root)
    path = ds.sample_path(4)
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(DataCorruptError, match=rf"{path.name}: truncated N-MNIST file"):
        ds[4]


def test_npy_wrong_columns_named(data_copy):
    root = data_copy("dvsgesture")
    ds = load("dvsgesture", "test", root=root)
    np.save(ds.sample_path(1), np.zeros((10, 3), dtype=np.int64))
    with pytest.raises(DataCorruptError, match=r"\.npy: DVSGesture sample must be an \(N, 4\) array .* got shape \(10, 3\)"):
        ds[1]


def test_archive_with_wrong_content_is_reported(tmp_path, monkeypatch):
    folder = tmp_path / "SHD"
    folder.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("something_else.txt", "x")
    (folder / "shd_test.h5.zip").write_bytes(buf.getvalue())
    with pytest.raises(DataCorruptError, match="still missing"):
        prepare("shd", tmp_path, split="test", check_md5=False)


def test_specs_read_tonic_attributes():
    assert get_spec("nmnist").md5("train") == tonic.datasets.NMNIST.train_md5
    assert get_spec("SHD").url("test") == tonic.datasets.SHD.base_url + "shd_test.h5.zip"
    assert get_spec("cifar10dvs").inner_archives("all")[0] == "airplane.zip"
    assert all(dataclasses.is_dataclass(s) for s in SPECS.values())
