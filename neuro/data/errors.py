"""The two ways data can be wrong: not there, or there but broken."""

from __future__ import annotations


class DataMissingError(FileNotFoundError):
    """The dataset files are not on disk (and ``download=False``). The message names the
    files, their URLs and md5s and the folder to put them in."""


class DataCorruptError(ValueError):
    """A dataset or cache file is present but unreadable, truncated, of the wrong shape
    or of the wrong checksum. The message names the file and the problem."""
