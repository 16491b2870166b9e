"""Neuromorphic datasets through tonic: SHD, SSC, DVS128 Gesture, N-MNIST, CIFAR10-DVS.

``load`` opens a split (events, or frames cached in one HDF5 file per split and
transform), ``verify`` checks the files on disk (archives against tonic's md5s, every data
file read against its format and hashed against the manifest), ``prepare`` extracts or
downloads, the collate functions batch time-major ``[T, B, ...]``, and
``neuro.data.fixtures`` writes small format-exact copies for tests. See ``datasets/`` for
one card per dataset.

Damaged data is an error naming the file, never a silent load. Two defences:

* format checks (``neuro.data.formats``) before every sample read and, reading every byte,
  in ``verify``: N-MNIST events inside the sensor and a whole number of 5-byte records;
  DVS Gesture integer columns x, y, p, t in range and in time order; SHD/SSC datasets,
  dtypes, lengths, units < 700, times non-decreasing; AEDAT4 packets and data table
  ending where the file ends, every packet decoded;
* the manifest (``neuro.data.manifest``), ``<root>/<Class>/.neuro-manifest.json``: each
  data file's size, mtime and BLAKE2b-256, recorded when an archive is extracted or the
  data first verified clean. ``verify`` re-hashes every file; ``load`` compares the file
  list and sizes and hashes only files whose mtime moved, since hashing a whole dataset on
  every load costs seconds where a ``stat`` costs microseconds. A changed, missing or
  extra file is a ``DataCorruptError`` giving expected and found. After a deliberate change
  ``neuro data verify NAME --rehash`` re-records; ``load(..., verify=False)`` skips the check.
"""

from .cache import FrameCache
from .collate import Batch, BinEvents, pad_events, pad_time
from .errors import DataCorruptError, DataMissingError
from .frames import Frames, frame_shape, sparse_frames, to_frames
from .load import EventDataset, FrameDataset, check_input_shape, load, open_events
from .prepare import prepare, where
from .specs import SPECS, DatasetSpec, get_spec
from .transforms import Compose, Denoise, Downsample, EventDrop, RandomCrop, RandomFlip, TimeJitter
from .verify import FileStatus, verify

DATASETS = tuple(SPECS)

__all__ = [
    "DATASETS", "SPECS", "Batch", "BinEvents", "Compose", "DataCorruptError", "DataMissingError", "DatasetSpec", "Denoise", "Downsample",
    "EventDataset", "EventDrop", "FileStatus", "FrameCache", "FrameDataset", "Frames", "RandomCrop", "RandomFlip", "TimeJitter",
    "check_input_shape", "frame_shape", "get_spec", "load", "open_events", "pad_events", "pad_time", "prepare", "sparse_frames", "to_frames", "verify",
    "where",
]
