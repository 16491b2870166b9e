"""``load``: one entry point over tonic's SHD, SSC, DVSGesture, NMNIST and CIFAR10DVS.

The samples are read by tonic's own dataset classes. What is added around them:

* a presence check of our own (tonic's asks for thousands of files and, failing it, goes to
  the network): with ``download=False`` missing data is a :class:`DataMissingError` naming
  the files, URLs, md5s and folder, and an archive already on disk is md5-checked and
  extracted with tonic's extractor; with ``download=True`` tonic downloads it (with progress);
* a format check of every sample file before tonic reads it (:mod:`neuro.data.formats`), so a
  truncated ``.bin`` or an ``.npy`` with permuted or float columns is reported by file name;
* the manifest (:mod:`neuro.data.manifest`), recorded when an archive is extracted or the
  data first verified: on open every file's size (and the hash of any file whose mtime
  moved) is compared with it, and before each read that file's again; any file changed,
  missing or extra is a :class:`DataCorruptError` naming it (``verify=False`` skips this);
* frames (:class:`~neuro.data.frames.Frames`) cached in one HDF5 file per split and
  transform (:class:`~neuro.data.cache.FrameCache`), returned as float32 tensors.

Example::

    from neuro.data import load, pad_time
    ds = load("shd", "train", frames=dict(n_time_bins=100))           # (x [100, 700], label)
    loader = torch.utils.data.DataLoader(ds, batch_size=32, collate_fn=pad_time)
    for batch in loader:                                               # batch.data: [T, B, 700]
        ...
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from .cache import FrameCache, cache_key, describe_transform, source_fingerprint
from .errors import DataCorruptError, DataMissingError
from .files import archive_path, dataset_folder, extract, is_extracted, missing_message, resolve_root, sample_file_names, sample_files
from .formats import check_hsd_events, check_sample_file
from .frames import Frames, frame_shape, sparse_frames, to_frames
from .manifest import SampleGuard, compare, mismatch_message, read_manifest
from .specs import DatasetSpec, get_spec
from .verify import record_manifest

log = logging.getLogger(__name__)


def _tonic_offline(spec: DatasetSpec, split: str, root: Path):
    """Build tonic's dataset object on data we have checked is extracted, without its
    network fallback: its own ``_check_exists`` (which wants the full-size dataset) is
    answered by ours and its ``download`` would raise instead of fetching."""
    cls = spec.tonic_cls()
    obj = cls.__new__(cls)
    obj._check_exists = lambda: True

    def _no_download():
        raise DataMissingError(missing_message(spec, [split], root))

    obj.download = _no_download
    try:
        cls.__init__(obj, save_to=str(root), **dict(spec.split(split).tonic_kwargs))
    finally:
        # back to the class's methods: the object must stay picklable for DataLoader workers
        obj.__dict__.pop("_check_exists", None)
        obj.__dict__.pop("download", None)
    return obj


def _tonic_download(spec: DatasetSpec, split: str, root: Path):
    """tonic's own constructor: checks, downloads with progress, verifies the md5, extracts."""
    cls = spec.tonic_cls()
    try:
        return cls(save_to=str(root), **dict(spec.split(split).tonic_kwargs))
    except (OSError, RuntimeError) as exc:
        raise DataMissingError(f"downloading {spec.title} failed ({type(exc).__name__}: {exc}).\n" + missing_message(spec, [split], root)) from exc


class EventDataset(torch.utils.data.Dataset):
    """Events of one split, read by tonic: ``(events structured ndarray, label int)``.

    Attributes: ``name``, ``split``, ``sensor_size`` (W, H, P), ``classes``, ``targets``,
    ``tonic`` (the tonic dataset object), ``root``, ``guard`` (the per-read manifest check, or None).
    """

    def __init__(self, spec: DatasetSpec, split: str, tonic_dataset, root: Path, transform=None, target_transform=None):
        self.guard: SampleGuard | None = None
        self.spec = spec
        self.name = spec.name
        self.split = split
        self.tonic = tonic_dataset
        self.root = root
        self.transform = transform
        self.target_transform = target_transform
        self.sensor_size = tuple(spec.sensor_size)
        self.classes = getattr(tonic_dataset, "classes", None)
        self._suffix = spec.split(split).sample_suffix
        if self._suffix is None:
            self._h5 = Path(tonic_dataset.location_on_system) / tonic_dataset.data_filename
            import h5py

            with h5py.File(self._h5, "r") as f:
                self.targets = f["labels"][()].astype(np.int64)
        else:
            self.targets = np.asarray(tonic_dataset.targets, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.targets)

    def sample_path(self, index: int) -> Path:
        return self._h5 if self._suffix is None else Path(self.tonic.data[index])

    def source_files(self) -> list[Path]:
        return [self._h5] if self._suffix is None else [Path(p) for p in self.tonic.data]

    def raw(self, index: int):
        """Events and label exactly as tonic returns them (after the file check)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {self.spec.title} {self.split!r} ({len(self)} samples)")
        index = index % len(self)
        path = self.sample_path(index)
        if self._suffix is not None:
            # .bin and .npy samples are small and read whole anyway; an .aedat4 gets its header and packet chain checked
            check_sample_file(path, full=self._suffix in (".bin", ".npy"))
        if self.guard is not None:
            self.guard.check(path)
        try:
            events, target = self.tonic[index]
        except DataCorruptError:
            raise
        except Exception as exc:
            raise DataCorruptError(f"{path}: sample {index} of {self.spec.title} cannot be read ({type(exc).__name__}: {exc})") from exc
        if self._suffix is None:
            check_hsd_events(path, index, events)
        return events, int(target)

    def __getitem__(self, index: int):
        events, target = self.raw(index)
        if self.transform is not None:
            events = self.transform(events)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return events, target


class FrameDataset(torch.utils.data.Dataset):
    """Frames computed on the fly (no cache): ``(float32 tensor [T, ...], label)``."""

    def __init__(self, events: EventDataset, frames: Frames, sensor_size, augment=None, target_transform=None):
        self.events = events
        self.frames = frames
        self.sensor_size = tuple(sensor_size)
        self.augment = augment
        self.target_transform = target_transform
        self.targets = events.targets

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, index: int):
        ev, y = self.events[index]
        x = torch.from_numpy(to_frames(ev, self.sensor_size, self.frames).astype(np.float32))
        if self.augment is not None:
            x = self.augment(x)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y


def _manifest_guard(spec: DatasetSpec, split: str, root: Path, files: list[str]) -> SampleGuard | None:
    """Compare the files tonic will read with the manifest (sizes; hashes where mtimes moved); the per-read guard."""
    manifest = read_manifest(spec, root)
    if manifest is None or split not in manifest["splits"]:
        log.info("%s %r has no manifest yet: `neuro data verify %s` records one (then every load checks against it)", spec.title, split, spec.name)
        return None
    diffs = compare(spec, split, root, manifest, files, full=False)
    if diffs:
        raise DataCorruptError(mismatch_message(spec, split, root, manifest, diffs))
    return SampleGuard(spec, split, root, manifest)


def open_events(name: str, split: str = "train", root=None, download: bool = False, transform=None, target_transform=None,
                verify: bool = True) -> EventDataset:
    """The events of one split (see :func:`load`)."""
    spec = get_spec(name)
    spec.split(split)
    root = resolve_root(root)
    extracted_now = False
    if not is_extracted(spec, split, root):
        if archive_path(spec, split, root).is_file() and not download:
            extract(spec, split, root, check_md5=True)
        elif download:
            tonic_ds = _tonic_download(spec, split, root)
        else:
            raise DataMissingError(missing_message(spec, [split], root))
        record_manifest(spec.name, split, root)
        extracted_now = True
    # the manifest first: "changed, size X expected Y" says more than the reader failing on the changed file
    guard = _manifest_guard(spec, split, root, sample_file_names(spec, split, root)) if verify else None
    if spec.split(split).sample_suffix is None:
        check_sample_file(sample_files(spec, split, root)[0])
    if not (extracted_now and download):
        tonic_ds = _tonic_offline(spec, split, root)
    ds = EventDataset(spec, split, tonic_ds, root, transform, target_transform)
    ds.guard = guard
    return ds


def output_sensor_size(sensor_size, transform):
    """Sensor size after ``transform`` (a transform may define ``sensor_size_out(sensor_size)``)."""
    ts = transform.transforms if hasattr(transform, "transforms") else (transform if isinstance(transform, (list, tuple)) else [transform])
    for t in ts:
        if t is not None and hasattr(t, "sensor_size_out"):
            sensor_size = t.sensor_size_out(sensor_size)
    return tuple(sensor_size)


def load(
    name: str,
    split: str = "train",
    root: str | Path | None = None,
    frames: dict | Frames | None = None,
    download: bool = False,
    transform=None,
    augment=None,
    target_transform=None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    rebuild_cache: bool = False,
    verify_cache: str = "quick",
    cache_compression: str | None = None,
    progress: bool = True,
    verify: bool = True,
):
    """Load one split of a neuromorphic dataset.

    Parameters:
        name: ``"shd"``, ``"ssc"``, ``"dvsgesture"``, ``"nmnist"`` or ``"cifar10dvs"``.
        split: ``"train"``/``"test"`` (SSC also ``"valid"``; CIFAR10-DVS only ``"all"``).
        root: data root (default ``$NEURO_DATA`` or ``datasets/``); tonic's layout below it.
        frames: ``None`` for raw events, or a :class:`Frames`/dict such as
            ``dict(n_time_bins=100)`` or ``dict(time_window=1000)`` (µs) for frame tensors.
        download: let tonic download what is missing (network). Otherwise missing data is a
            :class:`DataMissingError` saying what to put where.
        transform: deterministic event transform(s) applied before framing (part of the cache key).
        augment: random augmentation applied per sample after the cache (to the frame tensor,
            or to the events when ``frames`` is None). Random *event* augmentations before
            framing (EventDrop, TimeJitter) go in ``transform`` with ``cache=False``.
        cache: keep the frames in one HDF5 file under ``cache_dir`` (default ``<root>/_cache``).
        rebuild_cache / verify_cache: force a rebuild / ``"quick"`` or ``"full"`` check on open.
        cache_compression: ``None`` (fastest; ~1.5 bytes per non-empty cell) or ``"gzip"`` (smaller, slower).
        verify: compare the data files with their manifest (sizes, and hashes of files whose mtime
            moved) on open and before each read; ``False`` skips it. The full hash of every file is
            ``neuro data verify``'s job; ``--rehash`` re-records the manifest after a deliberate change.

    Returns a map-style dataset of ``(events, label)`` or ``(float32 frames [T, ...], label)``;
    batch frames into ``[T, B, ...]`` with :func:`neuro.data.pad_time`.
    """
    spec = get_spec(name)
    root = resolve_root(root)
    if frames is None:
        ev_transform = transform if augment is None else _Chain([t for t in (transform, augment) if t is not None])
        return open_events(name, split, root, download, ev_transform, target_transform, verify=verify)
    fr = Frames.from_any(frames)
    events = open_events(name, split, root, download, transform, None, verify=verify)
    sensor = output_sensor_size(spec.sensor_size, transform)
    if not cache:
        return FrameDataset(events, fr, sensor, augment, target_transform)
    params = {
        "dataset": spec.name,
        "split": split,
        "frames": fr.to_dict(),
        "sensor_size": list(sensor),
        "transform": describe_transform(transform),
        "source": source_fingerprint(events.source_files(), base=root),
    }
    key = cache_key(params)
    cache_dir = Path(cache_dir) if cache_dir is not None else root / "_cache"
    path = cache_dir / f"{spec.name}-{split}-{key[:16]}.h5"
    shape = frame_shape(sensor)

    def build():
        for i in range(len(events)):
            ev, y = events[i]
            yield sparse_frames(ev, sensor, fr), y

    summary = {k: v for k, v in params.items() if k != "source"}
    summary["n_source_files"] = len(params["source"])
    ds = FrameCache(path, key, build, len(events), shape, params=summary, verify=verify_cache, rebuild=rebuild_cache,
                    progress=progress, augment=augment, target_transform=target_transform, compression=cache_compression)
    ds.sensor_size = sensor
    ds.events = events
    return ds


class _Chain:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


def check_input_shape(dataset, input_shape) -> None:
    """Raise ValueError if a model's per-step input shape does not match the dataset's frames.

    ``input_shape`` is one time step without batch, e.g. ``(2, 34, 34)`` or ``(700,)``.
    """
    sensor = getattr(dataset, "sensor_size", None)
    if sensor is None:
        raise ValueError(f"{type(dataset).__name__} has no sensor_size; load it with neuro.data.load")
    want = frame_shape(sensor)
    got = tuple(int(v) for v in input_shape)
    if got != want:
        name = getattr(getattr(dataset, "events", dataset), "name", "the dataset")
        raise ValueError(f"sensor-size mismatch: the model takes inputs of shape {got} per time step, but {name} gives frames of shape {want} "
                         f"(sensor {sensor} as W, H, P); add a Downsample/crop transform or change the model's input layer")


__all__ = ["EventDataset", "FrameDataset", "load", "open_events", "check_input_shape", "dataset_folder"]
