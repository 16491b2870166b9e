"""``verify``: what is on disk for a dataset, file by file, against tonic's md5s.

Statuses: ``ok``, ``missing``, ``truncated`` (an archive that cannot be opened to its end,
an HDF5 file cut short, a ``.bin`` not a multiple of 5 bytes), ``checksum mismatch``,
``corrupt`` (unreadable or of the wrong shape), ``incomplete`` (fewer samples than the
published count), ``not extracted`` (archive there, data not unpacked).
"""

from __future__ import annotations

import gzip
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import DataCorruptError
from .files import archive_path, check_hsd_file, check_sample_file, extracted_paths, is_extracted, md5sum, resolve_root, sample_files
from .specs import DatasetSpec, get_spec


@dataclass(frozen=True)
class FileStatus:
    """One line of a verify report."""

    dataset: str
    split: str
    path: Path
    role: str  # "archive" or "data"
    status: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _archive_readable(path: Path) -> str | None:
    """None if the archive opens and lists to its end, else the reason."""
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                zf.namelist()
        elif path.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(path, "r:gz") as tf:
                tf.getmembers()
        elif path.suffix == ".gz":
            with gzip.open(path) as g:
                while g.read(1 << 20):
                    pass
    except (zipfile.BadZipFile, EOFError, tarfile.TarError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _verify_archive(spec: DatasetSpec, split: str, root: Path, md5: bool) -> FileStatus:
    path = archive_path(spec, split, root)
    want = spec.md5(split)
    if not path.is_file():
        if is_extracted(spec, split, root):
            return FileStatus(spec.name, split, path, "archive", "ok", "absent, but its data is extracted (checked below)")
        return FileStatus(spec.name, split, path, "archive", "missing", f"download {spec.url(split)} (md5 {want})")
    if not md5:
        broken = _archive_readable(path)
        return FileStatus(spec.name, split, path, "archive", "truncated" if broken else "ok", broken or "md5 not checked")
    got = md5sum(path)
    if got == want:
        return FileStatus(spec.name, split, path, "archive", "ok", f"md5 {got}")
    broken = _archive_readable(path)
    if broken:
        return FileStatus(spec.name, split, path, "archive", "truncated", f"{broken}; md5 {got}, expected {want}")
    return FileStatus(spec.name, split, path, "archive", "checksum mismatch", f"md5 {got}, expected {want}")


def _verify_data(spec: DatasetSpec, split: str, root: Path, archive: FileStatus) -> list[FileStatus]:
    s = spec.split(split)
    out: list[FileStatus] = []
    if not is_extracted(spec, split, root):
        for p in extracted_paths(spec, split, root):
            if archive.status != "missing":
                out.append(FileStatus(spec.name, split, p, "data", "not extracted", f"run `neuro data prepare {spec.name}`"))
            else:
                out.append(FileStatus(spec.name, split, p, "data", "missing", ""))
        return out
    if s.sample_suffix is None:
        p = extracted_paths(spec, split, root)[0]
        try:
            n = check_hsd_file(p)
        except DataCorruptError as exc:
            return [FileStatus(spec.name, split, p, "data", "truncated" if "truncated" in str(exc) else "corrupt", str(exc))]
        status = "ok" if n >= s.expected_samples else "incomplete"
        return [FileStatus(spec.name, split, p, "data", status, f"{n} samples (published: {s.expected_samples})")]
    files = sample_files(spec, split, root)
    for f in files:
        try:
            check_sample_file(f, s)
        except DataCorruptError as exc:
            out.append(FileStatus(spec.name, split, f, "data", "truncated" if "truncated" in str(exc) else "corrupt", str(exc)))
    paths = extracted_paths(spec, split, root)
    folder = paths[0] if len(paths) == 1 else paths[0].parent
    status = "ok" if len(files) >= s.expected_samples else "incomplete"
    detail = f"{len(files)} {s.sample_suffix} files (published: {s.expected_samples}), {len(out)} broken"
    out.append(FileStatus(spec.name, split, folder, "data", status, detail))
    return out


def verify(name: str, root: str | Path | None = None, split: str | None = None, md5: bool = True, quiet: bool = True) -> list[FileStatus]:
    """Check every file of dataset ``name`` under ``root``; return one FileStatus per file/folder.

    ``md5=False`` skips hashing the archives (only checks they open to their end).
    With ``quiet=False`` the report is printed as a table.
    """
    spec = get_spec(name)
    root = resolve_root(root)
    splits = [split] if split is not None else [s.name for s in spec.splits]
    report: list[FileStatus] = []
    for sp in splits:
        spec.split(sp)
        archive = _verify_archive(spec, sp, root, md5)
        report.append(archive)
        report += _verify_data(spec, sp, root, archive)
    if not quiet:
        print(format_report(report))
    return report


def format_report(report: list[FileStatus]) -> str:
    width = max((len(r.status) for r in report), default=2)
    return "\n".join(f"{r.dataset:<10} {r.split:<5} {r.role:<7} {r.status:<{width}}  {r.path}  {r.detail}".rstrip() for r in report)
