"""Where a dataset's files are, whether they are there, and what to say when they are not.

Also the cheap per-file format checks (N-MNIST ``.bin`` length, DVSGesture ``.npy``
columns, SHD/SSC HDF5 groups, AEDAT4 magic) used by :func:`neuro.data.verify` and before
every sample read, so a broken file is reported by name instead of as a NumPy error.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..paths import data_root
from .errors import DataCorruptError, DataMissingError
from .specs import DatasetSpec, SplitSpec

AEDAT4_MAGIC = b"#!AER-DAT4.0"


def resolve_root(root: str | Path | None) -> Path:
    """``root`` as a Path, or the project data root (``$NEURO_DATA`` or ``datasets/``)."""
    return Path(root).expanduser() if root is not None else data_root()


def dataset_folder(spec: DatasetSpec, root: Path) -> Path:
    return root / spec.folder_name()


def archive_path(spec: DatasetSpec, split: str, root: Path) -> Path:
    return dataset_folder(spec, root) / spec.archive(split)


def extracted_paths(spec: DatasetSpec, split: str, root: Path) -> list[Path]:
    """The unpacked data of one split: one file, one folder, or (CIFAR10-DVS) one folder per class."""
    s = spec.split(split)
    folder = dataset_folder(spec, root)
    if s.inner_archives_attr:
        return [folder / Path(a).stem for a in spec.inner_archives(split)]
    return [folder / s.extracted]


def sample_files(spec: DatasetSpec, split: str, root: Path) -> list[Path]:
    """All sample files of an extracted split, sorted (the single HDF5 file for SHD/SSC)."""
    s = spec.split(split)
    out: list[Path] = []
    for p in extracted_paths(spec, split, root):
        if s.sample_suffix is None:
            if p.is_file():
                out.append(p)
        elif p.is_dir():
            out += sorted(p.rglob(f"*{s.sample_suffix}"))
    return out


def is_extracted(spec: DatasetSpec, split: str, root: Path) -> bool:
    """True when every extracted path exists (a folder: holding at least one sample file)."""
    s = spec.split(split)
    for p in extracted_paths(spec, split, root):
        if s.sample_suffix is None:
            if not p.is_file():
                return False
        elif not (p.is_dir() and next(p.rglob(f"*{s.sample_suffix}"), None) is not None):
            return False
    return True


def md5sum(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def missing_message(spec: DatasetSpec, splits: list[str], root: Path) -> str:
    """The error text for data that is not there: files, URLs, md5s, folder, how to fix it."""
    folder = dataset_folder(spec, root)
    lines = [f"{spec.title} ({', '.join(repr(s) for s in splits)}) is not in {folder}.", f"Put these files in {folder}:"]
    for split in splits:
        lines.append(f"  {spec.archive(split)}   from {spec.url(split)}   md5 {spec.md5(split)}")
    lines.append("Looked for:")
    for split in splits:
        for p in [archive_path(spec, split, root), *extracted_paths(spec, split, root)]:
            lines.append(f"  {p}  ({'present' if p.exists() else 'missing'})")
    lines.append(
        f"Or download them with neuro.data.load({spec.name!r}, ..., download=True) or `neuro data prepare {spec.name} --download`. "
        f"The data root is {root} (pass root=... or set NEURO_DATA to change it). See datasets/{spec.card}."
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- extraction
def extract(spec: DatasetSpec, split: str, root: Path, check_md5: bool = True) -> list[Path]:
    """Unpack a split's archive (already on disk) with tonic's own extractor.

    With ``check_md5`` the archive must have tonic's md5; a mismatch is a DataCorruptError
    naming both sums (pass ``check_md5=False`` for a file you trust, such as a fixture).
    """
    from tonic.download_utils import extract_archive

    archive = archive_path(spec, split, root)
    if not archive.is_file():
        raise DataMissingError(missing_message(spec, [split], root))
    if check_md5:
        got, want = md5sum(archive), spec.md5(split)
        if got != want:
            raise DataCorruptError(
                f"{archive}: checksum mismatch: md5 {got}, expected {want} (from {spec.url(split)}). "
                "The download is incomplete or a different file; delete it and download again, "
                "or pass check_md5=False (`--no-md5`) if you trust this file."
            )
    folder = dataset_folder(spec, root)
    try:
        extract_archive(str(archive), str(folder))
        for inner in spec.inner_archives(split):
            extract_archive(str(folder / inner), str(folder))
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise DataCorruptError(f"{archive}: cannot be extracted ({reason}); it is truncated or corrupt: delete it and download again") from exc
    if not is_extracted(spec, split, root):
        raise DataCorruptError(f"{archive}: extracted, but {[str(p) for p in extracted_paths(spec, split, root)]} are still missing or empty")
    return extracted_paths(spec, split, root)


# ----------------------------------------------------------------------------- per-file checks
def check_sample_file(path: str | Path, split: SplitSpec | None = None) -> None:
    """Raise DataCorruptError naming ``path`` if it cannot be one sample of its format."""
    path = Path(path)
    suffix = path.suffix
    if not path.is_file():
        raise DataCorruptError(f"{path}: missing")
    if suffix == ".bin":
        size = path.stat().st_size
        if size == 0 or size % 5:
            raise DataCorruptError(f"{path}: truncated N-MNIST file: {size} bytes is not a positive multiple of 5 (one event is 5 bytes); "
                                   "extract the archive again")
    elif suffix == ".npy":
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:
            raise DataCorruptError(f"{path}: unreadable .npy file ({type(exc).__name__}: {exc}); it is truncated or corrupt") from exc
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise DataCorruptError(f"{path}: DVSGesture sample must be an (N, 4) array with columns x, y, p, t (ms), "
                                   f"got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number):
            raise DataCorruptError(f"{path}: DVSGesture sample must be numeric, got dtype {arr.dtype}")
    elif suffix == ".aedat4":
        with open(path, "rb") as f:
            head = f.read(len(AEDAT4_MAGIC))
        if head != AEDAT4_MAGIC:
            raise DataCorruptError(f"{path}: not an AEDAT4 file (starts with {head!r}, expected {AEDAT4_MAGIC!r})")
    elif suffix == ".h5":
        check_hsd_file(path)


def check_hsd_file(path: str | Path) -> int:
    """Check an SHD/SSC HDF5 file and return its number of samples."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("spikes/times", "spikes/units", "labels", "extra/keys") if k not in f]
            if missing:
                raise DataCorruptError(f"{path}: not an SHD/SSC file: missing {missing}")
            n = len(f["labels"])
            if len(f["spikes/times"]) != n or len(f["spikes/units"]) != n:
                raise DataCorruptError(f"{path}: {len(f['spikes/times'])} spike times, {len(f['spikes/units'])} unit lists and {n} labels: they must match")
            return n
    except DataCorruptError:
        raise
    except Exception as exc:
        word = "truncated" if "truncated" in str(exc) else "corrupt"
        raise DataCorruptError(f"{path}: {word} HDF5 file ({type(exc).__name__}: {exc}); delete it and extract or download it again") from exc


def file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1
