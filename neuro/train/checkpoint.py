"""Checkpoints written atomically with a checksum, loaded without unpickling code, and the RNG state of an exact resume.

A checkpoint is one ``torch.save`` file ``step_00001234.pt`` in ``<out_dir>/checkpoints``. It is
written to a temporary file ``.step_00001234.pt.tmp-<pid>`` in the same folder, flushed to disk, then
renamed over the final name with ``os.replace`` (atomic on POSIX and Windows), so a process killed at
any instant leaves either the previous complete checkpoint or the new complete one, never a torn
file; :func:`remove_orphans` deletes the temporary files of writers that were killed. The ``keep``
newest are kept.

Beside each checkpoint, ``step_00001234.pt.sha256`` holds the SHA-256 of its bytes (in
``sha256sum`` format, written atomically after the checkpoint): a file altered since it was written
(copied by hand, a bad disk) is refused on loading, and :func:`load_latest` falls back to the
previous one. Checkpoints are loaded with ``torch.load(..., weights_only=True)``: they hold only
tensors and plain Python values (the RNG states included), so loading one never runs code from it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn

from .. import tmpfiles

_NAME = re.compile(r"^step_(\d+)\.pt$")
_TMP = re.compile(r"^\..+\.tmp-(\d+)$")
CHECKSUM_SUFFIX = ".sha256"
_IN_FLIGHT: set[Path] = set()  # temporaries this process is writing now (never orphans)
# what a checkpoint of an earlier version needs beyond tensors and plain values: NumPy's RNG key, a uint32 array
# (raw bytes, no code); allowed so that such runs can still be resumed
_LEGACY_NUMPY = [np.ndarray(0).__reduce__()[0], np.ndarray, np.dtype, type(np.dtype(np.uint32))]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: unreadable, altered since it was written, not safe to load, or not this model's."""


# --- random-number state ------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and (when initialised) CUDA generator states, as tensors and plain values."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = {"bit_generator": str(name), "key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                   "cached_gaussian": float(gauss)}
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    if isinstance(n, dict):
        key = n["key"].cpu().numpy() if isinstance(n["key"], torch.Tensor) else np.asarray(n["key"])
        np.random.set_state((n["bit_generator"], key.astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    else:  # the tuple of np.random.get_state(), as earlier versions saved it
        np.random.set_state(n)
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda = [s.cpu() for s in state["cuda"]]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            warnings.warn(f"checkpoint holds {len(cuda)} CUDA RNG states but {torch.cuda.device_count()} devices are visible; "
                          "CUDA random numbers will differ from the original run", stacklevel=2)


class preserved_rng:
    """Context manager: every global generator is put back as it was on exit."""

    def __enter__(self) -> preserved_rng:
        self._state = rng_state()
        return self

    def __exit__(self, *exc) -> None:
        set_rng_state(self._state)


# --- files ----------------------------------------------------------------------------------------
def checkpoint_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"step_{step:08d}.pt"


def checksum_path(path: str | Path) -> Path:
    """The checksum file beside checkpoint ``path``: ``<name>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


class _HashingWriter:
    """A binary file that also feeds every byte written to a SHA-256."""

    def __init__(self, fh: BinaryIO):
        self.fh, self.sha = fh, hashlib.sha256()

    def write(self, data) -> int:
        self.sha.update(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


def _fsync_dir(folder: Path) -> None:
    try:  # make a rename durable; not possible everywhere (e.g. Windows)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _replace_atomically(path: Path, write: Callable[[BinaryIO], None], before_replace: Callable[[], None] | None = None) -> None:
    """``write(fh)`` into ``.<name>.tmp-<pid>``, flushed to disk, then renamed over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    key = tmp.resolve()
    _IN_FLIGHT.add(key)
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
        _IN_FLIGHT.discard(key)


def atomic_save(obj: Any, path: str | Path, checksum: bool = True) -> Path:
    """``torch.save`` to ``path`` through a temporary file and ``os.replace``; with ``checksum``, then
    ``<path>.sha256``. The checksum of an earlier file of that name is removed before the rename, so a
    process killed in between leaves a checkpoint without checksum, never one with a wrong checksum."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    side = checksum_path(path)
    digest: list[str] = []

    def write(fh: BinaryIO) -> None:
        w = _HashingWriter(fh)
        torch.save(obj, w)
        digest.append(w.sha.hexdigest())

    _replace_atomically(path, write, before_replace=(lambda: side.unlink(missing_ok=True)) if checksum else None)
    if checksum:
        line = f"{digest[0]}  {path.name}\n".encode()
        _replace_atomically(side, lambda fh: fh.write(line))
    _fsync_dir(path.parent)
    return path


def remove_orphans(folder: str | Path) -> list[Path]:
    """Delete the temporary files ``.<name>.tmp-<pid>`` in ``folder`` left by writers that were killed (their
    process is gone; this process's own are orphans too unless it is writing them now). Returns the removed paths.
    Processes on other machines are not visible: two machines must not write checkpoints into one folder."""
    return tmpfiles.remove_orphans(folder, _TMP, _IN_FLIGHT)


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the complete checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def save_checkpoint(state: dict[str, Any], folder: str | Path, step: int, keep: int = 2) -> Path:
    """Write ``state`` (tensors and plain values only) as the checkpoint of ``step``, with its checksum, and
    delete all but the ``keep`` newest."""
    path = atomic_save(state, checkpoint_path(folder, step))
    for _, old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
        checksum_path(old).unlink(missing_ok=True)
    return path


def file_sha256(path: str | Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def verify_checksum(path: str | Path) -> bool:
    """Check ``path`` against its ``.sha256`` file: True when it matches, False when there is no checksum file;
    a :class:`CheckpointError` naming the file when it does not match."""
    path = Path(path)
    side = checksum_path(path)
    try:
        text = side.read_text()
    except FileNotFoundError:
        return False
    fields = text.split()
    if not fields or not re.fullmatch(r"[0-9a-f]{64}", fields[0]):
        raise CheckpointError(f"checksum file {side} is not a SHA-256 line (got {text[:80]!r}); cannot verify checkpoint {path}")
    got = file_sha256(path)
    if got != fields[0]:
        raise CheckpointError(f"checkpoint {path} does not match its checksum in {side.name} (sha256 {got[:16]}... instead of "
                              f"{fields[0][:16]}...): the file was altered or damaged after it was written; refusing to load it")
    return True


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", verify: bool = True) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`: its checksum verified (``verify``; a warning when it has
    none) and no code unpickled (``weights_only=True``). A :class:`CheckpointError` naming the file when it is damaged,
    altered or holds other objects than tensors and plain values."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    verified = verify_checksum(path) if verify else True
    try:
        with torch.serialization.safe_globals(_LEGACY_NUMPY):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        what = f" ({found.group(1)})" if found else ""
        raise CheckpointError(f"checkpoint {path} holds objects other than tensors and plain Python values{what}: refusing to unpickle it "
                              "(it could run code); load only checkpoints written by neuro.train") from None
    except Exception as exc:  # noqa: BLE001 - truncated, not a torch file, unreadable: one clear error naming the file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"checkpoint {path} cannot be read (truncated or not a torch checkpoint?): {type(exc).__name__}: {first}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a dict of training state")
    if not verified:
        warnings.warn(f"checkpoint {path} has no checksum file {checksum_path(path).name}: loaded unverified", stacklevel=2)
    return state


def load_latest(folder: str | Path, map_location: str | torch.device = "cpu", strict: bool = False) -> tuple[Path, dict[str, Any]] | None:
    """``(path, state)`` of the newest checkpoint in ``folder`` that loads and matches its checksum (older ones are
    tried in turn, with a warning for each one skipped), or ``None``. ``strict``: a :class:`CheckpointError` naming
    every file when there are checkpoints but none can be used (``None`` only when there are none)."""
    failed = []
    for _, path in reversed(list_checkpoints(folder)):
        try:
            return path, load_checkpoint(path, map_location=map_location)
        except (CheckpointError, OSError) as exc:  # a damaged file (copied by hand, disk full): fall back to an older one
            warnings.warn(f"skipping unreadable checkpoint {path}: {exc}", stacklevel=2)
            failed.append(f"{path.name}: {exc}")
    if failed and strict:
        raise CheckpointError(f"none of the {len(failed)} checkpoints in {folder} can be used ({'; '.join(failed)}); "
                              "move them away to start afresh")
    return None


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The path of the newest checkpoint in ``folder`` that loads, or ``None``."""
    found = load_latest(folder)
    return None if found is None else found[0]


def _listing(names: list[str], limit: int = 8) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_model_state(module: nn.Module, state: Any, path: str | Path) -> None:
    """``module.load_state_dict(state)``, or a :class:`CheckpointError` naming the file and the missing, unexpected
    and shape-mismatched keys when the checkpoint is another model's."""
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} has no model state dict (its 'model' entry is a {type(state).__name__})")
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(v.shape)})" for k, v in own.items()
              if k in state and isinstance(v, torch.Tensor) and isinstance(state[k], torch.Tensor) and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = [f"{label}: {_listing(keys)}" for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                                                   ("shape mismatches", shapes)) if keys]
        raise CheckpointError(f"checkpoint {path} does not fit this model ({type(module).__name__}): {'; '.join(parts)}. "
                              "Was it written by another model or configuration?")
    module.load_state_dict(state)
