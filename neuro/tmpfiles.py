"""Temporary files of atomic writes (written beside their target, renamed over it) and the orphans a killed writer leaves."""

from __future__ import annotations

import os
import re
from collections.abc import Container
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (assumed so where that cannot be asked safely)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, owned by someone else
        return True
    return True


def remove_orphans(folder: str | Path, pattern: re.Pattern, in_flight: Container[Path] = ()) -> list[Path]:
    """Delete the files of ``folder`` whose name matches ``pattern`` (its first group: the writer's pid) and whose
    writer is gone (this process's own count as orphans unless ``in_flight`` holds them). Returns the removed paths.
    Processes on other machines are not visible: two machines must not write into one folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in sorted(folder.iterdir()):
        m = pattern.match(p.name)
        if m is None or not p.is_file() or p.resolve() in in_flight:
            continue
        pid = int(m.group(1))
        if pid != os.getpid() and pid_alive(pid):
            continue
        try:
            p.unlink()
        except FileNotFoundError:  # another process cleaned it up first
            continue
        removed.append(p)
    return removed
