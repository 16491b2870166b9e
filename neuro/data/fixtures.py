"""Small, format-exact copies of each dataset, written for tests and demos without the network.

Every writer produces the on-disk layout tonic 1.7 expects *and* the archive tonic would
have downloaded, so both the extraction path and the reading path of the real tonic
classes run on them:

==============  ======================================================================
``shd``/``ssc`` ``<root>/SHD/shd_<split>.h5.zip`` holding ``shd_<split>.h5``: variable-length
                ``spikes/times`` (float16, s) and ``spikes/units`` (uint16), ``labels``,
                ``extra/keys``, ``extra/speaker``
``dvsgesture``  ``<root>/DVSGesture/ibmGesture<Split>.tar.gz`` holding
                ``ibmGesture<Split>/userNN_<lighting>/<label>.npy``, (N, 4) columns x, y, p, t (ms)
``nmnist``      ``<root>/NMNIST/<split>.zip`` holding ``<Split>/<digit>/<id>.bin``, 5-byte events
                with the timestamp-overflow marker (y == 240)
``cifar10dvs``  ``<root>/CIFAR10DVS/CIFAR10DVS.zip`` holding ``<class>.zip`` holding
                ``<class>/cifar10_<class>_<i>.aedat4`` (writing needs ``dv-processing``)
==============  ======================================================================

The fixtures are far smaller than the real sets (tonic's own "is it extracted?" check asks
for thousands of files; :func:`neuro.data.load` has its own check and does not need them).
Their archives do not have the real md5s: extract them with
``prepare(name, root, check_md5=False)`` or pass ``extract=True`` here.

Example::

    from neuro.data import fixtures, load
    fixtures.make_fixture("nmnist", "/tmp/data", split="train")
    ds = load("nmnist", "train", root="/tmp/data")
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .formats import NMNIST_OVERFLOW_Y
from .specs import get_spec

SHD_KEYS = [f"english-{w}" for w in ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")] + [
    f"german-{w}" for w in ("null", "eins", "zwei", "drei", "vier", "fuenf", "sechs", "sieben", "acht", "neun")
]
SSC_KEYS = (
    "backward bed bird cat dog down eight five follow forward four go happy house learn left marvin nine no off on one "
    "right seven sheila six stop three tree two up visual wow yes zero"
).split()
NMNIST_OVERFLOW_STEP_US = 2**13  # what tonic's reader adds after each overflow marker


def _rng(seed: int, *salt: object) -> np.random.Generator:
    # crc32, not hash(): the same fixture in every process
    return np.random.default_rng([seed, *(zlib.crc32(str(s).encode()) for s in salt)])


# ----------------------------------------------------------------------------- SHD / SSC
def write_hsd_h5(path: str | Path, n_samples: int, keys: list[str], seed: int = 0, max_events: int = 400) -> Path:
    """An SHD/SSC-style HDF5 file: spike times in seconds (float16), channel ids 0..699."""
    import h5py

    rng = _rng(seed, path.name if isinstance(path, Path) else os.path.basename(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = np.arange(n_samples) % len(keys)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (n_samples,), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (n_samples,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(n_samples):
            n = int(rng.integers(max_events // 4, max_events))
            t = np.sort(rng.uniform(0.0, 1.0, n)).astype(np.float16)
            times[i] = t
            units[i] = rng.integers(0, 700, n).astype(np.uint16)
        f.create_dataset("labels", data=labels.astype(np.uint16))
        f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
        f.create_dataset("extra/speaker", data=rng.integers(0, 12, n_samples).astype(np.uint16))
    return path


# ----------------------------------------------------------------------------- N-MNIST
def encode_nmnist(x: np.ndarray, y: np.ndarray, t_us: np.ndarray, p: np.ndarray, overflow_every: int | None = None) -> bytes:
    """N-MNIST's 5-byte event records (x, y, p|t[22:16], t[15:8], t[7:0]).

    With ``overflow_every=k`` an overflow marker (y = 240) is written before every k-th
    event and the timestamps after it are stored ``2**13`` µs lower, exactly as tonic's
    reader undoes them.
    """
    n = len(t_us)
    records = []
    offset = 0
    for start in range(0, n, overflow_every or max(n, 1)):
        stop = min(n, start + (overflow_every or n))
        if start > 0 and overflow_every:
            offset += NMNIST_OVERFLOW_STEP_US
            records.append(np.array([[0, NMNIST_OVERFLOW_Y, 0, 0, 0]], dtype=np.uint8))
        ts = t_us[start:stop].astype(np.int64) - offset
        if np.any(ts < 0) or np.any(ts >= 2**23):
            raise ValueError("N-MNIST timestamps must fit in 23 bits after the overflow offsets")
        rec = np.empty((stop - start, 5), dtype=np.uint8)
        rec[:, 0] = x[start:stop]
        rec[:, 1] = y[start:stop]
        rec[:, 2] = ((p[start:stop].astype(np.int64) & 1) << 7) | ((ts >> 16) & 0x7F)
        rec[:, 3] = (ts >> 8) & 0xFF
        rec[:, 4] = ts & 0xFF
        records.append(rec)
    return b"".join(r.tobytes() for r in records)


def nmnist_events(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    t = np.sort(rng.integers(0, 300_000, n))
    return rng.integers(0, 34, n), rng.integers(0, 34, n), t, rng.integers(0, 2, n)


# ----------------------------------------------------------------------------- archives
def _zip_folder(zip_path: Path, base: Path, members: list[Path]) -> None:
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for m in members:
            zf.write(m, m.relative_to(base).as_posix())


def _tar_gz_folder(tar_path: Path, base: Path, folder: Path) -> None:
    with tarfile.open(tar_path, "w:gz") as tf:
        tf.add(folder, arcname=folder.relative_to(base).as_posix())


def _rm_tree(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


# ----------------------------------------------------------------------------- per dataset
def make_fixture(
    name: str,
    root: str | Path,
    split: str | None = None,
    n_samples: int | None = None,
    seed: int = 0,
    archive: bool = True,
    extract: bool = True,
) -> dict[str, list[Path]]:
    """Write a small copy of dataset ``name`` under ``root`` in tonic's exact layout.

    Parameters:
        split: one split, or ``None`` for all of the dataset's splits.
        n_samples: samples per split (default: 2 per class, 8 for the audio sets).
        archive: also write the archive tonic downloads (zip / tar.gz / nested zips).
        extract: leave the extracted files in place; with ``archive=True, extract=False``
            only the archive is left, so loading has to extract it.

    Returns ``{"archives": [...], "files": [...]}`` with the paths written (the extracted
    files only when ``extract``).
    """
    spec = get_spec(name)
    splits = [spec.split(split)] if split is not None else list(spec.splits)
    root = Path(root)
    folder = root / spec.folder_name()
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[Path]] = {"archives": [], "files": []}
    for s in splits:
        writer = _WRITERS[spec.name]
        archives, files = writer(spec, s, folder, n_samples, seed)
        if not archive:
            for a in archives:
                a.unlink()
            archives = []
        if not extract:
            if not archives:
                raise ValueError("archive=False and extract=False would write nothing")
            for f in files:
                _rm_tree(f)
            if s.extracted:
                _rm_tree(folder / s.extracted)
            files = []
        out["archives"] += archives
        out["files"] += files
    return out


def _write_hsd(spec, s, folder: Path, n_samples, seed):
    keys = SHD_KEYS if spec.name == "shd" else SSC_KEYS
    n = n_samples or 8
    h5 = write_hsd_h5(folder / s.extracted, n, keys, seed=seed)
    archive = folder / spec.archive(s.name)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(h5, h5.name)
    return [archive], [h5]


def _write_dvsgesture(spec, s, folder: Path, n_samples, seed):
    rng = _rng(seed, spec.name, s.name)
    n = n_samples or 2 * spec.n_classes
    base = folder / s.extracted
    files = []
    lightings = ["fluorescent", "lab", "led", "natural"]
    for i in range(n):
        user = 1 + i // spec.n_classes + (0 if s.name == "train" else 23)
        d = base / f"user{user:02d}_{lightings[i % len(lightings)]}"
        d.mkdir(parents=True, exist_ok=True)
        m = int(rng.integers(200, 600))
        t_ms = np.sort(rng.integers(0, 1500, m))
        ev = np.stack([rng.integers(0, 128, m), rng.integers(0, 128, m), rng.integers(0, 2, m), t_ms], axis=1).astype(np.int64)
        path = d / f"{i % spec.n_classes}.npy"
        np.save(path, ev)
        files.append(path)
    archive = folder / spec.archive(s.name)
    _tar_gz_folder(archive, folder, base)
    return [archive], files


def _write_nmnist(spec, s, folder: Path, n_samples, seed):
    rng = _rng(seed, spec.name, s.name)
    n = n_samples or 2 * spec.n_classes
    base = folder / s.extracted
    files = []
    for i in range(n):
        digit = i % spec.n_classes
        d = base / str(digit)
        d.mkdir(parents=True, exist_ok=True)
        x, y, t, p = nmnist_events(rng, int(rng.integers(100, 400)))
        path = d / f"{i:05d}.bin"
        path.write_bytes(encode_nmnist(x, y, t, p, overflow_every=97))
        files.append(path)
    archive = folder / spec.archive(s.name)
    _zip_folder(archive, folder, files)
    return [archive], files


def write_aedat4(path: str | Path, t_us: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray, resolution=(128, 128),
                 compression=None, packets: int = 1) -> Path:
    """An AEDAT4 file with one event stream (needs ``pip install dv-processing``).

    ``compression``: a ``dv_processing.CompressionType`` (default LZ4, as dv-processing writes);
    ``packets``: how many event packets the events are split into.
    """
    try:
        import dv_processing as dv
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("writing AEDAT4 fixtures needs the dv-processing package: pip install dv-processing") from exc
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = dv.io.MonoCameraWriter.EventOnlyConfig("DVS128_fixture", tuple(resolution))
    if compression is not None:
        config.compression = compression
    writer = dv.io.MonoCameraWriter(str(path), config)
    for part in np.array_split(np.arange(len(t_us)), packets):
        store = dv.EventStore()
        for ti, xi, yi, pi in zip(t_us[part].tolist(), x[part].tolist(), y[part].tolist(), p[part].tolist()):
            store.push_back(int(ti), int(xi), int(yi), bool(pi))
        writer.writeEvents(store)
    del writer  # closes and flushes the file
    return path


def _write_cifar10dvs(spec, s, folder: Path, n_samples, seed):
    rng = _rng(seed, spec.name)
    per_class = max(1, (n_samples or 2 * spec.n_classes) // spec.n_classes)
    classes = sorted(spec.tonic_cls().classes, key=spec.tonic_cls().classes.get)
    files, inner = [], []
    for c in classes:
        cls_files = []
        for i in range(per_class):
            m = int(rng.integers(100, 300))
            t = np.sort(rng.integers(0, 1_000_000, m)).astype(np.int64) + 1
            path = write_aedat4(folder / c / f"cifar10_{c}_{i}.aedat4", t, rng.integers(0, 128, m), rng.integers(0, 128, m), rng.integers(0, 2, m))
            cls_files.append(path)
        inner_zip = folder / f"{c}.zip"
        _zip_folder(inner_zip, folder, cls_files)
        inner.append(inner_zip)
        files += cls_files
    outer = folder / spec.archive(s.name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for z in inner:
            zf.write(z, z.name)
    outer.write_bytes(buf.getvalue())
    # the class folders are the extracted data; the inner zips are part of the extraction
    return [outer], files + inner + [folder / c for c in classes]


_WRITERS = {"shd": _write_hsd, "ssc": _write_hsd, "dvsgesture": _write_dvsgesture, "nmnist": _write_nmnist, "cifar10dvs": _write_cifar10dvs}
