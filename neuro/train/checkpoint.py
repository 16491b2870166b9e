"""Checkpoints written atomically, and the random-number state that makes a resumed run exact.

A checkpoint is one ``torch.save`` file ``step_00001234.pt`` in ``<out_dir>/checkpoints``. It is
written to a temporary file in the same folder, flushed to disk, then renamed over the final name
with ``os.replace`` (atomic on POSIX and Windows), so a process killed at any instant leaves either
the previous complete checkpoint or the new complete one, never a torn file. The ``keep`` newest are
kept.

Checkpoints are pickles (they hold NumPy and Python RNG states): load only files you wrote.
"""

from __future__ import annotations

import os
import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

_NAME = re.compile(r"^step_(\d+)\.pt$")


# --- random-number state ------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and (when initialised) CUDA generator states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
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


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable; not possible everywhere (e.g. Windows)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return path


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the complete checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def save_checkpoint(state: dict[str, Any], folder: str | Path, step: int, keep: int = 2) -> Path:
    """Write ``state`` as the checkpoint of ``step`` and delete all but the ``keep`` newest."""
    path = atomic_save(state, checkpoint_path(folder, step))
    for _, old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    return torch.load(path, map_location=map_location, weights_only=False)


def load_latest(folder: str | Path, map_location: str | torch.device = "cpu") -> tuple[Path, dict[str, Any]] | None:
    """``(path, state)`` of the newest checkpoint in ``folder`` that loads, or ``None``."""
    for _, path in reversed(list_checkpoints(folder)):
        try:
            return path, torch.load(path, map_location=map_location, weights_only=False)
        except Exception as exc:  # noqa: BLE001 - a damaged file (copied by hand, disk full): fall back to an older one
            warnings.warn(f"skipping unreadable checkpoint {path}: {type(exc).__name__}: {exc}", stacklevel=2)
    return None


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The path of the newest checkpoint in ``folder`` that loads, or ``None``."""
    found = load_latest(folder)
    return None if found is None else found[0]
