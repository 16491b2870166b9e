"""The frame cache: one chunked HDF5 file per dataset split and transform.

Event frames are sparse (an N-MNIST sample fills ~0.5 % of its 1 ms frames), so the file
keeps only the non-empty cells of each sample, as a compact byte record (about 1.5 bytes per
cell, :mod:`neuro.data.cells`). Reading a sample is one slice of one dataset, a few NumPy
operations and a scatter into a zeroed float32 array; nothing to decompress (HDF5's LZF and
gzip filters decode at ~100-200 MB/s here, slower than the rest of the read put together).
Layout of ``<cache_dir>/<dataset>-<split>-<key>.h5``::

    records  [sum of bytes_i] uint8, chunked, Fletcher-32 (optional gzip: ``compression="gzip"``)
    offsets  [N + 1] int64      sample i is records[offsets[i]:offsets[i+1]]
    lengths  [N] int64          T_i, frames in sample i
    labels   [N] int64
    attrs    format, version, key, params (JSON), n_samples, frame_shape, complete

``key`` is a SHA-256 of the frame parameters, the transform's description and the source
files (path, size, mtime), so a changed transform or a re-extracted dataset gets a new
file instead of stale frames. The file is written under a temporary name and renamed into
place when complete (atomic on POSIX), and checked when opened: a file that does not open,
is not marked complete, has the wrong key or inconsistent offsets is rebuilt, never used.
Every chunk carries a Fletcher-32 checksum, so a damaged chunk raises a DataCorruptError
when read rather than returning wrong frames; ``verify="full"`` reads every chunk on open.

The file is opened once per process (lazily, so DataLoader workers each open their own
handle after the fork) and never per sample.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import uuid
from pathlib import Path

import numpy as np
import torch

from .. import tmpfiles
from .cells import decode as decode_cells
from .cells import decode_into as decode_cells_into
from .cells import encode as encode_cells
from .errors import DataCorruptError

FORMAT = "neuro-frame-cache"
VERSION = 3
_CHUNK_MIN, _CHUNK_MAX = 16 * 1024, 1024 * 1024  # bytes of records per chunk
log = logging.getLogger(__name__)

# tonic transforms that draw random numbers: their output must never be cached
_TONIC_RANDOM = {"RandomCrop", "RandomFlipLR", "RandomFlipUD", "RandomFlipPolarity", "RandomTimeReversal", "RandomDropPixel",
                 "DropEvent", "DropEventByTime", "DropEventByArea", "EventDrop", "SpatialJitter", "TimeJitter", "TimeSkew", "UniformNoise"}


def describe_transform(transform) -> object:
    """A stable, JSON-able description of a transform for the cache key.

    Dataclasses (ours and tonic's) are described by class and fields; tonic's ``Compose``
    and lists by their members. Random transforms and objects without a stable description
    (lambdas, plain functions' closures) raise ValueError: their frames cannot be cached.
    """
    if transform is None:
        return None
    if isinstance(transform, (list, tuple)):
        return [describe_transform(t) for t in transform]
    cls = type(transform)
    if cls.__name__ == "Compose" and hasattr(transform, "transforms"):
        return {"Compose": [describe_transform(t) for t in transform.transforms]}
    if getattr(transform, "is_random", False) or (cls.__module__.startswith("tonic") and cls.__name__ in _TONIC_RANDOM):
        raise ValueError(f"{cls.__name__} is a random augmentation: its output must not be cached; "
                         "pass it as augment=... (applied after the cache) or use cache=False")
    if dataclasses.is_dataclass(transform):
        fields = {f.name: _jsonable(getattr(transform, f.name)) for f in dataclasses.fields(transform)}
        return {f"{cls.__module__}.{cls.__qualname__}": fields}
    raise ValueError(
        f"cannot cache frames made with {transform!r}: it has no stable description (not a dataclass), so a changed "
        "transform could not be told from the cached one; use dataclass transforms or cache=False"
    )


def _jsonable(v):
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return describe_transform(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)


def source_fingerprint(files: list[Path], base: Path | None = None) -> list:
    """(path relative to ``base``, size, mtime_ns) of each source file: changes when the data is replaced."""
    out = []
    for f in files:
        st = os.stat(f)
        name = os.path.relpath(f, base) if base is not None else str(f)
        out.append([name, st.st_size, st.st_mtime_ns])
    return out


def cache_key(params: dict) -> str:
    blob = json.dumps({"format": FORMAT, "version": VERSION, **params}, sort_keys=True, default=repr).encode()
    return hashlib.sha256(blob).hexdigest()


class FrameCache(torch.utils.data.Dataset):
    """Cached frames of one split, as a map-style dataset of ``(frames float32 [T, ...], label)``.

    Parameters:
        path: the cache file.
        key: expected key (see :func:`cache_key`); a file with another key is rebuilt.
        build: callable ``() -> iterable of (sample, label)`` used when (re)building; a sample
            is ``(n_frames, flat_index, counts)`` (see :func:`neuro.data.frames.sparse_frames`)
            or a dense ``[T, *frame_shape]`` array.
        n_samples: number of samples the builder yields (for the progress bar and a check).
        frame_shape: shape of one frame.
        verify: ``"quick"`` (structure, key, last chunk) or ``"full"`` (every chunk) on open.
        rebuild: build even if a valid file exists.
        augment: applied to each ``frames`` tensor after reading (random crop/flip...).
    """

    def __init__(self, path, key: str, build, n_samples: int, frame_shape: tuple[int, ...], params: dict | None = None,
                 verify: str = "quick", rebuild: bool = False, progress: bool = True, augment=None, target_transform=None,
                 compression: str | None = None):
        if verify not in ("quick", "full"):
            raise ValueError(f"verify must be 'quick' or 'full', got {verify!r}")
        if compression not in (None, "gzip", "lzf"):
            raise ValueError(f"compression must be None, 'gzip' or 'lzf', got {compression!r}")
        self.compression = compression
        self.path = Path(path)
        self.key = key
        self.frame_shape = tuple(int(v) for v in frame_shape)
        self._frame_size = int(np.prod(self.frame_shape))
        self.augment = augment
        self.target_transform = target_transform
        self.rebuilt = False
        self.progress = progress
        # the temporary files of earlier writes of this cache that were killed before their rename
        tmpfiles.remove_orphans(self.path.parent, re.compile(rf"^\.{re.escape(self.path.name)}\.(\d+)-[0-9a-f]{{8}}\.tmp$"))
        problem = "rebuild requested" if rebuild else self.check(verify)
        if problem is not None:
            if self.path.exists():
                log.warning("frame cache %s is not usable (%s): rebuilding it", self.path, problem)
            self._write(build, n_samples, params or {})
            self.rebuilt = True
            problem = self.check("quick")
            if problem is not None:  # pragma: no cover - would be a bug in _write
                raise DataCorruptError(f"{self.path}: freshly written cache fails its check: {problem}")
        import h5py

        with h5py.File(self.path, "r") as f:
            self.offsets = f["offsets"][()]
            self.lengths = f["lengths"][()]
            self.labels = f["labels"][()]
        self._file = None
        self._records = None
        self._pid = None

    # ------------------------------------------------------------------ checking
    def check(self, verify: str = "quick") -> str | None:
        """None if the file is a complete cache with our key, else what is wrong with it."""
        import h5py

        if not self.path.is_file():
            return "no cache file"
        try:
            with h5py.File(self.path, "r") as f:
                a = f.attrs
                if a.get("format") != FORMAT or int(a.get("version", -1)) != VERSION:
                    return f"not a {FORMAT} v{VERSION} file"
                if not bool(a.get("complete", False)):
                    return "incomplete (the writer stopped before the end)"
                if a.get("key") != self.key:
                    return "made from other data or another transform (key differs)"
                if tuple(int(v) for v in a["frame_shape"]) != self.frame_shape:
                    return f"frame shape {tuple(a['frame_shape'])}, expected {self.frame_shape}"
                records, offsets, lengths, labels = f["records"], f["offsets"][()], f["lengths"][()], f["labels"][()]
                n = int(a["n_samples"])
                if (len(offsets) != n + 1 or len(labels) != n or len(lengths) != n or offsets[0] != 0 or offsets[-1] != records.shape[0]
                        or np.any(np.diff(offsets) < 12) or np.any(lengths < 0)):
                    return "inconsistent offsets/lengths/labels/records"
                if n:
                    if verify == "full":
                        step = records.chunks[0]
                        for start in range(0, records.shape[0], step):
                            block = records[start:start + step]
                        del block
                        for i in range(n):
                            decode_cells(records[int(offsets[i]):int(offsets[i + 1])])
                    else:
                        decode_cells(records[int(offsets[-2]):int(offsets[-1])])
        except Exception as exc:  # noqa: BLE001 - any failure to read means: do not use it
            return f"unreadable ({type(exc).__name__}: {exc})"
        return None

    # ------------------------------------------------------------------ writing
    def _sparse(self, sample, i: int) -> tuple[int, np.ndarray, np.ndarray]:
        if isinstance(sample, tuple):
            n, idx, cnt = sample
        else:
            dense = np.asarray(sample)
            if tuple(dense.shape[1:]) != self.frame_shape:
                raise DataCorruptError(f"sample {i}: frame shape {tuple(dense.shape[1:])}, expected {self.frame_shape}")
            flat = dense.reshape(-1)
            idx = np.flatnonzero(flat)
            n, cnt = dense.shape[0], flat[idx]
        if int(n) * self._frame_size >= 2**32:
            raise ValueError(f"sample {i}: {n} frames of {self._frame_size} cells do not fit the cache's 32-bit index; use fewer, longer frames")
        if len(cnt) and (np.min(cnt) < 0 or np.max(cnt) >= 2**32):
            raise ValueError(f"sample {i}: frame counts outside the uint32 range")
        return int(n), np.asarray(idx), np.asarray(cnt)

    def _write(self, build, n_samples: int, params: dict) -> None:
        import h5py
        from tqdm.auto import tqdm

        self.path.parent.mkdir(parents=True, exist_ok=True)
        # the temporary files of earlier writes of this cache that were killed before their rename
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
        try:
            with h5py.File(tmp, "w") as f:
                ds = None
                offsets, lengths, labels = [0], [], []
                buf, buf_rows = [], 0
                for sample, label in tqdm(build(), total=n_samples, desc=f"caching {self.path.name}", disable=not self.progress, leave=False):
                    n, idx, cnt = self._sparse(sample, len(labels))
                    record = encode_cells(idx, cnt)
                    if ds is None:
                        ds = _create_records(f, len(record), self.compression)
                    buf.append(record)
                    buf_rows += len(record)
                    offsets.append(offsets[-1] + len(record))
                    lengths.append(n)
                    labels.append(int(label))
                    if buf_rows >= 16 * ds.chunks[0]:
                        _append(ds, buf)
                        buf, buf_rows = [], 0
                if ds is None:
                    ds = _create_records(f, 0, self.compression)
                _append(ds, buf)
                if len(labels) != n_samples:
                    raise DataCorruptError(f"the source gave {len(labels)} samples, expected {n_samples}")
                for name, values in (("offsets", offsets), ("lengths", lengths), ("labels", labels)):
                    f.create_dataset(name, data=np.asarray(values, dtype=np.int64), fletcher32=True)
                f.attrs.update({"format": FORMAT, "version": VERSION, "key": self.key, "params": json.dumps(params, sort_keys=True, default=repr),
                                "n_samples": len(labels), "frame_shape": list(self.frame_shape), "complete": True})
            os.replace(tmp, self.path)
        finally:
            if tmp.exists():
                tmp.unlink()

    # ------------------------------------------------------------------ reading
    def _handle(self):
        pid = os.getpid()
        if self._file is None or self._pid != pid:
            import h5py

            # a handle inherited through fork is not ours to use: open a fresh one per process
            self._file = h5py.File(self.path, "r")
            self._records = self._file["records"]
            self._pid = pid
        return self._records

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"] = None
        state["_records"] = None
        state["_pid"] = None
        return state

    def __len__(self) -> int:
        return len(self.labels)

    def read(self, index: int) -> tuple[int, np.ndarray, np.ndarray]:
        """Sample ``index`` as ``(n_frames, flat index int64, counts float32)`` of its non-empty cells."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        index = index % len(self)
        a, b = int(self.offsets[index]), int(self.offsets[index + 1])
        try:
            index_, counts = decode_cells(self._handle()[a:b])
        except (OSError, ValueError) as exc:
            raise DataCorruptError(f"{self.path}: sample {index} cannot be read ({exc}); "
                                   "the cache is damaged: delete it or load with rebuild_cache=True") from exc
        n = int(self.lengths[index])
        if len(index_) and (index_[0] < 0 or index_[-1] >= n * self._frame_size):
            raise DataCorruptError(f"{self.path}: sample {index} has cells outside its {n} frames; the cache is damaged: delete it or rebuild it")
        return n, index_, counts

    def frames(self, index: int) -> torch.Tensor:
        """Dense float32 frames ``[T, *frame_shape]`` of sample ``index``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        index = index % len(self)
        a, b = int(self.offsets[index]), int(self.offsets[index + 1])
        n = int(self.lengths[index])
        # NumPy zeros (not torch.zeros: multi-threaded, it stalls on a busy CPU), filled by one compiled pass over the record
        out = np.zeros(n * self._frame_size, dtype=np.float32)
        try:
            decode_cells_into(self._handle()[a:b], out)
        except (OSError, ValueError) as exc:
            raise DataCorruptError(f"{self.path}: sample {index} cannot be read ({exc}); "
                                   "the cache is damaged: delete it or load with rebuild_cache=True") from exc
        return torch.from_numpy(out.reshape(n, *self.frame_shape))

    def __getitem__(self, index: int):
        x = self.frames(index)
        if self.augment is not None:
            x = self.augment(x)
        y = int(self.labels[index])
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        self._records = None


def _create_records(f, first_bytes: int, compression: str | None):
    """The records dataset, its chunk about one sample long (from the first sample)."""
    size = int(np.clip(2 ** int(np.ceil(np.log2(max(first_bytes, 1)))), _CHUNK_MIN, _CHUNK_MAX))
    opts = {"compression": "gzip", "compression_opts": 1} if compression == "gzip" else {"compression": compression} if compression else {}
    return f.create_dataset("records", shape=(0,), maxshape=(None,), dtype=np.uint8, chunks=(size,), fletcher32=True, **opts)


def _append(ds, buf: list[np.ndarray]) -> None:
    if not buf:
        return
    block = np.concatenate(buf, axis=0)
    start = ds.shape[0]
    ds.resize(start + block.shape[0], axis=0)
    ds[start:] = block
