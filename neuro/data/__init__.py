"""Neuromorphic datasets through tonic: SHD, SSC, DVS128 Gesture, N-MNIST, CIFAR10-DVS.

``load`` opens a split (events, or frames cached in one HDF5 file per split and
transform), ``verify`` checks the files on disk against tonic's md5s, ``prepare`` extracts
or downloads, the collate functions batch time-major ``[T, B, ...]``, and
``neuro.data.fixtures`` writes small format-exact copies for tests. See ``datasets/`` for
one card per dataset.
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
