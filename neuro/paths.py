"""Where neuro finds its shipped files and its data.

The CUDA sources live in ``kernels/`` at the top of the source tree. A wheel ships them
inside the package as ``neuro/_kernels`` (a top-level ``kernels`` module would shadow
other packages), so both places are searched, the installed one first.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE_ROOT = _PACKAGE_DIR.parent


def kernel_dir() -> Path:
    """Folder holding the ``*.cu`` sources: ``neuro/_kernels`` in a wheel, ``kernels/`` in a checkout."""
    for candidate in (_PACKAGE_DIR / "_kernels", _SOURCE_ROOT / "kernels"):
        if candidate.is_dir() and any(candidate.glob("*.cu")):
            return candidate
    raise FileNotFoundError(
        f"no CUDA kernel sources found: looked in {_PACKAGE_DIR / '_kernels'} (installed wheel) "
        f"and {_SOURCE_ROOT / 'kernels'} (source checkout); reinstall neuro"
    )


def kernel_source(name: str) -> Path:
    """Path of one kernel source, ``name`` with or without ``.cu``."""
    filename = name if name.endswith(".cu") else f"{name}.cu"
    path = kernel_dir() / filename
    if not path.is_file():
        known = sorted(p.name for p in kernel_dir().glob("*.cu"))
        raise FileNotFoundError(f"no kernel source {filename!r} in {kernel_dir()}; known: {known}")
    return path


def data_root() -> Path:
    """Data root: ``$NEURO_DATA`` if set, else ``datasets/`` of a source checkout, else ``~/.cache/neuro/datasets``."""
    env = os.environ.get("NEURO_DATA")
    if env:
        return Path(env).expanduser()
    checkout = _SOURCE_ROOT / "datasets"
    if (_SOURCE_ROOT / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    return Path.home() / ".cache" / "neuro" / "datasets"
