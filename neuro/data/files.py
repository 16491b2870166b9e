"""Where a dataset's files are, whether they are there, and what to say when they are not.

The per-file format checks are in :mod:`neuro.data.formats`, the manifest of sizes and
hashes in :mod:`neuro.data.manifest`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..paths import data_root
from .errors import DataCorruptError, DataMissingError
from .specs import DatasetSpec


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


def sample_file_names(spec: DatasetSpec, split: str, root: Path) -> list[str]:
    """:func:`sample_files` as strings: what the manifest checks on every load compare (no Path per file)."""
    s = spec.split(split)
    out: list[str] = []
    for p in extracted_paths(spec, split, root):
        if s.sample_suffix is None:
            if p.is_file():
                out.append(os.fspath(p))
        elif p.is_dir():
            # os.walk, not rglob: several times faster on N-MNIST's 60000 files
            found = [os.path.join(d, f) for d, _, names in os.walk(p) for f in names if f.endswith(s.sample_suffix)]
            out += sorted(found, key=lambda f: f.split(os.sep))  # the order of sorted Paths
    return out


def sample_files(spec: DatasetSpec, split: str, root: Path) -> list[Path]:
    """All sample files of an extracted split, sorted (the single HDF5 file for SHD/SSC)."""
    return [Path(f) for f in sample_file_names(spec, split, root)]


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


def file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1
