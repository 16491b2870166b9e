"""``verify``: what is on disk for a dataset, file by file: archives against tonic's md5s,
every data file read in full against its format, and hashed against the manifest.

Statuses: ``ok``, ``missing``, ``truncated`` (an archive that cannot be opened to its end,
an HDF5 or AEDAT4 file cut short, a ``.bin`` not a multiple of 5 bytes), ``checksum mismatch``,
``corrupt`` (unreadable, of the wrong shape or dtype, values outside the sensor),
``incomplete`` (fewer samples than the published count), ``not extracted`` (archive there,
data not unpacked); against the manifest: ``changed`` (size or hash differs), ``missing``,
``extra`` (a sample file the manifest does not list), and on the ``manifest`` row
``mismatch``, ``not recorded`` (files fail their format checks) or ``corrupt``.
"""

from __future__ import annotations

import gzip
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import DataCorruptError
from .files import archive_path, extracted_paths, is_extracted, md5sum, resolve_root, sample_files
from .formats import check_hsd_file, check_sample_file
from .manifest import HASH, PROGRESS_FILES, compare, manifest_path, read_manifest, record
from .specs import DatasetSpec, get_spec


@dataclass(frozen=True)
class FileStatus:
    """One line of a verify report."""

    dataset: str
    split: str
    path: Path
    role: str  # "archive", "data" or "manifest"
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


def _check_files(spec: DatasetSpec, split: str, files: list[Path], full: bool, progress: bool | None) -> list[FileStatus]:
    """One row per file that fails its format check."""
    out: list[FileStatus] = []
    show = progress if progress is not None else (full and len(files) >= PROGRESS_FILES)
    it = files
    if show:
        from tqdm.auto import tqdm

        it = tqdm(files, desc=f"{spec.name} {split}: reading", unit="file")
    for f in it:
        try:
            check_sample_file(f, full=full)
        except DataCorruptError as exc:
            out.append(FileStatus(spec.name, split, f, "data", "truncated" if "truncated" in str(exc) else "corrupt", str(exc)))
    return out


def _verify_data(spec: DatasetSpec, split: str, root: Path, archive: FileStatus, full: bool, progress: bool | None) -> tuple[list[FileStatus], list[Path]]:
    """Format rows of one split and the data files found (empty when not extracted)."""
    s = spec.split(split)
    out: list[FileStatus] = []
    if not is_extracted(spec, split, root):
        for p in extracted_paths(spec, split, root):
            if archive.status != "missing":
                out.append(FileStatus(spec.name, split, p, "data", "not extracted", f"run `neuro data prepare {spec.name}`"))
            else:
                out.append(FileStatus(spec.name, split, p, "data", "missing", ""))
        return out, []
    files = sample_files(spec, split, root)
    if s.sample_suffix is None:
        p = files[0]
        try:
            n = check_hsd_file(p, full=full)
        except DataCorruptError as exc:
            return [FileStatus(spec.name, split, p, "data", "truncated" if "truncated" in str(exc) else "corrupt", str(exc))], files
        status = "ok" if n >= s.expected_samples else "incomplete"
        return [FileStatus(spec.name, split, p, "data", status, f"{n} samples (published: {s.expected_samples})")], files
    out = _check_files(spec, split, files, full, progress)
    paths = extracted_paths(spec, split, root)
    folder = paths[0] if len(paths) == 1 else paths[0].parent
    status = "ok" if len(files) >= s.expected_samples else "incomplete"
    detail = f"{len(files)} {s.sample_suffix} files (published: {s.expected_samples}), {len(out)} broken"
    out.append(FileStatus(spec.name, split, folder, "data", status, detail))
    return out, files


def _verify_manifest(spec: DatasetSpec, split: str, root: Path, files: list[Path], broken: int, full: bool, rehash: bool,
                     progress: bool | None) -> list[FileStatus]:
    """Rows comparing the split with its manifest; the first full verify of clean data (or ``rehash``) records it."""
    where = manifest_path(spec, root)
    try:
        manifest = read_manifest(spec, root)
    except DataCorruptError as exc:
        if not (full and rehash):
            return [FileStatus(spec.name, split, where, "manifest", "corrupt", str(exc))]
        manifest = None
    entry = (manifest or {}).get("splits", {}).get(split)
    if entry is not None and not rehash:
        diffs = compare(spec, split, root, manifest, files, full=full, progress=progress, refresh=full)
        rows = [FileStatus(spec.name, split, d.path, "data", d.kind, d.detail) for d in diffs]
        how = "hashed" if full else "sizes and mtimes checked"
        if diffs:
            rows.append(FileStatus(spec.name, split, where, "manifest", "mismatch",
                                   f"{len(diffs)} of {len(entry['files'])} files differ from the manifest recorded {entry['recorded']} ({how}); "
                                   f"re-extract them, or after a deliberate change `neuro data verify {spec.name} --rehash`"))
        else:
            rows.append(FileStatus(spec.name, split, where, "manifest", "ok",
                                   f"{len(entry['files'])} files match the manifest recorded {entry['recorded']} ({how})"))
        return rows
    if not full:
        return [FileStatus(spec.name, split, where, "manifest", "ok", f"none yet: `neuro data verify {spec.name}` records one")]
    if broken:
        return [FileStatus(spec.name, split, where, "manifest", "not recorded",
                           f"{broken} file(s) fail the format checks above; re-extract them and verify again")]
    new = record(spec, split, root, files, progress)
    size = sum(f["size"] for f in new["files"].values())
    note = f"recorded {len(new['files'])} files ({size / 1e6:.1f} MB, {HASH})"
    if entry is not None:
        old = entry["files"]
        changed = sum(1 for k, v in new["files"].items() if k in old and (old[k]["size"], old[k]["blake2b"]) != (v["size"], v["blake2b"]))
        note = f"re-{note}: {changed} changed, {len(set(new['files']) - set(old))} new, {len(set(old) - set(new['files']))} gone since {entry['recorded']}"
    return [FileStatus(spec.name, split, where, "manifest", "ok", note)]


def verify(name: str, root: str | Path | None = None, split: str | None = None, md5: bool = True, quiet: bool = True,
           rehash: bool = False, quick: bool = False, progress: bool | None = None) -> list[FileStatus]:
    """Check every file of dataset ``name`` under ``root``; return one FileStatus per file/folder.

    Each data file is read in full and checked against its format (:mod:`neuro.data.formats`)
    and hashed against the manifest (:mod:`neuro.data.manifest`); the first verify of a
    split whose files all pass records the manifest. ``rehash=True`` records it again from
    the files as they are (after a deliberate change). ``quick=True`` runs only the checks
    ``load`` and ``neuro data list`` run: headers and sizes, sizes and mtimes against the
    manifest, archives present (not hashed); it never writes.
    ``md5=False`` skips hashing the archives (only checks they open to their end).
    With ``quiet=False`` the report is printed as a table.
    """
    spec = get_spec(name)
    root = resolve_root(root)
    splits = [split] if split is not None else [s.name for s in spec.splits]
    report: list[FileStatus] = []
    for sp in splits:
        spec.split(sp)
        archive = _archive_present(spec, sp, root) if quick else _verify_archive(spec, sp, root, md5)
        report.append(archive)
        rows, files = _verify_data(spec, sp, root, archive, full=not quick, progress=progress)
        report += rows
        if files:
            broken = sum(r.status in ("truncated", "corrupt") for r in rows)
            report += _verify_manifest(spec, sp, root, files, broken, full=not quick, rehash=rehash, progress=progress)
    if not quiet:
        print(format_report(report))
    return report


def _archive_present(spec: DatasetSpec, split: str, root: Path) -> FileStatus:
    path = archive_path(spec, split, root)
    if path.is_file():
        return FileStatus(spec.name, split, path, "archive", "ok", "present (not hashed)")
    if is_extracted(spec, split, root):
        return FileStatus(spec.name, split, path, "archive", "ok", "absent, but its data is extracted (checked below)")
    return FileStatus(spec.name, split, path, "archive", "missing", f"download {spec.url(split)} (md5 {spec.md5(split)})")


def record_manifest(name: str, split: str, root: str | Path | None = None, progress: bool | None = None) -> dict:
    """Read every data file of ``split`` in full, then record the manifest; DataCorruptError listing the files that fail.

    Called by ``prepare`` and ``load`` right after an archive is extracted.
    """
    spec = get_spec(name)
    root = resolve_root(root)
    files = sample_files(spec, split, root)
    if spec.split(split).sample_suffix is None:
        broken = []
        for f in files:
            try:
                check_hsd_file(f, full=True)
            except DataCorruptError as exc:
                broken.append(FileStatus(spec.name, split, f, "data", "corrupt", str(exc)))
    else:
        broken = _check_files(spec, split, files, True, progress)
    if broken:
        shown = "\n".join(f"  {r.detail}" for r in broken[:10]) + (f"\n  ... and {len(broken) - 10} more" if len(broken) > 10 else "")
        raise DataCorruptError(f"{spec.title} {split!r}: {len(broken)} extracted file(s) fail their format checks, so no manifest "
                               f"was recorded:\n{shown}\nThe archive is damaged or not the published one: delete it and download again.")
    return record(spec, split, root, files, progress)


def format_report(report: list[FileStatus]) -> str:
    width = max((len(r.status) for r in report), default=2)
    return "\n".join(f"{r.dataset:<10} {r.split:<5} {r.role:<8} {r.status:<{width}}  {r.path}  {r.detail}".rstrip() for r in report)
