"""neuro: spiking neural networks, simulated event by event and trained by surrogate gradients.

Layers, bottom up: ``neuro.backend`` and ``neuro.ops`` (one folder per dynamic law, a
readable torch reference plus Numba and CuPy kernels) -> ``neuro.sim`` (event-driven
simulator) and ``neuro.nn`` (training layer) -> data, energy, training loop, plots, CLI.

Importing ``neuro`` itself is light (no torch, no Numba): the layers load when first imported.
"""

from __future__ import annotations

import os as _os

# GNU OpenMP (Numba's "omp" threading layer): a worker spins this many times after a parallel region before it
# sleeps. libgomp's own default is 300000, but it drops to 100 when it counts more threads than cores, which it
# does under Numba's pool on a 2-core machine: the workers then sleep between back-to-back regions and each wake-up
# costs tens of microseconds (measured: a 2-thread region of 25 us of work took 105 us). Set before libgomp is
# loaded; a value the user set wins.
_os.environ.setdefault("GOMP_SPINCOUNT", "300000")

DISTRIBUTION = "neuro-snn"
"""The name this package is installed under (``pip install neuro-snn``)."""


def _find_version() -> str:
    """The installed distribution's version; in a source checkout that is not installed, the one in ``pyproject.toml``
    (the single place the number is written)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        import re
        from pathlib import Path

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            match = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), flags=re.MULTILINE)
        except OSError:
            match = None
        return match.group(1) if match else "0+unknown"


__version__ = _find_version()

__all__ = ["__version__"]
