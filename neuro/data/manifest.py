"""The manifest: size, mtime and BLAKE2b hash of every data file, recorded once, checked after.

Written by ``neuro data verify`` (the first time, once every file has passed the format checks
of :mod:`neuro.data.formats`) and by ``prepare``/``load`` right after they extract an archive;
kept beside the data as ``<root>/<Class>/.neuro-manifest.json``, one entry per split::

    {"format": "neuro-data-manifest", "version": 1, "dataset": "nmnist", "hash": "blake2b-256",
     "splits": {"train": {"recorded": "2026-12-02T10:00:00Z", "files": {"Train/0/00002.bin": {"size": 4215,
                "mtime_ns": 1764669600123456789, "blake2b": "9f3c..."}, ...}}}}

The file is written to a temporary name and renamed into place (atomic on POSIX).

Two depths of comparison, each naming every file that differs and how (expected vs got):

* ``full=True`` (``neuro data verify``): every file hashed again. Files are read in 1 MiB
  blocks by a thread pool (``hashlib`` releases the GIL), with a tqdm bar for large trees.
* ``full=False`` (every ``neuro.data.load`` and ``neuro data list``): the file set and each
  file's size, and the hash only of files whose mtime differs from the recorded one (or is
  too close to the manifest's own mtime to be trusted, git's "racily clean" case). Hashing
  the 60000 files of N-MNIST on every load would cost seconds; a ``stat`` costs
  microseconds, and any ordinary write changes the mtime. A change that keeps both size and
  mtime (a copy with ``cp -p`` of another file, a bit rotting on disk) is found only by
  ``neuro data verify``.

A file whose content matches but whose mtime moved (the dataset was copied) has its mtime
refreshed in the manifest, so the next load is cheap again. After a deliberate change,
``neuro data verify NAME --rehash`` records the files as they are now;
``load(..., verify=False)`` skips the comparison.

Example::

    from neuro.data import get_spec
    from neuro.data.manifest import compare, read_manifest
    m = read_manifest(get_spec("nmnist"), root)
    diffs = compare(get_spec("nmnist"), "train", root, m, full=True)   # [] when nothing changed
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import DataCorruptError
from .files import dataset_folder, sample_file_names, sample_files
from .specs import DatasetSpec

MANIFEST_NAME = ".neuro-manifest.json"
FORMAT = "neuro-data-manifest"
VERSION = 1
HASH = "blake2b-256"
_BLOCK = 1 << 20
RACY_NS = 2_000_000_000  # mtimes this close to the manifest's own are not trusted (FAT keeps 2 s)
PROGRESS_FILES, PROGRESS_BYTES = 2000, 256 << 20  # a tqdm bar above either
THREADS_MIN_MEAN = 256 << 10  # mean file size from which files are hashed by a thread pool


@dataclass(frozen=True)
class Difference:
    """One file that does not match the manifest: ``kind`` is ``changed``, ``missing`` or ``extra``."""

    path: Path
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: {self.kind}: {self.detail}"


def manifest_path(spec: DatasetSpec, root: Path) -> Path:
    return dataset_folder(spec, root) / MANIFEST_NAME


def _relative(folder: Path):
    """A fast ``path -> path relative to folder, with /`` for tens of thousands of files (pathlib costs ~50 µs each)."""
    prefix = os.path.join(os.fspath(folder), "")

    def rel(path) -> str:
        s = os.fspath(path)
        r = s[len(prefix):] if s.startswith(prefix) else os.path.relpath(s, folder)
        return r.replace(os.sep, "/") if os.sep != "/" else r

    return rel


# ----------------------------------------------------------------------------- hashing
def file_hash(path: str | Path) -> str:
    """BLAKE2b-256 of a file, read in 1 MiB blocks."""
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb", buffering=0) as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def hash_files(paths: list[str | Path], progress: bool | None = None, desc: str = "hashing") -> list[str]:
    """The hashes of ``paths``, in order, computed by a thread pool; ``progress=None`` shows a bar for large trees."""
    if not paths:
        return []
    total = sum(os.stat(p).st_size for p in paths)
    if progress is None:
        progress = len(paths) >= PROGRESS_FILES or total >= PROGRESS_BYTES
    # threads pay off on large files only: for N-MNIST's few-kB files opening them is the cost, and it holds the GIL
    workers = min(8, os.cpu_count() or 1, len(paths)) if total >= THREADS_MIN_MEAN * len(paths) else 1
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(file_hash, paths) if workers > 1 else map(file_hash, paths)
        if progress:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(paths), desc=desc, unit="file")
        return list(results)


# ----------------------------------------------------------------------------- reading and writing
def read_manifest(spec: DatasetSpec, root: Path) -> dict | None:
    """The manifest of ``spec`` under ``root``, ``None`` if there is none; DataCorruptError if it is unreadable."""
    path = manifest_path(spec, root)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DataCorruptError(f"{path}: unreadable manifest ({type(exc).__name__}: {exc}); "
                               f"re-record it with `neuro data verify {spec.name} --rehash`") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("hash") != HASH or not isinstance(data.get("splits"), dict):
        raise DataCorruptError(f"{path}: not a {FORMAT} v{VERSION} ({HASH}) file; re-record it with `neuro data verify {spec.name} --rehash`")
    data["mtime_ns"] = os.stat(path).st_mtime_ns
    return data


def _write(spec: DatasetSpec, root: Path, data: dict) -> None:
    path = manifest_path(spec, root)
    body = {k: v for k, v in data.items() if k != "mtime_ns"}
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        data["mtime_ns"] = os.stat(path).st_mtime_ns
    finally:
        if tmp.exists():
            tmp.unlink()


def record(spec: DatasetSpec, split: str, root: Path, files: list[Path] | None = None, progress: bool | None = None) -> dict:
    """Hash the data files of ``split`` and write them into the manifest (other splits kept); return the split's entry."""
    files = sample_files(spec, split, root) if files is None else files
    stats = [os.stat(f) for f in files]
    digests = hash_files(files, progress, desc=f"{spec.name} {split}: recording")
    rel = _relative(dataset_folder(spec, root))
    entry = {
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {rel(f): {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "blake2b": d} for f, st, d in zip(files, stats, digests)},
    }
    try:
        data = read_manifest(spec, root) or {}
    except DataCorruptError:
        data = {}
    data.update(format=FORMAT, version=VERSION, dataset=spec.name, hash=HASH)
    data.setdefault("splits", {})[split] = entry
    _write(spec, root, data)
    return entry


# ----------------------------------------------------------------------------- comparing
def _size(n: int) -> str:
    return f"{n} bytes"


def compare(spec: DatasetSpec, split: str, root: Path, manifest: dict, files: list[str | Path] | None = None, full: bool = True,
            progress: bool | None = None, refresh: bool = True) -> list[Difference]:
    """Every difference between the data files of ``split`` on disk (or ``files``) and the manifest.

    ``full`` hashes every file; otherwise only those whose mtime moved or cannot be trusted.
    With ``refresh``, files found identical but with a new mtime get that mtime in the manifest.
    """
    entry = manifest["splits"].get(split)
    if entry is None:
        return []
    folder = dataset_folder(spec, root)
    files = sample_file_names(spec, split, root) if files is None else files
    want: dict = entry["files"]
    relative = _relative(folder)
    on_disk = {relative(f): f for f in files}
    out: list[Difference] = []
    for rel in sorted(set(want) - set(on_disk)):
        w = want[rel]
        out.append(Difference(folder / rel, "missing", f"listed in the manifest ({_size(w['size'])}, {HASH} {w['blake2b'][:16]}…), not on disk"))
    to_hash: list[tuple[str, os.stat_result]] = []
    racy_after = manifest.get("mtime_ns", 0) - RACY_NS
    for rel in sorted(on_disk):
        path = on_disk[rel]
        w = want.get(rel)
        st = os.stat(path)
        if w is None:
            out.append(Difference(Path(path), "extra", f"not in the manifest ({_size(st.st_size)}); tonic would read it as a sample"))
        elif st.st_size != w["size"]:
            out.append(Difference(Path(path), "changed", f"size {_size(st.st_size)}, expected {_size(w['size'])}"))
        elif full or st.st_mtime_ns != w["mtime_ns"] or st.st_mtime_ns >= racy_after:
            to_hash.append((rel, st))
    digests = hash_files([on_disk[rel] for rel, _ in to_hash], progress, desc=f"{spec.name} {split}: hashing")
    moved, settled = {}, False
    now = time.time_ns()
    for (rel, st), got in zip(to_hash, digests):
        w = want[rel]
        if got != w["blake2b"]:
            out.append(Difference(Path(on_disk[rel]), "changed", f"{HASH} {got[:16]}…, expected {w['blake2b'][:16]}… (same size, {_size(st.st_size)})"))
        elif st.st_mtime_ns != w["mtime_ns"]:
            moved[rel] = st.st_mtime_ns
        elif st.st_mtime_ns >= racy_after and now - st.st_mtime_ns > RACY_NS:
            settled = True  # racily clean and now old enough: rewriting the manifest makes its mtime trustworthy
    if (moved or settled) and refresh:
        for rel, mtime in moved.items():
            want[rel]["mtime_ns"] = mtime
        try:
            _write(spec, root, manifest)
        except OSError:
            pass  # a read-only copy: the next load hashes these files again
    return sorted(out, key=lambda d: str(d.path))


def mismatch_message(spec: DatasetSpec, split: str, root: Path, manifest: dict, diffs: list[Difference], limit: int = 10) -> str:
    """The DataCorruptError text for files that differ from the manifest: each file, what differs, how to fix it."""
    entry = manifest["splits"][split]
    lines = [f"{spec.title} {split!r}: {len(diffs)} file(s) differ from the manifest {manifest_path(spec, root)} "
             f"(recorded {entry['recorded']}, {len(entry['files'])} files):"]
    lines += [f"  {d}" for d in diffs[:limit]]
    if len(diffs) > limit:
        lines.append(f"  ... and {len(diffs) - limit} more")
    lines.append(f"Run `neuro data verify {spec.name} --split {split}` for a full report. To restore the data, delete "
                 f"{dataset_folder(spec, root)}'s extracted files and run `neuro data prepare {spec.name}` (or download again). "
                 f"If you changed the files on purpose, re-record the manifest with `neuro data verify {spec.name} --rehash`, "
                 "or pass verify=False to load to skip this check.")
    return "\n".join(lines)


class SampleGuard:
    """Per-sample check at read time against one split's manifest entry: a ``stat``, and a hash only when the mtime moved.

    Keeps what it has hashed, so an epoch re-reads nothing it has already vouched for.
    """

    def __init__(self, spec: DatasetSpec, split: str, root: Path, manifest: dict):
        self.spec, self.split, self.root = spec, split, root
        self.folder = dataset_folder(spec, root)
        self._rel = _relative(self.folder)
        self.files = manifest["splits"][split]["files"]
        self.racy_after = manifest.get("mtime_ns", 0) - RACY_NS
        self.manifest_file = manifest_path(spec, root)
        self._vouched: dict[str, tuple[int, int]] = {}

    def check(self, path: Path) -> None:
        rel = self._rel(path)
        w = self.files.get(rel)
        if w is None:
            raise DataCorruptError(f"{path}: extra: not in the manifest {self.manifest_file}; "
                                   f"run `neuro data verify {self.spec.name} --rehash` if you added it on purpose")
        st = os.stat(path)
        if st.st_size != w["size"]:
            raise DataCorruptError(f"{path}: changed: size {_size(st.st_size)}, expected {_size(w['size'])} (manifest {self.manifest_file}); "
                                   f"run `neuro data verify {self.spec.name}`")
        key = (st.st_size, st.st_mtime_ns)
        if (st.st_mtime_ns == w["mtime_ns"] and st.st_mtime_ns < self.racy_after) or self._vouched.get(rel) == key:
            return
        got = file_hash(path)
        if got != w["blake2b"]:
            raise DataCorruptError(f"{path}: changed: {HASH} {got[:16]}…, expected {w['blake2b'][:16]}… (manifest {self.manifest_file}); "
                                   f"run `neuro data verify {self.spec.name}`")
        if time.time_ns() - st.st_mtime_ns > RACY_NS:  # a file written this instant could change again within the same mtime
            self._vouched[rel] = key
