"""What each dataset looks like on disk: archives, URLs, md5s, extracted layout, sensor size.

The URLs, archive names and md5s are read from tonic's dataset classes when asked for
(never copied), so a tonic release that moves a file moves it here too, and a test that
patches a tonic class attribute sees the patch everywhere.

Layout below ``root`` (tonic's ``save_to``), with ``<Class>`` tonic's class name::

    root/<Class>/<archive>          the downloaded archive (tonic checks it is present)
    root/<Class>/<extracted>        what the archive unpacks to (files or a folder)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class SplitSpec:
    """One split of a dataset: which tonic attributes name its archive, url and md5.

    ``extracted`` is the path (relative to the class folder) of the unpacked data: a file
    (SHD's ``shd_train.h5``) or a folder (N-MNIST's ``Train``). ``sample_suffix`` is the
    suffix of one sample file inside a folder, or ``None`` for a single-file split.
    """

    name: str
    archive_attr: str
    url_attr: str
    md5_attr: str
    extracted: str
    sample_suffix: str | None
    expected_samples: int
    tonic_kwargs: tuple[tuple[str, object], ...] = ()
    inner_archives_attr: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A neuromorphic dataset served through one tonic class."""

    name: str
    title: str
    tonic_class: str
    sensor_size: tuple[int, int, int]
    n_classes: int
    splits: tuple[SplitSpec, ...]
    card: str
    url_prefix_attr: str | None = None

    def split(self, split: str) -> SplitSpec:
        for s in self.splits:
            if s.name == split:
                return s
        known = [s.name for s in self.splits]
        hint = ""
        if self.name == "cifar10dvs":
            hint = " (CIFAR10-DVS has no official train/test split: load split='all' and split it with torch.utils.data.random_split)"
        raise ValueError(f"{self.title} has no split {split!r}; its splits are {known}{hint}")

    def tonic_cls(self):
        import tonic.datasets

        return getattr(tonic.datasets, self.tonic_class)

    def folder_name(self) -> str:
        """Folder under ``root`` where tonic keeps this dataset: its class name."""
        return self.tonic_class

    def archive(self, split: str) -> str:
        return getattr(self.tonic_cls(), self.split(split).archive_attr)

    def url(self, split: str) -> str:
        cls = self.tonic_cls()
        s = self.split(split)
        tail = getattr(cls, s.url_attr)
        return getattr(cls, self.url_prefix_attr) + tail if self.url_prefix_attr else tail

    def md5(self, split: str) -> str:
        return getattr(self.tonic_cls(), self.split(split).md5_attr)

    def inner_archives(self, split: str) -> tuple[str, ...]:
        attr = self.split(split).inner_archives_attr
        return tuple(getattr(self.tonic_cls(), attr)) if attr else ()


def _hsd_split(prefix: str, split: str, expected: int, kwargs) -> SplitSpec:
    return SplitSpec(split, f"{split}_zip", f"{split}_zip", f"{split}_md5", f"{prefix}_{split}.h5", None, expected, kwargs)


SPECS: dict[str, DatasetSpec] = {
    "shd": DatasetSpec(
        "shd", "Spiking Heidelberg Digits (SHD)", "SHD", (700, 1, 1), 20,
        (_hsd_split("shd", "train", 8156, (("train", True),)), _hsd_split("shd", "test", 2264, (("train", False),))),
        "shd.md", url_prefix_attr="base_url",
    ),
    "ssc": DatasetSpec(
        "ssc", "Spiking Speech Commands (SSC)", "SSC", (700, 1, 1), 35,
        (
            _hsd_split("ssc", "train", 75466, (("split", "train"),)),
            _hsd_split("ssc", "valid", 9981, (("split", "valid"),)),
            _hsd_split("ssc", "test", 20382, (("split", "test"),)),
        ),
        "ssc.md", url_prefix_attr="base_url",
    ),
    "dvsgesture": DatasetSpec(
        "dvsgesture", "DVS128 Gesture", "DVSGesture", (128, 128, 2), 11,
        (
            SplitSpec("train", "train_filename", "train_url", "train_md5", "ibmGestureTrain", ".npy", 1077, (("train", True),)),
            SplitSpec("test", "test_filename", "test_url", "test_md5", "ibmGestureTest", ".npy", 264, (("train", False),)),
        ),
        "dvsgesture.md",
    ),
    "nmnist": DatasetSpec(
        "nmnist", "N-MNIST", "NMNIST", (34, 34, 2), 10,
        (
            SplitSpec("train", "train_filename", "train_url", "train_md5", "Train", ".bin", 60000, (("train", True),)),
            SplitSpec("test", "test_filename", "test_url", "test_md5", "Test", ".bin", 10000, (("train", False),)),
        ),
        "nmnist.md",
    ),
    "cifar10dvs": DatasetSpec(
        "cifar10dvs", "CIFAR10-DVS", "CIFAR10DVS", (128, 128, 2), 10,
        (SplitSpec("all", "filename", "url", "file_md5", "", ".aedat4", 10000, (), inner_archives_attr="data_filename"),),
        "cifar10dvs.md",
    ),
}

_ALIASES = {"dvs128gesture": "dvsgesture", "dvs_gesture": "dvsgesture", "n-mnist": "nmnist", "cifar10-dvs": "cifar10dvs", "cifar10_dvs": "cifar10dvs"}


def get_spec(name: str) -> DatasetSpec:
    """The spec of dataset ``name`` (case-insensitive); a ValueError listing the known names otherwise."""
    key = str(name).lower().strip()
    key = _ALIASES.get(key, key)
    if key not in SPECS:
        close = difflib.get_close_matches(key, list(SPECS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown dataset {name!r}: known datasets are {sorted(SPECS)}{hint}")
    return SPECS[key]
